"""Training a run: the data, the fit loop, the test evaluation and the report, with the manifest
saying at every moment how far the run got.

`train` is the writer's side: the only process, or process 0 of a data_parallel run. `follow`
is every other process of such a run: it trains in step with process 0 and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import keras

from cnnlab.data import load_splits
from cnnlab.data.prepare import Splits
from cnnlab.engine.batchnorm import recompute_statistics
from cnnlab.engine.evaluation import assess
from cnnlab.engine.loop import Role, fit
from cnnlab.engine.plan import Plan
from cnnlab.errors import CnnlabError, Interrupted, RunError, ctrl_c_as_itself
from cnnlab.fileio import replacing
from cnnlab.hints import resume_step
from cnnlab.model.compiling import schedule_mismatch
from cnnlab.model.transfer import describe
from cnnlab.runtime.backend import versions
from cnnlab.runtime.processes import outcome, weights_digest
from cnnlab.runtime.strategies import locally
from cnnlab.storage.folders import RunFolder, owner

Notify = Callable[[str], None]


def train(
    planned: Plan,
    run: RunFolder | Path,
    *,
    resume: bool = False,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    notify: Notify = lambda _: None,
    environ=os.environ,
    command: list[str] | None = None,
) -> dict:
    """Train a planned run into the folder `run` (continuing it when `resume`), evaluate it on
    the test split, write its report and return the manifest.

    The manifest is written before anything can fail and says how the run ended: `running`,
    then `evaluating` once every epoch is done, `completed` once the report is written; or
    `interrupted` (Ctrl-C, SIGTERM: resumable) or `failed` (with the reason). A run resumed
    after its training finished only does what is left: the test evaluation. In a data_parallel
    run, the other processes wait for how it ended (`follow`) once its training is over.
    """
    run = RunFolder.of(run)
    status = 1
    try:
        manifest = _recorded(planned, run, resume, [*callbacks], notify, environ, command)
        status = 0
        return manifest
    except CnnlabError as error:
        status = error.exit_code
        raise
    finally:
        # Not when training failed: the other processes failed with it, at the same batch.
        if planned.strategy.processes > 1 and run.manifest.get("training_finished"):
            outcome(status)


@dataclass(frozen=True)
class Followed:
    """How a data_parallel process other than process 0 ended."""

    weights_sha256: str  # the same as process 0's manifest says, when the processes agree
    status: int  # process 0's exit status, which this process exits with too


def follow(planned: Plan, resumed: RunFolder | None, notify: Notify = lambda _: None) -> Followed:
    """Train as a data_parallel process other than process 0: the same data, batches and
    epochs, in step with process 0, writing nothing; then wait until process 0 has evaluated
    the run. `resumed` is the run being resumed (or None): its backups are read, as process 0
    reads them."""
    splits = load_splits(planned.cfg, planned.info.num_classes, notify=notify)
    fit(planned, splits, Role.FOLLOWER, resumed, notify=notify)
    return Followed(weights_digest(planned.model), outcome(None))


def _recorded(planned: Plan, run: RunFolder, resume: bool, callbacks: list, notify: Notify, environ, command) -> dict:
    """`_train`, with the manifest saying how it went, however it ends."""
    cfg = planned.cfg
    if resume:
        run.ensure_not_running()
        stale = run.remove_temporaries()
        if stale:
            notify(f"removed {len(stale)} unfinished file(s) left by the process that was stopped")
    run.save_config(cfg.to_yaml())
    manifest = run.manifest
    started = _now()
    run.update(
        name=cfg.name,
        description=cfg.description,
        status="running",
        **owner(),
        command=manifest.get("command", command or sys.argv),  # a resume keeps the first
        started=manifest.get("started", started),
        resumed=[*manifest.get("resumed", []), started] if resume else [],
        config_sha256=run.config_sha256,
        versions=versions(),
        device=planned.device,
        seed=cfg.seed,
        parameters=planned.model.count_params(),
        **({"transfer": planned.transfer} if planned.transfer else {}),
    )
    if planned.transfer and not resume:
        source = planned.transfer["source"]
        notify(
            (f"from {source}: " if source else "") + describe(planned.transfer["layers"], planned.transfer["frozen"])
        )
    try:
        with ctrl_c_as_itself():
            return _train(planned, run, callbacks, notify, environ)
    except KeyboardInterrupt:
        done = _epochs_done(run)
        run.update(status="interrupted", ended=_now(), epochs_completed=done)
        what = (
            "during the test evaluation"
            if run.manifest.get("training_finished")
            else f"after {done} of {cfg.train.total_epochs} epochs"
        )
        raise Interrupted(f"interrupted {what} — resume with: {resume_step(run)}") from None
    except Exception as error:  # a user-facing error or a bug: either way the run says it failed
        failure = str(error) if isinstance(error, CnnlabError) else f"{type(error).__name__}: {error}"
        run.update(status="failed", ended=_now(), failure=failure, epochs_completed=_epochs_done(run))
        raise


def _epochs_done(run: RunFolder) -> int | None:
    """Completed epochs, for the manifest of a run that stopped: never a second error that
    would hide the first (a damaged history.csv may be why it stopped)."""
    try:
        return len(run.history)
    except CnnlabError:
        return run.manifest.get("epochs_completed")


def _train(planned: Plan, run: RunFolder, callbacks: list, notify: Notify, environ) -> dict:
    cfg = planned.cfg
    splits = load_splits(cfg, planned.info.num_classes, notify=notify, environ=environ)
    run.save_preprocessing(splits.preprocessing)
    run.update(
        data={
            "dataset": cfg.data.dataset,
            "origin": splits.origin,
            "checksums": splits.checksums,
            "train_examples": len(splits.x_train),
            "test_examples": len(splits.x_test),
            "validation_examples": 0 if splits.x_val is None else len(splits.x_val),
        }
    )
    done = run.manifest.get("epochs_completed") or 0
    if run.manifest.get("training_finished") and cfg.train.total_epochs > done:  # --resume RUN --epochs N
        notify(f"continuing from epoch {done} to {cfg.train.total_epochs}, with the optimizer's state")
        run.update(
            training_finished=False, extended=[*run.manifest.get("extended", []), [done, cfg.train.total_epochs]]
        )
    if not run.manifest.get("training_finished"):
        _fit(planned, run, splits, callbacks, notify)
    else:
        notify("training had finished; evaluating on the test split")
    run.update(status="evaluating")
    with locally():  # process 0 alone evaluates a data_parallel run: nothing is shared out
        best = keras.saving.load_model(run.checkpoint("best"))
        if run.manifest.get("batch_norm_recomputed") is False:  # once per training, and again after a stop
            _recompute_batch_norm(run, best, splits, notify)
        return _evaluate(planned, run, splits, best, callbacks)


def _recompute_batch_norm(run: RunFolder, best: keras.Model, splits: Splits, notify: Notify) -> None:
    """best.keras with its batch norm statistics recomputed for its own weights (engine/
    batchnorm.py says why), saved in its place, so that evaluate, predict and export see the
    model the report scored."""
    used = recompute_statistics(best, splits.x_train)
    if used:
        with replacing(run.checkpoint("best")) as temporary:
            best.save(temporary)
        notify(f"batch norm statistics recomputed for the final weights ({used:,} images)")
    run.update(batch_norm_recomputed=used)


def _fit(planned: Plan, run: RunFolder, splits: Splits, callbacks: list, notify: Notify) -> None:
    """The fit loop as the writer runs it; on success the manifest says `evaluating`."""
    cfg = planned.cfg
    warning = schedule_mismatch(cfg, -(-len(splits.x_train) // cfg.train.batch_size) * cfg.train.epochs)
    if warning:
        notify(warning)
    fit(planned, splits, Role.WRITER, run, callbacks=callbacks, notify=notify)
    history = run.history
    if not run.checkpoint("best").is_file():
        raise RunError(f"{run}: no checkpoint was written (no epoch finished with a finite loss)")
    seconds = sum(row.get("epoch_seconds", 0.0) for row in history)
    rate = round(len(splits.x_train) * len(history) / seconds, 1) if seconds else None
    run.update(
        status="evaluating",
        training_finished=True,
        epochs_completed=len(history),
        batch_norm_recomputed=False,
        timing={"train_seconds": round(seconds, 2), "images_per_second": rate},
        # The last epoch's weights: equal for two runs of one config and seed under
        # runtime.deterministic, and for every process of a data_parallel run.
        weights_sha256=weights_digest(planned.model),
    )
    for phase in (0, 1):  # only once the manifest says training finished
        shutil.rmtree(run.backup(phase), ignore_errors=True)


def _evaluate(planned: Plan, run: RunFolder, splits: Splits, best: keras.Model, callbacks: list) -> dict:
    started = time.perf_counter()
    assess(
        run,
        planned.cfg,
        best,
        x=splits.x_test,
        y=splits.y_test,
        labels=splits.labels_test,
        raw_images=splits.raw_test,
        class_names=planned.info.class_names,
        checkpoint="best",
        split="test",
        best_epoch=run.manifest.get("best_epoch"),
        callbacks=callbacks,  # the caller's also see the test pass (a stop request, for one)
    )
    run.update(
        status="completed",
        ended=_now(),
        timing={**run.manifest["timing"], "evaluate_seconds": round(time.perf_counter() - started, 2)},
    )
    return run.manifest


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat()
