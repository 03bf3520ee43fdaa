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
"""

from __future__ import annotations

import contextlib
import copy
import io
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import keras_tuner

from cnnlab.config import LocatedConfig
from cnnlab.data import load_splits
from cnnlab.data.prepare import Splits
from cnnlab.engine.loop import Role, fit
from cnnlab.engine.plan import Plan, plan
from cnnlab.engine.tensorboard import trial_logging
from cnnlab.errors import Interrupted, RunError
from cnnlab.model.build import compiled_model
from cnnlab.model.compiling import schedule_mismatch
from cnnlab.reporting.trials import short, summarise
from cnnlab.search import Dimension, objective_direction, search_space, values_config
from cnnlab.storage.folders import SearchFolder

_ALGORITHMS = {"random": "RandomSearch", "hyperband": "Hyperband", "bayesian": "BayesianOptimization"}


def run_search(
    search: Plan | LocatedConfig,
    folder: SearchFolder | Path,
    *,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    notify: Callable[[str], None] = lambda _: None,
) -> dict:
    """Run (or continue) the search of a planned config (or of a config, planned here) in
    `folder`; return its summary (see `reporting.trials.summarise`). Ctrl-C raises
    `Interrupted`: finished trials are kept and `--resume` goes on from there."""
    planned = search if isinstance(search, Plan) else plan_search(search)
    folder = folder if isinstance(folder, SearchFolder) else SearchFolder(folder)
    cfg, dimensions = planned.cfg, list(planned.dimensions)
    splits = load_splits(cfg, planned.info.num_classes, notify=notify)
    if splits.x_val is None and cfg.search.objective.startswith("val_"):
        raise RunError(f"{cfg.search.objective} needs validation data; this data set gave none")
    warning = schedule_mismatch(cfg, -(-len(splits.x_train) // cfg.train.batch_size) * cfg.train.epochs)
    if warning:  # a quick search (data.limit, fewer epochs) shortens every trial alike
        notify(warning)
    hypermodel = _ConfigHyperModel(planned, dimensions, splits, list(callbacks), notify)
    tuner = _make_tuner(cfg, hypermodel, folder, notify)
    try:
        tuner.search(callbacks=[trial_logging(folder.tensorboard)], verbose=0)
    except KeyboardInterrupt:
        finished = summarise(cfg, folder, tuner.oracle.trials, dimensions)["finished"]
        raise Interrupted(
            f"search interrupted after {finished} finished trial(s) — resume with: cnnlab tune --resume {folder}"
        ) from None
    summary = summarise(cfg, folder, tuner.oracle.trials, dimensions)
    if summary["best"] is None:
        first = next((row["error"] for row in summary["rows"] if row.get("error")), "no trial ran")
        raise RunError(f"{folder}: no trial completed — {first}")
    return summary


def plan_search(cfg: LocatedConfig) -> Plan:
    """`plan` for a search: every entry of the search: section checked before any trial, and a
    config without that section refused at its line."""
    planned = plan(cfg)
    if not planned.dimensions:
        search_space(cfg)  # raises: there is no search: section
    return planned


def _make_tuner(cfg: LocatedConfig, hypermodel, folder: SearchFolder, notify):
    search = cfg.search
    base = getattr(keras_tuner, _ALGORITHMS[search.algorithm])
    tuner_class = type(f"Cnnlab{base.__name__}", (_RecordingTuner, base), {})
    options = {"max_epochs": cfg.train.epochs, "factor": 3} if search.algorithm == "hyperband" else {}
    if search.algorithm != "hyperband":
        options["max_trials"] = search.max_trials
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
    finished = sum(1 for trial in tuner.oracle.trials.values() if trial.status == "COMPLETED")
    if finished:
        notify(f"resuming: {finished} finished trial(s) are kept, {search.max_trials - finished} to go at most")
    return tuner


class _RecordingTuner:
    """Mixed into the Keras Tuner class: times each trial and rewrites the tables after it."""

    def run_trial(self, trial, *args, **kwargs):
        cfg, folder, hypermodel, notify = self.cnnlab
        values = {d.key: trial.hyperparameters.values.get(d.key) for d in hypermodel.dimensions}
        number = len(self.oracle.trials)
        shown = "  ".join(f"{key}={short(value)}" for key, value in values.items())
        notify(f"trial {trial.trial_id} ({number} of at most {self.oracle.max_trials}): {shown}")
        started = time.perf_counter()
        hypermodel.execution = -1  # _build_and_fit_model counts from 0
        histories = super().run_trial(trial, *args, **kwargs)
        epochs = sum(len(h.epoch) for h in histories)
        scores = [_best(h.history.get(cfg.search.objective, []), self.oracle.objective.direction) for h in histories]
        folder.record_time(trial.trial_id, epochs, round(time.perf_counter() - started, 2), scores)
        return histories

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
        cfg, folder, hypermodel, notify = self.cnnlab
        summary = summarise(cfg, folder, self.oracle.trials, hypermodel.dimensions)
        row = next(r for r in summary["rows"] if r["trial"] == trial.trial_id)
        best = summary["best"]
        if row["status"] == "COMPLETED":
            spread = f" ± {row['sd']:.4f} over {cfg.search.repeats} seeds" if row.get("sd") is not None else ""
            notify(
                f"trial {trial.trial_id}: {cfg.search.objective} {row['score']:.4f}{spread} in {row['seconds']} s"
                + (f" (best so far: trial {best['trial']}, {best['score']:.4f})" if best else "")
            )
        else:
            notify(f"trial {trial.trial_id} {row['status'].lower()}: {row.get('error', '')}")


class _ConfigHyperModel(keras_tuner.HyperModel):
    """Keras Tuner's HyperModel over a config: `build` sets the trial's values into the config
    and compiles its model; `fit` trains it on the search's splits with the fit loop."""

    def __init__(self, search: Plan, dimensions: list[Dimension], splits: Splits, callbacks: list, notify):
        super().__init__(name=search.cfg.name)
        self.search, self.dimensions, self.splits = search, dimensions, splits
        self.callbacks, self.notify = callbacks, notify
        self.execution = 0  # which of search.repeats trainings of the trial this is

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
