"""Folders of images, one sub-folder per class, optionally split into train/ val/ test/.

The "8 celebrities" homework layout works as it is: `train/<class>/*.jpg` and `test/<class>/*.jpg`
(and `val/` if present). Without split folders, `data.test_split` of the images is held out.
The layout is checked from file names alone (`class_folders`, cheap enough for `check`); the
images are read with the same reader as `cnnlab predict` (`images.read_image`), so training
and prediction resize alike. An unreadable image is refused, never skipped: a silently smaller
data set would be a different experiment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.data.files import Arrays, sha256_of
from cnnlab.data.images import IMAGE_SUFFIXES, is_image_file, read_image
from cnnlab.errors import DataError

CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
DEFAULT_IMAGE_SIZE = (256, 256)  # Keras' own default for image_dataset_from_directory
SPLITS = ("train", "val", "test")
_SHOWN = 5  # unreadable files named in one message


def class_folders(root: Path) -> list[str]:
    """Class names (sub-folder names, sorted) of an image folder, after checking that every
    split folder has the same classes and every class folder holds at least one image."""
    splits = [root / s for s in SPLITS if (root / s).is_dir()] if (root / "train").is_dir() else [root]
    names = _subfolders(splits[0])
    if len(names) < 2:
        raise DataError(f"{splits[0]}: an image folder needs one sub-folder per class (found {len(names)})")
    for split in splits:
        found = _subfolders(split)
        if found != names:
            missing, extra = sorted(set(names) - set(found)), sorted(set(found) - set(names))
            what = "; ".join(
                part
                for part in (
                    missing and f"no folder for class {', '.join(map(repr, missing))}",
                    extra and f"classes {', '.join(map(repr, extra))} are not in {splits[0].name}/",
                )
                if part
            )
            raise DataError(f"{split}: {what} — every split needs the same class folders")
        for name in names:
            if not any(is_image_file(p) for p in (split / name).iterdir()):
                raise DataError(f"{split / name}: no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)})")
    return names


def _subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def load_image_folder(root: Path, image_size, color_mode: str, test_split: float, seed: int) -> Arrays:
    names = class_folders(root)
    shape = (*tuple(image_size or DEFAULT_IMAGE_SIZE), CHANNELS[color_mode])

    def read(folder: Path):
        files = [
            (label, path)
            for label, name in enumerate(names)
            for path in sorted((folder / name).iterdir())
            if is_image_file(path)
        ]
        images, unreadable = [], []
        for _, path in files:
            try:
                images.append(read_image(path, shape, convert=True))
            except DataError as error:
                unreadable.append(str(error))
        if unreadable:
            more = f" (and {len(unreadable) - _SHOWN} more)" if len(unreadable) > _SHOWN else ""
            raise DataError(
                f"{len(unreadable)} of {len(files)} images in {folder} cannot be used: "
                + "; ".join(unreadable[:_SHOWN])
                + more
                + " — remove or replace them"
            )
        return np.stack(images), np.asarray([label for label, _ in files], np.int64)

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
    return Arrays(
        x_train, y_train, x_test, y_test, x_val=x_val, y_val=y_val, checksums={root.name: checksum}, origin=str(root)
    )


def _hold_out(x, y, fraction: float, seed: int):
    """`fraction` of the examples held out at random (the schema keeps it between 0 and 1)."""
    order = np.random.default_rng(seed).permutation(len(x))
    cut = len(x) - max(1, round(len(x) * fraction))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
