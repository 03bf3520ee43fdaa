"""How the API trains: a config as whichever process this is, several configs in turn, a run
resumed, a config checked; run folders out, shown through a `Progress`. `training.py` gives
these their public face (`cnnlab.train`, `resume`, `check`), and `Run.resume` uses them too.

Keras starts inside each function, once the config has chosen its backend, so the engine is
imported there too. A second call in the same process starts clean (the Keras session cleared,
the seeds set again).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.api.configs import Config, Overrides, label, resolve
from cnnlab.api.progress import Progress
from cnnlab.config import LocatedConfig
from cnnlab.errors import CnnlabError, ConfigError, Interrupted, Problem, RunFailed
from cnnlab.hints import resume_step
from cnnlab.runtime.processes import PeerLost
from cnnlab.runtime.startup import start_keras
from cnnlab.storage.extension import Extension, begin
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import create_run_folder


def resume_run(
    run: str | os.PathLike, config: Config | None, overrides: Overrides, runs_dir: Path, show: Progress
) -> Path:
    """Continue an interrupted run (its folder or its name) from its last completed epoch, with
    its own config or `config`, and `overrides`; refused where they would change its model, its
    data or its seed."""
    from cnnlab.engine.resume import extends, resumable  # reads configs only: Keras starts below

    folder, cfg = resumable(str(run), config, overrides or (), runs_dir)
    start_keras(cfg)
    return train_config(cfg, folder, runs_dir, show, extend=extends(folder, cfg))


def train_config(
    cfg: LocatedConfig, resumed: RunFolder | None, runs_dir: Path, show: Progress, *, extend: bool = False
) -> Path | None:
    """Plan and train one config, as whichever process this is: process 0 (or the only one)
    writes the run and gets it back; another process of a data_parallel run trains beside it,
    writes nothing, and gets None once process 0 has finished.

    `extend`: `resumed` is a completed run given more epochs, trained in a copy that takes its
    place only once it has completed (`storage.extension`); however it stops before that, the
    run stays as it was."""
    import keras  # started by the caller, on the config's backend

    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import follow
    from cnnlab.engine.training import train as train_run

    keras.backend.clear_session()  # a run trains as it would alone, whatever this process did before
    planned = plan(cfg)  # config mistakes stop here, before a run folder exists
    if planned.strategy.process > 0:
        strategy = planned.strategy
        show.say(f"process {strategy.process} of {strategy.processes}: training with process 0, which writes the run")
        followed = follow(planned, resumed, notify=show.note)
        show.say(f"trained; weights sha256 {followed.weights_sha256} (process 0's manifest: the same)")
        show.say(f"process 0 finished with exit status {followed.status}")
        if followed.status:
            error = Interrupted if followed.status == Interrupted.exit_code else RunFailed
            raise error(f"process 0 ended the run with exit status {followed.status}")
        return None
    extension = begin(resumed, cfg.train.total_epochs, show.note) if extend else None
    run = extension.copy if extension else resumed or RunFolder(create_run_folder(runs_dir, cfg.name))
    show.say(f"{'resuming' if resumed else 'training'} {cfg.name} -> {resumed or run}")
    with show.training() as callbacks:
        try:
            manifest = train_run(planned, run, resume=resumed is not None, callbacks=callbacks, notify=show.note)
        except BaseException as error:
            if extension is not None:
                raise _extension_stopped(error, extension, cfg.train.total_epochs) from None
            if isinstance(error, (ConfigError, PeerLost)) or not isinstance(error, CnnlabError):
                raise
            stopped = Interrupted if isinstance(error, Interrupted) else RunFailed
            raise stopped(error.problems, run=run.path) from None
    if extension is not None:
        run = extension.finish()
    show.finished(run, manifest)
    return run.path


def _extension_stopped(error: BaseException, extension: Extension, epochs: int) -> BaseException:
    """What to raise when the extension of a completed run stops: the run itself is untouched.
    After Ctrl-C the copy keeps its finished epochs for the next --resume; after a failure it
    is deleted."""
    run = extension.run
    kept = Problem(
        f"{run} is as it was: completed, {run.manifest.get('epochs_completed')} epochs",
        hint=f"go on with: {resume_step(run, epochs)}",
    )
    if isinstance(error, Interrupted):
        done = len(extension.copy.history)
        return Interrupted(
            [Problem(f"the extension to {epochs} epochs stopped after epoch {done}"), kept], run=run.path
        )
    extension.abandon()
    if not isinstance(error, CnnlabError):
        return error  # a bug keeps its traceback; the copy is gone, the run untouched
    kept = Problem(kept.message, hint="")
    failed = ConfigError if isinstance(error, ConfigError) else RunFailed
    return failed([*error.problems, kept], run=run.path)


def train_configs(
    configs: list[Config],
    overrides: Overrides,
    runs_dir: Path,
    show: Progress,
    train_one: Callable[[LocatedConfig], Path | None] | None = None,
) -> list[Path | None]:
    """Check every config (refusing them all, with `ChecksFailed`, if any fails), then train
    them in turn: a failed run does not stop the ones after it; Ctrl-C stops them all, raising
    `Interrupted` with `.runs`, the runs trained so far. One run folder (or None) per config,
    or what `train_one` makes of each (a group of seeds: `repeating.train_group`)."""
    loaded, failures = [], []
    for config in configs:
        try:
            loaded.append(resolve(config, overrides))
        except ConfigError as error:
            loaded.append(None)
            failures.append((config, error))
    for cfg in filter(None, loaded):
        if cfg.runtime.distribute == "data_parallel":  # several configs train in one process
            raise ConfigError(
                cfg.problem(
                    ("runtime", "distribute"),
                    "data_parallel trains one config per command",
                    "train this config in a command of its own",
                )
            )
    start_keras(*filter(None, loaded))
    checked = [_checked(config, cfg, error, show) for config, cfg, error in _with_errors(configs, loaded, failures)]
    show.say(f"{sum(isinstance(c, Checked) for c in checked)} of {len(configs)} configs OK")
    problems = [problem for error in checked if isinstance(error, ConfigError) for problem in error.problems]
    if problems:
        raise ChecksFailed([*problems, Problem("nothing was trained")])
    runs: list[Path | None] = []
    for index, cfg in enumerate(loaded):
        show.say(f"\n[{index + 1}/{len(configs)}] {label(configs[index])}")
        try:
            runs.append(train_config(cfg, None, runs_dir, show) if train_one is None else train_one(cfg))
        except Interrupted as error:
            show.error(error)
            error.runs = [*runs, *getattr(error, "runs", [error.run])]
            raise
        except Exception as error:  # one run's failure, even a bug, must not stop the rest
            show.error(error)
            runs.append(error.run if isinstance(error, CnnlabError) else None)
    return runs


def _with_errors(configs: list, loaded: list, failures: list) -> list:
    errors = dict((id(config), error) for config, error in failures)
    return [(config, cfg, errors.get(id(config))) for config, cfg in zip(configs, loaded)]


def _checked(config: Config, cfg: LocatedConfig | None, error: ConfigError | None, show: Progress):
    """The check of one config of several, shown as `cnnlab check` shows it: its `Checked`, or
    the `ConfigError` that failed it."""
    if error is None:
        try:
            return check_config(cfg, show)
        except ConfigError as failure:
            error = failure
    show.failed(f"FAIL {label(config)}")
    show.error(error)
    return error


class ChecksFailed(ConfigError):
    """Several configs were given and some failed their check, so none was trained."""


@dataclass(frozen=True)
class Checked:
    """A config that passed: what train would build, and what the check could not see."""

    name: str
    parameters: int
    notes: tuple[str, ...]


def check_config(cfg: LocatedConfig, show: Progress) -> Checked:
    """Plan `cfg` as `check` does, without data or pretrained weights; shown as `cnnlab check`
    shows it."""
    import keras  # started by the caller

    from cnnlab.engine.plan import plan

    try:
        planned = plan(cfg, check_only=True)
        checked = Checked(cfg.name, planned.model.count_params(), planned.notes)
    finally:
        keras.backend.clear_session()  # checking leaves nothing behind for what follows
    show.say(f"OK   {cfg._source or cfg.name}  ({checked.parameters:,} parameters)")
    for note in checked.notes:
        show.note(f"     note: {note}")
    return checked
