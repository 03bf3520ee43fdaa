"""Text on the run's pictures drawn by Pillow, in matplotlib's own font (DejaVu Sans), where
matplotlib's cost per text would dominate a picture: each text it draws costs about a
millisecond of layout, and the confusion matrix has two hundred numbers, the gallery fifty
captions. Pillow draws one in a few hundredths of that.

    >>> font(12).size
    12
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np


@functools.cache
def font(px: int):
    """DejaVu Sans at `px` pixels, read from the file matplotlib ships (no font search)."""
    import matplotlib
    from PIL import ImageFont

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), px)


def figure_with_texts(figure, texts, dpi: float) -> bytes:
    """PNG bytes of a matplotlib `figure` at `dpi`, with its `texts` (Text artists matplotlib
    was told not to draw: `set_visible(False)`) drawn by Pillow where matplotlib would have
    put them, in their colour and size. For single-line texts centred on their point."""
    from matplotlib.colors import to_hex
    from PIL import Image, ImageDraw

    figure.set_dpi(dpi)
    figure.canvas.draw()
    picture = Image.fromarray(np.asarray(figure.canvas.buffer_rgba())[..., :3])
    pen = ImageDraw.Draw(picture)
    height = picture.size[1]
    for text in texts:
        x, y = text.get_transform().transform(text.get_position())
        px = round(text.get_fontsize() * dpi / 72)
        pen.text((x, height - y), text.get_text(), fill=to_hex(text.get_color()), font=font(px), anchor="mm")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()
