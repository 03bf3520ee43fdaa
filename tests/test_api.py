"""cnnlab from Python, as a new user would use it in a notebook: a config written as a dict, on
synthetic data; what comes back agrees with the files and with the command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import cnnlab
from cnnlab.config import load_config
from cnnlab.data import load_arrays
from tests.conftest import REPO, html_tables
from tests.test_faults import SLOW, ctrl_c_after_the_first_epoch

CONFIG = {
    "name": "notebook",
    "data": {
        "dataset": "synthetic",
        "synthetic": {"input_shape": [8, 8, 1], "num_classes": 3, "train_examples": 192, "test_examples": 48},
    },
    "model": {
        "layers": [
            {"Conv2D": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
            {"MaxPooling2D": {"pool_size": 2}},
            "Flatten",
            {"Dense": {"units": 3, "activation": "softmax"}},
        ]
    },
    "train": {"epochs": 3, "batch_size": 8, "optimizer": {"name": "adam", "learning_rate": 0.003}},
}


# a learning rate that makes the first epoch's loss NaN: the run fails
NAN = {**CONFIG, "name": "nan", "train": {**CONFIG["train"], "optimizer": {"name": "sgd", "learning_rate": 1e30}}}
FIRST = {**CONFIG, "name": "first", "train": {**CONFIG["train"], "epochs": 1}}  # one epoch, before another config


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("api") / "runs"


@pytest.fixture(scope="module")
def run(runs_dir):
    return cnnlab.train(CONFIG, runs_dir=runs_dir, progress=False)


def test_a_dict_config_trains_a_run_whose_records_are_its_files(run):
    assert run.status == "completed" and run.name == "notebook"
    assert [row["epoch"] for row in run.history] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(run.history[0])
    assert run.metrics == json.loads((run.path / "metrics.json").read_text())
    assert run.metrics["accuracy"] > 0.6  # chance is 1/3
    assert run.config["train"]["epochs"] == 3 and run.config["model"]["layers"][2] == "Flatten"
    assert run.model.count_params() == run.manifest["parameters"]


def test_load_run_and_runs_read_the_same_run_back(run, runs_dir):
    assert cnnlab.load_run(run.path) == run
    assert cnnlab.load_run("notebook", runs_dir=runs_dir) == run
    assert run in cnnlab.runs(runs_dir)
    with pytest.raises(cnnlab.ConfigError, match="did you mean notebook"):
        cnnlab.load_run("notebok", runs_dir=runs_dir)


def test_predict_agrees_with_the_command_line(run, run_cli, tmp_path):
    images = load_arrays(load_config(run.config)).x_test[:10]
    probabilities = run.predict(images)
    assert probabilities.shape == (10, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    stored = np.load(run.path / "predictions.npz")["probabilities"][:10]  # the evaluation's, prepared apart
    np.testing.assert_allclose(probabilities, stored, atol=1e-5)
    files = []
    for index, image in enumerate(images):
        files.append(tmp_path / f"{index}.png")
        Image.fromarray(image[..., 0]).save(files[-1])
    result = run_cli("predict", run.path, *files, "--json")
    assert result.exit_code == 0, result.output
    said = json.loads(result.stdout)
    assert [item["predicted"] for item in said] == [f"class_{i}" for i in probabilities.argmax(axis=1)]
    np.testing.assert_allclose([item["top"][0]["probability"] for item in said], probabilities.max(axis=1), atol=1e-5)
    np.testing.assert_allclose(run.predict(files), probabilities, atol=1e-6)  # files as the CLI reads them


@pytest.mark.trains
def test_compare_gives_the_command_lines_pairs(run, runs_dir, run_cli):
    other = cnnlab.train(CONFIG, overrides={"train.epochs": 1}, name="other", runs_dir=runs_dir, progress=False)
    comparison = cnnlab.compare([run, other])
    (pair,) = comparison.pairs
    result = run_cli("compare", run.path, other.path)
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "│ notebook/" in line and "│ other/" in line)
    assert re.findall(r"[\d.e+-]+", row)[-3:] == [str(pair.only_a), str(pair.only_b), f"{pair.p_value:.4g}"]
    assert [r.label for r in comparison.rows][0] == max(comparison.rows, key=lambda r: r.metrics["accuracy"]).label
    best = comparison.rows[0]
    assert (
        repr(comparison) == f"Comparison(2 runs, 1 pairs, best {best.label} (accuracy {best.metrics['accuracy']:.4f}))"
    )
    assert repr(cnnlab.Comparison([], [], "accuracy")) == "Comparison(0 runs, 0 pairs)"  # one made by hand, empty
    page = comparison._repr_html_()
    assert "McNemar" in page and page.count("data:image/png;base64,") >= 2


def test_a_misspelt_key_is_a_config_error_naming_the_key_with_a_suggestion(runs_dir):
    with pytest.raises(cnnlab.ConfigError) as caught:
        cnnlab.train({**CONFIG, "train": {"epochz": 2}}, runs_dir=runs_dir, progress=False)
    (problem,) = caught.value.problems
    assert (problem.key, problem.file, problem.line) == ("train.epochz", None, None)
    assert problem.message == "unknown key" and problem.hint == "did you mean epochs?"
    assert str(caught.value) == "train.epochz: unknown key — did you mean epochs?"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # one exception, no chain
    with pytest.raises(cnnlab.ConfigError, match="overrides train.epochz: unknown key — did you mean epochs"):
        cnnlab.train(CONFIG, overrides={"train.epochz": 1}, runs_dir=runs_dir, progress=False)


@pytest.mark.trains
def test_a_run_that_fails_raises_run_failed_with_its_folder(runs_dir):
    with pytest.raises(cnnlab.RunFailed, match="NaN or infinite at epoch 1") as caught:
        cnnlab.train(NAN, runs_dir=runs_dir, progress=False)
    assert caught.value.run.parent.name == "nan" and cnnlab.load_run(caught.value.run).status == "failed"


@pytest.mark.trains
def test_a_stop_leaves_the_run_interrupted_and_resume_finishes_it(tmp_path):
    """What the kernel's stop button does: a KeyboardInterrupt in the middle of training."""
    runs_dir = tmp_path / "runs"
    config = tmp_path / "slow.yaml"
    config.write_text(SLOW)
    ctrl_c_after_the_first_epoch(runs_dir, "slow")
    with pytest.raises(cnnlab.Interrupted, match="resume with") as caught:
        cnnlab.train(config, runs_dir=runs_dir, progress=False)
    stopped = cnnlab.load_run(caught.value.run)
    assert str(caught.value).endswith(f"resume with: cnnlab.resume({str(stopped.path)!r})")  # the call, not a flag
    assert stopped.status == "interrupted" and 1 <= len(stopped.history) < 3
    done = len(stopped.history)
    resumed = stopped.resume(progress=False)
    assert resumed == stopped and resumed.status == "completed"
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3] and done < 3


