"""One `RunFolder` per command: what a command writes it keeps in memory, so it never reads its own
files back, and what an earlier command wrote it reads once."""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import socket
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from cnnlab.errors import RunError
from cnnlab.storage.folders import RunFolder, SearchFolder, owner
from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY

RECORDS = (RunFolder.CONFIG, RunFolder.MANIFEST, RunFolder.HISTORY, "metrics.json", "predictions.npz")


@pytest.fixture
def reads(monkeypatch, tmp_path):
    """Counts, by file name, the files below tmp_path that Python opens for reading."""
    counted: Counter = Counter()
    real_open = io.open

    def counting_open(file, mode="r", *args, **kwargs):
        path = Path(file) if isinstance(file, (str, Path)) else None
        if path is not None and "r" in mode and "+" not in mode and path.is_relative_to(tmp_path):
            counted[path.name] += 1
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(io, "open", counting_open)
    return counted


@pytest.mark.trains
def test_training_never_reads_back_the_records_it_writes(run_cli, write, tmp_path, reads):
    # A second phase (fine-tuning) starts a second fit: its callbacks must not re-read the history.
    fine_tuned = TINY.replace("epochs: 3,", "epochs: 2, fine_tune: {epochs: 1, learning_rate: 0.001},")
    config = write("t.yaml", fine_tuned.replace("model:\n  layers:", "model:\n  freeze: [0]\n  layers:"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    read_back = {name: reads[name] for name in RECORDS if reads[name]}
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert [line.split(",")[0] for line in (run / RunFolder.HISTORY).read_text().splitlines()[1:]] == ["1", "2", "3"]
    assert read_back == {}


@pytest.mark.trains
def test_evaluate_reads_each_record_of_the_run_once(run_cli, trained_copy, reads):
    run, _ = trained_copy
    result = run_cli("evaluate", run)
    assert result.exit_code == 0, result.output
    for name in (RunFolder.CONFIG, RunFolder.MANIFEST, RunFolder.HISTORY):
        assert reads[name] == 1, (name, reads)
    assert reads["metrics.json"] == 0 and reads["predictions.npz"] == 0  # written, never read back


# --- the folder's own rules, without training ----------------------------------------------


def test_of_keeps_a_run_folder_and_wraps_a_path(tmp_path):
    run = RunFolder(tmp_path / "r")
    assert RunFolder.of(run) is run
    other = RunFolder.of(tmp_path / "r")
    assert isinstance(other, RunFolder) and other.path == tmp_path / "r" and other is not run
    assert str(run) == str(tmp_path / "r") and repr(run) == f"RunFolder({str(tmp_path / 'r')!r})"


def test_the_test_splits_files_are_the_reports_and_others_are_named_by_their_split(tmp_path):
    run = RunFolder(tmp_path)
    assert run.metrics_file() == tmp_path / "metrics.json" == run.metrics_file("test")
    assert run.predictions_file() == tmp_path / "predictions.npz"
    assert run.metrics_file("val") == tmp_path / "metrics_val.json"
    assert run.predictions_file("/data/other_digits.npz") == tmp_path / "predictions_other_digits.npz"
    assert run.checkpoint() == tmp_path / "best.keras" and run.checkpoint("last") == tmp_path / "last.keras"


def test_metrics_and_predictions_come_back_as_written(tmp_path):
    run = RunFolder(tmp_path)
    run.write_metrics({"accuracy": 0.5})
    run.write_metrics({"accuracy": 0.25}, "val")
    assert RunFolder(tmp_path).metrics() == {"accuracy": 0.5}
    assert RunFolder(tmp_path).metrics("val") == {"accuracy": 0.25}
    assert run.predictions() is None
    run.write_predictions({"y_true": np.array([1, 2]), "y_pred": np.array([1, 0])})
    stored = RunFolder(tmp_path).predictions()
    assert sorted(stored) == ["y_pred", "y_true"] and stored["y_pred"].tolist() == [1, 0]
    run.write_predictions({"y_true": np.array([3]), "y_pred": np.array([3])}, "val")
    assert RunFolder(tmp_path).predictions("val")["y_true"].tolist() == [3]
    run.write_predictions({"y_true": np.array([3])}, "val")  # not what cnnlab writes: named, not misread
    with pytest.raises(RunError, match="predictions_val.npz: has no y_true and y_pred"):
        RunFolder(tmp_path).predictions("val")


def test_a_missing_record_names_the_file_and_the_hint(tmp_path):
    run = RunFolder(tmp_path)
    with pytest.raises(RunError, match=r"metrics.json is missing — evaluate it first$"):
        run.metrics(hint="evaluate it first")
    with pytest.raises(RunError, match=r"metrics_val.json is missing$"):
        run.metrics("val")
    with pytest.raises(RunError, match=r"manifest.json is missing — was it trained\?$"):
        run.require_manifest("was it trained?")
    run.update(status="finished")
    assert RunFolder(tmp_path).require_manifest("unused") == {"status": "finished"}


def test_missing_names_the_first_file_a_trained_run_lacks(tmp_path):
    run = RunFolder(tmp_path)
    assert run.missing() == "best.keras" and run.missing("last") == "last.keras"
    (tmp_path / "best.keras").write_bytes(b"")
    assert run.missing() == "preprocessing.npz" and run.missing("last") == "last.keras"
    (tmp_path / "preprocessing.npz").write_bytes(b"")
    assert run.missing() is None


def test_history_rows_come_back_as_numbers_with_whole_epochs(tmp_path):
    rows = [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "val_loss": 0.75}]
    RunFolder(tmp_path).write_history(rows)
    assert (tmp_path / "history.csv").read_bytes() == b"epoch,loss,val_loss\n1,0.5,\n2,0.25,0.75\n"
    back = RunFolder(tmp_path).history
    assert back == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "val_loss": 0.75}]
    assert type(back[0]["epoch"]) is int and type(back[0]["loss"]) is float


