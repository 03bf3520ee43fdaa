"""Text on the run's pictures drawn by Pillow (the confusion matrix, the gallery), in
matplotlib's own font (DejaVu Sans), so that they look like the pictures matplotlib draws.

    >>> font(12).size
    12
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def font(px: int):
    """DejaVu Sans at `px` pixels, read from the file matplotlib ships (no font search)."""
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), px)
