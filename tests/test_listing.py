"""`cnnlab runs` and `cnnlab.run_table()`: one row per run, read from its own files, with the
status a person needs (a live run with its epoch, a killed one as stopped)."""

from __future__ import annotations

import json
import os
import shutil
import socket

import pytest
from scipy import stats


def _runs(trained, tmp_path):
    """Four copies of the tiny run: completed; running in this (live) process at epoch 2 of 3;
    "running" under a pid that is gone; failed. Stamps in that order."""
    run, _, _ = trained
    folder = tmp_path / "runs" / "tiny"
    made = {}
    for stamp, change in (
        ("20261201-100000", {}),
        (
            "20261201-110000",
            {"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "epochs_completed": 1},
        ),
        ("20261201-120000", {"status": "running", "pid": 2**22 + 12345, "host": socket.gethostname()}),
        ("20261201-130000", {"status": "failed", "failure": "NaN loss"}),
    ):
        copy = folder / stamp
        shutil.copytree(run, copy)
        if change.get("epochs_completed") == 1:  # as a run at that point has it: one epoch's row
            (copy / "history.csv").write_text("".join((copy / "history.csv").read_text().splitlines(True)[:2]))
        manifest = json.loads((copy / "manifest.json").read_text())
        (copy / "manifest.json").write_text(json.dumps({**manifest, **change}))
        made[stamp] = copy
    return tmp_path / "runs", made


def test_each_row_says_what_the_runs_files_say(trained, tmp_path):
    """The bug: a killed run listed as running, an epoch off by one, an interval not Wilson's,
    a failed run given the test accuracy it never reached."""
    import cnnlab

    runs, made = _runs(trained, tmp_path)
    rows = {row["run"].split("@")[1]: row for row in cnnlab.run_table(runs)}
    manifest = json.loads((made["20261201-100000"] / "manifest.json").read_text())
    metrics = json.loads((made["20261201-100000"] / "metrics.json").read_text())
    done = rows["20261201-100000"]
    low, high = stats.binomtest(metrics["correct"], metrics["examples"]).proportion_ci(method="wilson")
    assert (done["status"], done["epoch"], done["test_accuracy"]) == ("completed", "3/3", metrics["accuracy"])
    # Wilson's interval at z = 1.96; SciPy takes the exact quantile (1.95996...): 1e-5 apart at most
    assert done["low"] == pytest.approx(low, abs=1e-5) and done["high"] == pytest.approx(high, abs=1e-5)
    assert (done["parameters"], done["seed"], done["started"]) == (
        manifest["parameters"],
        manifest["seed"],
        manifest["started"],
    )
    assert (done["train_seconds"], done["images_per_second"]) == (
        manifest["timing"]["train_seconds"],
        manifest["timing"]["images_per_second"],
    )
    assert (rows["20261201-110000"]["status"], rows["20261201-110000"]["epoch"]) == ("running", "2/3")
    assert rows["20261201-120000"]["status"] == "stopped"  # its pid is gone: resumable, not running
    failed = rows["20261201-130000"]
    assert failed["status"] == "failed" and failed["test_accuracy"] is None and failed["failure"] == "NaN loss"
    assert [row["pareto"] for row in rows.values()] == [True, False, False, False]  # the one scored run


def test_a_run_before_its_first_timing_or_with_a_damaged_config_is_listed_with_what_is_known(trained, tmp_path):
    """A run still training has no `timing` in its manifest yet (training.py writes it when
    training ends), and a run whose config.yaml is damaged has no known length. The bugs: the
    listing stops on the first (no timing read as None), the second shown as "3/None"."""
    import cnnlab

    runs, made = _runs(trained, tmp_path)
    live = made["20261201-110000"]
    manifest = json.loads((live / "manifest.json").read_text())
    del manifest["timing"]
    (live / "manifest.json").write_text(json.dumps(manifest))
    (made["20261201-100000"] / "config.yaml").write_text("model: [unclosed\n")
    rows = {row["run"].split("@")[1]: row for row in cnnlab.run_table(runs)}
    running = rows["20261201-110000"]
    assert (running["status"], running["epoch"], running["train_seconds"], running["images_per_second"]) == (
        "running",
        "2/3",
        None,
        None,
    )
    assert (rows["20261201-100000"]["epoch"], rows["20261201-100000"]["epochs"]) == (3, 3)


def test_status_and_sort_choose_the_rows_and_the_command_prints_the_same(trained, tmp_path, run_cli):
    import cnnlab
    from cnnlab.errors import ConfigError

    runs, _ = _runs(trained, tmp_path)
    assert [row["status"] for row in cnnlab.run_table(runs, status="stopped")] == ["stopped"]
    by_stamp = [row["run"] for row in cnnlab.run_table(runs, sort="run")]
    assert by_stamp == sorted(by_stamp)  # text in order
    by_accuracy = [row["test_accuracy"] for row in cnnlab.run_table(runs, sort="test_accuracy")]
    assert by_accuracy[0] is not None and by_accuracy[1:] == [None] * 3  # numbers first, the runs without last
    result = run_cli("runs", runs, "--json", "--status", "completed")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(json.dumps(cnnlab.run_table(runs, status="completed")))
    table = run_cli("runs", runs)
    assert table.exit_code == 0 and "4 run(s)" in table.stdout and "stopped" in table.stdout
    with pytest.raises(ConfigError, match="status"):
        cnnlab.run_table(runs, status="done")
    assert run_cli("runs", runs, "--sort", "accuracy").exit_code == 2
    missing = run_cli("runs", tmp_path / "nowhere")
    assert missing.exit_code == 2 and "no such folder of runs" in missing.stderr
    with pytest.raises(ConfigError, match="nowhere: no such folder of runs"):  # the same from Python
        cnnlab.run_table(tmp_path / "nowhere")


def test_a_damaged_run_gets_a_row_that_says_so_and_the_others_are_listed(trained, tmp_path, run_cli):
    """The bug: one unreadable manifest.json stopping the whole listing with a traceback."""
    import cnnlab

    runs, made = _runs(trained, tmp_path)
    (made["20261201-120000"] / "manifest.json").write_text("{half a manifest")
    rows = {row["run"].split("@")[1]: row for row in cnnlab.run_table(runs)}
    assert len(rows) == 4 and rows["20261201-120000"]["status"] == "damaged"
    assert "manifest.json" in rows["20261201-120000"]["note"]
    assert rows["20261201-100000"]["status"] == "completed"
    result = run_cli("runs", runs)
    assert result.exit_code == 0 and "damaged" in result.stdout and "Traceback" not in result.output


def test_a_group_of_seeds_gets_a_row_with_its_runs_mean_sd_and_interval(groups, run_cli):
    """The bugs: a group left out of the listing (or listed as one more run), its accuracy
    not the mean of its runs', the wrong spread or interval, runs that do not name their group."""
    import statistics

    import cnnlab

    group, other = groups
    runs_dir = group.parent.parent
    rows = {row["run"]: row for row in cnnlab.run_table(runs_dir)}
    for folder in (group, other):
        summary = json.loads((folder / "group.json").read_text())
        members = [f"{folder.parent.name}@{member['run']}" for member in summary["runs"]]
        accuracies = [
            json.loads((folder.parent / m["run"] / "metrics.json").read_text())["accuracy"] for m in summary["runs"]
        ]
        row = rows[f"{folder.parent.name}@{folder.name}"]
        assert (row["kind"], row["status"], row["seeds"]) == ("group", "completed", [42, 43, 44])
        assert row["test_accuracy"] == pytest.approx(statistics.mean(accuracies), abs=1e-9)
        assert row["sd"] == pytest.approx(statistics.stdev(accuracies), abs=1e-9)
        half = stats.t.ppf(0.975, len(accuracies) - 1) * statistics.stdev(accuracies) / len(accuracies) ** 0.5
        assert (row["low"], row["high"]) == pytest.approx(
            (max(0.0, row["test_accuracy"] - half), min(1.0, row["test_accuracy"] + half)), abs=1e-9
        )
        assert all(rows[member]["group"] == row["run"] and rows[member]["kind"] == "run" for member in members)
        assert row["parameters"] == rows[members[0]]["parameters"] and not row["pareto"]
    result = run_cli("runs", runs_dir)
    assert "6 run(s) and 2 group(s) of seeds" in result.stdout and "3 seeds" in result.stdout
    assert json.loads(run_cli("runs", runs_dir, "--json").stdout) == json.loads(json.dumps(cnnlab.run_table(runs_dir)))


ROW_KEYS = {  # what `cnnlab runs --json` and cnnlab.run_table() promise in every row, whatever its kind
    *("run", "name", "path", "kind", "status", "epoch", "epochs", "test_accuracy", "low", "high", "sd"),
    *("parameters", "macs", "train_seconds", "images_per_second", "seed", "seeds", "group", "started"),
    *("pareto", "failure", "note"),
}


def test_every_row_has_the_same_keys_whatever_its_kind_or_state(trained, groups, tmp_path):
    """The bug: a script reading --json breaks on one row (a damaged run's, a group's) that
    lacks a key the others have."""
    import cnnlab

    runs, made = _runs(trained, tmp_path)
    (made["20261201-120000"] / "manifest.json").write_text("{half a manifest")
    rows = cnnlab.run_table(runs) + cnnlab.run_table(groups[0].parent.parent)
    assert {row["kind"] for row in rows} == {"run", "group"} and "damaged" in {row["status"] for row in rows}
    assert [sorted(row) for row in rows] == [sorted(ROW_KEYS)] * len(rows)


def test_a_config_changed_since_the_last_listing_is_read_again(trained, tmp_path):
    """The bug: the configs' epochs cached (a page polls the table) and a run trained further
    (`--resume --epochs`, which rewrites its config.yaml) still listed with its first length."""
    import cnnlab

    runs, made = _runs(trained, tmp_path)
    assert {row["run"]: row["epoch"] for row in cnnlab.run_table(runs)}["tiny@20261201-100000"] == "3/3"
    config = made["20261201-100000"] / "config.yaml"
    config.write_text(config.read_text().replace("epochs: 3", "epochs: 12"))
    assert {row["run"]: row["epoch"] for row in cnnlab.run_table(runs)}["tiny@20261201-100000"] == "3/12"
