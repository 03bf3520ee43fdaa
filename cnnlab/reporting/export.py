"""A trained run out of cnnlab: Keras' own `model.export` (SavedModel, LiteRT, ONNX) with the run's
preprocessing built in, and a parity check that runs the exported artifact itself.

The exported model takes raw pixels as float32 (0-255, the run's input shape) and returns class
probabilities, so nobody downstream needs to know whether the run scaled or standardised;
`labels.txt` beside it names the classes (see `artifacts.py`). Every export runs the artifact on
test images with the format's own runtime and compares it with what the run itself computed for
them, never with the wrapped model it exported (a mistake in the wrapper would agree with
itself): the probabilities the run's evaluation stored, or the checkpoint on the run's own
preprocessing path. Below 99.9 % agreement it fails.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np

from cnnlab.data import load_arrays
from cnnlab.errors import ConfigError, RunError
from cnnlab.fileio import replacing, write_atomic
from cnnlab.reporting.artifacts import FORMATS, labels_file, require_onnx, run_artifact
from cnnlab.scores import predicted_classes
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.trained import load_trained_run

MIN_AGREEMENT = 0.999


@dataclass(frozen=True)
class Parity:
    """How the exported artifact's outputs compare with the run's own on `examples` images."""

    examples: int
    max_abs_difference: float
    agreement: float  # share of examples with the same predicted class
    reference: str = ""  # what the artifact was compared with: STORED or RECOMPUTED


# What the parity check compares the artifact with: the first when the run's records allow.
STORED, RECOMPUTED = "the run's evaluation (predictions.npz)", "best.keras on the run's preprocessing"


@dataclass(frozen=True)
class Exported:
    path: Path
    labels: Path
    parity: Parity


def with_preprocessing(model, preprocessing):
    """A model that takes raw float32 pixels: the run's scaling or standardisation, then `model`'s
    own layers (shared, not copied)."""
    steps = []
    if preprocessing.method == "scale":
        steps.append(keras.layers.Rescaling(1.0 / 255.0, name="scale"))
    elif preprocessing.method == "standardize":
        # (x - mean) / std per pixel, as constants: a Normalization layer's statistics are
        # variables, which tf2onnx turns into extra model inputs instead of weights.
        scale = (1.0 / preprocessing.std).astype(np.float32)
        steps.append(keras.layers.Rescaling(scale, offset=-preprocessing.mean * scale, name="standardize"))
    wrapped = keras.Sequential(
        [keras.Input(model.input_shape[1:], dtype="float32"), *steps, *model.layers], name=f"{model.name}_raw_pixels"
    )
    return wrapped


def export_run(run: RunFolder | Path, fmt: str, out: Path | None = None, examples: int = 1000) -> Exported:
    """Export a run's best model to `out` (default: `RUN/export/model[.suffix]`), write labels.txt
    beside it and check it against the Keras model on up to `examples` test images."""
    run = RunFolder.of(run)
    if fmt not in FORMATS:
        raise ConfigError.at("format", f"{fmt}: not one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        require_onnx()
    keras_format, suffix = FORMATS[fmt]
    out = Path(out) if out else run.export_file(suffix)
    if suffix and out.suffix != suffix:
        raise ConfigError.at("out", f"{out}: a {fmt} export is a file ending in {suffix}")
    files = {ending for _, ending in FORMATS.values() if ending}
    if not suffix and out.suffix in files:  # any other name of a SavedModel folder is the user's to choose
        raise ConfigError.at("out", f"{out}: a {fmt} export is a folder, not a file ending in {out.suffix}")
    cfg, model, preprocessing, info = load_trained_run(run)
    raw = load_arrays(cfg).x_test[:examples].astype(np.float32)
    expected, reference = runs_own_outputs(run, model, preprocessing, raw)
    wrapped = with_preprocessing(model, preprocessing)
    wrapped.predict(raw[:1], verbose=0)  # builds the graph, which the ONNX export needs
    checked: list[Parity] = []

    def check(artifact: Path) -> None:  # before the artifact takes its place
        checked.append(_parity(artifact, out, fmt, raw, expected, reference, model))

    _export_atomically(wrapped, out, keras_format, check)
    labels = labels_file(out)
    write_atomic(labels, "".join(f"{name}\n" for name in info.class_names))
    return Exported(out, labels, checked[0])


def _parity(artifact: Path, out: Path, fmt: str, raw, expected, reference: str, model) -> Parity:
    """The artifact run by its own runtime against the run's outputs; a `RunError` naming `out`
    when it cannot run or is not a faithful copy."""
    try:
        actual = run_artifact(artifact, raw)
    except Exception as error:  # the runtime's own refusal: say which, not its traceback
        policy = next(
            (layer.dtype_policy.name for layer in model.layers if layer.compute_dtype != "float32"), "float32"
        )
        hint = (
            f"; the run computes in {policy}, which the {fmt} runtime may not run: try --format saved_model"
            if policy != "float32"
            else ""
        )
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RunError(
            f"{out}: the exported model cannot be run by its own runtime ({first_line}){hint}; nothing was written"
        ) from None
    parity = replace(compare_outputs(expected, actual), reference=reference)
    if parity.agreement < MIN_AGREEMENT:
        raise RunError(
            f"{out}: the exported model agrees with {reference} on only "
            f"{parity.agreement:.2%} of {parity.examples} test images (largest difference "
            f"{parity.max_abs_difference:.3g}); it is not a faithful copy, and was not written"
        )
    return parity


def runs_own_outputs(run: RunFolder, model, preprocessing, raw: np.ndarray) -> tuple[np.ndarray, str]:
    """(probabilities, what they are) for the first len(raw) test images, as the run computed
    them: stored by its evaluation of best.keras when that is what predictions.npz holds (the
    file is rewritten by `evaluate --checkpoint last`), else best.keras (`model`) on
    `preprocessing.apply`, the path training and evaluation take."""
    try:
        evaluated = run.metrics("test").get("checkpoint") if run.metrics_file("test").is_file() else None
        stored = run.predictions("test") if evaluated == run.checkpoint("best").name else None
    except RunError:  # a damaged record: recompute rather than refuse the export
        stored = None
    probabilities = None if stored is None else stored.get("probabilities")
    if probabilities is not None and len(probabilities) >= len(raw):
        return probabilities[: len(raw)].astype(np.float32), STORED
    return model.predict(preprocessing.apply(raw), verbose=0), RECOMPUTED


def _export_atomically(model, out: Path, keras_format: str, check) -> None:
    """`_export`, quietly; a write the system refuses becomes a `RunError` naming the artifact.
    A folder made for the artifact goes again when the export fails."""
    made = next((folder for folder in [out.parent, *out.parent.parents] if folder.exists()), None)
    try:
        with _quiet_tensorflow():
            _export(model, out, keras_format, check)
    except BaseException as error:
        for folder in [out.parent, *out.parent.parents]:
            if folder == made or not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
        if isinstance(error, (OSError, ValueError)):
            raise RunError(f"{out}: the export failed ({error})") from None
        raise


@contextlib.contextmanager
def _quiet_tensorflow():
    """Keras exports through a SavedModel, and TensorFlow logs "Assets written to" a temporary
    folder at INFO where a notebook shows INFO: that is not the user's file."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _export(model, out: Path, keras_format: str, check) -> None:
    """`model.export` into a temporary name, `check` it there, then into place: a failed export
    or check leaves the previous artifact (or nothing), never half of one or an unfaithful one."""
    if out.suffix:  # one file: replacing makes its folder and names a refused write
        with replacing(out) as temporary:
            model.export(str(temporary), format=keras_format, verbose=False)
            check(temporary)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary, old = out.with_name(f".{out.name}.{os.getpid()}.tmp"), out.with_name(f".{out.name}.old")
    try:
        model.export(str(temporary), format=keras_format, verbose=False)
        check(temporary)
        if out.exists():
            os.replace(out, old)
        os.replace(temporary, out)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def compare_outputs(expected: np.ndarray, actual: np.ndarray) -> Parity:
    """Largest absolute difference of the probabilities, and agreement of the predicted classes.

    >>> compare_outputs(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.8, 0.2], [0.6, 0.4]]))
    Parity(examples=2, max_abs_difference=0.4, agreement=0.5, reference='')
    """
    difference = float(np.round(np.abs(expected - actual).max(), 12))
    agreement = float((predicted_classes(expected) == predicted_classes(actual)).mean())
    return Parity(len(expected), difference, agreement)
