"""From raw arrays to model-ready splits: limit, validation split, preprocessing, label form.

The validation split is taken from the training split, never from the test split. `standardize`
statistics come from the training examples only and are saved with the run, so evaluation and
prediction transform new images exactly as training did.

    >>> p = Preprocessing.fit("scale", np.array([[[[0]], [[255]]]], dtype=np.uint8))
    >>> round(float(p.apply(np.array([[[[51]]]], dtype=np.uint8)).ravel()[0]), 6)
    0.2
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.data.files import Arrays
from cnnlab.errors import DataError, RunError
from cnnlab.fileio import write_atomic


@dataclass(frozen=True)
class Preprocessing:
    """How pixel values become model inputs; `mean`/`std` are per pixel (H, W, C)."""

    method: str  # scale | standardize | none
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, method: str, x_train: np.ndarray) -> Preprocessing:
        if method != "standardize":
            return cls(method)
        x = x_train.astype(np.float64)
        # A pixel that never changes (MNIST's border) has std 0: divide by one grey level instead.
        return cls(method, x.mean(axis=0).astype(np.float32), np.maximum(x.std(axis=0), 1.0).astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        if self.method == "scale":
            return x / np.float32(255.0)
        if self.method == "standardize":
            return (x - self.mean) / self.std
        return x

    def invert(self, x: np.ndarray) -> np.ndarray:
        """Model inputs back to pixel values: the inverse of `apply` (for pictures of inputs)."""
        if self.method == "scale":
            return x * np.float32(255.0)
        if self.method == "standardize":
            return x * self.std + self.mean
        return x

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        arrays = {"method": np.array(self.method)}
        if self.mean is not None:
            arrays.update(mean=self.mean, std=self.std)
        np.savez(buffer, **arrays)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Preprocessing:
        try:
            with np.load(path, allow_pickle=False) as saved:
                method = str(saved["method"])
                return cls(method, saved["mean"], saved["std"]) if method == "standardize" else cls(method)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            raise RunError(
                f"{path}: cannot be read ({error}) — the run's preprocessing is lost; train the run again"
            ) from None


@dataclass
class Splits:
    """Model-ready inputs (float32) and labels (in the form the loss expects) per split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    labels_test: np.ndarray  # integer test labels, whatever form y_test has
    preprocessing: Preprocessing
    raw_test: np.ndarray | None = None  # the test images as they were read (for galleries)
    origin: str = ""  # where the examples came from, and the checksums of what was read there
    checksums: dict[str, str] = field(default_factory=dict)


def label_form(loss: str) -> str:
    """'sparse' (integers), 'binary' (0/1 column) or 'one_hot', as the loss needs them."""
    loss = loss.lower()
    if "sparse" in loss:
        return "sparse"
    if loss.startswith("binary"):
        return "binary"
    return "one_hot"


def encode_labels(labels: np.ndarray, form: str, num_classes: int) -> np.ndarray:
    if form == "sparse":
        return labels.astype(np.int64)
    if form == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    return np.eye(num_classes, dtype=np.float32)[labels]


def prepare(
    arrays: Arrays,
    *,
    preprocess: str,
    validation_split: float,
    limit: int | None,
    loss: str,
    num_classes: int,
    seed: int,
    preprocessing: Preprocessing | None = None,
) -> Splits:
    """Limit, split off validation (seeded), fit (unless given) and apply preprocessing, encode
    labels. The same arguments always give the same split, so a run's data can be rebuilt."""
    _check_labels(arrays, num_classes)
    x, y = arrays.x_train, arrays.y_train
    if limit is not None:
        x, y = x[:limit], y[:limit]
    x_val, y_val = arrays.x_val, arrays.y_val
    if x_val is None and validation_split > 0:
        order = np.random.default_rng(seed).permutation(len(x))
        cut, _ = split_sizes(len(x), validation_split)
        x, y, x_val, y_val = x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
    preprocessing = preprocessing or Preprocessing.fit(preprocess, x)
    form = label_form(loss)
    return Splits(
        preprocessing.apply(x),
        encode_labels(y, form, num_classes),
        None if x_val is None else preprocessing.apply(x_val),
        None if y_val is None else encode_labels(y_val, form, num_classes),
        preprocessing.apply(arrays.x_test),
        encode_labels(arrays.y_test, form, num_classes),
        arrays.y_test,
        preprocessing,
        arrays.x_test,
        arrays.origin,
        arrays.checksums,
    )


def split_sizes(examples: int, validation_split: float) -> tuple[int, int]:
    """(training, validation) example counts; a `DataError` if either would be empty.

    >>> split_sizes(60000, 0.1)
    (54000, 6000)
    """
    held_out = int(round(examples * validation_split))
    if validation_split > 0 and not 0 < held_out < examples:
        empty = "validation" if held_out == 0 else "training"
        raise DataError(
            f"validation_split {validation_split} of {examples} training examples leaves no {empty} examples"
        )
    return examples - held_out, held_out


def _check_labels(arrays: Arrays, num_classes: int) -> None:
    for split, labels in (("train", arrays.y_train), ("test", arrays.y_test)):
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataError(
                f"{arrays.origin}: {split} labels run from {labels.min()} to "
                f"{labels.max()}, but the model has {num_classes} classes"
            )


def to_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, whole: bool = False):
    """A batched, prefetching `tf.data.Dataset`, reshuffled every epoch when `shuffle`;
    `whole` drops a last partial batch."""
    import tensorflow as tf  # only for training: preparing arrays (and summary, check) needs none

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=whole).prefetch(tf.data.AUTOTUNE)


@dataclass
class FitData:
    """What `model.fit` is given: datasets, and what an epoch leaves out."""

    train: object
    validation: object | None
    steps_per_epoch: int  # batches of the training data in one epoch
    left_out: str = ""


def fit_datasets(splits, batch_size: int, sharded: bool, seed: int) -> FitData:
    """`fit`'s data for `splits` in batches of `batch_size`, shuffled by `seed`.

    `sharded` (several data_parallel processes): each process takes its share of every
    global batch, so every epoch must be whole batches, the same number on every process: a
    last partial batch is left out (of the training data, a different one each epoch)."""
    validation = splits.x_val is not None
    sizes = {"training": len(splits.x_train), **({"validation": len(splits.x_val)} if validation else {})}
    if sharded:
        for split, size in sizes.items():
            if size < batch_size:
                raise RunError(f"data_parallel: the {size} {split} examples make no whole batch of {batch_size}")
    train = to_dataset(splits.x_train, splits.y_train, batch_size, shuffle=True, seed=seed, whole=sharded)
    val = (
        to_dataset(splits.x_val, splits.y_val, batch_size, shuffle=False, seed=0, whole=sharded) if validation else None
    )
    left = ", ".join(f"{size % batch_size} {split} examples" for split, size in sizes.items() if size % batch_size)
    steps = sizes["training"] // batch_size if sharded else -(-sizes["training"] // batch_size)
    return FitData(train, val, steps, f"each epoch leaves out {left}" if sharded and left else "")
