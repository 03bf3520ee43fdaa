"""`cnnlab tune`: a hyperparameter search over a config's `search:` space, run by Keras Tuner.

Keras Tuner does the searching (random, Hyperband, Bayesian optimisation), keeps every trial
in its project folder and resumes a stopped search without redoing a finished trial; we give
it a HyperModel that builds each trial's model from the config with the trial's values set,
exactly as `cnnlab train` would build it. The search sees the training and validation splits
only: the test split stays unseen until the winning config is trained.

A search folder `runs/<name>/tune-<stamp>/` holds `config.yaml` (the search as it ran),
`tuner/` (Keras Tuner's state), `tensorboard/<trial>/` (scalars and HParams), `trials.csv`,
`trials.md` and `best.yaml`, rewritten after every trial.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import keras_tuner

from cnnlab.config import LocatedConfig
from cnnlab.errors import Interrupted, RunError
from cnnlab.fileio import read_json, write_atomic, write_json
from cnnlab.search import Dimension, check_search, objective_direction, values_config

SEARCH_CONFIG = "config.yaml"
_TIMES = "trial_times.json"
_ALGORITHMS = {"random": "RandomSearch", "hyperband": "Hyperband", "bayesian": "BayesianOptimization"}


def build_trial_model(cfg: LocatedConfig, info, pretrained: bool = True) -> keras.Model:
    """The compiled model of one trial's config, built as `cnnlab train` builds it."""
    from cnnlab.compiling import compile_model
    from cnnlab.model import build_model
    from cnnlab.transfer import initialise

    keras.utils.set_random_seed(cfg.seed)  # every trial starts from the same seeded state
    model = build_model(cfg, info, pretrained)
    initialise(cfg, model)
    compile_model(model, cfg)
    return model


def prepare_search(cfg: LocatedConfig) -> tuple[list[Dimension], object]:
    """Check the search before any trial: the space, the objective, and the model at the ends
    of every range. Returns the dimensions and the data set's info."""
    from cnnlab import backend
    from cnnlab.data import dataset_info

    backend.configure(cfg)
    info = dataset_info(cfg)
    dimensions = check_search(cfg, lambda trial_cfg: build_trial_model(trial_cfg, info))
    keras.backend.clear_session()
    return dimensions, info


def run_search(
    cfg: LocatedConfig,
    folder: Path,
    *,
    callbacks: Iterable = (),
    notify: Callable[[str], None] = lambda _: None,
) -> dict:
    """Run (or continue) the search of `cfg` in `folder`; return its summary (see `summarise`).
    Ctrl-C raises `Interrupted`: finished trials are kept and `--resume` goes on from there."""
    from cnnlab.data import load_arrays
    from cnnlab.data.prepare import prepare_for

    dimensions, info = prepare_search(cfg)
    arrays = load_arrays(cfg, notify)
    splits = prepare_for(cfg, arrays, info.num_classes)
    if splits.x_val is None and cfg.search.objective.startswith("val_"):
        raise RunError(f"{cfg.search.objective} needs validation data; this data set gave none")
    from cnnlab.compiling import schedule_mismatch

    warning = schedule_mismatch(cfg, -(-len(splits.x_train) // cfg.train.batch_size) * cfg.train.epochs)
    if warning:  # a quick search (data.limit, fewer epochs) shortens every trial alike
        notify(warning)
    hypermodel = _ConfigHyperModel(cfg, dimensions, info, splits, list(callbacks))
    tuner = _make_tuner(cfg, hypermodel, folder, notify)
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(folder / "tensorboard"), histogram_freq=0, write_graph=False)
    try:
        tuner.search(callbacks=[tensorboard], verbose=0)
    except KeyboardInterrupt:
        summary = summarise(cfg, folder, tuner.oracle, dimensions)
        finished = summary["finished"]
        raise Interrupted(
            f"search interrupted after {finished} finished trial(s) — resume with: cnnlab tune --resume {folder}"
        ) from None
    summary = summarise(cfg, folder, tuner.oracle, dimensions)
    if summary["best"] is None:
        first = next((row["error"] for row in summary["rows"] if row.get("error")), "no trial ran")
        raise RunError(f"{folder}: no trial completed — {first}")
    return summary


def _make_tuner(cfg: LocatedConfig, hypermodel, folder: Path, notify):
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
            directory=str(folder),
            project_name="tuner",
            overwrite=False,
            **options,
        )
    tuner.oracle.max_trials = search.max_trials  # also caps Hyperband, and a resumed search's new limit
    tuner.cnnlab = (cfg, folder, hypermodel.dimensions, notify)
    finished = sum(1 for trial in tuner.oracle.trials.values() if trial.status == "COMPLETED")
    if finished:
        notify(f"resuming: {finished} finished trial(s) are kept, {search.max_trials - finished} to go at most")
    return tuner


