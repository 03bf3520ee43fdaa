"""Models exported by `cnnlab export`: which format a path holds, the format's own runtime to
run it, and the class names written beside it.

Telling a path's format starts nothing (`cnnlab predict` decides by it before Keras starts);
each runtime is imported when an artifact of its format is opened.

    >>> artifact_format(Path("model.tflite")), artifact_format(Path("model.onnx"))
    ('tflite', 'onnx')
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, RunError
from cnnlab.runtime.backend import stderr_muted

# cnnlab's name -> (Keras' export format, the artifact's suffix)
FORMATS = {"saved_model": ("tf_saved_model", ""), "tflite": ("litert", ".tflite"), "onnx": ("onnx", ".onnx")}
EXTRA = "pip install 'cnnlab[export]'"
LABELS = "labels.txt"


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


@dataclass(frozen=True)
class Artifact:
    """An exported model, opened once with its format's own runtime."""

    input_shape: tuple[int, ...]  # (height, width, channels)
    predict: Callable[[np.ndarray], np.ndarray]  # float32 raw pixels -> class probabilities


def open_artifact(path: Path) -> Artifact:
    """Load a SavedModel folder, .tflite or .onnx file for prediction."""
    fmt = artifact_format(path)
    if fmt == "saved_model":
        import tensorflow as tf  # started by now: the format's own runtime

        loaded = tf.saved_model.load(str(path))  # held by the closure: its functions need its variables

        shape = loaded.serve.input_signature[0].shape[1:]
        return Artifact(tuple(int(d) for d in shape), lambda pixels: np.asarray(loaded.serve(pixels)))
    if fmt == "tflite":
        interpreter = _tflite_interpreter(path)
        shape = interpreter.get_input_details()[0]["shape"][1:]
        return Artifact(tuple(int(d) for d in shape), lambda pixels: _run_tflite(interpreter, pixels))
    if fmt == "onnx":
        require_onnx()
        import onnxruntime  # an extra: pip install 'cnnlab[export]'

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        source = session.get_inputs()[0]
        return Artifact(
            tuple(int(d) for d in source.shape[1:]), lambda pixels: session.run(None, {source.name: pixels})[0]
        )
    raise ConfigError(f"{path}: not an exported model (a SavedModel folder, .tflite or .onnx file)")


def run_artifact(path: Path, pixels: np.ndarray) -> np.ndarray:
    """Class probabilities from an exported artifact, computed by the format's own runtime."""
    return open_artifact(path).predict(np.ascontiguousarray(pixels, dtype=np.float32))


def labels_file(path: Path) -> Path:
    """The class names of an export: inside a SavedModel folder, beside a single file."""
    return path / LABELS if artifact_format(path) == "saved_model" else path.parent / LABELS


def artifact_labels(path: Path) -> list[str]:
    labels = labels_file(path)
    if not labels.is_file():
        raise RunError(f"{labels}: missing — the class names are written beside an export by cnnlab export")
    return labels.read_text(encoding="utf-8").splitlines()


def _tflite_interpreter(path: Path):
    try:  # LiteRT's own package where it is installed; TensorFlow's (deprecated) interpreter else
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf  # started by now: its interpreter is the fallback

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "tf.lite.Interpreter is deprecated"
        return Interpreter(model_path=str(path))


def _run_tflite(interpreter, pixels: np.ndarray) -> np.ndarray:
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.resize_tensor_input(source["index"], pixels.shape)
    with stderr_muted():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter.allocate_tensors()
    interpreter.set_tensor(source["index"], pixels)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(target["index"]))


def require_onnx() -> None:
    """Refuse ONNX work, naming the extra, where its packages are not installed."""
    missing = [name for name in ("onnx", "onnxruntime", "tf2onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {', '.join(missing)}, which are not installed — {EXTRA}")
