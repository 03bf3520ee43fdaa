"""Request bodies to pixels, or an `InputError` that says what is wrong, in TensorFlow
Serving's two JSON shapes and as image uploads.

    >>> pixels_of({"instances": [[[0, 255], [255, 0]]]}, (2, 2, 1), limit=8).shape
    (1, 2, 2, 1)
    >>> pixels_of({"inputs": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}, (2, 2, 1), limit=8)[1, :, :, 0].tolist()
    [[5.0, 6.0], [7.0, 8.0]]
    >>> pixels_of({"instances": []}, (2, 2, 1), limit=8)
    Traceback (most recent call last):
    ...
    cnnlab.serving.inputs.InputError: "instances" holds no image
"""

from __future__ import annotations

import io
import warnings

import numpy as np

MAX_IMAGE_PIXELS = 4096 * 4096  # an upload decoding to more is refused (a decompression bomb)


class InputError(ValueError):
    """A request the server cannot answer, with the HTTP status that says why (400 by default)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def pixels_of(body, shape: tuple, *, limit: int) -> np.ndarray:
    """`{"instances": [...]}` (one entry per image) or `{"inputs": ...}` (the whole batch as one
    tensor) as a float32 array of shape (n, *shape): raw 0-255 pixels, the channel axis optional
    for one channel. At most `limit` images."""
    if not isinstance(body, dict) or len(body.keys() & {"instances", "inputs"}) != 1:
        raise InputError('the body is a JSON object with "instances" (a list, one per image) or "inputs"')
    key = "instances" if "instances" in body else "inputs"
    value = body[key]
    if isinstance(value, dict):  # TF Serving's named inputs: a model with one input has one name
        if len(value) != 1:
            raise InputError(f'"{key}" names {len(value)} inputs; the model takes one image input')
        value = next(iter(value.values()))
    if key == "instances" and isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        value = [_only_value(v) for v in value]
    if not isinstance(value, list) or not value:
        raise InputError(f'"{key}" holds no image')
    if len(value) > limit:
        raise InputError(f'"{key}" holds {len(value)} images; at most {limit} a request', status=413)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise InputError(
            f'"{key}" must hold numbers in nested lists of one shape (each image {_shape(shape)})'
        ) from None
    return checked_pixels(array, shape, key)


def _only_value(instance: dict):
    if len(instance) != 1:
        raise InputError("each instance names one input (the image); this model has one")
    return next(iter(instance.values()))


def checked_pixels(array: np.ndarray, shape: tuple, where: str) -> np.ndarray:
    """`array` as a batch of images of `shape`, or an `InputError` naming the mismatch."""
    if array.shape[1:] == tuple(shape):
        pixels = array
    elif shape[-1] == 1 and array.shape[1:] == tuple(shape[:-1]):
        pixels = array[..., np.newaxis]  # one channel, given without its axis (as MNIST is)
    else:
        raise InputError(f"{where}: images of shape {_shape(array.shape[1:])}; the model takes {_shape(shape)}")
    if not np.all(np.isfinite(pixels)):
        raise InputError(f"{where}: NaN or infinity among the pixels; pixels are numbers from 0 to 255")
    if pixels.min() < 0 or pixels.max() > 255:
        raise InputError(f"{where}: pixels from {pixels.min():g} to {pixels.max():g}; raw pixels are 0 to 255")
    return pixels.astype(np.float32)


def _shape(shape) -> str:
    return "x".join(str(size) for size in shape)


def decoded_image(data: bytes, name: str, shape: tuple, *, convert: bool, invert: bool) -> np.ndarray:
    """An uploaded PNG or JPEG as pixels of `shape`, read as `cnnlab predict` reads a file."""
    from PIL import Image

    from cnnlab.data.images import read_image
    from cnnlab.errors import DataError

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return read_image(io.BytesIO(data), tuple(shape), convert=convert, invert=invert, name=name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{name}: more than {MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?)", status=413) from None
    except DataError as error:
        raise InputError(str(error)) from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def whole_number(text: str | None, default: int, name: str) -> int:
    """A query option such as ?k=3."""
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise InputError(f"{name} is a whole number of at least 1, not {text!r}")
    return int(text)