class _RecordingTuner:
    """Mixed into the Keras Tuner class: times each trial and rewrites the tables after it."""

    def run_trial(self, trial, *args, **kwargs):
        cfg, folder, dimensions, notify = self.cnnlab
        values = {d.key: trial.hyperparameters.values.get(d.key) for d in dimensions}
        number = len(self.oracle.trials)
        shown = "  ".join(f"{key}={_short(value)}" for key, value in values.items())
        notify(f"trial {trial.trial_id} ({number} of at most {self.oracle.max_trials}): {shown}")
        started = time.perf_counter()
        histories = super().run_trial(trial, *args, **kwargs)
        times = _read_times(folder)
        times[trial.trial_id] = {
            "epochs": sum(len(h.epoch) for h in histories),
            "seconds": round(time.perf_counter() - started, 2),
        }
        write_json(folder / _TIMES, times)
        return histories

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        cfg, folder, dimensions, notify = self.cnnlab
        summary = summarise(cfg, folder, self.oracle, dimensions)
        row = next(r for r in summary["rows"] if r["trial"] == trial.trial_id)
        best = summary["best"]
        if row["status"] == "COMPLETED":
            notify(
                f"trial {trial.trial_id}: {cfg.search.objective} {row['score']:.4f} in {row['seconds']} s"
                + (f" (best so far: trial {best['trial']}, {best['score']:.4f})" if best else "")
            )
        else:
            notify(f"trial {trial.trial_id} {row['status'].lower()}: {row.get('error', '')}")


class _ConfigHyperModel(keras_tuner.HyperModel):
    """Keras Tuner's HyperModel over a config: `build` sets the trial's values into the config
    and builds its model; `fit` trains it on the search's splits."""

    def __init__(self, cfg, dimensions, info, splits, callbacks):
        super().__init__(name=cfg.name)
        self.cfg, self.dimensions, self.info, self.splits, self.callbacks = cfg, dimensions, info, splits, callbacks

    def declare_hyperparameters(self, hp):
        for dimension in self.dimensions:
            dimension.sample(hp)

    def trial_config(self, hp) -> LocatedConfig:
        return values_config(self.cfg, {d.key: d.sample(hp) for d in self.dimensions})

    def build(self, hp):
        return build_trial_model(self.trial_config(hp), self.info)

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, **kwargs):
        from cnnlab.callbacks import NanGuard
        from cnnlab.compiling import build_callbacks
        from cnnlab.data.prepare import fit_datasets

        cfg = self.trial_config(hp)
        data = fit_datasets(self.splits, cfg.train.batch_size, False, cfg.seed)
        return model.fit(
            data.train,
            validation_data=data.validation,
            epochs=epochs or cfg.train.epochs,  # Hyperband gives each round its own epochs
            initial_epoch=initial_epoch,
            shuffle=False,  # the dataset shuffles, seeded
            verbose=0,
            callbacks=[NanGuard(), *build_callbacks(cfg), *callbacks, *self.callbacks],
        )