@pytest.mark.trains
def test_a_second_train_in_one_process_trains_as_the_first(runs_dir):
    again = cnnlab.train({**CONFIG, "name": "again"}, runs_dir=runs_dir, progress=False)
    twice = cnnlab.train({**CONFIG, "name": "again"}, runs_dir=runs_dir, progress=False)
    drop = lambda history: [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]  # noqa: E731
    assert drop(again.history) == drop(twice.history)


def test_a_run_a_summary_and_a_search_show_themselves_in_jupyter(run):
    page = run._repr_html_()
    assert page.startswith('<div class="cnnlab-report"><style>') and "<table>" in page
    assert page.count("data:image/png;base64,") == 3  # curves, confusion matrix, mistakes with Grad-CAM
    summary = cnnlab.summary(CONFIG)
    assert (summary.total_params, summary.macs) == (run.manifest["parameters"], run.manifest["macs"])
    (table,) = html_tables(summary._repr_html_())
    assert table[0] == ["layer", "type", "output", "parameters", "MACs", "receptive field"]
    assert table[1][:3] == ["conv2d", "Conv2D", "6x6x4"] and table[2][:3] == ["max_pooling2d", "MaxPooling2D", "3x3x4"]
    assert table[-1] == ["total", "", "", f"{summary.total_params:,}", f"{summary.macs:,}", ""]
    picture = run.gradcam(2)
    assert picture._repr_png_()[:4] == b"\x89PNG" and picture.path.name == "gradcam.png"
    assert repr(picture) == f"Picture({str(run.path / 'gradcam.png')!r})"  # a notebook's text output


