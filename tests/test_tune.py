"""`cnnlab tune`: a Keras Tuner search over a config's search: section, its tables, best.yaml,
resuming without redoing a trial, and located errors for every mistake in the section."""

from __future__ import annotations

import csv
import json
import math
import re

import keras
import pytest

from cnnlab.config import load_config
from cnnlab.errors import ConfigError, Interrupted
from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY_DATA, TINY_MODEL, markdown_tables
from tests.test_faults import ctrl_c_reaches_the_children  # noqa: F401  (fixture: Ctrl-C reaches children)

SEARCH = (
    "name: search\n"
    + TINY_DATA.replace("train_examples: 192", "train_examples: 160")
    + TINY_MODEL.replace("    - Dense: {units: 3", "    - Dense: {units: 8, activation: relu}\n    - Dense: {units: 3")
    + """
train: {epochs: 2, batch_size: 16, optimizer: {name: adam, learning_rate: 0.01}}
tensorboard: {enabled: false}
search:
  algorithm: random
  max_trials: 3
  space:
    model.layers.3.Dense.units: [4, 8, 16]
    model.layers.0.Conv2D.filters: {int: [2, 9], step: 3}
    train.optimizer.learning_rate: {log_uniform: [1.0e-3, 3.0e-2]}
"""
)


