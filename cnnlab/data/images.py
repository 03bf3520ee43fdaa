"""One image file -> a uint8 array of a model's input shape, with PIL. Training on an image
folder and `cnnlab predict` both read through here, so a picture is resized and converted the
same way whether it is learned from or classified.

    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.png"
    >>> Image.new("RGB", (12, 10), (255, 0, 0)).save(path)
    >>> read_image(path, (5, 6, 1), convert=True).shape
    (5, 6, 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.errors import DataError
from cnnlab.hints import next_step

# The suffixes Keras' own image_dataset_from_directory reads.
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
_PIL_MODE = {1: "L", 3: "RGB", 4: "RGBA"}


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def read_image(path, input_shape: tuple, *, convert: bool, invert: bool = False, name: str = "") -> np.ndarray:
    """One image as uint8 (H, W, C) matching `input_shape`, or a `DataError` saying why not.
    `path` may be an open binary file (an upload); `name` is what messages call it.

    Without `convert` the image must already have the model's size and colour mode; with it,
    it is converted (greyscale, RGB or RGBA by channel count) and resized bilinearly."""
    from PIL import Image, UnidentifiedImageError  # only when an image is read (not for MNIST)

    height, width, channels = input_shape
    source, path = path, name or path
    try:
        with Image.open(source) as image:
            image.load()
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    grey = image.mode in _GREY_MODES
    if not convert:
        if image.size != (width, height):
            raise DataError(
                f"{path}: image is {image.size[0]}x{image.size[1]}, the model takes "
                f"{width}x{height} — resize it, or pass {next_step('--convert', 'convert=True')}"
            )
        if grey != (channels == 1):
            want = "greyscale" if channels == 1 else "colour"
            raise DataError(
                f"{path}: image is {'greyscale' if grey else 'colour'} ({image.mode}), the "
                f"model takes {want} — convert it, or pass {next_step('--convert', 'convert=True')}"
            )
    image = image.convert(_PIL_MODE[channels])
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    return 255 - pixels if invert else pixels