def test_history_frame_is_the_history_by_epoch_and_names_pandas_when_it_is_missing(run, monkeypatch):
    """The bugs: the frame built from nothing, indexed by another column, or the message for a
    notebook without pandas changed."""
    frame = run.history_frame()
    assert frame.index.name == "epoch" and list(frame.index) == [1, 2, 3]
    assert frame.to_dict("records") == [{k: v for k, v in row.items() if k != "epoch"} for row in run.history]
    monkeypatch.setitem(sys.modules, "pandas", None)  # what `import pandas` meets where it is not installed
    with pytest.raises(cnnlab.RunError) as raised:
        run.history_frame()
    assert str(raised.value) == "history_frame needs pandas: pip install pandas (history is the same as a list)"


@pytest.mark.processes
def test_importing_cnnlab_starts_no_backend():
    probe = (
        "import sys, cnnlab\n"
        "train = cnnlab.train  # the API itself, imported on first use, starts none either\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax'))\n"
        "print(','.join(heavy), callable(train))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.split() == ["True"], done.stdout + done.stderr


@pytest.mark.trains
def test_tune_returns_its_trials_and_the_winning_config(runs_dir):
    search_config = {**CONFIG, "name": "search", "search": {"max_trials": 2, "space": {"train.batch_size": [8, 16]}}}
    search = cnnlab.tune(search_config, runs_dir=runs_dir, progress=False)
    assert [row["status"] for row in search.trials] == ["COMPLETED", "COMPLETED"] and search.best in search.trials
    assert search.best_config["train"]["batch_size"] == search.best["train.batch_size"]
    assert search.best_config["name"] == "search-tuned" and search.best_config["search"] is None
    assert repr(search).startswith("Search(")
    (table,) = html_tables(search._repr_html_())
    scores = sorted((row["score"] for row in search.trials), reverse=True)  # val_accuracy: the highest first
    assert table[0][-3:] == ["val_accuracy", "epochs", "seconds"]
    assert [cells[-3] for cells in table[1:]] == [f"{score:.4f}" for score in scores]


def test_a_dict_config_without_a_name_is_called_notebook():
    """A mapping typed in a notebook needs no name: its runs go to runs/notebook/."""
    unnamed = {key: value for key, value in CONFIG.items() if key != "name"}
    assert cnnlab.summary(unnamed).name == "notebook"
    assert cnnlab.summary(unnamed, overrides={"name": "mine"}).name == "mine"


def test_a_searchs_table_ranks_a_loss_lowest_first_and_a_failed_trial_last(tmp_path):
    """A notebook's table of a search on val_loss, from the trials' records (no training). The
    bugs: a loss ranked highest first, a failed trial (no score) first, a heading changed."""
    from cnnlab.api.configs import resolve
    from cnnlab.api.search import Search
    from cnnlab.storage.folders import SearchFolder

    space = {"train.batch_size": [8, 16, 32]}
    cfg = resolve({**CONFIG, "search": {"objective": "val_loss", "max_trials": 3, "space": space}}, None)
    trials = [
        {"trial": "0", "status": "COMPLETED", "train.batch_size": 8, "score": 0.5, "epochs": 3, "seconds": 2.0},
        {"trial": "1", "status": "FAILED", "train.batch_size": 16, "score": None, "epochs": None, "seconds": None},
        {"trial": "2", "status": "COMPLETED", "train.batch_size": 32, "score": 0.25, "epochs": 2, "seconds": 1.5},
    ]
    search = Search(SearchFolder(tmp_path), cfg, trials, trials[2], maximise=False)
    (table,) = html_tables(search._repr_html_())
    assert table == [
        ["trial", "status", "batch_size", "val_loss", "epochs", "seconds"],
        ["2", "completed", "32", "0.2500", "2", "1.5000"],
        ["0", "completed", "8", "0.5000", "3", "2.0000"],
        ["1", "failed", "16", "-", "-", "-"],
    ]
    assert [row["trial"] for row in search.ranked()] == ["2", "0"]


def test_several_configs_are_refused_whole_before_any_trains(runs_dir):
    """The bugs: a data_parallel config let into a list (its processes would each train the
    whole list), or the failed check's last line changed."""
    parallel = {**CONFIG, "name": "parallel", "runtime": {"distribute": "data_parallel"}}
    with pytest.raises(cnnlab.ConfigError) as refused:
        cnnlab.train([CONFIG, parallel], runs_dir=runs_dir, progress=False)
    assert str(refused.value) == (
        "runtime.distribute: data_parallel trains one config per command — train this config in a command of its own"
    )
    broken = {**CONFIG, "name": "broken", "train": {**CONFIG["train"], "epochz": 1}}
    with pytest.raises(cnnlab.ConfigError) as refused:
        cnnlab.train([CONFIG, broken], runs_dir=runs_dir, progress=False)
    assert [str(problem) for problem in refused.value.problems] == [
        "train.epochz: unknown key — did you mean epochs?",
        "nothing was trained",
    ]


@pytest.mark.trains
def test_several_configs_give_a_run_each_the_failed_one_too(tmp_path):
    """A run that fails among several is in the list as the `Run` it left, status failed; the
    bug: None in its place, so a notebook cannot look at what failed."""
    runs = cnnlab.train([FIRST, NAN], runs_dir=tmp_path, progress=False)
    assert [(run.path.parent.name, run.status) for run in runs] == [("first", "completed"), ("nan", "failed")]


def test_progress_shows_a_failure_in_red_a_stop_in_yellow_and_a_bug_by_its_type():
    """What a `Progress` writes for each kind of trouble, colours included (a terminal's ANSI
    codes: 31 red, 33 yellow, 2 dim). The bugs: a failed check's line or an error not red, a
    stop shown as an error, a bug's exception named by another type."""
    import io

    from rich.console import Console

    from cnnlab.api.progress import Progress
    from cnnlab.errors import Interrupted, Problem, RunFailed

    def terminal():
        return Console(file=io.StringIO(), force_terminal=True, color_system="standard", width=200, highlight=False)

    show = Progress(terminal(), terminal())
    show.say("training")
    show.note("from the cache")
    show.failed("FAIL a.yaml")
    show.error(RunFailed([Problem("NaN loss", hint="lower the learning rate")]))
    show.error(Interrupted("interrupted after 1 of 3 epochs"))
    show.error(KeyError("batch"))
    assert show.console.file.getvalue() == "training\n\x1b[2mfrom the cache\x1b[0m\n"
    assert show.errors.file.getvalue().splitlines() == [
        "\x1b[31mFAIL a.yaml\x1b[0m",
        "\x1b[31merror: NaN loss — lower the learning rate\x1b[0m",
        "\x1b[33minterrupted after 1 of 3 epochs\x1b[0m",
        "\x1b[31merror: KeyError: 'batch'\x1b[0m",
    ]
    quiet = Progress(terminal(), terminal(), quiet=True)
    for call in (quiet.say, quiet.note, quiet.failed):
        call("x")
    quiet.error(KeyError("batch"))
    assert quiet.console.file.getvalue() == quiet.errors.file.getvalue() == ""


@pytest.mark.trains
def test_a_stop_in_the_second_of_several_groups_gives_both_groups(tmp_path):
    """Ctrl-C while the second config's group trains: `Interrupted.runs` holds the groups so far,
    the first completed and the stopped one resumable as a group. The bug: the stopped run in
    place of its group, so resuming it would finish one seed, not the group."""
    import yaml

    runs = tmp_path / "runs"
    ctrl_c_after_the_first_epoch(runs, "slow")
    with pytest.raises(cnnlab.Interrupted) as caught:
        cnnlab.train([FIRST, yaml.safe_load(SLOW)], repeat=2, runs_dir=runs, progress=False)
    done, stopped = caught.value.runs
    assert isinstance(done, cnnlab.Group) and isinstance(stopped, cnnlab.Group)
    assert (done.path.parent.name, done.status) == ("first", "completed")
    assert (stopped.path.parent.name, stopped.status) == ("slow", "interrupted")
