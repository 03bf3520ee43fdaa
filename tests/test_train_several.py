"""`cnnlab train A.yaml B.yaml C.yaml`: every config checked first, the runs trained in turn,
a failure not stopping the rest, Ctrl-C stopping all, one table at the end."""

from __future__ import annotations

import json
import signal

import keras
import numpy as np

from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY
from tests.test_faults import SLOW, cnnlab, ctrl_c_reaches_the_children, wait_until  # noqa: F401  (fixture)


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


def test_three_configs_train_in_turn_and_end_in_one_table(run_cli, write, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short paths, so that the table's rows are not wrapped
    paths = [_tiny(write, name).name for name in ("a", "b", "c")]
    result = run_cli("train", *paths, "--runs-dir", "runs")
    assert result.exit_code == 0, result.output
    runs = {run.parent.name: run for run in list_runs(tmp_path / "runs")}
    assert sorted(runs) == ["a", "b", "c"]
    table = result.stdout[result.stdout.index("runs\n") :]
    for name, run in runs.items():
        accuracy = json.loads((run / "metrics.json").read_text())["accuracy"]
        row = next(line for line in table.splitlines() if f"{name}.yaml" in line)
        assert "completed" in row and f"{accuracy:.4f}" in row


def test_a_failed_run_does_not_stop_the_ones_after_it(run_cli, write, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nan = _tiny(write, "nan", {"name: adam, learning_rate: 0.003": "name: sgd, learning_rate: 1.0e+30"})
    paths = [_tiny(write, "a").name, nan.name, _tiny(write, "c").name]
    result = run_cli("train", *paths, "--runs-dir", "runs")
    assert result.exit_code == 1
    assert "NaN or infinite" in result.stderr
    rows = {name: line for line in result.stdout.splitlines() for name in ("a", "nan", "c") if f"{name}.yaml " in line}
    assert "completed" in rows["a"] and "failed" in rows["nan"] and "completed" in rows["c"]


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


def test_ctrl_c_stops_the_whole_batch_and_leaves_the_run_resumable(write, tmp_path):
    slow = write("slow.yaml", SLOW)
    after = _tiny(write, "after")
    runs = tmp_path / "runs"
    process = cnnlab("train", slow, after, "--runs-dir", runs)
    wait_until(lambda: any(p.read_text().count("\n") >= 2 for p in runs.glob("slow/*/history.csv")), process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "resume with: cnnlab train --resume" in err
    table = out[out.index("runs\n") :]
    assert table.index("interrupted") < table.index("not started")
    (run,) = list_runs(runs)  # the config after it never started
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
