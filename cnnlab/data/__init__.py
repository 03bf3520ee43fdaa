"""Data sets: metadata without loading (`dataset_info`), the examples (`load_arrays`), and the
model-ready splits of a run (`load_splits`).

`data.dataset` is a registry name (mnist, fashion_mnist, cifar10, cifar100, synthetic,
image_folder with `data.path`) or a path: a Keras-style `.npz`, a folder of IDX files, or a
folder of images with one sub-folder per class.
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlab.config import LocatedConfig
from cnnlab.data.builtin import load_builtin
from cnnlab.data.files import (
    Arrays,
    arrays_from_idx,
    example_shape,
    find_idx_files,
    idx_shape,
    parse_idx,
    read_bytes,
    read_npz,
)
from cnnlab.data.folder import CHANNELS, DEFAULT_IMAGE_SIZE, class_folders, load_image_folder
from cnnlab.data.prepare import Preprocessing, Splits, prepare
from cnnlab.data.registry import BUILTIN, DatasetInfo
from cnnlab.data.synthetic import make_synthetic
from cnnlab.errors import ConfigError, DataError, did_you_mean
from cnnlab.schema import SyntheticSpec

__all__ = ["Arrays", "DatasetInfo", "dataset_info", "load_arrays", "load_splits", "KNOWN_NAMES"]

KNOWN_NAMES = (*BUILTIN, "synthetic", "image_folder")


def dataset_info(cfg: LocatedConfig, missing_ok: bool = False) -> DatasetInfo:
    """Input shape, class count and class names of `cfg.data`, without loading the examples.
    With `missing_ok`, an image folder that does not exist yet gives its shape (from the
    config) and an unknown class count (None) instead of an error: what `check` can say.

    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]}})
    >>> dataset_info(cfg).input_shape
    (28, 28, 1)
    """
    name = cfg.data.dataset
    if name in BUILTIN:
        return BUILTIN[name]
    if name == "synthetic":
        spec = cfg.data.synthetic or SyntheticSpec()
        names = tuple(f"class_{i}" for i in range(spec.num_classes))
        return DatasetInfo("synthetic", tuple(spec.input_shape), spec.num_classes, names)
    path = _local_path(cfg)
    if cfg.data.dataset == "image_folder" and not path.is_dir():
        if not missing_ok or path.exists():
            raise ConfigError(
                cfg.problem(
                    ("data", "path"),
                    f"no folder {path}" if not path.exists() else f"{path} is a file, not a folder",
                    "give a folder with one sub-folder of images per class: --set data.path=photos",
                )
            )
        size = tuple(cfg.data.image_size or DEFAULT_IMAGE_SIZE)
        return DatasetInfo(path.name, (*size, CHANNELS[cfg.data.color_mode]), None, ())
    try:
        if is_image_folder(cfg):
            classes = tuple(class_folders(path))
            size = tuple(cfg.data.image_size or DEFAULT_IMAGE_SIZE)
            return DatasetInfo(path.name, (*size, CHANNELS[cfg.data.color_mode]), len(classes), classes)
        shape, labels = _npz_header(path) if path.is_file() else _idx_header(path)
    except DataError as error:
        raise ConfigError(cfg.problem(("data", "dataset"), str(error))) from None
    count = int(labels.max()) + 1
    return DatasetInfo(path.stem, shape, count, tuple(str(i) for i in range(count)))


def load_arrays(cfg: LocatedConfig, notify: Callable[[str], None] = lambda _: None, environ=os.environ) -> Arrays:
    """Read (or fetch) the examples of `cfg.data`; raises `DataError` if they cannot be had."""
    data = cfg.data
    if data.dataset in BUILTIN:
        return load_builtin(data.dataset, data.path, notify, environ)
    if data.dataset == "synthetic":
        spec = data.synthetic or SyntheticSpec()
        return make_synthetic(
            tuple(spec.input_shape), spec.num_classes, spec.train_examples, spec.test_examples, seed=cfg.seed
        )
    path = _local_path(cfg)
    if path.is_file():
        return read_npz(path.read_bytes(), str(path))
    if not is_image_folder(cfg):
        files = find_idx_files(path)
        return arrays_from_idx({role: read_bytes(p) for role, p in files.items()}, str(path))
    return load_image_folder(path, data.image_size, data.color_mode, data.test_split, cfg.seed)


def load_splits(
    cfg: LocatedConfig,
    num_classes: int,
    preprocessing: Preprocessing | None = None,
    notify: Callable[[str], None] = lambda _: None,
    environ=os.environ,
) -> Splits:
    """The run's examples, limited, split and prepared as its config says: training, every
    process of a data_parallel run, a search and every later evaluation call this one function,
    so they all draw the same validation split. `preprocessing` is the run's own, once saved."""
    data = cfg.data
    return prepare(
        load_arrays(cfg, notify, environ),
        preprocess=data.preprocess,
        validation_split=data.validation_split,
        limit=data.limit,
        loss=cfg.train.loss,
        num_classes=num_classes,
        seed=cfg.seed,
        preprocessing=preprocessing,
    )


def is_image_folder(cfg: LocatedConfig) -> bool:
    """Whether `cfg.data` names a folder of images (one sub-folder per class), which is
    resized and converted on the way in, unlike the fixed-size array formats."""
    if cfg.data.dataset == "image_folder":
        return True
    path = Path(cfg.data.dataset).expanduser()
    return cfg.data.dataset not in KNOWN_NAMES and path.is_dir() and not find_idx_files(path)


def _local_path(cfg: LocatedConfig) -> Path:
    name = cfg.data.dataset
    if name == "image_folder":
        if not cfg.data.path:
            raise ConfigError(
                cfg.problem(
                    ("data", "dataset"),
                    "image_folder needs data.path",
                    "add path: folder/with/one/sub-folder/per/class",
                )
            )
        return Path(cfg.data.path).expanduser()
    path = Path(name).expanduser()
    if not path.exists():
        hint = did_you_mean(name, KNOWN_NAMES) or (
            "known: " + ", ".join(KNOWN_NAMES) + "; or a path to an .npz file, IDX files or an image folder"
        )
        raise ConfigError(cfg.problem(("data", "dataset"), f"unknown data set {name!r} (and no such path)", hint))
    if path.is_file() and path.suffix != ".npz":
        raise ConfigError(
            cfg.problem(
                ("data", "dataset"),
                f"{path}: not an .npz file",
                "give an .npz file, a folder of IDX files or an image folder",
            )
        )
    return path


def _npz_header(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    """Image shape from x_train's .npy header (no image is read) and the training labels."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("x_train.npy") as stream:
            major, _ = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape = read_header(stream)[0]
        with np.load(path, allow_pickle=False) as arrays:
            labels = arrays["y_train"]
    except (KeyError, OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a Keras-style .npz with x_train and y_train ({error})") from None
    return example_shape(shape), labels


def _idx_header(path: Path) -> tuple[tuple[int, ...], np.ndarray]:
    files = find_idx_files(path)
    images = files["train_images"]
    opener = gzip.open if images.suffix == ".gz" else open
    try:
        with opener(images, "rb") as stream:
            head = stream.read(4 + 4 * 4)  # magic and at most four dimensions
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{images}: cannot read ({error})") from None
    return example_shape(idx_shape(head, images.name)), parse_idx(read_bytes(files["train_labels"]))
