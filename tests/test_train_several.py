"""`cnnlab train A.yaml B.yaml C.yaml`: every config checked first, the runs trained in turn,
a failure not stopping the rest, Ctrl-C stopping all, one table at the end."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY
from tests.test_faults import SLOW, ctrl_c_after_the_first_epoch, ctrl_c_reaches_the_children  # noqa: F401


def _tiny(write, name: str, replace: dict[str, str] | None = None):
    """The tiny config as NAME.yaml, one epoch, with some text replaced."""
    text = TINY.replace("name: tiny", f"name: {name}").replace("epochs: 3", "epochs: 1")
    for old, new in (replace or {}).items():
        text = text.replace(old, new)
    return write(f"{name}.yaml", text)


def test_a_broken_config_stops_the_command_before_anything_trains(run_cli, write, tmp_path):
    good = _tiny(write, "a"), _tiny(write, "c")
    broken = _tiny(write, "b", {"name: adam": "name: adamm"})
    result = run_cli("train", good[0], broken, good[1], "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert f"FAIL {broken}" in result.stderr and "train.optimizer.name" in result.stderr
    assert "did you mean" in result.stderr and "nothing was trained" in result.stderr
    assert not (tmp_path / "runs").exists() or not list_runs(tmp_path / "runs")


@pytest.mark.trains
def test_configs_train_in_turn_a_failed_one_stops_none_after_it_and_one_table_ends(
    run_cli, write, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # short paths, so that the table's rows are not wrapped
    nan = _tiny(write, "nan", {"name: adam, learning_rate: 0.003": "name: sgd, learning_rate: 1.0e+30"})
    paths = [_tiny(write, "a").name, nan.name, _tiny(write, "c").name]
    result = run_cli("train", *paths, "--runs-dir", "runs")
    assert result.exit_code == 1  # one run failed
    assert "NaN or infinite" in result.stderr
    runs = {run.parent.name: run for run in list_runs(tmp_path / "runs")}
    assert {"a", "c"} <= set(runs)  # c trained after the failure
    table = result.stdout[result.stdout.index("runs\n") :]
    rows = {name: line for line in table.splitlines() for name in ("a", "nan", "c") if f"{name}.yaml " in line}
    assert "failed" in rows["nan"]
    for name in ("a", "c"):
        accuracy = json.loads((runs[name] / "metrics.json").read_text())["accuracy"]
        assert "completed" in rows[name] and f"{accuracy:.4f}" in rows[name]


@pytest.mark.trains
def test_a_run_trained_after_others_is_the_run_trained_alone(run_cli, write, tmp_path):
    """Seeds and Keras state are per run: another config before it changes nothing."""
    first = write("first.yaml", TINY.replace("name: tiny", "name: first") + "seed: 7\n")
    second = _tiny(write, "second")
    assert run_cli("train", first, second, "--runs-dir", tmp_path / "together").exit_code == 0
    assert run_cli("train", second, "--runs-dir", tmp_path / "alone").exit_code == 0
    (together,) = [r for r in list_runs(tmp_path / "together") if r.parent.name == "second"]
    (alone,) = list_runs(tmp_path / "alone")
    for a, b in zip(
        keras.saving.load_model(together / "best.keras").get_weights(),
        keras.saving.load_model(alone / "best.keras").get_weights(),
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.trains
def test_ctrl_c_stops_the_whole_batch_and_leaves_the_run_resumable(run_cli, write, tmp_path):
    """A Ctrl-C (SIGINT to this process, where the CLI runs) once the first config's first
    epoch is written."""
    slow = write("slow.yaml", SLOW)
    after = _tiny(write, "after")
    runs = tmp_path / "runs"
    ctrl_c_after_the_first_epoch(runs, "slow")
    result = run_cli("train", slow, after, "--runs-dir", runs)
    assert result.exit_code == 130, result.output
    assert "resume with: cnnlab train --resume" in result.stderr
    table = result.stdout[result.stdout.index("runs\n") :]
    assert table.index("interrupted") < table.index("not started")
    (run,) = list_runs(runs)  # the config after it never started
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
