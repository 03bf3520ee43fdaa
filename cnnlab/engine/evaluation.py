"""Evaluation of a run's checkpoint: Keras' own loss and metrics, the scores of `scores.py`,
per-example predictions, the plots and the report. Used after training and by `cnnlab evaluate`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from cnnlab.config import LocatedConfig
from cnnlab.data import DatasetInfo, load_arrays, load_splits
from cnnlab.data.prepare import Preprocessing, Splits, encode_labels, label_form
from cnnlab.errors import ConfigError, DataError
from cnnlab.model.summary import summarize
from cnnlab.reporting import confusion, curves, explain, gallery
from cnnlab.reporting.report import write_report
from cnnlab.runtime import backend
from cnnlab.scores import analyse, caveat, predicted_classes
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.trained import load_trained_run

SPLITS = ("test", "val", "train")
INFERENCE_BATCH = 256


def evaluate_model(
    model, x: np.ndarray, y: np.ndarray, labels: np.ndarray, batch_size: int, class_names, callbacks=()
) -> tuple[dict, dict]:
    """(metrics, predictions): Keras' compiled loss and metrics on (x, y), the scores, and for
    every example its true label, predicted label and class probabilities.

    One pass over the data: the probabilities that predict returns also give the compiled loss
    (compute_loss adds the regularisation terms, as evaluate does) and metrics; evaluate and
    predict would run the model twice. Inference runs at a batch of at least INFERENCE_BATCH,
    which does not change the results and on a CPU runs about twice as fast as 32."""
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
    run: RunFolder,
    cfg: LocatedConfig,
    model: keras.Model,
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
    """Evaluate `model` (the run's `checkpoint`, "best" or "last"), then write its metrics and
    predictions; for the test split also the plots and the report. `callbacks` see the
    prediction pass (Keras callbacks)."""
    metrics, predictions = evaluate_model(model, x, y, labels, cfg.train.batch_size, class_names, callbacks)
    metrics = {"checkpoint": run.checkpoint(checkpoint).name, "split": split, "best_epoch": best_epoch, **metrics}
    if split == "test" and isinstance(metrics.get("accuracy"), float) and run.history:
        said = caveat(metrics["accuracy"], run.history[-1].get("accuracy"), len(class_names))
        metrics.update({"caveat": said} if said else {})
    run.write_predictions(predictions, split)
    run.write_metrics(metrics, split)
    compact = {k: v for k, v in metrics.items() if not isinstance(v, (list, dict))}
    if split != "test":
        run.update(**{f"evaluation_{Path(split).stem}": compact})
        return metrics
    summary = summarize(model)
    run.update(test=compact, macs=summary.total_macs)
    pictures = {}
    if run.history:
        pictures[run.CURVES] = curves.learning_curves(run.history, run.picture(run.CURVES), title=cfg.name)
    pictures[run.CONFUSION_MATRIX] = confusion.confusion_matrix(
        np.array(metrics["confusion_matrix"]),
        class_names,
        run.picture(run.CONFUSION_MATRIX),
        title=f"{cfg.name}: confusion matrix ({split} split, {metrics['checkpoint']})",
    )
    chosen = gallery.most_confident_mistakes(predictions["y_true"], predictions["y_pred"], predictions["probabilities"])
    pictures[run.MISCLASSIFIED] = gallery.misclassified(
        raw_images,
        predictions["y_true"],
        predictions["y_pred"],
        predictions["probabilities"],
        class_names,
        run.picture(run.MISCLASSIFIED),
        chosen,
        heatmaps=_mistake_heatmaps(model, x, chosen, predictions["y_pred"]),
    )
    write_report(
        run, config_yaml=cfg.to_yaml(), manifest=run.manifest, summary=summary, metrics=metrics, pictures=pictures
    )
    return metrics


def _mistake_heatmaps(model, x: np.ndarray, chosen: np.ndarray, predicted: np.ndarray) -> np.ndarray | None:
    """Grad-CAM maps of the `chosen` examples for their predicted class, in that order; None for
    a model without a convolutional layer (nothing to weight)."""
    if not len(chosen) or not explain.conv_layers(model):
        return None
    return explain.gradcam(model, x[chosen], predicted[chosen])[0]


def evaluate_run(
    run: RunFolder | Path,
    *,
    checkpoint: str,
    data: str | Path,
    notify: Callable[[str], None] = lambda _: None,
    environ=os.environ,
) -> dict:
    """Re-evaluate a run's checkpoint on a split of its data (test, val, train) or on the test
    split of another data set at a path, transformed exactly as in training."""
    run, data = RunFolder.of(run), os.fspath(data)  # a Path from Python names its split as the shell's text does
    if not data.strip():  # "" would be read as the current folder, and refused by what is in it
        hint = f"{', '.join(SPLITS)}, or . for this folder"
        raise ConfigError.at("data", f"{data!r}: no split and no path", hint=hint)
    cfg = run.load_config()
    backend.configure(cfg)  # the run's device and seed, before Keras touches a device
    cfg, model, preprocessing, info = load_trained_run(run, checkpoint, cfg)
    shape = tuple(model.input_shape[1:])
    if data in SPLITS:
        x, y, labels, raw = _split(load_splits(cfg, info.num_classes, preprocessing, notify, environ), data)
        _check_fits(data, x, shape)
    else:  # checked inside, before the run's statistics meet the images
        x, y, labels, raw = _other_data(cfg, data, preprocessing, info, environ, shape)
    best_epoch = run.manifest.get("test", {}).get("best_epoch") if checkpoint == "best" else None
    return assess(
        run,
        cfg,
        model,
        x=x,
        y=y,
        labels=labels,
        raw_images=raw,
        class_names=info.class_names,
        checkpoint=checkpoint,
        split=data,
        best_epoch=best_epoch,
    )


def _split(splits: Splits, name: str):
    if name == "test":
        return splits.x_test, splits.y_test, splits.labels_test, splits.raw_test
    x, y = (splits.x_train, splits.y_train) if name == "train" else (splits.x_val, splits.y_val)
    if x is None:
        raise ConfigError(f"this run has no {name} split (data.validation_split is 0)")
    labels = y if y.ndim == 1 else (y[:, 0] > 0.5).astype(np.int64) if y.shape[1] == 1 else y.argmax(axis=1)
    return x, y, labels.astype(np.int64), x  # the gallery shows model inputs (rescaled for display)


def _check_fits(data: str, x: np.ndarray, shape: tuple) -> None:
    if tuple(x.shape[1:]) != shape:
        raise DataError(f"{data}: examples of shape {x.shape[1:]} do not fit the model's input {shape}")


def _other_data(cfg: LocatedConfig, path: str, preprocessing: Preprocessing, info: DatasetInfo, environ, shape: tuple):
    """The test split of the data set at `path` (a file or folder: nothing to fetch, nothing to
    tell), prepared as the run's own data was; images of another shape than the model's
    `shape` are refused before the run's statistics are applied to them."""
    if not Path(path).exists():
        raise ConfigError.at("data", f"{path}: not a split ({', '.join(SPLITS)}) and no such file or folder")
    other = LocatedConfig.model_validate(
        {**cfg.model_dump(mode="json"), "data": {**cfg.data.model_dump(mode="json"), "dataset": path}}
    )
    arrays = load_arrays(other, environ=environ)
    if arrays.y_test.size and arrays.y_test.max() >= info.num_classes:
        raise DataError(f"{path}: labels go up to {arrays.y_test.max()}, the model knows {info.num_classes} classes")
    _check_fits(path, arrays.x_test, shape)
    y = encode_labels(arrays.y_test, label_form(cfg.train.loss), info.num_classes)
    return preprocessing.apply(arrays.x_test), y, arrays.y_test, arrays.x_test
