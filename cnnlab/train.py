"""Train one run: data -> model -> `model.fit` with callbacks -> test evaluation -> report.

No trainer class: Keras' `fit` does the loop; the callbacks beside it each keep one file of the
run folder. The caller (the CLI) creates the run folder, saves the config and passes in its own
callbacks (progress display) and a `notify` function for one-line status messages.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.config import LocatedConfig
from cnnlab.errors import CnnlabError, Interrupted, RunError
from cnnlab.provenance import versions, write_hparams
from cnnlab.runs import RUN_CONFIG, Manifest


@dataclass
class Plan:
    """Everything that can be checked before a run folder exists: a config mistake found here
    leaves nothing behind on disk."""

    cfg: LocatedConfig
    model: object
    info: object
    device: dict
    user_callbacks: list
    transfer: dict | None = None  # what model.init_from copied and model.freeze froze
    notes: tuple[str, ...] = ()  # what a check could not see (data or weights not here yet)
    strategy: object = None  # distribute.Strategy: how the model is built and fed


def plan(cfg: LocatedConfig, check_only: bool = False) -> Plan:
    """Set up the device and seed, build and compile the model, build the extra callbacks.

    `check_only` (for `cnnlab check`) checks what can be checked without the data and the
    pretrained weights: an image folder that is not there yet and ImageNet weights that are
    not downloaded yet become notes, not errors."""
    from cnnlab import backend, distribute

    distribute.check(cfg)
    device = backend.configure(cfg)
    strategy = distribute.Strategy() if check_only else distribute.activate(cfg)
    from cnnlab.compiling import build_callbacks, compile_model
    from cnnlab.data import dataset_info
    from cnnlab.model import build_model
    from cnnlab.transfer import initialise

    info = dataset_info(cfg, missing_ok=check_only)
    pretrained = not check_only
    _check_split_sizes(cfg)
    if cfg.search is not None:  # so that check finds what tune would refuse
        import keras

        from cnnlab.search import check_search
        from cnnlab.tune import build_trial_model

        check_search(cfg, lambda trial_cfg: build_trial_model(trial_cfg, info, pretrained))
        keras.utils.set_random_seed(cfg.seed)  # the run's model starts as it would without a search
    with strategy.scope():  # mirrored: the variables are made once per device
        model = build_model(cfg, info, pretrained)
        transfer = initialise(cfg, model, check_only)  # trainable flags must be set before compiling
        compile_model(model, cfg)
    notes = _unchecked(cfg, info, transfer) if check_only else ()
    device |= {"replicas": strategy.replicas, "processes": strategy.processes}
    return Plan(cfg, model, info, device, build_callbacks(cfg), transfer, notes, strategy)


def _unchecked(cfg: LocatedConfig, info, transfer: dict | None) -> tuple[str, ...]:
    from cnnlab.applications import application_names

    notes = [transfer["unchecked"]] if transfer and "unchecked" in transfer else []
    if info.num_classes is None:
        notes.append(f"data.path {cfg.data.path} does not exist yet: its classes are not checked")
    for spec in cfg.model.layers:
        if spec.class_name in application_names() and spec.arguments.get("weights", "imagenet") == "imagenet":
            notes.append(f"{spec.class_name}'s ImageNet weights are not loaded here; train downloads them once")
    return tuple(notes)


def _check_split_sizes(cfg: LocatedConfig) -> None:
    """Refuse a validation split that would leave a split empty, when the training-set size is
    known without loading (a limit, or synthetic data); otherwise `prepare` checks it."""
    from cnnlab.data.prepare import split_sizes
    from cnnlab.errors import ConfigError, DataError

    sizes = [cfg.data.limit] if cfg.data.limit else []
    if cfg.data.dataset == "synthetic" and cfg.data.synthetic:
        sizes.append(cfg.data.synthetic.train_examples)
    if sizes:
        try:
            split_sizes(min(sizes), cfg.data.validation_split)
        except DataError as error:
            raise ConfigError(
                cfg.problem(("data", "validation_split"), str(error), "raise data.limit, or set validation_split: 0")
            ) from None


def train(
    planned: Plan,
    run: Path,
    *,
    resume: bool = False,
    callbacks: Iterable = (),
    notify: Callable[[str], None] = lambda _: None,
    environ=os.environ,
    command: list[str] | None = None,
) -> dict:
    """Train a planned run into the folder `run` (continuing it when `resume`), evaluate it on
    the test split and return the manifest.

    The manifest is written before anything can fail and says how the run ended: `running`,
    then `evaluating` once every epoch is done, `completed` once the report is written; or
    `interrupted` (Ctrl-C, SIGTERM: resumable) or `failed` (with the reason). A run resumed
    after its training finished only does what is left: the test evaluation.
    """
    from cnnlab.fileio import remove_temporaries
    from cnnlab.runs import owner

    cfg = planned.cfg
    manifest = Manifest(run)
    if resume:
        stale = remove_temporaries(run)
        if stale:
            notify(f"removed {len(stale)} unfinished file(s) left by the process that was stopped")
    started = dt.datetime.now().astimezone().isoformat()
    manifest.update(
        name=cfg.name,
        description=cfg.description,
        status="running",
        **owner(),
        command=manifest.data.get("command", command or sys.argv),  # a resume keeps the first
        started=manifest.data.get("started", started),
        resumed=[*manifest.data.get("resumed", []), started] if resume else [],
        config_sha256=hashlib.sha256((run / RUN_CONFIG).read_bytes()).hexdigest(),
        versions=versions(),
        device=planned.device,
        seed=cfg.seed,
        parameters=planned.model.count_params(),
        **({"transfer": planned.transfer} if planned.transfer else {}),
    )
    if planned.transfer and not resume:
        from cnnlab.transfer import describe

        source = planned.transfer["source"]
        notify(
            (f"from {source}: " if source else "") + describe(planned.transfer["layers"], planned.transfer["frozen"])
        )
    try:
        return _train(planned, run, manifest, [*callbacks], notify, environ)
    except KeyboardInterrupt:
        done = _epochs_done(run, manifest)
        manifest.update(status="interrupted", ended=_now(), epochs_completed=done)
        what = (
            "during the test evaluation"
            if manifest.data.get("training_finished")
            else f"after {done} of {total_epochs(cfg)} epochs"
        )
        raise Interrupted(f"interrupted {what} — resume with: cnnlab train --resume {run}") from None
    except Exception as error:  # a user-facing error or a bug: either way the run says it failed
        failure = str(error) if isinstance(error, CnnlabError) else f"{type(error).__name__}: {error}"
        manifest.update(status="failed", ended=_now(), failure=failure, epochs_completed=_epochs_done(run, manifest))
        raise


def _epochs_done(run: Path, manifest: Manifest) -> int | None:
    """Completed epochs, for the manifest of a run that stopped: never a second error that
    would hide the first (a damaged history.csv may be why it stopped)."""
    from cnnlab.runs import read_history

    try:
        return len(read_history(run / "history.csv"))
    except CnnlabError:
        return manifest.data.get("epochs_completed")


def _train(planned: Plan, run: Path, manifest: Manifest, callbacks: list, notify, environ) -> dict:
    from cnnlab.data import load_arrays
    from cnnlab.data.prepare import prepare_for

    cfg, info = planned.cfg, planned.info
    arrays = load_arrays(cfg, notify, environ)
    splits = prepare_for(cfg, arrays, info.num_classes)
    splits.preprocessing.save(run / "preprocessing.npz")
    manifest.update(
        data={
            "dataset": cfg.data.dataset,
            "origin": arrays.origin,
            "checksums": arrays.checksums,
            "train_examples": len(splits.x_train),
            "test_examples": len(splits.x_test),
            "validation_examples": 0 if splits.x_val is None else len(splits.x_val),
        }
    )
    if not manifest.data.get("training_finished"):
        _fit(planned, run, manifest, splits, callbacks, notify)
    else:
        notify("training had finished; evaluating on the test split")
    return _finish(cfg, run, manifest, splits, info, callbacks)


def _fit(planned: Plan, run: Path, manifest: Manifest, splits, callbacks: list, notify) -> None:
    """`model.fit` with the run's callbacks; on success the manifest says `evaluating`."""
    import keras

    from cnnlab.callbacks import Backup, Checkpoints, HistoryCSV, NanGuard, WeightHistograms
    from cnnlab.compiling import schedule_mismatch
    from cnnlab.distribute import weights_digest
    from cnnlab.runs import read_history

    cfg, model = planned.cfg, planned.model
    has_validation = splits.x_val is not None
    checkpoints = Checkpoints(run, best_monitor(cfg, has_validation))
    # At each epoch's end the checkpoints are written first, then history.csv, then the backup
    # that --resume starts from: an interruption between any two leaves a consistent run.
    own = [NanGuard(), checkpoints, HistoryCSV(run / "history.csv")]
    others = []
    if cfg.tensorboard.enabled:
        tensorboard = cfg.tensorboard
        others.append(
            keras.callbacks.TensorBoard(
                log_dir=str(run / "tensorboard"),
                histogram_freq=0,  # WeightHistograms writes them, without TensorFlow's memory-hungry op
                write_graph=tensorboard.write_graph,
                update_freq=tensorboard.update_freq,
                profile_batch=tensorboard.profile_batch,
            )
        )
        others.append(WeightHistograms(run / "tensorboard" / "train", tensorboard.histogram_freq))
        write_hparams(run / "tensorboard", cfg, model.count_params(), total_epochs(cfg))
    others += [*planned.user_callbacks, *callbacks]

    warning = schedule_mismatch(cfg, -(-len(splits.x_train) // cfg.train.batch_size) * cfg.train.epochs)
    if warning:
        notify(warning)
    fit_phases(planned, splits, own, others, lambda folder: Backup(run / folder), notify)
    history = read_history(run / "history.csv")
    if not (run / "best.keras").is_file():
        raise RunError(f"{run}: no checkpoint was written (no epoch finished with a finite loss)")
    seconds = sum(row.get("epoch_seconds", 0.0) for row in history)
    rate = round(len(splits.x_train) * len(history) / seconds, 1) if seconds else None
    manifest.update(
        status="evaluating",
        training_finished=True,
        epochs_completed=len(history),
        best_epoch=checkpoints.best_epoch,
        timing={"train_seconds": round(seconds, 2), "images_per_second": rate},
        **({"weights_sha256": weights_digest(model)} if planned.strategy.processes > 1 else {}),
    )
    for folder in (run / "backup", run / "backup-fine-tune"):  # only once the manifest says training finished
        shutil.rmtree(folder, ignore_errors=True)


def fit_phases(planned: Plan, splits, own: list, others: list, backup_for, notify) -> None:
    """`model.fit` for `train.epochs`, then the fine-tuning phase if there is one, each with
    its own backup folder (`backup_for(name)`, placed between `own` and `others`)."""
    from cnnlab import distribute
    from cnnlab.data.prepare import fit_datasets

    cfg, model = planned.cfg, planned.model
    sharded = planned.strategy.sharded
    data = fit_datasets(splits, cfg.train.batch_size, sharded, cfg.seed)
    if data.left_out:
        notify(f"data_parallel: {data.left_out} (a partial batch cannot be shared out among the processes)")
    phases = [("backup", 0, cfg.train.epochs)]
    if cfg.train.fine_tune is not None:
        phases.append(("backup-fine-tune", cfg.train.epochs, total_epochs(cfg)))
    for folder, first, last in phases:
        if first:
            from cnnlab.transfer import fine_tuning

            # A resumed run passes through the first fit without an epoch (its backup says it
            # finished) and lands here with the weights it ended with.
            with planned.strategy.scope():  # the new optimizer's variables, mirrored too
                fine_tuning(cfg, model)
            notify(
                f"fine-tuning: every layer trainable, learning rate {cfg.train.fine_tune.learning_rate:g}, "
                f"epochs {first + 1}-{last}"
            )
        backup = backup_for(folder)
        try:
            with warnings.catch_warnings():
                if sharded:  # Keras learns a sharded dataset's length by running out of it, and says so
                    warnings.filterwarnings("ignore", "Your input ran out of data")
                model.fit(
                    data.train,
                    validation_data=data.validation,
                    initial_epoch=first,
                    epochs=last,
                    verbose=0,
                    shuffle=False,
                    callbacks=[*own, *([backup] if backup else []), *others],
                )
        except Exception as error:
            if sharded and distribute.is_lost_peer(error):
                raise distribute.lost_peer(error) from None
            raise


def total_epochs(cfg: LocatedConfig) -> int:
    """`train.epochs`, plus `train.fine_tune.epochs` when the run has that second phase."""
    return cfg.train.epochs + (cfg.train.fine_tune.epochs if cfg.train.fine_tune else 0)


def _finish(cfg, run: Path, manifest: Manifest, splits, info, callbacks: list) -> dict:
    from cnnlab.distribute import locally

    manifest.update(status="evaluating")
    with locally():  # process 0 alone evaluates a data_parallel run: nothing is shared out
        return _evaluate(cfg, run, manifest, splits, info, callbacks)


def _evaluate(cfg, run: Path, manifest: Manifest, splits, info, callbacks: list) -> dict:
    import keras

    from cnnlab.evaluate import assess

    best = keras.saving.load_model(run / "best.keras")
    started = time.perf_counter()
    assess(
        run,
        cfg,
        best,
        x=splits.x_test,
        y=splits.y_test,
        labels=splits.labels_test,
        raw_images=splits.raw_test,
        class_names=info.class_names,
        checkpoint="best.keras",
        split="test",
        best_epoch=manifest.data.get("best_epoch"),
        callbacks=callbacks,  # the caller's also see the test pass (a stop request, for one)
    )
    manifest.data = Manifest(run).data  # assess added the test results
    manifest.update(
        status="completed",
        ended=_now(),
        timing={**manifest.data["timing"], "evaluate_seconds": round(time.perf_counter() - started, 2)},
    )
    return manifest.data


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


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat()