def summarise(cfg: LocatedConfig, folder: Path, oracle, dimensions: list[Dimension]) -> dict:
    """One row per trial (its values, status, score, epochs, seconds), the best row, and the
    tables and `best.yaml` written into `folder`."""
    times = _read_times(folder)
    rows = []
    for trial_id in sorted(oracle.trials):
        trial = oracle.trials[trial_id]
        row = {"trial": trial_id, "status": str(trial.status)}
        row.update({d.key: trial.hyperparameters.values.get(d.key) for d in dimensions})
        row["score"] = trial.score
        done = row["status"] == "COMPLETED" and trial.best_step is not None
        row["best_epoch"] = int(trial.best_step) + 1 if done else None  # Keras Tuner starts it at 0
        row.update(times.get(trial_id, {"epochs": None, "seconds": None}))
        if trial.message:
            row["error"] = _last_line(trial.message)
        rows.append(row)
    finished = [r for r in rows if r["status"] == "COMPLETED" and r["score"] is not None]
    maximise = objective_direction(cfg) == "max"
    best = max(finished, key=lambda r: r["score"] if maximise else -r["score"]) if finished else None
    _write_tables(folder, rows, dimensions, cfg.search.objective, maximise)
    if best:
        write_atomic(folder / "best.yaml", best_config_text(cfg, best, dimensions))
    return {"folder": folder, "rows": rows, "best": best, "finished": len(finished), "maximise": maximise}


def best_config_text(cfg: LocatedConfig, best: dict, dimensions: list[Dimension]) -> str:
    """The winning trial's config as YAML that `cnnlab train` runs as it is, under a header
    that says where it came from."""
    winner = values_config(cfg, {d.key: best[d.key] for d in dimensions})
    winner.search = None
    winner.name = f"{cfg.name}-tuned"
    values = "\n".join(f"#   {d.key}: {best[d.key]!r}" for d in dimensions)
    header = (
        f"# Found by cnnlab tune ({cfg.search.algorithm} search): trial {best['trial']} scored "
        f"{cfg.search.objective} {best['score']:.4f} in {best['epochs']} epochs.\n"
        f"# Its values:\n{values}\n"
        "# It trained on the search's data settings (data.limit included): check them before a full run.\n"
    )
    return header + winner.to_yaml()


def _write_tables(folder: Path, rows: list[dict], dimensions: list[Dimension], objective: str, maximise: bool):
    import csv

    columns = ["trial", "status", *(d.key for d in dimensions), objective, "best_epoch", "epochs", "seconds", "error"]
    text = io.StringIO()
    writer = csv.DictWriter(text, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, objective: "" if row["score"] is None else row["score"]} for row in rows)
    write_atomic(folder / "trials.csv", text.getvalue())

    def rank(row):
        score = row["score"]
        return (score is None, -(score or 0) if maximise else (score or 0))

    header = ["trial", "status", *(label(d.key) for d in dimensions), objective, "best epoch", "epochs", "seconds"]
    lines = [
        f"# Trials ({'highest' if maximise else 'lowest'} {objective} first)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in sorted(rows, key=rank):
        cells = [row["trial"], row["status"].lower(), *(_short(row[d.key]) for d in dimensions)]
        cells += [
            "-" if row["score"] is None else f"{row['score']:.4f}",
            row["best_epoch"] or "-",
            row["epochs"] or "-",
            row["seconds"] or "-",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    failed = [row for row in rows if row.get("error")]
    lines += ["", *(f"- trial {row['trial']}: {row['error']}" for row in failed)] if failed else []
    write_atomic(folder / "trials.md", "\n".join(lines) + "\n")


def _read_times(folder: Path) -> dict:
    path = folder / _TIMES
    return read_json(path) if path.is_file() else {}


def label(key: str) -> str:
    """A column heading for a searched key: "model.layers.4.Dense.units" -> "4.Dense.units"."""
    for prefix in ("model.layers.", "train.optimizer.", "train."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _last_line(message: str) -> str:
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
