"""Training, resuming and checking from Python: what `cnnlab train` and `cnnlab check` call, and a
notebook calls the same way.

    >>> import cnnlab
    >>> cnnlab.check({"model": {"layers": ["Flatten", {"Dense": {"units": 10}}]}}).parameters
    7850
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cnnlab.api import trainer
from cnnlab.api.configs import Config, Overrides, resolve
from cnnlab.api.progress import Progress, as_progress
from cnnlab.api.runs import Run
from cnnlab.errors import Interrupted
from cnnlab.runtime.startup import start_keras


def train(
    config: Config | Sequence[Config],
    *,
    overrides: Overrides = None,
    runs_dir: str | os.PathLike = "runs",
    name: str | None = None,
    progress: bool | Progress = True,
) -> Run | list[Run | None] | None:
    """Train a config (a YAML file's path, or a mapping in its shape) into a new run folder,
    evaluate it on the test split and write its report; the `Run`. `overrides` set dotted keys
    as `--set` does: `{"train.epochs": 2}`.

    A list of configs trains them in turn, after every one of them has been checked (a mistake
    in any raises `ConfigError` before anything trains). A run that fails does not stop the
    ones after it; Ctrl-C stops them all. The list has a `Run` per config, or None for one that
    made no run folder.

    A bad config raises `ConfigError`; a run that fails, `RunFailed`; Ctrl-C, `Interrupted`.
    Both say which run (`.run`), and the run stays resumable with `Run.resume()`. On a
    data_parallel process other than process 0, which writes no run, the result is None.

    >>> import cnnlab
    >>> run = cnnlab.train("configs/mnist_fast.yaml", overrides={"data.limit": 2000})  # doctest: +SKIP
    """
    show = as_progress(progress)
    if isinstance(config, Sequence) and not isinstance(config, str):
        try:
            return _runs(trainer.train_configs(list(config), overrides, Path(runs_dir), show))
        except Interrupted as error:
            error.runs = _runs(error.runs)
            raise
    cfg = resolve(config, overrides, name)
    start_keras(cfg)
    return _runs([trainer.train_config(cfg, None, Path(runs_dir), show)])[0]


def resume(
    run: str | os.PathLike | Run,
    config: Config | None = None,
    *,
    overrides: Overrides = None,
    runs_dir: str | os.PathLike = "runs",
    progress: bool | Progress = True,
) -> Run | None:
    """Continue an interrupted run (a `Run`, its folder or its name) from its last completed
    epoch, with its own config or `config`, and `overrides`; refused where they would change
    its model, its data or its seed.

    >>> import cnnlab
    >>> cnnlab.resume("mnist_baseline").status  # doctest: +SKIP
    'completed'
    """
    target = run.path if isinstance(run, Run) else run
    return _runs([trainer.resume_run(target, config, overrides, Path(runs_dir), as_progress(progress))])[0]


def check(config: Config, *, overrides: Overrides = None, progress: bool | Progress = False) -> trainer.Checked:
    """Refuse what `train` would refuse, without loading the data or pretrained weights: the
    config, the model, optimizer, loss, metrics, callbacks, device and split sizes. A mistake
    raises `ConfigError`, located at its file, line and key."""
    cfg = resolve(config, overrides)
    start_keras()  # TensorFlow, whatever the config asks for: a check trains nothing
    return trainer.check_config(cfg, as_progress(progress))


def _runs(paths: list) -> list[Run | None]:
    return [None if path is None else Run(path) for path in paths]
