"""Test-set evaluation of a model: Keras' own loss and metrics, plus per-example predictions.

    >>> predicted_classes(np.array([[0.1, 0.9], [0.8, 0.2]])).tolist()
    [1, 0]
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cnnlab.fileio import write_atomic, write_json


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Class indices from model outputs (a single sigmoid column means two classes)."""
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        return (probabilities[:, 0] > 0.5).astype(np.int64)
    return probabilities.argmax(axis=-1).astype(np.int64)


def evaluate_model(model, x: np.ndarray, y: np.ndarray, labels: np.ndarray, batch_size: int):
    """(metrics, predictions): Keras' compiled loss and metrics on (x, y), and for every example
    its true label, predicted label and class probabilities."""
    from cnnlab.data.prepare import to_dataset

    dataset = to_dataset(x, y, batch_size, shuffle=False, seed=0)
    metrics = {k: float(v) for k, v in model.evaluate(dataset, verbose=0, return_dict=True).items()}
    probabilities = model.predict(dataset, verbose=0).astype(np.float32)
    predicted = predicted_classes(probabilities)
    metrics["examples"] = int(len(labels))
    metrics["correct"] = int((predicted == labels).sum())
    return metrics, {"y_true": labels.astype(np.int64), "y_pred": predicted,
                     "probabilities": probabilities}


def save_evaluation(run: Path, metrics: dict, predictions: dict) -> None:
    """`metrics.json` and `predictions.npz` in the run folder, each written atomically."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **predictions)
    write_atomic(Path(run) / "predictions.npz", buffer.getvalue())
    write_json(Path(run) / "metrics.json", metrics)
