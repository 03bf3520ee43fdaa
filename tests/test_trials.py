"""A search's tables and `best.yaml` (reporting/trials.py) from Keras Tuner's own trial
objects, each figure checked against the trial it came from. No training: the trials are made
as Keras Tuner's oracle holds them, so the cases a search rarely reaches (a loss objective, a
worker on another machine) cost milliseconds."""

from __future__ import annotations

import csv
import io

import yaml
from keras_tuner import HyperParameters
from keras_tuner.engine.trial import Trial

from cnnlab.config import load_config
from cnnlab.reporting.trials import summarise
from cnnlab.search import search_space
from cnnlab.storage.folders import SearchFolder
from tests.conftest import markdown_tables
from tests.test_tune import SEARCH

UNITS, FILTERS, RATE = "model.layers.3.Dense.units", "model.layers.0.Conv2D.filters", "train.optimizer.learning_rate"


def trial(trial_id: str, score: float | None, units: int, status: str = "COMPLETED", message=None) -> Trial:
    """A trial as Keras Tuner's oracle holds it (its best_step counts epochs from 0)."""
    hp = HyperParameters()
    hp.values.update({UNITS: units, FILTERS: 5, RATE: 0.01})
    made = Trial(hp, trial_id=trial_id, status=status, message=message)
    made.score, made.best_step = score, (1 if score is not None else None)
    return made


def searched(write, tmp_path, objective: str, trials: list[Trial], ran_by: dict | None = None, scores=None):
    """`scores`: each trial's trainings' scores, by trial id, for a search of `search.repeats: 2`."""
    setting = f"  algorithm: random\n  objective: {objective}" + ("\n  repeats: 2" if scores else "")
    text = SEARCH.replace("  algorithm: random", setting)
    cfg = load_config(write("search.yaml", text.replace("  dataset: synthetic", "  dataset: synthetic\n  limit: 120")))
    folder = SearchFolder(tmp_path / "tune-1")
    folder.path.mkdir()
    for trial_id, (worker, seconds) in (ran_by or {}).items():
        folder.record_ran_by(trial_id, worker, seconds)
    for trial_id, trial_scores in (scores or {}).items():
        folder.record_time(trial_id, 2, 3.5, trial_scores)
    summary = summarise(cfg, folder, {t.trial_id: t for t in trials}, search_space(cfg))
    (table,) = markdown_tables((folder.path / "trials.md").read_text()).values()
    return cfg, folder, summary, table


def test_a_loss_objective_ranks_the_lowest_first_and_each_row_has_a_cell_per_column(write, tmp_path):
    """The bugs: the table ranked highest first whatever the objective; a worker column in a
    row of a search without workers (rows wider than their header)."""
    failure = "Traceback (most recent call last):\n  ...\nValueError: the model ran out of memory"
    trials = [trial("00", 0.9, 4), trial("01", 0.3, 8), trial("02", 0.6, 16), trial("03", None, 4, "FAILED", failure)]
    _, folder, summary, table = searched(write, tmp_path, "val_loss", trials)
    header, *rows = table
    assert header[:5] == ["trial", "status", "3.Dense.units", "0.Conv2D.filters", "learning_rate"]
    assert "worker" not in header and all(len(row) == len(header) for row in rows), table
    assert "- trial 03: ValueError: the model ran out of memory" in (folder.path / "trials.md").read_text()
    assert [row[0] for row in rows] == ["01", "02", "00", "03"]  # lowest loss first, the failed one last
    assert (folder.path / "trials.md").read_text().startswith("# Trials (lowest val_loss first)")
    assert summary["best"]["trial"] == "01" and not summary["maximise"]


def test_best_yaml_keeps_the_searchs_data_limit_and_takes_the_winners_values(write, tmp_path):
    """README: best.yaml trains as the winning trial trained, on the search's data settings
    (its header says so). The bugs: `data.limit` dropped from it; another trial's values."""
    cfg, folder, _, _ = searched(write, tmp_path, "val_accuracy", [trial("00", 0.5, 4), trial("01", 0.8, 16)])
    best = yaml.safe_load((folder.path / "best.yaml").read_text())
    assert best["data"]["limit"] == cfg.data.limit == 120
    assert best["name"] == "search-tuned" and "search" not in best
    assert best["model"]["layers"][3]["Dense"]["units"] == 16


def test_a_trial_a_worker_ran_elsewhere_takes_the_seconds_the_chief_saw(write, tmp_path):
    """A worker on another machine keeps its trial times there: the row's seconds are the
    chief's, and the worker is named. The bug: the chief's seconds read under another key."""
    ran_by = {"00": ("worker-1", 12.5), "01": ("worker-0", 7.25)}
    _, folder, summary, table = searched(
        write, tmp_path, "val_accuracy", [trial("00", 0.5, 4), trial("01", 0.8, 8)], ran_by
    )
    by_trial = {row["trial"]: row for row in csv.DictReader(io.StringIO((folder.path / "trials.csv").read_text()))}
    assert {t: (row["worker"], float(row["seconds"])) for t, row in by_trial.items()} == {
        "00": ("worker-1", 12.5),
        "01": ("worker-0", 7.25),
    }
    header, *rows = table
    assert header[-1] == "worker" and [(row[0], row[-2], row[-1]) for row in rows] == [
        ("01", "7.25", "worker-0"),
        ("00", "12.5", "worker-1"),
    ]


def test_a_searched_keys_column_heading_drops_the_prefix_every_key_of_its_kind_shares():
    from cnnlab.reporting.trials import label

    assert [label(key) for key in ("model.layers.4.Dense.units", "train.optimizer.learning_rate")] == [
        "4.Dense.units",
        "learning_rate",
    ]
    assert [label(key) for key in ("train.batch_size", "data.limit")] == ["batch_size", "data.limit"]


def test_repeated_trials_give_their_mean_and_sd_and_one_score_gives_no_sd(write, tmp_path):
    """With `search.repeats: 2` a trial's score is the mean of its trainings, beside their sd; a
    trial one of whose trainings failed has one score and no sd ("-", an empty CSV cell). The
    bugs: a missing sd formatted as a number; a column renamed; Windows line ends in the CSV;
    a blank line after the table of a search without failures."""
    import statistics

    trials = [trial("00", 0.6, 4), trial("01", 0.8, 16)]
    _, folder, _, table = searched(write, tmp_path, "val_accuracy", trials, scores={"00": [0.5, 0.7], "01": [0.8]})
    csv_bytes = (folder.path / "trials.csv").read_bytes()
    assert b"\r" not in csv_bytes
    header, *rows = csv.reader(io.StringIO(csv_bytes.decode()))
    assert header == ["trial", "status", UNITS, FILTERS, RATE, "val_accuracy_mean", "val_accuracy_sd"] + [
        "best_epoch",
        "epochs",
        "seconds",
        "error",
    ]
    sd = statistics.stdev([0.5, 0.7])  # 0.1414: n - 1 in the denominator
    assert [(row[0], row[5], row[6]) for row in rows] == [("00", "0.6", repr(sd)), ("01", "0.8", "")]
    assert table[0][5:7] == ["val_accuracy (mean of 2)", "sd"]
    assert [(row[0], row[5], row[6]) for row in table[1:]] == [("01", "0.8000", "-"), ("00", "0.6000", f"{sd:.4f}")]
    assert (folder.path / "trials.md").read_text().endswith(" |\n")  # the table's last row ends the page