def test_a_damaged_history_row_is_named_by_its_line(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n1,0.5\n2,lots\n")
    with pytest.raises(RunError, match=r"history.csv:3: not a history row \(could not convert"):
        _ = RunFolder(tmp_path).history
    (tmp_path / "history.csv").write_text("loss\n0.5\n")
    with pytest.raises(RunError, match=r"history.csv:2: not a history row \('epoch'\)"):
        _ = RunFolder(tmp_path).history
    assert RunFolder(tmp_path / "none").history == []


def _manifest(tmp_path, **fields) -> RunFolder:
    run = RunFolder(tmp_path)
    run.update(**fields)
    return RunFolder(tmp_path)


@pytest.mark.parametrize("status", ["running", "evaluating"])
def test_a_run_this_machine_is_still_writing_is_refused(tmp_path, status):
    run = _manifest(tmp_path, status=status, **owner())
    assert owner() == {"pid": os.getpid(), "host": socket.gethostname()}
    assert run.live_owner() == os.getpid()
    with pytest.raises(RunError) as caught:
        run.ensure_not_running()
    assert str(caught.value) == (
        f"{tmp_path}: still running (pid {os.getpid()}) — wait for it to finish, or stop it "
        f"first (Ctrl-C in its terminal, or kill {os.getpid()}) and resume it later"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "finished", "pid": os.getpid(), "host": socket.gethostname()},
        {"status": "running", "pid": str(os.getpid()), "host": socket.gethostname()},
        {"status": "running", "host": socket.gethostname()},
        {"status": "running", "pid": os.getpid(), "host": "another-machine"},
    ],
    ids=["finished", "pid not a number", "no pid", "another machine"],
)
def test_a_run_nobody_here_is_writing_has_no_live_owner(tmp_path, fields):
    run = _manifest(tmp_path, **fields)
    assert run.live_owner() is None
    run.ensure_not_running()


