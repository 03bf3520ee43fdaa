"""Reading the classic data set file formats: IDX (plain or gzipped), Keras `.npz`, CIFAR tarballs.

>>> import io, numpy as np
>>> parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])).tolist()
[7, 8, 9]
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.errors import DataError

IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")
_IDX_NAME = re.compile(r"^(train|t10k|test)-(images|labels)[.-]idx[13]-ubyte(\.gz)?$")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass
class Arrays:
    """A data set in memory: images (N, H, W, C) and integer labels (N,), both splits."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    checksums: dict[str, str] = field(default_factory=dict)  # file name -> SHA-256
    origin: str = ""  # where the examples came from, for the manifest and the user
    x_val: np.ndarray | None = None  # a predefined validation split (image folders with val/)
    y_val: np.ndarray | None = None


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes:
    """The content of a file, gunzipped if its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read ({error})") from None


def idx_shape(data: bytes, name: str = "IDX data") -> tuple[int, ...]:
    """The array shape an IDX file's header announces (only the header needs to be there)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(f"{name}: not an IDX file (bad magic number)")
    return tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(data[3]))


def example_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(N, H, W) or (N, H, W, C) -> the shape of one example, (H, W, C)."""
    return tuple(shape[1:]) if len(shape) == 4 else (*shape[1:], 1)


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """An IDX file's content -> array (the format of the original MNIST files)."""
    shape = idx_shape(data, name)
    header = 4 + 4 * len(shape)
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{name}: truncated IDX file ({len(data) - header} bytes of data, {expected} expected for shape {shape})"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def find_idx_files(folder: Path) -> dict[str, Path]:
    """The four MNIST-style IDX files in `folder`, by role; empty if the set is incomplete."""
    found: dict[str, Path] = {}
    if not folder.is_dir():
        return found
    for path in sorted(folder.iterdir()):
        match = _IDX_NAME.match(path.name)
        if match:
            split = "train" if match.group(1) == "train" else "test"
            found.setdefault(f"{split}_{match.group(2)}", path)
    return found if len(found) == 4 else {}


def idx_role_name(role: str) -> str:
    """train_images -> train-images-idx3-ubyte (the original file name, without .gz)."""
    split, kind = role.split("_")
    return f"{'train' if split == 'train' else 't10k'}-{kind}-idx{3 if kind == 'images' else 1}-ubyte"


# The readers take the bytes already read (and, for the Keras data sets, already verified):
# `checksums` are the hashes the caller computed, so no file is read or hashed twice.


def arrays_from_idx(contents: dict[str, bytes], origin: str, checksums: dict[str, str] | None = None) -> Arrays:
    """Build `Arrays` from the four IDX files' contents (role -> bytes)."""
    parsed = {role: parse_idx(contents[role], idx_role_name(role)) for role in IDX_ROLES}
    checksums = checksums or {idx_role_name(r): sha256_of(contents[r]) for r in IDX_ROLES}
    arrays = Arrays(
        _as_images(parsed["train_images"]),
        parsed["train_labels"],
        _as_images(parsed["test_images"]),
        parsed["test_labels"],
        origin=origin,
        checksums=checksums,
    )
    return _checked(arrays, origin)


def read_npz(data: bytes, origin: str, checksums: dict[str, str] | None = None) -> Arrays:
    """A Keras-style `.npz` (its bytes) with x_train, y_train, x_test, y_test; no pickles allowed."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive]
            if missing:
                raise DataError(
                    f"{origin}: missing arrays {', '.join(missing)} (expected x_train, y_train, x_test, y_test)"
                )
            arrays = Arrays(
                _as_images(archive["x_train"]),
                archive["y_train"].reshape(-1),
                _as_images(archive["x_test"]),
                archive["y_test"].reshape(-1),
                origin=origin,
                checksums=checksums or {Path(origin).name: sha256_of(data)},
            )
    except (OSError, ValueError) as error:
        raise DataError(f"{origin}: not a readable .npz file ({error})") from None
    return _checked(arrays, origin)


def read_cifar_tarball(data: bytes, origin: str, label_key: str, checksums: dict[str, str]) -> Arrays:
    """The original CIFAR python tarball's bytes. It holds pickles: only pass verified bytes,
    with the `checksums` they were verified against."""
    train_x, train_y, test_x, test_y = [], [], [], []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            if not (name.startswith("data_batch") or name in ("test_batch", "train", "test")):
                continue
            batch = pickle.load(archive.extractfile(member), encoding="bytes")
            images = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            labels = np.asarray(batch[label_key.encode()], dtype=np.int64)
            is_test = name in ("test_batch", "test")
            (test_x if is_test else train_x).append(images)
            (test_y if is_test else train_y).append(labels)
    if not train_x or not test_x:
        raise DataError(f"{origin}: no CIFAR batches inside")
    arrays = Arrays(
        np.concatenate(train_x),
        np.concatenate(train_y),
        np.concatenate(test_x),
        np.concatenate(test_y),
        checksums=checksums,
        origin=origin,
    )
    return _checked(arrays, origin)


def _as_images(x: np.ndarray) -> np.ndarray:
    """(N, H, W) -> (N, H, W, 1); colour arrays pass through."""
    return x[..., np.newaxis] if x.ndim == 3 else x


def _checked(arrays: Arrays, origin: str) -> Arrays:
    for split in ("train", "test"):
        x, y = getattr(arrays, f"x_{split}"), getattr(arrays, f"y_{split}")
        if x.ndim != 4 or len(x) != len(y):
            raise DataError(
                f"{origin}: {split} images {x.shape} and labels {y.shape} do not match "
                "(expected (N, height, width[, channels]) and (N,))"
            )
    if arrays.x_train.shape[1:] != arrays.x_test.shape[1:]:
        raise DataError(
            f"{origin}: train images {arrays.x_train.shape[1:]} and test images "
            f"{arrays.x_test.shape[1:]} differ in shape"
        )
    arrays.y_train = arrays.y_train.astype(np.int64)
    arrays.y_test = arrays.y_test.astype(np.int64)
    return arrays