def _rows(folder):
    with open(folder / "trials.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def _search_folder(runs):
    (folder,) = (runs / "search").glob("tune-*")
    return folder


@pytest.mark.trains
def test_a_search_writes_one_row_per_trial_and_a_best_yaml_that_trains(run_cli, write, tmp_path):
    config = write("search.yaml", SEARCH)
    result = run_cli("tune", config, "--max-trials", "2", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    folder = _search_folder(tmp_path / "runs")
    rows = _rows(folder)
    assert [row["trial"] for row in rows] == ["0", "1"]  # --max-trials, not the config's 3
    assert all(row["status"] == "COMPLETED" and int(row["epochs"]) == 2 for row in rows)
    for row in rows:  # the table against Keras Tuner's own record of the trial
        kept = json.loads((folder / "tuner" / f"trial_{row['trial']}" / "trial.json").read_text())
        assert (row["status"], float(row["val_accuracy"]), int(row["best_epoch"])) == (
            kept["status"],
            kept["score"],
            kept["best_step"] + 1,  # Keras Tuner counts epochs from 0
        )
        assert {key: row[key] for key in kept["hyperparameters"]["values"]} == {
            key: str(value) for key, value in kept["hyperparameters"]["values"].items()
        }
    for row in rows:  # every value drawn from the space as written
        assert int(row["model.layers.3.Dense.units"]) in (4, 8, 16)
        assert int(row["model.layers.0.Conv2D.filters"]) in (2, 5, 8)
        assert 1.0e-3 <= float(row["train.optimizer.learning_rate"]) <= 3.0e-2
        assert (folder / "tensorboard" / row["trial"] / "execution0").is_dir()  # scalars and HParams
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    assert f"best: trial {best['trial']}, val_accuracy {float(best['val_accuracy']):.4f}" in result.stdout
    # trials.md, cell by cell, from Keras Tuner's own trial.json, the highest score first
    kept = {
        row["trial"]: json.loads((folder / "tuner" / f"trial_{row['trial']}" / "trial.json").read_text())
        for row in rows
    }
    table = markdown_tables((folder / "trials.md").read_text())[None]
    assert table[0] == ["trial", "status", "3.Dense.units", "0.Conv2D.filters", "learning_rate", "val_accuracy"] + [
        "best epoch",
        "epochs",
        "seconds",
    ]
    order = sorted(kept, key=lambda trial: -kept[trial]["score"])
    assert [cells[0] for cells in table[1:]] == order
    for cells in table[1:]:
        trial = kept[cells[0]]
        values = trial["hyperparameters"]["values"]
        assert cells[1:8] == [
            trial["status"].lower(),
            str(values["model.layers.3.Dense.units"]),
            str(values["model.layers.0.Conv2D.filters"]),
            f"{values['train.optimizer.learning_rate']:.4g}",
            f"{trial['score']:.4f}",
            str(trial["best_step"] + 1),
            "2",
        ]

    winner = load_config(folder / "best.yaml")
    assert winner.search is None and winner.name == "search-tuned"
    assert winner.model.layers[3].arguments["units"] == int(best["model.layers.3.Dense.units"])
    assert winner.model.layers[0].arguments["filters"] == int(best["model.layers.0.Conv2D.filters"])
    assert math.isclose(winner.train.optimizer.arguments["learning_rate"], float(best["train.optimizer.learning_rate"]))
    trained = run_cli("train", folder / "best.yaml", "--runs-dir", tmp_path / "runs")
    assert trained.exit_code == 0, trained.output
    (run,) = list_runs(tmp_path / "runs")
    assert run.parent.name == "search-tuned"


@pytest.mark.trains
@pytest.mark.long  # ten trainings
def test_repeats_and_confirm_train_each_trial_with_two_seeds_then_the_best_two_with_three(
    run_cli, write, tmp_path, monkeypatch
):
    """search.repeats: 2 trains 2 trials x 2 seeds = 4 models and tables their mean and sd;
    --confirm 2 then trains the best 2 trials with 3 seeds each on all the data (not the
    search's data.limit) and says whether the winner beats the runner-up. The seeds are the ones
    each training really started from: Keras' global seed when its fit began."""
    import json
    import statistics

    from cnnlab.storage.folders import SearchFolder

    seeded, received = [None], []
    set_random_seed, real_fit = keras.utils.set_random_seed, keras.Model.fit
    monkeypatch.setattr(
        keras.utils, "set_random_seed", lambda seed: (seeded.__setitem__(0, seed), set_random_seed(seed))
    )
    monkeypatch.setattr(keras.Model, "fit", lambda *a, **k: (received.append(seeded[0]), real_fit(*a, **k))[1])

    config = write(
        "search.yaml",
        SEARCH.replace("max_trials: 3", "max_trials: 2\n  repeats: 2").replace("enabled: false", "enabled: true"),
    )
    runs = tmp_path / "runs"
    result = run_cli("tune", config, "--set", "data.limit=96", "--confirm", "2", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    folder = _search_folder(runs)
    rows = _rows(folder)
    assert [row["trial"] for row in rows] == ["0", "1"] and "val_accuracy_sd" in rows[0]
    times = SearchFolder(folder).times
    for row in rows:  # each trial: 2 trainings of 2 epochs
        trainings = sorted(p.name for p in (folder / "tensorboard" / row["trial"]).iterdir())
        assert trainings == ["execution0", "execution1"] and int(row["epochs"]) == 4
        scores = times[row["trial"]]["scores"]
        assert len(scores) == 2
        assert float(row["val_accuracy_mean"]) == pytest.approx(statistics.mean(scores))
        assert float(row["val_accuracy_sd"]) == pytest.approx(statistics.stdev(scores))
    assert "val_accuracy (mean of 2) | sd |" in (folder / "trials.md").read_text()
    assert received == [42, 43, 42, 43] + [42, 43, 44] * 2  # each trial's two, then each confirmed trial's three

    ranked = sorted(rows, key=lambda row: -float(row["val_accuracy_mean"]))
    winner, runner_up = (row["trial"] for row in ranked)
    assert f"the winner (trial {winner}) against the runner-up (trial {runner_up}): " in result.stdout
    (said,) = (line for line in result.stdout.splitlines() if line.startswith("the winner (trial"))
    assert re.search(r"mean test accuracy [+-]\d\.\d{4} \(95 % interval", said), said  # on the test accuracy
    for place, row in enumerate(ranked, 1):  # each confirmed trial announced with its place
        assert (
            f"[{place} of 2] trial {row['trial']} (val_accuracy {float(row['val_accuracy_mean']):.4f})" in result.stdout
        )
    for row in rows:  # each trial's line gives its mean and its spread over the seeds
        line = f"trial {row['trial']}: val_accuracy {float(row['val_accuracy_mean']):.4f} ± "
        assert line + f"{float(row['val_accuracy_sd']):.4f} over 2 seeds" in result.stdout
    for row in ranked:
        (group,) = (runs / f"search-trial{row['trial']}").glob("*-x3")
        summary = json.loads((group / "group.json").read_text())
        assert summary["seeds"] == [42, 43, 44] and summary["status"] == "completed"
        run = group.parent / summary["runs"][0]["run"]
        trained = load_config(run / "config.yaml")
        assert trained.model.layers[3].arguments["units"] == int(row["model.layers.3.Dense.units"])
        assert trained.data.limit is None and trained.search is None
        assert json.loads((run / "manifest.json").read_text())["data"]["train_examples"] > 96


@pytest.mark.trains
def test_an_interrupted_search_resumes_without_redoing_a_finished_trial(run_cli, write, tmp_path):
    """Stopped in its third trial: the two finished trials are kept and said to be, and only the
    third trains again. The bug it also catches: the trials that did not finish (one here)
    counted as the finished ones (two), which a stop in the second trial would not show."""
    from cnnlab.engine.tuning import run_search

    class StopInThirdTrial(keras.callbacks.Callback):
        trials = 0

        def on_train_begin(self, logs=None):
            StopInThirdTrial.trials += 1

        def on_epoch_end(self, epoch, logs=None):
            if StopInThirdTrial.trials == 3:
                raise KeyboardInterrupt

    cfg = load_config(write("search.yaml", SEARCH))
    folder = tmp_path / "search"
    folder.mkdir()
    (folder / "config.yaml").write_text(cfg.to_yaml())
    with pytest.raises(Interrupted, match=rf"resume with: cnnlab.tune\(resume='{folder}'\)"):
        run_search(cfg, folder, callbacks=[StopInThirdTrial()])
    statuses = [(row["trial"], row["status"]) for row in _rows(folder)]
    assert statuses == [("0", "COMPLETED"), ("1", "COMPLETED"), ("2", "RUNNING")]
    assert _rows(folder)[2]["best_epoch"] == ""  # nothing to report of a trial cut short
    first_trial = (folder / "tuner" / "trial_0" / "trial.json").read_bytes()

    result = run_cli("tune", "--resume", folder)
    assert result.exit_code == 0, result.output
    assert "resuming: 2 finished trial(s) are kept, 1 to go at most" in result.stdout
    assert "trial 0 (" not in result.stdout and "trial 1 (" not in result.stdout  # finished: not run again
    assert "trial 2 (" in result.stdout
    assert (folder / "tuner" / "trial_0" / "trial.json").read_bytes() == first_trial
    assert [row["status"] for row in _rows(folder)] == ["COMPLETED"] * 3


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("model.layers.9.Dense.units: [4, 8]", "model.layers has 5 items (0 to 4)"),
        ("model.layers.3.Dense.unitz: [4, 8]", "did you mean units?"),
        ("model.layers.3.Dense.units: {normal: [4, 8]}", "unknown distribution 'normal'"),
        ("model.layers.3.Dense.units: {int: [8, 4]}", "low 8 must be below high 4"),
        ("train.optimizer.beta_1: {log_uniform: [0, 0.1]}", "log_uniform needs low > 0"),
        ("data.limit: [100, 200]", "search.space varies model and train keys only"),
        ("model.layers.3.Dense.units: [4, 'wide']", "choices mix types"),
        ("model.layers.0.Conv2D.kernel_size: [3, 9]", "Conv2D"),  # 9x9 does not fit an 8x8 input
    ],
)
def test_a_wrong_search_entry_is_one_located_error_before_any_trial(run_cli, write, tmp_path, entry, message):
    text = SEARCH.replace("    model.layers.3.Dense.units: [4, 8, 16]", "    " + entry)
    config = write("search.yaml", text)
    line = text.splitlines().index("    " + entry) + 1
    result = run_cli("tune", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert f"search.yaml:{line}" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


def test_an_objective_the_run_does_not_log_is_named_with_a_suggestion(write):
    from cnnlab.search import objective_direction

    cfg = load_config(write("search.yaml", SEARCH), ["search.objective=val_acuracy"])
    with pytest.raises(ConfigError, match="did you mean val_accuracy"):
        objective_direction(cfg)
    assert objective_direction(load_config(write("s.yaml", SEARCH), ["search.objective=val_loss"])) == "min"


def test_an_int_range_tops_out_at_its_last_step(write):
    from cnnlab.search import search_space

    cfg = load_config(write("search.yaml", SEARCH))
    filters = next(d for d in search_space(cfg) if d.kind == "int")
    assert (filters.low, filters.high, filters.step) == (2, 8, 3)  # 9 is not reachable from 2 in steps of 3


def test_resuming_a_training_run_as_a_search_is_a_located_error(run_cli, trained):
    run, _, _ = trained
    result = run_cli("tune", "--resume", run)
    assert result.exit_code == 2, result.output
    assert "--resume: " in result.stderr and "is a training run, not a search folder" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.trains
@pytest.mark.parametrize("algorithm", ["hyperband", "bayesian"])
def test_hyperband_and_bayesian_searches_run_end_to_end(run_cli, write, tmp_path, algorithm):
    config = write("search.yaml", SEARCH.replace("algorithm: random", f"algorithm: {algorithm}"))
    result = run_cli("tune", config, "--max-trials", "3", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    folder = _search_folder(tmp_path / "runs")
    rows = _rows(folder)
    assert 2 <= len(rows) <= 3 and all(row["status"] == "COMPLETED" for row in rows)
    assert all(1 <= int(row["epochs"]) <= 2 for row in rows)  # Hyperband's rounds train fewer epochs
    winner = load_config(folder / "best.yaml")
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    assert winner.model.layers[3].arguments["units"] == int(best["model.layers.3.Dense.units"])


@pytest.mark.trains
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # Hyperband carries the weights only
def test_a_hyperband_round_goes_on_from_the_epoch_its_trial_reached(run_cli, write, tmp_path):
    """Hyperband trains the best of a bracket's 1-epoch trials on to 3 epochs: a new trial that
    starts from the old one's weights at epoch 1 (Keras Tuner's `tuner/initial_epoch`). The bug:
    `initial_epoch` dropped on the way to the fit loop, so the round trains all 3 epochs again
    and the search spends more epochs than its plan. The oracle is Keras Tuner's own plan of
    each trial, in its trial.json."""
    config = write(
        "search.yaml", SEARCH.replace("algorithm: random", "algorithm: hyperband").replace("epochs: 2,", "epochs: 3,")
    )
    result = run_cli("tune", config, "--max-trials", "4", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    folder = _search_folder(tmp_path / "runs")
    planned = {}
    for path in (folder / "tuner").glob("trial_*/trial.json"):
        values = json.loads(path.read_text())["hyperparameters"]["values"]
        planned[path.parent.name.removeprefix("trial_")] = values["tuner/epochs"] - values["tuner/initial_epoch"]
    rows = _rows(folder)
    assert {row["trial"]: int(row["epochs"]) for row in rows} == planned
    assert sorted(planned.values()) == [
        1,
        1,
        1,
        2,
    ]  # with max_epochs 3 and factor 3: three of 1 epoch, one goes on to 3


@pytest.mark.processes
def test_ctrl_c_stops_a_search_with_exit_130_and_says_how_to_resume(write, tmp_path):
    import signal

    from tests.test_faults import cnnlab, wait_until

    slow = SEARCH.replace("train_examples: 160", "train_examples: 3000")
    runs = tmp_path / "runs"
    process = cnnlab("tune", write("search.yaml", slow), "--runs-dir", runs)

    def one_trial_done() -> bool:
        return any("COMPLETED" in p.read_text() for p in runs.glob("search/tune-*/trials.csv"))

    wait_until(one_trial_done, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    # started as `python -m cnnlab`, it says so: the hint runs in this shell
    assert re.search(
        r"search interrupted after [12] finished trial\(s\) — resume with: \S+ -m cnnlab tune --resume", err
    )
    assert "Traceback" not in err


def test_a_ctrl_c_while_keras_tuner_copies_the_callbacks_stays_a_ctrl_c():
    # Keras Tuner copies the callbacks at each trial's start under a bare except; a Ctrl-C
    # landing there came out as a FatalValueError traceback and exit 1 instead of 130.
    import keras_tuner

    from cnnlab.engine.tuning import _RecordingTuner

    class CtrlCWhileCopied(keras.callbacks.Callback):
        def __deepcopy__(self, memo):
            raise KeyboardInterrupt

    tuner_class = type("Tuner", (_RecordingTuner, keras_tuner.RandomSearch), {})
    with pytest.raises(KeyboardInterrupt):
        tuner_class._deepcopy_callbacks(None, [CtrlCWhileCopied()])


@pytest.mark.trains
def test_a_search_whose_every_trial_fails_says_why_the_first_one_failed(run_cli, write, tmp_path):
    """The bugs: the failed trial's reason lost, so the search says only "no trial ran"; Keras
    Tuner's own traceback of the trial printed under cnnlab's one line."""
    text = SEARCH.replace("max_trials: 3", "max_trials: 1").replace(
        "train.optimizer.learning_rate: {log_uniform: [1.0e-3, 3.0e-2]}", "train.optimizer.learning_rate: [1.0e+30]"
    )
    result = run_cli("tune", write("search.yaml", text), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert f"error: {_search_folder(tmp_path / 'runs')}: no trial completed — " in said
    assert "RunError: the loss became NaN or infinite at epoch 1" in said, said
    assert "Traceback" not in result.output, result.output


@pytest.mark.trains
def test_ctrl_c_wrapped_by_pydantic_at_a_trials_end_is_still_a_resumable_stop(write, tmp_path, monkeypatch):
    """Ctrl-C raises where it lands. In a CI run it landed while a trial's best.yaml was being
    serialized, and pydantic turned it into its own error: the search crashed with a traceback
    and exit 1 instead of stopping with `resume with`. The bug: the wrapped stop not given back
    as itself (errors.ctrl_c_as_itself)."""
    import pydantic
    import pydantic_core

    from cnnlab.engine.tuning import run_search
    from cnnlab.reporting import trials

    class Dumped(pydantic.BaseModel):
        @pydantic.model_serializer
        def _interrupted(self):
            raise KeyboardInterrupt  # where the real Ctrl-C landed

    def serializing(*args, **kwargs):
        Dumped().model_dump()

    with pytest.raises(pydantic_core.PydanticSerializationError):  # pydantic's own doing
        serializing()
    calls, best_config_text = [], trials.best_config_text

    def interrupted_once(*args, **kwargs):  # one Ctrl-C: the summary after it is written
        calls.append(1)
        return serializing() if len(calls) == 1 else best_config_text(*args, **kwargs)

    monkeypatch.setattr(trials, "best_config_text", interrupted_once)
    cfg = load_config(write("search.yaml", SEARCH.replace("max_trials: 3", "max_trials: 1")))
    folder = tmp_path / "search"
    folder.mkdir()
    (folder / "config.yaml").write_text(cfg.to_yaml())
    with pytest.raises(Interrupted, match=r"search interrupted after .* resume with"):
        run_search(cfg, folder)
