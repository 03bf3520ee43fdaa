"""A search's results for people: one row per trial (its values, status, score, best epoch,
epochs and seconds) in `trials.csv` and `trials.md`, and `best.yaml`, the winning trial's config
as `cnnlab train` runs it, rewritten after every trial.

    >>> label("model.layers.4.Dense.units"), label("train.optimizer.learning_rate")
    ('4.Dense.units', 'learning_rate')
"""

from __future__ import annotations

import csv
import io

from cnnlab.config import LocatedConfig
from cnnlab.scores import spread
from cnnlab.search import Dimension, objective_direction, values_config
from cnnlab.storage.folders import SearchFolder


def summarise(cfg: LocatedConfig, folder: SearchFolder, trials: dict, dimensions: list[Dimension]) -> dict:
    """One row per trial of Keras Tuner's `oracle.trials`, the best row, and the tables and
    `best.yaml` written into `folder`."""
    rows, times, ran_by = [], folder.times, folder.ran_by
    for trial_id in sorted(trials):
        trial = trials[trial_id]
        row = {"trial": trial_id, "status": str(trial.status)}
        row.update({d.key: trial.hyperparameters.values.get(d.key) for d in dimensions})
        row["score"] = trial.score
        done = row["status"] == "COMPLETED" and trial.best_step is not None
        row["best_epoch"] = int(trial.best_step) + 1 if done else None  # Keras Tuner starts it at 0
        row.update(times.get(trial_id, {"epochs": None, "seconds": None}))
        if ran_by:  # a search spread over workers; a worker on another machine keeps its own times
            row["worker"] = ran_by.get(trial_id, {}).get("worker")
            row["seconds"] = row["seconds"] or ran_by.get(trial_id, {}).get("seconds")
        scores = [score for score in row.pop("scores", None) or [] if score is not None]
        row["sd"] = spread(scores)["sd"]  # over the trial's trainings (search.repeats); None for one
        if trial.message:
            row["error"] = _last_line(trial.message)
        rows.append(row)
    finished = [r for r in rows if r["status"] == "COMPLETED" and r["score"] is not None]
    maximise = objective_direction(cfg) == "max"
    best = max(finished, key=lambda r: r["score"] if maximise else -r["score"]) if finished else None
    folder.write_trials(*_tables(rows, dimensions, cfg.search.objective, maximise, cfg.search.repeats, bool(ran_by)))
    if best:
        folder.write_best(best_config_text(cfg, best, dimensions))
    return {"folder": folder, "rows": rows, "best": best, "finished": len(finished), "maximise": maximise}


def trial_config(cfg: LocatedConfig, row: dict, name: str, full_data: bool = False) -> LocatedConfig:
    """A trial's config (a row of `summarise`) as `cnnlab train` runs it, named `name`; with
    `full_data`, without the search's `data.limit`."""
    trial = values_config(
        cfg, {key: row[key] for key in cfg.search.space} | ({"data.limit": None} if full_data else {})
    )
    trial.search = None
    trial.name = name
    return trial


def best_config_text(cfg: LocatedConfig, best: dict, dimensions: list[Dimension]) -> str:
    """The winning trial's config as YAML that `cnnlab train` runs as it is, under a header
    that says where it came from."""
    winner = trial_config(cfg, best, f"{cfg.name}-tuned")
    values = "\n".join(f"#   {d.key}: {best[d.key]!r}" for d in dimensions)
    header = (
        f"# Found by cnnlab tune ({cfg.search.algorithm} search): trial {best['trial']} scored "
        f"{cfg.search.objective} {best['score']:.4f} in {best['epochs']} epochs.\n"
        f"# Its values:\n{values}\n"
        "# It trained on the search's data settings (data.limit included): check them before a full run.\n"
    )
    return header + winner.to_yaml()


def _tables(
    rows: list[dict], dimensions: list[Dimension], objective: str, maximise: bool, repeats: int = 1, workers=False
) -> tuple[str, str]:
    """(trials.csv, trials.md): every trial, the markdown best first, failures explained below.
    With `repeats` trainings per trial the score is their mean, beside their sd; with `workers`,
    which worker ran each trial."""
    score_columns = [f"{objective}_mean", f"{objective}_sd"] if repeats > 1 else [objective]
    columns = ["trial", "status", *(d.key for d in dimensions), *score_columns, "best_epoch", "epochs", "seconds"]
    columns += ["worker"] if workers else []
    text = io.StringIO()
    writer = csv.DictWriter(text, [*columns, "error"], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        scores = dict(zip(score_columns, (row["score"], row["sd"])))
        writer.writerow({**row, **{k: "" if v is None else v for k, v in scores.items()}})

    def rank(row):
        score = row["score"]
        return (score is None, -(score or 0) if maximise else (score or 0))

    scored = [f"{objective} (mean of {repeats})", "sd"] if repeats > 1 else [objective]
    header = ["trial", "status", *(label(d.key) for d in dimensions), *scored, "best epoch", "epochs", "seconds"]
    header += ["worker"] if workers else []
    lines = [
        f"# Trials ({'highest' if maximise else 'lowest'} {objective} first)",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in sorted(rows, key=rank):
        cells = [row["trial"], row["status"].lower(), *(short(row[d.key]) for d in dimensions)]
        cells += ["-" if row["score"] is None else f"{row['score']:.4f}"]
        cells += ["-" if row["sd"] is None else f"{row['sd']:.4f}"] if repeats > 1 else []
        cells += [
            row["best_epoch"] or "-",
            row["epochs"] or "-",
            row["seconds"] or "-",
            *([row.get("worker") or "-"] if workers else []),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    failed = [row for row in rows if row.get("error")]
    lines += ["", *(f"- trial {row['trial']}: {row['error']}" for row in failed)] if failed else []
    return text.getvalue(), "\n".join(lines) + "\n"


def label(key: str) -> str:
    """A column heading for a searched key: "model.layers.4.Dense.units" -> "4.Dense.units"."""
    for prefix in ("model.layers.", "train.optimizer.", "train."):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def short(value) -> str:
    """A searched value as a table shows it: 4 significant digits for fractions."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _last_line(message: str) -> str:
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
