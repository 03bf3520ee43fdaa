"""A trained run out of cnnlab: Keras' own `model.export` (SavedModel, LiteRT, ONNX) with the run's
preprocessing built in, and a parity check that runs the exported artifact itself.

The exported model takes raw pixels as float32 (0-255, the run's input shape) and returns class
probabilities, so nobody downstream needs to know whether the run scaled or standardised;
`labels.txt` beside it names the classes. Every export runs the artifact on test images with
the format's own runtime and compares it with the Keras model; below 99.9 % agreement it fails.

    >>> artifact_format(Path("model.tflite")), artifact_format(Path("model.onnx"))
    ('tflite', 'onnx')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, RunError

# cnnlab's name -> (Keras' export format, the artifact's suffix)
FORMATS = {"saved_model": ("tf_saved_model", ""), "tflite": ("litert", ".tflite"), "onnx": ("onnx", ".onnx")}
MIN_AGREEMENT = 0.999
EXTRA = "pip install 'cnnlab[export]'"


@dataclass(frozen=True)
class Parity:
    """How the exported artifact's outputs compare with the Keras model's on `examples` images."""

    examples: int
    max_abs_difference: float
    agreement: float  # share of examples with the same predicted class


@dataclass(frozen=True)
class Exported:
    path: Path
    labels: Path
    parity: Parity


def artifact_format(path: Path) -> str | None:
    """Which exported format `path` holds, by its name or content; None if it is none of them."""
    path = Path(path)
    if path.suffix == ".tflite":
        return "tflite"
    if path.suffix == ".onnx":
        return "onnx"
    if (path / "saved_model.pb").is_file():
        return "saved_model"
    return None


def with_preprocessing(model, preprocessing):
    """A model that takes raw float32 pixels: the run's scaling or standardisation, then `model`'s
    own layers (shared, not copied)."""
    import keras

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


def export_run(run: Path, fmt: str, out: Path | None = None, examples: int = 1000) -> Exported:
    """Export a run's best model to `out` (default: `RUN/export/model[.suffix]`), write labels.txt
    beside it and check it against the Keras model on up to `examples` test images."""
    from cnnlab.data import load_arrays
    from cnnlab.fileio import write_atomic
    from cnnlab.runs import load_trained_run

    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt}: not one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require_onnx()
    keras_format, suffix = FORMATS[fmt]
    out = Path(out) if out else Path(run) / "export" / f"model{suffix}"
    if out.suffix != suffix:
        raise ConfigError(
            f"--out {out}: a {fmt} export is " + (f"a file ending in {suffix}" if suffix else "a folder (no suffix)")
        )
    cfg, model, preprocessing, info = load_trained_run(run)
    raw = load_arrays(cfg).x_test[:examples].astype(np.float32)
    wrapped = with_preprocessing(model, preprocessing)
    expected = wrapped.predict(raw, verbose=0)  # also builds the graph, which the ONNX export needs
    _export_atomically(wrapped, out, keras_format)
    labels = out / "labels.txt" if fmt == "saved_model" else out.parent / "labels.txt"
    write_atomic(labels, "".join(f"{name}\n" for name in info.class_names))
    parity = compare_outputs(expected, run_artifact(out, raw))
    if parity.agreement < MIN_AGREEMENT:
        raise RunError(
            f"{out}: the exported model agrees with the Keras model on only "
            f"{parity.agreement:.2%} of {parity.examples} test images (largest difference "
            f"{parity.max_abs_difference:.3g}); it is not a faithful copy"
        )
    return Exported(out, labels, parity)


def _export_atomically(model, out: Path, keras_format: str) -> None:
    """`model.export` into a temporary name, then into place: a failed export leaves the previous
    artifact (or nothing), never half of one."""
    import os
    import shutil

    from cnnlab.fileio import replacing

    try:
        if out.suffix:  # one file: replacing makes its folder and names a refused write
            with replacing(out) as temporary:
                model.export(str(temporary), format=keras_format, verbose=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary, old = out.with_name(f".{out.name}.{os.getpid()}.tmp"), out.with_name(f".{out.name}.old")
        try:
            model.export(str(temporary), format=keras_format, verbose=False)
            if out.exists():
                os.replace(out, old)
            os.replace(temporary, out)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    except (OSError, ValueError) as error:
        raise RunError(f"{out}: the export failed ({error})") from None


def compare_outputs(expected: np.ndarray, actual: np.ndarray) -> Parity:
    """Largest absolute difference of the probabilities, and agreement of the predicted classes.

    >>> compare_outputs(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.8, 0.2], [0.6, 0.4]]))
    Parity(examples=2, max_abs_difference=0.4, agreement=0.5)
    """
    from cnnlab.evaluate import predicted_classes

    difference = float(np.round(np.abs(expected - actual).max(), 12))
    agreement = float((predicted_classes(expected) == predicted_classes(actual)).mean())
    return Parity(len(expected), difference, agreement)


@dataclass(frozen=True)
class Artifact:
    """An exported model, opened once with its format's own runtime."""

    path: Path
    input_shape: tuple[int, ...]  # (height, width, channels)
    predict: Callable[[np.ndarray], np.ndarray]  # float32 raw pixels -> class probabilities


def open_artifact(path: Path) -> Artifact:
    """Load a SavedModel folder, .tflite or .onnx file for prediction."""
    fmt = artifact_format(path)
    if fmt == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # held by the closure: its functions need its variables

        shape = loaded.serve.input_signature[0].shape[1:]
        return Artifact(path, tuple(int(d) for d in shape), lambda pixels: np.asarray(loaded.serve(pixels)))
    if fmt == "tflite":
        interpreter = _tflite_interpreter(path)
        shape = interpreter.get_input_details()[0]["shape"][1:]
        return Artifact(path, tuple(int(d) for d in shape), lambda pixels: _run_tflite(interpreter, pixels))
    if fmt == "onnx":
        _require_onnx()
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        source = session.get_inputs()[0]
        return Artifact(
            path, tuple(int(d) for d in source.shape[1:]), lambda pixels: session.run(None, {source.name: pixels})[0]
        )
    raise ConfigError(f"{path}: not an exported model (a SavedModel folder, .tflite or .onnx file)")


def run_artifact(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Class probabilities from an exported artifact, computed by the format's own runtime."""
    return open_artifact(path).predict(np.ascontiguousarray(pixels, dtype=np.float32))


def artifact_labels(path: Path) -> list[str]:
    labels = (path / "labels.txt") if artifact_format(path) == "saved_model" else path.parent / "labels.txt"
    if not labels.is_file():
        raise RunError(f"{labels}: missing — the class names are written beside an export by cnnlab export")
    return labels.read_text(encoding="utf-8").splitlines()


def _tflite_interpreter(path: Path):
    import warnings

    try:  # LiteRT's own package where it is installed; TensorFlow's (deprecated) interpreter else
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "tf.lite.Interpreter is deprecated"
        return Interpreter(model_path=str(path))


def _run_tflite(interpreter, pixels: np.ndarray) -> np.ndarray:
    from cnnlab.backend import stderr_muted

    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(source["index"], pixels.shape)
    with stderr_muted():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter.allocate_tensors()
    interpreter.set_tensor(source["index"], pixels)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(target["index"]))


def _require_onnx() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxruntime", "tf2onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {', '.join(missing)}, which are not installed — {EXTRA}")
