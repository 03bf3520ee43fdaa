"""`cnnlab tune`: a hyperparameter search over a config's `search:` space, run by Keras Tuner.

Keras Tuner does the searching (random, Hyperband, Bayesian optimisation), keeps every trial
in its project folder and resumes a stopped search without redoing a finished trial; we give
it a HyperModel whose trials are the config with the trial's values set, built by the same
`compiled_model` and trained by the same fit loop as `cnnlab train` (for `train.epochs`; a
fine-tuning phase is left to the winner's training). The search sees the
training and validation splits only: the test split stays unseen until the winning config is
trained.

A search folder `runs/<name>/tune-<stamp>/` holds the search's config, Keras Tuner's state, a
TensorBoard folder per trial (scalars and HParams), and the tables of `reporting.trials`,
rewritten after every trial.

A search spread over processes (`role`): one `Chief` serves Keras Tuner's oracle and writes the
tables, and each `Worker` runs trials it is given (`engine.search_chief`, `engine.search_worker`).
"""

from __future__ import annotations

import contextlib
import copy
import io
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import keras
import keras_tuner
from keras_tuner.src import config as keras_tuner_config

from cnnlab.config import LocatedConfig
from cnnlab.data import load_splits
from cnnlab.data.prepare import Splits
from cnnlab.engine.loop import Role, fit
from cnnlab.engine.plan import Plan, plan
from cnnlab.engine.search_chief import serve
from cnnlab.engine.search_worker import WAIT_SECONDS, Connection, lost_chief
from cnnlab.engine.tensorboard import trial_logging
from cnnlab.errors import Interrupted, RunError, ctrl_c_as_itself
from cnnlab.hints import next_step
from cnnlab.model.build import compiled_model
from cnnlab.model.compiling import schedule_mismatch
from cnnlab.reporting.trials import short, summarise
from cnnlab.scores import spread
from cnnlab.search import Dimension, objective_direction, search_space, values_config
from cnnlab.storage.folders import SearchFolder

_ALGORITHMS = {"random": "RandomSearch", "hyperband": "Hyperband", "bayesian": "BayesianOptimization"}


@dataclass(frozen=True)
class Chief:
    """Serve the search's oracle at `address` (HOST:PORT, port 0: any free one, given to
    `on_ready`) to workers, and write the tables; train nothing here. `ended()`: the exit codes
    of worker processes this chief started that ended since it last asked."""

    address: str
    on_ready: Callable[[int], None] = lambda port: None
    ended: Callable[[], dict[str, int]] = field(default=dict)
    gather: int = 0  # workers expected before the first trial is handed out
    first_worker: float | None = None  # None: the setting (cnnlab/clocks.py)


@dataclass(frozen=True)
class Worker:
    """Run the trials that the chief at `address` gives, as worker `name`."""

    address: str
    name: str
    wait: float = WAIT_SECONDS


def run_search(
    search: Plan | LocatedConfig,
    folder: SearchFolder | Path,
    *,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    notify: Callable[[str], None] = lambda _: None,
    role: Chief | Worker | None = None,
) -> dict:
    """Run (or continue) the search of a planned config (or of a config, planned here) in
    `folder`; return its summary (see `reporting.trials.summarise`). Ctrl-C raises
    `Interrupted`: finished trials are kept and `--resume` goes on from there. A `Worker`
    returns `{"trials": [ids it ran]}`."""
    planned = search if isinstance(search, Plan) else plan_search(search)
    folder = folder if isinstance(folder, SearchFolder) else SearchFolder(folder)
    cfg, dimensions = planned.cfg, list(planned.dimensions)
    splits = None if isinstance(role, Chief) else _search_splits(planned, notify)
    hypermodel = _ConfigHyperModel(planned, dimensions, splits, list(callbacks), notify)
    tuner = _make_tuner(cfg, hypermodel, folder, notify, role)
    if isinstance(role, Chief):
        return _serve(tuner, role, notify)
    connection = Connection(tuner, role.address, role.name, role.wait) if role else contextlib.nullcontext()
    try:
        with connection:
            if role:
                _check_same_space(tuner.oracle.get_space(), dimensions, role.address)
            with ctrl_c_as_itself():
                tuner.search(callbacks=[trial_logging(folder.tensorboard)], verbose=0)
    except KeyboardInterrupt:
        if role and connection.lost:
            raise RunError(
                f"the search's chief at {role.address} stopped answering for {connection.lease:g} s"
            ) from None
        if role:
            raise Interrupted(f"worker {role.name} interrupted; the chief gives its trial to another worker") from None
        raise _interrupted(tuner) from None
    except grpc.RpcError as error:
        raise lost_chief(error, role.address) from None
    return {"trials": hypermodel.ran} if role else _finished(tuner)


