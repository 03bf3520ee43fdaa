"""A trained run, loaded back: its config, a checkpoint as a Keras model, its preprocessing and
its data set's metadata; or a `RunError` that names the file that is missing or unreadable."""

from __future__ import annotations

from typing import NamedTuple

import keras

from cnnlab.config import LocatedConfig
from cnnlab.data import DatasetInfo, dataset_info
from cnnlab.data.prepare import Preprocessing
from cnnlab.errors import RunError
from cnnlab.storage.folders import RunFolder


class TrainedRun(NamedTuple):
    cfg: LocatedConfig
    model: keras.Model
    preprocessing: Preprocessing
    info: DatasetInfo


def load_trained_run(run: RunFolder | str, checkpoint: str = "best", cfg: LocatedConfig | None = None) -> TrainedRun:
    """The run's config (`cfg` when the caller has read it already), `checkpoint` ("best" or
    "last") as a Keras model, and how its pixels were prepared."""
    run = RunFolder.of(run)
    cfg = cfg or run.load_config()
    missing = run.missing(checkpoint)
    if missing:
        manifest = run.manifest
        why = (
            f"the run failed before its first checkpoint: {manifest.get('failure')}"
            if manifest.get("status") == "failed"
            else "the run did not finish an epoch, or the file was removed"
        )
        raise RunError(f"{run}: {missing} is missing — {why}")
    path = run.checkpoint(checkpoint)
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # a truncated or foreign file: say which, not a traceback
        raise RunError(f"{path}: cannot be loaded as a Keras model ({error})") from None
    return TrainedRun(cfg, model, run.load_preprocessing(), dataset_info(cfg))