@pytest.mark.processes
def test_a_run_whose_process_died_has_no_live_owner(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run = _manifest(tmp_path, status="running", pid=int(dead.stdout), host=socket.gethostname())
    assert run.live_owner() is None


def test_a_folders_config_loads_with_overrides_and_hashes_as_written(tmp_path):
    run = RunFolder(tmp_path)
    run.save_config(TINY)
    assert run.load_config(["train.epochs=5"]).train.epochs == 5
    assert run.load_config().train.epochs == 3
    expected = hashlib.sha256(TINY.encode()).hexdigest()
    assert run.config_sha256 == RunFolder(tmp_path).config_sha256 == expected


def test_a_search_folder_keeps_trial_times_and_its_tables(tmp_path):
    folder = SearchFolder(tmp_path)
    assert folder.times == {} and folder.tuner == tmp_path / "tuner"
    folder.record_time("0", 2, 1.5)
    folder.record_time("1", 3, 2.0, [0.5, 0.7])
    assert SearchFolder(tmp_path).times == {
        "0": {"epochs": 2, "seconds": 1.5, "scores": []},
        "1": {"epochs": 3, "seconds": 2.0, "scores": [0.5, 0.7]},
    }
    assert folder.ran_by == {}
    folder.record_ran_by("0", "w1", 3.5)
    folder.record_ran_by("1", "w2", 4.0)
    assert SearchFolder(tmp_path).ran_by == {
        "0": {"worker": "w1", "seconds": 3.5},
        "1": {"worker": "w2", "seconds": 4.0},
    }
    folder.write_trials("trial,score\n", "| trial |\n")
    folder.write_best("name: best\n")
    assert (tmp_path / "trials.csv").read_text() == "trial,score\n"
    assert (tmp_path / "trials.md").read_text() == "| trial |\n"
    assert folder.file(SearchFolder.BEST).read_text() == "name: best\n"


def test_every_other_file_has_its_fixed_place(tmp_path):
    run = RunFolder(tmp_path)
    assert (run.backup(0), run.backup(1)) == (tmp_path / "backup", tmp_path / "backup-fine-tune")
    assert run.picture(RunFolder.GRADCAM) == tmp_path / "gradcam.png"
    assert run.export_file(".tflite") == tmp_path / "export" / "model.tflite"
    assert run.export_file("") == tmp_path / "export" / "model"
    assert (run.config_file, run.tensorboard) == (tmp_path / "config.yaml", tmp_path / "tensorboard")
    search = SearchFolder(tmp_path / "tune")
    assert (search.config_file, search.tensorboard) == (
        tmp_path / "tune" / "config.yaml",
        tmp_path / "tune" / "tensorboard",
    )


def test_the_report_and_the_preprocessing_come_back_as_written(tmp_path):
    from cnnlab.data.prepare import Preprocessing

    run = RunFolder(tmp_path)
    run.write_report("# run\n", "<h1>run</h1>\n")
    assert run.report == tmp_path / "report.md" and run.report.read_text() == "# run\n"
    assert (tmp_path / "report.html").read_text() == "<h1>run</h1>\n"
    mean, std = np.full((2, 2, 1), 3.0, np.float32), np.full((2, 2, 1), 2.0, np.float32)
    run.save_preprocessing(Preprocessing("standardize", mean, std))
    back = RunFolder(tmp_path).load_preprocessing()
    assert back.method == "standardize" and back.mean.tolist() == mean.tolist() and back.std.tolist() == std.tolist()


def test_a_folder_removes_only_what_a_killed_writer_left(tmp_path):
    (tmp_path / ".history.csv.tmp123").write_text("half")
    (tmp_path / "history.csv").write_text("whole")
    assert RunFolder(tmp_path).remove_temporaries() == [tmp_path / ".history.csv.tmp123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv"]


def test_what_a_command_wrote_it_keeps_and_never_reads_back(tmp_path):
    run = RunFolder(tmp_path)
    run.update(status="finished")
    assert run.require_manifest("unused") is run.manifest  # the same dict: not read again
    run.write_history([{"epoch": 1, "loss": 0.5}])
    run.save_config(TINY)
    (tmp_path / "history.csv").unlink()
    (tmp_path / "config.yaml").write_text("name: changed by hand\n")
    assert run.history == [{"epoch": 1, "loss": 0.5}]
    assert run.config_sha256 == hashlib.sha256(TINY.encode()).hexdigest()
    assert RunFolder(tmp_path).history == []  # a new folder object reads what is there now


@pytest.mark.processes
def test_a_live_process_of_this_machine_owns_its_run_and_is_not_disturbed(tmp_path):
    import subprocess

    child = subprocess.Popen(["sleep", "30"])
    try:
        run = _manifest(tmp_path, status="running", pid=child.pid, host=socket.gethostname())
        assert run.live_owner() == child.pid
        with pytest.raises(subprocess.TimeoutExpired):  # asked with signal 0: not hung up, not stopped
            child.wait(timeout=0.5)
    finally:
        child.kill()
        child.wait()


def test_runs_started_in_one_second_are_ordered_by_their_suffix():
    """create_run_folder names the second run of a second `<stamp>-1`: it is newer than the
    plain `<stamp>`, and `-10` newer than `-9` (numbers, not text)."""
    from cnnlab.storage.lookup import run_sort_key

    names = ["20261205-101500-10", "20261205-101500-1", "20261205-101459-3", "20261205-101500", "20261205-101500-9"]
    ordered = sorted(names, key=lambda name: run_sort_key(Path(name)))
    assert ordered == [
        "20261205-101459-3",
        "20261205-101500",
        "20261205-101500-1",
        "20261205-101500-9",
        "20261205-101500-10",
    ]


def test_a_run_without_its_checkpoint_is_refused_with_why_and_a_group_folder_shows_its_path(trained_copy):
    """The bugs: the reason for a missing best.keras changed or dropped from the refusal; a
    group folder's repr not naming its folder."""
    from cnnlab.errors import RunError
    from cnnlab.storage.folders import GroupFolder
    from cnnlab.storage.trained import load_trained_run

    run, _ = trained_copy
    (run / "best.keras").unlink()
    with pytest.raises(RunError) as caught:
        load_trained_run(run)
    assert str(caught.value) == (
        f"{run}: best.keras is missing — the run did not finish an epoch, or the file was removed"
    )
    assert repr(GroupFolder(run.parent / "20261201-100000-x3")) == f"GroupFolder('{run.parent}/20261201-100000-x3')"