def _interrupted(tuner) -> Interrupted:
    """Ctrl-C: how many trials are kept, and how to go on."""
    cfg, folder, hypermodel, _ = tuner.cnnlab
    finished = summarise(cfg, folder, tuner.oracle.trials, hypermodel.dimensions)["finished"]
    return Interrupted(f"search interrupted after {finished} finished trial(s) — resume with: {_again(folder)}")


def _again(folder) -> str:
    return next_step(f"cnnlab tune --resume {folder}", f"cnnlab.tune(resume={str(folder)!r})")


def _finished(tuner) -> dict:
    """The summary of a search that ended, or why no trial completed."""
    cfg, folder, hypermodel, _ = tuner.cnnlab
    summary = summarise(cfg, folder, tuner.oracle.trials, hypermodel.dimensions)
    if summary["best"] is None:
        first = next((row["error"] for row in summary["rows"] if row.get("error")), "no trial ran")
        raise RunError(f"{folder}: no trial completed — {first}")
    return summary


def _check_same_space(space, dimensions: list[Dimension], address: str) -> None:
    """A worker given another config than its chief's would train trials the chief did not mean."""
    theirs, ours = sorted(hp.name for hp in space.space), sorted(d.key for d in dimensions)
    if theirs != ours:
        raise RunError(
            f"the search at {address} varies {', '.join(theirs)}, but this worker's config varies "
            f"{', '.join(ours)} — give every worker the chief's config"
        )


