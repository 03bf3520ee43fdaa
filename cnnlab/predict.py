"""Images from disk -> a run's model, transformed exactly as the run's training data was.

A run trained on an image folder resizes and converts every image as training did. A run trained
on fixed-size arrays (MNIST, CIFAR, npz) takes images of exactly its input size and colour mode;
`convert=True` resizes and converts others. `invert=True` turns dark-on-light drawings into
MNIST's light-on-dark.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")
_PIL_MODE = {1: "L", 3: "RGB", 4: "RGBA"}


def image_files(paths: list[str | Path]) -> list[Path]:
    """The image files named, with folders expanded (sorted); an error for anything else."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"{path}: no such image file or folder")
    if not found:
        raise ConfigError("no images found (png, jpg, jpeg, bmp, gif)")
    return found


def read_image(path: Path, input_shape: tuple, *, convert: bool, invert: bool) -> np.ndarray:
    """One image as uint8 (H, W, C) matching `input_shape`, or a clear error saying why not."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = input_shape
    try:
        with Image.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    grey = image.mode in _GREY_MODES
    if not convert:
        if image.size != (width, height):
            raise DataError(f"{path}: image is {image.size[0]}x{image.size[1]}, the model takes "
                            f"{width}x{height} — resize it, or pass --convert")
        if grey != (channels == 1):
            want = "greyscale" if channels == 1 else "colour"
            raise DataError(f"{path}: image is {'greyscale' if grey else 'colour'} ({image.mode}), the "
                            f"model takes {want} — convert it, or pass --convert")
    image = image.convert(_PIL_MODE[channels])
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    pixels = np.asarray(image, dtype=np.uint8).reshape(height, width, channels)
    return 255 - pixels if invert else pixels


def predict_images(run: Path, paths: list, *, top: int = 3, convert: bool = False,
                   invert: bool = False) -> list[dict]:
    """For each image: its file and the `top` most probable classes with probabilities."""
    from cnnlab.data import is_image_folder
    from cnnlab.runs import load_trained_run

    cfg, model, preprocessing, info = load_trained_run(run)
    class_names = info.class_names
    input_shape = tuple(model.input_shape[1:])
    # An image-folder run resized and converted its training images: do the same here.
    convert = convert or is_image_folder(cfg)
    files = image_files(paths)
    pixels = np.stack([read_image(p, input_shape, convert=convert, invert=invert) for p in files])
    probabilities = model.predict(preprocessing.apply(pixels), verbose=0)
    if probabilities.shape[1] == 1:  # one sigmoid unit: two classes
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=1)
    results = []
    for path, row in zip(files, probabilities):
        order = np.argsort(row)[::-1][:top]
        results.append({"file": str(path), "predicted": str(class_names[order[0]]),
                        "top": [{"class": str(class_names[i]), "probability": float(row[i])} for i in order]})
    return results

