"""Folders of images, one sub-folder per class, optionally split into train/ val/ test/.

The "8 celebrities" homework layout works as it is: `train/<class>/*.jpg` and `test/<class>/*.jpg`
(and `val/` if present). Without split folders, `data.test_split` of the images is held out.
Images are decoded and resized by `keras.utils.image_dataset_from_directory`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.data.files import Arrays, sha256_of
from cnnlab.errors import DataError

CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
DEFAULT_IMAGE_SIZE = (256, 256)  # Keras' own default for image_dataset_from_directory
SPLITS = ("train", "val", "test")


def class_folders(root: Path) -> list[str]:
    """Class names (sub-folder names, sorted as Keras sorts them) of an image folder."""
    base = root / "train" if (root / "train").is_dir() else root
    names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(names) < 2:
        raise DataError(f"{base}: an image folder needs one sub-folder per class (found {len(names)})")
    return names


def load_image_folder(root: Path, image_size, color_mode: str, test_split: float, seed: int) -> Arrays:
    import keras

    names = class_folders(root)
    size = tuple(image_size or DEFAULT_IMAGE_SIZE)

    def read(folder: Path):
        dataset = keras.utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="int", class_names=names, color_mode=color_mode,
            image_size=size, batch_size=None, shuffle=False, verbose=False)
        images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset)) if dataset else ((), ())
        if not images:
            raise DataError(f"{folder}: no images found (jpeg, png, bmp, gif)")
        return np.stack(images).round().clip(0, 255).astype(np.uint8), np.asarray(labels, np.int64)

    if (root / "train").is_dir():
        x_train, y_train = read(root / "train")
        if (root / "test").is_dir():
            x_test, y_test = read(root / "test")
        else:
            x_train, y_train, x_test, y_test = _hold_out(x_train, y_train, test_split, seed)
        x_val, y_val = read(root / "val") if (root / "val").is_dir() else (None, None)
    else:
        x_all, y_all = read(root)
        x_train, y_train, x_test, y_test = _hold_out(x_all, y_all, test_split, seed)
        x_val = y_val = None
    checksum = sha256_of(x_train.tobytes() + x_test.tobytes())
    return Arrays(x_train, y_train, x_test, y_test, x_val=x_val, y_val=y_val,
                  checksums={root.name: checksum}, origin=str(root))


def _hold_out(x, y, fraction: float, seed: int):
    if not 0 < fraction < 1:
        raise DataError("this image folder has no test/ folder: set data.test_split between 0 and 1")
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - max(1, round(len(x) * fraction))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