def _search_splits(planned: Plan, notify) -> Splits:
    cfg = planned.cfg
    splits = load_splits(cfg, planned.info.num_classes, notify=notify)
    if splits.x_val is None and cfg.search.objective.startswith("val_"):
        raise RunError(f"{cfg.search.objective} needs validation data; this data set gave none")
    warning = schedule_mismatch(cfg, -(-len(splits.x_train) // cfg.train.batch_size) * cfg.train.epochs)
    if warning:  # a quick search (data.limit, fewer epochs) shortens every trial alike
        notify(warning)
    return splits


def _serve(tuner, role: Chief, notify) -> dict:
    """The chief's part: serve the oracle until the search ends; after each trial, the tables."""
    cfg, folder, hypermodel, _ = tuner.cnnlab
    oracle, lock, started = tuner.oracle, threading.Lock(), {}
    oracle.verbose = 0  # Keras Tuner's own display prints otherwise
    tuner.save()

    def event(what: str, worker: str, trial, why: str) -> None:
        with lock:  # the server answers workers on several threads
            if what == "started":
                started[trial.trial_id] = time.perf_counter()
                folder.record_ran_by(trial.trial_id, worker, None)  # the tables say who runs what
                summarise(cfg, folder, oracle.trials, hypermodel.dimensions)
                notify(f"{worker}: trial {trial.trial_id} (at most {oracle.max_trials}): {_values(trial, hypermodel)}")
            elif what == "ended":
                seconds = round(time.perf_counter() - started.pop(trial.trial_id, time.perf_counter()), 2)
                folder.record_ran_by(trial.trial_id, worker, seconds)
                row = _report(tuner, trial.trial_id)
                notify(f"{worker}: {row}")
            elif what == "gone":
                notify(f"{worker} {why}" + (f": trial {trial} goes to the next worker that asks" if trial else ""))
            else:
                notify(f"{worker}: its result for trial {trial.trial_id} was dropped: {why}")

    try:
        serve(
            oracle,
            role.address,
            event=event,
            on_ready=role.on_ready,
            ended=role.ended,
            gather=role.gather,
            first_worker=role.first_worker,
        )
    except KeyboardInterrupt:
        raise _interrupted(tuner) from None
    except RunError as error:
        raise RunError(f"{error} — the finished trials are kept; resume with: {_again(folder)}") from None
    return _finished(tuner)


def plan_search(cfg: LocatedConfig) -> Plan:
    """`plan` for a search: every entry of the search: section checked before any trial, and a
    config without that section refused at its line."""
    planned = plan(cfg)
    if not planned.dimensions:
        search_space(cfg)  # raises: there is no search: section
    return planned


def _make_tuner(cfg: LocatedConfig, hypermodel, folder: SearchFolder, notify, role: Chief | Worker | None = None):
    search = cfg.search
    base = getattr(keras_tuner, _ALGORITHMS[search.algorithm])
    tuner_class = type(f"Cnnlab{base.__name__}", (_RecordingTuner, base), {})
    options = {"max_epochs": cfg.train.epochs, "factor": 3} if search.algorithm == "hyperband" else {}
    if search.algorithm != "hyperband":
        options["max_trials"] = search.max_trials
    # Keras Tuner prints each failed trial's traceback (its DEBUG is on by default); the trial's
    # line and trials.md say why it failed, in one sentence.
    keras_tuner_config.DEBUG = False
    # Keras Tuner prints "Reloading Tuner from ..." itself; we say it our way.
    with contextlib.redirect_stdout(io.StringIO()):
        tuner = tuner_class(
            hypermodel=hypermodel,
            objective=keras_tuner.Objective(search.objective, objective_direction(cfg)),
            seed=cfg.seed,
            directory=str(folder.tuner.parent),
            project_name=folder.tuner.name,
            overwrite=False,
            executions_per_trial=search.repeats,  # the objective is the mean over them
            **options,
        )
    tuner.oracle.max_trials = search.max_trials  # also caps Hyperband, and a resumed search's new limit
    tuner.cnnlab = (cfg, folder, hypermodel, notify)
    tuner.worker = role.name if isinstance(role, Worker) else None
    finished = sum(1 for trial in tuner.oracle.trials.values() if trial.status == "COMPLETED")
    if finished and not isinstance(role, Worker):  # a worker's copy of the oracle is not the search's
        notify(f"resuming: {finished} finished trial(s) are kept, {search.max_trials - finished} to go at most")
    return tuner


def _report(tuner, trial_id: str) -> str:
    """The tables rewritten, and one line on a finished trial, with the best so far."""
    cfg, folder, hypermodel, _ = tuner.cnnlab
    summary = summarise(cfg, folder, tuner.oracle.trials, hypermodel.dimensions)
    row = next(r for r in summary["rows"] if r["trial"] == trial_id)
    best = summary["best"]
    if row["status"] != "COMPLETED":
        return f"trial {trial_id} {row['status'].lower()}: {row.get('error', '')}"
    spread = f" ± {row['sd']:.4f} over {cfg.search.repeats} seeds" if row.get("sd") is not None else ""
    return f"trial {trial_id}: {cfg.search.objective} {row['score']:.4f}{spread} in {row['seconds']} s" + (
        f" (best so far: trial {best['trial']}, {best['score']:.4f})" if best else ""
    )


def _values(trial, hypermodel) -> str:
    return "  ".join(f"{d.key}={short(trial.hyperparameters.values.get(d.key))}" for d in hypermodel.dimensions)


class _RecordingTuner:
    """Mixed into the Keras Tuner class: times each trial and rewrites the tables after it
    (on a worker, the chief rewrites them)."""

    def run_trial(self, trial, *args, **kwargs):
        cfg, folder, hypermodel, notify = self.cnnlab
        # a worker's copy of the oracle knows neither the other trials nor the chief's limit
        place = "" if self.worker else f" ({len(self.oracle.trials)} of at most {self.oracle.max_trials})"
        notify(f"trial {trial.trial_id}{place}: {_values(trial, hypermodel)}")
        started = time.perf_counter()
        hypermodel.execution = -1  # _build_and_fit_model counts from 0
        histories = super().run_trial(trial, *args, **kwargs)
        epochs = sum(len(h.epoch) for h in histories)
        scores = [_best(h.history.get(cfg.search.objective, []), self.oracle.objective.direction) for h in histories]
        seconds = round(time.perf_counter() - started, 2)
        folder.record_time(trial.trial_id, epochs, seconds, scores)
        if not self.worker and folder.ran_by:  # a search spread over workers, resumed in one process
            folder.record_ran_by(trial.trial_id, "local", seconds)
        hypermodel.ran.append(trial.trial_id)
        if self.worker:
            mean = spread([score for score in scores if score is not None])["mean"]
            shown = "-" if mean is None else f"{mean:.4f}"
            notify(f"trial {trial.trial_id}: {cfg.search.objective} {shown} in {seconds} s")
        return histories

    def _is_worker(self):
        # Keras Tuner asks its environment variables; a worker's oracle is the chief's (it saves it)
        return getattr(self, "worker", None) is not None or super()._is_worker()

    def _build_and_fit_model(self, trial, *args, **kwargs):
        # Keras Tuner trains a trial executions_per_trial times through here: each its own seed.
        self.cnnlab[2].execution += 1
        return super()._build_and_fit_model(trial, *args, **kwargs)

    def _deepcopy_callbacks(self, callbacks):
        # Keras Tuner copies the callbacks at the start of each trial under a bare `except:` that
        # turns a Ctrl-C landing there into a FatalValueError traceback; a Ctrl-C stays a Ctrl-C.
        return copy.deepcopy(callbacks)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        if not self.worker:
            self.cnnlab[3](_report(self, trial.trial_id))


class _ConfigHyperModel(keras_tuner.HyperModel):
    """Keras Tuner's HyperModel over a config: `build` sets the trial's values into the config
    and compiles its model; `fit` trains it on the search's splits with the fit loop."""

    def __init__(self, search: Plan, dimensions: list[Dimension], splits: Splits | None, callbacks: list, notify):
        super().__init__()  # Keras Tuner never reads a HyperModel's name
        self.search, self.dimensions, self.splits = search, dimensions, splits
        self.callbacks, self.notify = callbacks, notify
        self.execution = 0  # which of search.repeats trainings of the trial this is
        self.ran: list[str] = []  # the trials trained in this process

    def declare_hyperparameters(self, hp):
        for dimension in self.dimensions:
            dimension.sample(hp)

    def trial_config(self, hp) -> LocatedConfig:
        cfg = values_config(self.search.cfg, {d.key: d.sample(hp) for d in self.dimensions})
        if cfg.search.repeats > 1:  # the seed draws the shuffles (the validation split is the search's own)
            cfg = cfg.model_copy(update={"seed": cfg.seed + self.execution})
        return cfg

    def build(self, hp):
        cfg = self.trial_config(hp)
        if cfg.search.repeats > 1:
            keras.utils.set_random_seed(cfg.seed)  # and the initial weights
        return compiled_model(cfg, self.search.info)[0]

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, **kwargs):
        trial = self.search.trial(self.trial_config(hp), model)
        return fit(
            trial,
            self.splits,
            Role.TRIAL,
            callbacks=[*callbacks, *self.callbacks],
            notify=self.notify,
            epochs=epochs,  # Hyperband gives each round its own epochs
            initial_epoch=initial_epoch,
        )


def _best(values: list[float], direction: str) -> float | None:
    """The best epoch's objective in one training, as Keras Tuner scores it."""
    finite = [v for v in values if v == v]
    return (max(finite) if direction == "max" else min(finite)) if finite else None
