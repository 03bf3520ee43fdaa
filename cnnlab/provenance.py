"""What a run records about how it was made, beside its results: the versions of the software
that trained it (manifest.json) and its entry in TensorBoard's HParams dashboard."""

from __future__ import annotations

import platform
from pathlib import Path

from cnnlab import __version__
from cnnlab.config import LocatedConfig


def write_hparams(logdir: Path, cfg: LocatedConfig, parameters: int, epochs: int) -> None:
    """The run's entry in TensorBoard's HParams dashboard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    values = {
        "dataset": cfg.data.dataset,
        "preprocess": cfg.data.preprocess,
        "optimizer": cfg.train.optimizer.name,
        "batch_size": cfg.train.batch_size,
        "epochs": epochs,
        "layers": len(cfg.model.layers),
        "parameters": parameters,
        "seed": cfg.seed,
    }
    learning_rate = cfg.train.optimizer.arguments.get("learning_rate")
    if isinstance(learning_rate, (int, float)):
        values["learning_rate"] = float(learning_rate)
    with tf.summary.create_file_writer(str(logdir / "hparams")).as_default():
        hp.hparams(values, trial_id=cfg.name)


def versions() -> dict:
    """The versions of what trained the run, for its manifest."""
    import keras
    import numpy
    import tensorflow

    return {
        "cnnlab": __version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tensorflow.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }
