"""Training, resuming and checking from Python: what `cnnlab train` and `cnnlab check` call, and a
notebook calls the same way.

    >>> import cnnlab
    >>> cnnlab.check({"model": {"layers": ["Flatten", {"Dense": {"units": 10}}]}}).parameters
    7850
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from cnnlab.api import repeating, trainer
from cnnlab.api.arguments import checked
from cnnlab.api.configs import Config, Overrides, resolve, with_override
from cnnlab.api.groups import Group
from cnnlab.api.progress import Progress, as_progress
from cnnlab.api.runs import Run
from cnnlab.errors import ConfigError, Interrupted, Problem
from cnnlab.runtime.startup import start_keras
from cnnlab.storage.folders import GroupFolder


@checked
def train(
    config: Config | Sequence[Config],
    *,
    overrides: Overrides = None,
    runs_dir: str | os.PathLike = "runs",
    name: str | None = None,
    repeat: int | None = None,
    seeds: Sequence[int] | None = None,
    progress: bool | Progress = True,
) -> Run | Group | list[Run | Group | None] | None:
    """Train a config (a YAML file's path, or a mapping in its shape) into a new run folder,
    evaluate it on the test split and write its report; the `Run`. `overrides` set dotted keys
    as `--set` does: `{"train.epochs": 2}`.

    A list of configs trains them in turn, after every one of them has been checked (a mistake
    in any raises `ConfigError` before anything trains). A run that fails does not stop the
    ones after it; Ctrl-C stops them all. The list has a `Run` per config, or None for one that
    made no run folder.

    `repeat=N` trains the config N times, with seeds `seed`, `seed + 1`, ... (or `seeds=[...]`,
    the seeds given), each into a run folder of its own, and returns a `Group`: its
    `group.json` has each test score's mean, standard deviation and 95 % interval over the
    seeds. A list of configs with `repeat` gives a `Group` per config.

    A bad config raises `ConfigError`; a run that fails, `RunFailed`; Ctrl-C, `Interrupted`.
    Both say which run (`.run`), and the run stays resumable with `Run.resume()`. On a
    data_parallel process other than process 0, which writes no run, the result is None.

    >>> import cnnlab
    >>> run = cnnlab.train("configs/mnist_fast.yaml", overrides={"data.limit": 2000})  # doctest: +SKIP
    """
    show = as_progress(progress)
    if repeat is not None and seeds is not None:
        raise ConfigError(Problem("give repeat (how many runs) or seeds (which ones), not both", key="seeds"))
    group = repeat if seeds is None else list(seeds)

    def train_one(cfg):  # a config of several, as a group of seeds when asked
        return repeating.train_group(cfg, repeating.seeds_of(cfg, group), Path(runs_dir), show)

    if isinstance(config, Sequence) and not isinstance(config, str):
        with _runs_of_a_stop():
            several = trainer.train_configs(
                list(config), overrides, Path(runs_dir), show, None if group is None else train_one
            )
            return _runs(several)
    cfg = resolve(config, overrides, name)
    start_keras(cfg)
    if group is None:
        return _runs([trainer.train_config(cfg, None, Path(runs_dir), show)])[0]
    with _runs_of_a_stop():
        return Group(train_one(cfg))


@checked
def resume(
    run: str | os.PathLike | Run | Group,
    config: Config | None = None,
    *,
    overrides: Overrides = None,
    epochs: int | None = None,
    runs_dir: str | os.PathLike = "runs",
    progress: bool | Progress = True,
) -> Run | Group | None:
    """Continue an interrupted run (a `Run`, its folder or its name) from its last completed
    epoch, with its own config or `config`, and `overrides`; refused where they would change
    its model, its data or its seed. `epochs` (`train.epochs`) continues a completed run up to
    that many epochs, from its last one, with its optimizer's state; its history is kept.
    Given a stopped group of seeds (a `Group` or its folder), finish it: its stopped run
    resumes and the seeds not started yet train.

    >>> import cnnlab
    >>> cnnlab.resume("mnist_baseline").status  # doctest: +SKIP
    'completed'
    >>> cnnlab.resume("mnist_fast", epochs=4).manifest["epochs_completed"]  # doctest: +SKIP
    4
    """
    target = run.path if isinstance(run, (Run, Group)) else run
    if GroupFolder.holds_group(target):
        if config is not None or overrides or epochs is not None:
            raise ConfigError(
                Problem("a group resumes as it was trained: no config, --set or --epochs", key="--resume")
            )
        with _runs_of_a_stop():
            return Group(repeating.resume_group(Path(target), Path(runs_dir), as_progress(progress)))
    if epochs is not None:
        overrides = with_override(overrides, "train.epochs", epochs)
    return _runs([trainer.resume_run(target, config, overrides, Path(runs_dir), as_progress(progress))])[0]


@checked
def check(config: Config, *, overrides: Overrides = None, progress: bool | Progress = False) -> trainer.Checked:
    """Refuse what `train` would refuse, without loading the data or pretrained weights: the
    config, the model, optimizer, loss, metrics, callbacks, device and split sizes. A mistake
    raises `ConfigError`, located at its file, line and key."""
    cfg = resolve(config, overrides)
    start_keras()  # TensorFlow, whatever the config asks for: a check trains nothing
    return trainer.check_config(cfg, as_progress(progress))


@contextlib.contextmanager
def _runs_of_a_stop():
    """Ctrl-C's `Interrupted` with the runs and groups trained so far as `Run`s and `Group`s."""
    try:
        yield
    except Interrupted as error:
        error.runs = _runs(error.runs)
        raise


def _runs(paths: list) -> list[Run | Group | None]:
    return [None if path is None else Group(path) if GroupFolder.holds_group(path) else Run(path) for path in paths]
