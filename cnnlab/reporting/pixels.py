"""Between NumPy and the pictures Pillow draws (the curves, the confusion matrix, the gallery,
a Grad-CAM overlay): RGB values from 0 to 1 as a picture, and a picture as PNG bytes.

    >>> png(picture(np.ones((2, 3, 3))))[:4]
    b'\\x89PNG'
"""

from __future__ import annotations

import io

import numpy as np


def picture(rgb: np.ndarray):
    """A Pillow RGB picture of `rgb` (height, width, 3), each value from 0 to 1 rounded to the
    nearest of 256 levels; values outside are clipped."""
    from PIL import Image

    return Image.fromarray(np.round(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8), mode="RGB")


def png(image) -> bytes:
    """The Pillow `image` as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
