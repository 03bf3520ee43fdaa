"""Guard rails for damaged run folders: a file missing, empty, cut short, not UTF-8 or not what
cnnlab wrote is named with what the user can do, from the CLI and from the API, and the run is
left as it was. A folder of runs skips a damaged run with a warning instead of failing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import cnnlab
from tests.guard_rails import assert_refused, snapshot


def _write(name: str, data: bytes):
    return lambda run: (run / name).write_bytes(data)


def _cut(name: str):
    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 2])

    return damage


def _remove(name: str):
    return lambda run: (run / name).unlink()


def _without(key: str):
    def damage(run: Path) -> None:
        with np.load(run / "predictions.npz") as stored:
            kept = {k: stored[k] for k in stored.files if k != key}
        np.savez(run / "predictions.npz", **kept)

    return damage


DAMAGE = {
    "predictions.npz garbage": (
        _write("predictions.npz", b"garbage"),
        "predictions.npz: not a whole .npz file as cnnlab writes it — cnnlab evaluate {run} writes it again",
    ),
    "predictions.npz cut short": (
        _cut("predictions.npz"),
        "predictions.npz: not a whole .npz file as cnnlab writes it — cnnlab evaluate {run}",
    ),
    "predictions.npz without y_pred": (
        _without("y_pred"),
        "predictions.npz: has no y_true and y_pred — cnnlab evaluate {run} writes it again",
    ),
    "manifest.json a list": (_write("manifest.json", b"[]"), "manifest.json: a JSON list, not the object cnnlab"),
    "manifest.json not UTF-8": (_write("manifest.json", b'{"a": "\xff"}'), "manifest.json: not valid JSON"),
    "manifest.json cut short": (_cut("manifest.json"), "manifest.json: not valid JSON"),
    "metrics.json a number": (
        _write("metrics.json", b"3"),
        "metrics.json: a JSON int, not the object cnnlab writes — was this run evaluated? try: cnnlab evaluate",
    ),
    "metrics.json missing": (_remove("metrics.json"), "metrics.json is missing — was this run evaluated?"),
}


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
def test_compare_names_a_damaged_run_and_skips_it_in_a_folder_of_runs(run_cli, trained, tmp_path, damage):
    run, _, _ = trained
    runs = tmp_path / "runs"
    good, bad = runs / "tiny" / "20260101-000001", runs / "tiny" / "20260101-000002"
    shutil.copytree(run, good), shutil.copytree(run, bad)
    how, message = DAMAGE[damage]
    how(bad)
    message = message.format(run=bad)  # the step that writes the file again names the run
    before = snapshot(runs)
    assert_refused(run_cli("compare", bad, "--runs-dir", runs), 1, message)
    if damage != "metrics.json missing":  # a run without test results is not listed at all
        listed = run_cli("compare", runs, "--json")
        assert listed.exit_code == 0, listed.output
        assert f"warning: skipped {bad}: " in listed.stderr and message in listed.stderr
        assert [row["path"] for row in json.loads(listed.stdout)["runs"]] == [str(good)]
    assert snapshot(runs) == before


HISTORY = {
    "not UTF-8": (b"epoch,loss\n1,\xff\n", "history.csv: not UTF-8 text, as cnnlab writes it"),
    "a garbage line": (b"epoch,loss\n1,0.5\ngarbage\n", "history.csv:3: not a history row"),
    "a row cut short": (b"epoch,loss,accuracy\n1,0.5,0.9\n2,0.4,", "history.csv:3: not a history row"),
    "no epoch column": (b"loss\n0.5\n", "history.csv:2: not a history row"),
}


@pytest.mark.parametrize("case", list(HISTORY), ids=list(HISTORY))
def test_a_damaged_history_is_named_by_evaluate_and_by_run_history(run_cli, trained_copy, case):
    run, _ = trained_copy
    text, message = HISTORY[case]
    (run / "history.csv").write_bytes(text)
    before = snapshot(run)
    assert_refused(run_cli("evaluate", run), 1, message)
    with pytest.raises(cnnlab.CnnlabError, match=message.replace(".", r"\.")):
        cnnlab.load_run(run).history  # noqa: B018
    assert snapshot(run) == before


RUN_FILES = {
    "config.yaml empty": (_write("config.yaml", b""), 2, "config.yaml: a config must be a YAML mapping of sections"),
    "config.yaml not UTF-8": (_write("config.yaml", b"name: \xff\n"), 2, "config.yaml"),
    "preprocessing.npz missing": (_remove("preprocessing.npz"), 1, "preprocessing.npz is missing"),
    "preprocessing.npz garbage": (_write("preprocessing.npz", b"PK\x03\x04"), 1, "preprocessing.npz"),
    "best.keras empty": (_write("best.keras", b""), 1, "best.keras: cannot be loaded as a Keras model"),
}


@pytest.mark.parametrize("case", list(RUN_FILES), ids=list(RUN_FILES))
def test_evaluate_names_the_damaged_file_and_changes_nothing(run_cli, trained_copy, case):
    run, _ = trained_copy
    how, code, message = RUN_FILES[case]
    how(run)
    before = snapshot(run)
    assert_refused(run_cli("evaluate", run), code, message)
    assert snapshot(run) == before


def test_the_list_of_runs_holds_a_damaged_run_and_its_status_names_the_file(trained_copy, tmp_path):
    run, _ = trained_copy
    (run / "manifest.json").write_bytes(b"[]")
    (listed,) = cnnlab.runs(tmp_path / "runs")
    with pytest.raises(cnnlab.CnnlabError, match="manifest.json: a JSON list, not the object cnnlab writes"):
        listed.status  # noqa: B018
