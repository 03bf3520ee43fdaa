"""The one fit loop: `model.fit` over the phases of training (`train.epochs`, then
`train.fine_tune`'s epochs with every layer trainable), with the callbacks of the process's role.

No trainer class: Keras' `fit` does the loop; the callbacks beside it each keep one file of the
run folder. Who runs the loop decides which callbacks it gets (`Role`):

- the writer (the only process, or process 0 of a data_parallel run) keeps the run's history,
  checkpoints, backups for --resume and TensorBoard logs;
- a follower (another data_parallel process) trains in step with process 0 and writes nothing,
  but restores from process 0's backups when the run is resumed;
- a search trial writes nothing of its own: Keras Tuner keeps the trial's files.
"""

from __future__ import annotations

import contextlib
import enum
import warnings
from collections.abc import Callable, Iterable

import keras

from cnnlab.config import LocatedConfig
from cnnlab.data.prepare import Splits, fit_datasets
from cnnlab.engine.callbacks import Backup, Checkpoints, HistoryCSV, NanGuard
from cnnlab.engine.plan import Plan
from cnnlab.engine.tensorboard import default_writer_kept, run_logging
from cnnlab.model.compiling import build_state, sized_schedule
from cnnlab.model.transfer import fine_tuning
from cnnlab.runtime.processes import is_lost_peer, lost_peer
from cnnlab.storage.folders import RunFolder


class Role(enum.Enum):
    WRITER = "writer"
    FOLLOWER = "follower"
    TRIAL = "trial"


def fit(
    planned: Plan,
    splits: Splits,
    role: Role,
    run: RunFolder | None = None,
    *,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    notify: Callable[[str], None] = lambda _: None,
    epochs: int | None = None,
    initial_epoch: int = 0,
) -> keras.callbacks.History:
    """Train `planned.model` on `splits` from `initial_epoch` up to `epochs` (default: every
    epoch of the config, fine-tuning included) and return the last `fit`'s history. A search
    trial trains `train.epochs` at most, in one `fit`: Keras Tuner's callbacks follow one `fit`
    per trial (its HParams callback refuses a second), so fine-tuning is not part of a trial.

    `run` is the writer's run folder, or the run a follower resumes (whose backups it reads);
    `callbacks` are the caller's (progress display, stop requests, a tuner's), given every phase."""
    cfg, model = planned.cfg, planned.model
    sharded = planned.strategy.sharded
    data = fit_datasets(splits, cfg.train.batch_size, sharded, cfg.seed)
    if data.left_out:
        notify(f"data_parallel: {data.left_out} (a partial batch cannot be shared out among the processes)")
    # At each epoch's end the checkpoints are written first, then history.csv, then the backup
    # that --resume starts from: an interruption between any two leaves a consistent run.
    own: list[keras.callbacks.Callback] = [NanGuard()]
    logging: list[keras.callbacks.Callback] = []
    if role is Role.WRITER:
        own += [Checkpoints(run, best_monitor(cfg, splits.x_val is not None)), HistoryCSV(run)]
        logging = run_logging(cfg, run.tensorboard, model.count_params())
    if role is Role.WRITER and initial_epoch == 0 and _continues(run):
        initial_epoch = len(run.history)
        with planned.strategy.scope():
            model.optimizer.build(model.trainable_variables)  # so that its state loads too
        model.load_weights(run.checkpoint("last"))
    last_epoch = epochs or (cfg.train.epochs if role is Role.TRIAL else cfg.train.total_epochs)
    # A learning rate written as fractions of the run spans train.epochs (a trial's budget, if
    # shorter): sized here, before the first step, and again on resume.
    schedule = sized_schedule(cfg, data.steps_per_epoch * min(cfg.train.epochs, last_epoch))
    if schedule is not None:
        model.optimizer.learning_rate = schedule
    for phase, first, last in _phases(cfg, initial_epoch, last_epoch):
        if phase:
            # A resumed run passes through the first fit without an epoch (its backup says it
            # finished) and lands here with the weights it ended with.
            with planned.strategy.scope():  # the new optimizer's variables, mirrored too
                fine_tuning(cfg, model)
            notify(
                f"fine-tuning: every layer trainable, learning rate {cfg.train.fine_tune.learning_rate:g}, "
                f"epochs {first + 1}-{last}"
            )
        backup = [] if run is None or role is Role.TRIAL else [Backup(run, phase, first, role is Role.FOLLOWER)]
        with planned.strategy.scope():
            build_state(model, data.train.element_spec)
        try:
            with warnings.catch_warnings(), default_writer_kept():
                if sharded:  # Keras learns a sharded dataset's length by running out of it, and says so
                    warnings.filterwarnings("ignore", "Your input ran out of data")
                done = model.fit(
                    data.train,
                    validation_data=data.validation,
                    initial_epoch=first,
                    epochs=last,
                    verbose=0,
                    shuffle=False,  # the dataset shuffles, seeded
                    callbacks=[*own, *backup, *logging, *planned.user_callbacks, *callbacks],
                )
        except KeyboardInterrupt:
            for callback in logging:  # Keras ends them only when fit ends: their events reach the disk now
                with contextlib.suppress(Exception):
                    callback.on_train_end()
            raise
        except Exception as error:
            if sharded and is_lost_peer(error):
                raise lost_peer(error) from None
            raise
    return done


def _continues(run: RunFolder) -> bool:
    """Whether the run goes on from `last.keras` rather than from a backup: it has finished
    epochs but no backup of them, as a completed run given more epochs (its backups were removed
    when its training finished), or one stopped before the first backup was written."""
    return not run.has_backup() and bool(run.history) and run.checkpoint("last").is_file()


def _phases(cfg: LocatedConfig, start: int, end: int) -> list[tuple[int, int, int]]:
    """(phase, first epoch, last epoch) of each phase that overlaps the epochs start..end: phase
    0 runs `train.epochs`, phase 1 the fine-tuning epochs after them. A phase whose epochs are
    all done before `start` still runs, without an epoch, so a resumed run restores from its
    backup; `end` (a tuner's budget) cuts the last phase short."""
    phases = [(0, 0, cfg.train.epochs)]
    if cfg.train.fine_tune is not None:
        phases.append((1, cfg.train.epochs, cfg.train.total_epochs))
    return [(phase, max(first, start), min(last, end)) for phase, first, last in phases if first < end]


def best_monitor(cfg: LocatedConfig, has_validation: bool) -> str | None:
    """The validation metric that picks best.keras, or None: without validation data there is
    nothing held out to judge by, so the last epoch is the model. For a classifier the accuracy
    is what the user judges it by; validation loss keeps rising on a few confident mistakes
    while accuracy still improves, so by default accuracy picks the checkpoint."""
    if not has_validation:
        return None
    monitor = cfg.train.monitor
    if monitor == "auto":
        monitor = "accuracy" if "accuracy" in cfg.train.metrics else "loss"
    return "val_" + monitor.removeprefix("val_")
