"""Evaluation of a run's checkpoint: Keras' own loss and metrics, the scores of `scores.py`,
per-example predictions, the plots and the report. Used after training and by `cnnlab evaluate`.

    >>> predicted_classes(np.array([[0.1, 0.9], [0.8, 0.2]])).tolist()
    [1, 0]
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError, DataError
from cnnlab.fileio import write_atomic, write_json

SPLITS = ("test", "val", "train")
INFERENCE_BATCH = 256


def predicted_classes(probabilities: np.ndarray) -> np.ndarray:
    """Class indices from model outputs (a single sigmoid column means two classes)."""
    if probabilities.ndim == 2 and probabilities.shape[1] == 1:
        return (probabilities[:, 0] > 0.5).astype(np.int64)
    return probabilities.argmax(axis=-1).astype(np.int64)


def evaluate_model(
    model, x: np.ndarray, y: np.ndarray, labels: np.ndarray, batch_size: int, class_names, callbacks=()
) -> tuple[dict, dict]:
    """(metrics, predictions): Keras' compiled loss and metrics on (x, y), the scores, and for
    every example its true label, predicted label and class probabilities.

    One pass over the data: the probabilities that predict returns also give the compiled loss
    (compute_loss adds the regularisation terms, as evaluate does) and metrics; evaluate and
    predict would run the model twice. Inference runs at a batch of at least INFERENCE_BATCH,
    which does not change the results and on a CPU runs about twice as fast as 32."""
    from cnnlab.scores import analyse

    # Several batches per call (train.steps_per_execution) pay off in training, where a step is
    # short. In predict, TensorFlow runs those steps side by side and holds all their
    # activations at once: +92 MB peak for the baseline at batch 256, and no faster.
    model.steps_per_execution, model.predict_function = 1, None
    probabilities = model.predict(
        x, batch_size=max(batch_size, INFERENCE_BATCH), verbose=0, callbacks=list(callbacks)
    ).astype(np.float32)
    for metric in model.metrics:
        metric.reset_state()
    loss = float(model.compute_loss(x=None, y=y, y_pred=probabilities, training=False))
    compiled = model.compute_metrics(None, y, probabilities, sample_weight=None)
    metrics = dict(sorted({**{k: float(v) for k, v in compiled.items() if k != "loss"}, "loss": loss}.items()))
    predicted = predicted_classes(probabilities)
    metrics["examples"] = int(len(labels))
    metrics["correct"] = int((predicted == labels).sum())
    metrics.update(analyse(labels, predicted, probabilities, class_names))
    return metrics, {"y_true": labels.astype(np.int64), "y_pred": predicted, "probabilities": probabilities}


def assess(
    run: Path,
    cfg,
    model,
    *,
    x,
    y,
    labels,
    raw_images,
    class_names,
    checkpoint: str,
    split: str,
    best_epoch: int | None,
    callbacks=(),
) -> dict:
    """Evaluate `model`, then write metrics.json, predictions.npz, the plots and the report.
    `callbacks` see the prediction pass (Keras callbacks)."""
    from cnnlab import plots
    from cnnlab.report import write_report
    from cnnlab.runs import RUN_CONFIG, Manifest, read_history
    from cnnlab.summary import summarize

    metrics, predictions = evaluate_model(model, x, y, labels, cfg.train.batch_size, class_names, callbacks)
    metrics = {"checkpoint": checkpoint, "split": split, "best_epoch": best_epoch, **metrics}
    # The report, metrics.json and predictions.npz describe the test split (compare pairs runs
    # on it); other evaluations go beside them, named by their split.
    suffix = "" if split == "test" else "_" + Path(split).stem
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **predictions)
    write_atomic(run / f"predictions{suffix}.npz", buffer.getvalue())
    write_json(run / f"metrics{suffix}.json", metrics)
    manifest = Manifest(run)
    compact = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    if suffix:
        manifest.update(**{f"evaluation{suffix}": compact})
        return metrics
    summary = summarize(model)
    manifest.update(test=compact, macs=summary.total_macs)

    history = read_history(run / "history.csv")
    if history:
        plots.learning_curves(history, run / "curves.png", title=cfg.name)
    plots.confusion_matrix(
        np.array(metrics["confusion_matrix"]),
        class_names,
        run / "confusion_matrix.png",
        title=f"{cfg.name}: confusion matrix ({split} split, {checkpoint})",
    )
    chosen = plots.most_confident_mistakes(predictions["y_true"], predictions["y_pred"], predictions["probabilities"])
    plots.misclassified(
        raw_images,
        predictions["y_true"],
        predictions["y_pred"],
        predictions["probabilities"],
        class_names,
        run / "misclassified.png",
        chosen,
        heatmaps=_mistake_heatmaps(model, x, chosen, predictions["y_pred"]),
    )
    write_report(
        run, config_yaml=(run / RUN_CONFIG).read_text(), manifest=manifest.data, summary=summary, metrics=metrics
    )
    return metrics


def _mistake_heatmaps(model, x: np.ndarray, chosen: np.ndarray, predicted: np.ndarray) -> np.ndarray | None:
    """Grad-CAM maps of the `chosen` examples for their predicted class, in that order; None for
    a model without a convolutional layer (nothing to weight)."""
    from cnnlab import explain

    if not len(chosen) or not explain.conv_layers(model):
        return None
    return explain.gradcam(model, x[chosen], predicted[chosen])[0]


def evaluate_run(
    run: Path,
    *,
    checkpoint: str = "best",
    data: str = "test",
    notify: Callable[[str], None] = lambda _: None,
    environ=os.environ,
) -> dict:
    """Re-evaluate a run's checkpoint on a split of its data (test, val, train) or on the test
    split of another data set at a path, transformed exactly as in training."""
    from cnnlab import backend
    from cnnlab.config import load_config
    from cnnlab.data import load_arrays
    from cnnlab.data.prepare import prepare_for
    from cnnlab.runs import RUN_CONFIG, Manifest, load_trained_run

    run = Path(run)
    cfg = load_config(run / RUN_CONFIG)
    backend.configure(cfg)  # the run's device and seed, before Keras touches a device
    cfg, model, preprocessing, info = load_trained_run(run, checkpoint, cfg)
    if data in SPLITS:
        splits = prepare_for(cfg, load_arrays(cfg, notify, environ), info.num_classes, preprocessing)
        x, y, labels, raw = _split(splits, data)
    else:
        x, y, labels, raw = _other_data(cfg, data, preprocessing, info, notify, environ)
    if tuple(model.input_shape[1:]) != tuple(x.shape[1:]):
        raise DataError(
            f"{data}: examples of shape {x.shape[1:]} do not fit the model's input {tuple(model.input_shape[1:])}"
        )
    best_epoch = Manifest(run).data.get("test", {}).get("best_epoch") if checkpoint == "best" else None
    return assess(
        run,
        cfg,
        model,
        x=x,
        y=y,
        labels=labels,
        raw_images=raw,
        class_names=info.class_names,
        checkpoint=f"{checkpoint}.keras",
        split=data if data in SPLITS else str(data),
        best_epoch=best_epoch,
    )


def _split(splits, name: str):
    if name == "test":
        return splits.x_test, splits.y_test, splits.labels_test, splits.raw_test
    x, y = (splits.x_train, splits.y_train) if name == "train" else (splits.x_val, splits.y_val)
    if x is None:
        raise ConfigError(f"this run has no {name} split (data.validation_split is 0)")
    labels = y if y.ndim == 1 else (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
    return x, y, labels.astype(np.int64), x  # the gallery shows model inputs (rescaled for display)


def _other_data(cfg, path: str, preprocessing, info, notify, environ):
    from cnnlab.config import LocatedConfig
    from cnnlab.data import load_arrays
    from cnnlab.data.prepare import encode_labels, label_form

    if not Path(path).exists():
        raise ConfigError(f"--data {path}: not a split ({', '.join(SPLITS)}) and no such file or folder")
    other = LocatedConfig.model_validate(
        {**cfg.model_dump(mode="json"), "data": {**cfg.data.model_dump(mode="json"), "dataset": path}}
    )
    arrays = load_arrays(other, notify, environ)
    if arrays.y_test.size and arrays.y_test.max() >= info.num_classes:
        raise DataError(f"{path}: labels go up to {arrays.y_test.max()}, the model knows {info.num_classes} classes")
    y = encode_labels(arrays.y_test, label_form(cfg.train.loss), info.num_classes)
    return preprocessing.apply(arrays.x_test), y, arrays.y_test, arrays.x_test
