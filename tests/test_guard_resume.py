"""Guard rails of `train --resume RUN --epochs N` on a completed run: every refusal leaves the
run byte for byte as it was, and an extension that fails, is stopped or is killed leaves the
completed run, never a mix of the two; the next --resume goes on from the epochs it finished.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.guard_rails import assert_refused, snapshot


def _manifest(run: Path, **fields) -> None:
    data = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**data, **fields}))


def _cut(name: str, keep: float):
    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: int(len(data) * keep)])

    return damage


def _history(text: bytes):
    return lambda run: (run / "history.csv").write_bytes(text)


def _short_history(run: Path) -> None:
    lines = (run / "history.csv").read_text().splitlines(keepends=True)
    (run / "history.csv").write_text("".join(lines[:-1]))


def _extension_live(run: Path) -> None:
    """Another process (this one, alive) is extending the run right now."""
    copy = run.parent / ".extending" / run.name
    shutil.copytree(run, copy)
    _manifest(copy, status="running", pid=os.getpid(), host=socket.gethostname())


CASES = {
    "as many epochs as it has": (None, ["--epochs", "3"], 2, "this run already completed all its 3 epochs"),
    "fewer epochs": (None, ["--epochs", "2"], 2, "this run already completed all its 3 epochs"),
    "last.keras deleted": (
        lambda run: (run / "last.keras").unlink(),
        ["--epochs", "5"],
        1,
        "last.keras is missing, and the run goes on from its last epoch's model and optimizer",
    ),
    "last.keras empty": (_cut("last.keras", 0), ["--epochs", "5"], 1, "last.keras is not a whole .keras file"),
    "last.keras cut in half": (_cut("last.keras", 0.5), ["--epochs", "5"], 1, "last.keras is not a whole .keras file"),
    "a garbage line in history.csv": (
        lambda run: (run / "history.csv").open("a").write("garbage,line\n"),
        ["--epochs", "5"],
        1,
        "history.csv:5: not a history row",
    ),
    "history.csv not UTF-8": (_history(b"epoch,loss\n1,\xff\n"), ["--epochs", "5"], 1, "history.csv: not UTF-8 text"),
    "history.csv shorter than the manifest": (
        _short_history,
        ["--epochs", "5"],
        1,
        "history.csv: 2 epochs recorded, but the manifest says 3 finished",
    ),
    "history.csv deleted": (
        lambda run: (run / "history.csv").unlink(),
        ["--epochs", "5"],
        1,
        "history.csv: 0 epochs recorded, but the manifest says 3 finished",
    ),
    "manifest.json cut short": (_cut("manifest.json", 0.5), ["--epochs", "5"], 1, "manifest.json: not valid JSON"),
    "another model": (
        None,
        ["--epochs", "5", "--set", "model.layers.0.Conv2D.filters=8"],
        2,
        "cannot resume: the model section differs from the run's",
    ),
    "another seed": (None, ["--epochs", "5", "--set", "seed=7"], 2, "cannot resume: the seed value differs"),
    "other data": (None, ["--epochs", "5", "--set", "data.limit=100"], 2, "cannot resume: the data section differs"),
    "a fine-tuning phase": (
        None,
        ["--epochs", "5", "--set", "train.fine_tune.epochs=1", "--set", "train.fine_tune.learning_rate=1e-5"],
        2,
        "a run with a fine-tuning phase cannot be given more epochs",
    ),
    "a learning rate below 0": (
        None,
        ["--epochs", "5", "--set", "train.optimizer.learning_rate=-1"],
        2,
        "a learning rate is a number above 0, not -1",
    ),
    "a file where the copy goes": (
        lambda run: (run.parent / ".extending").write_text("not cnnlab's"),
        ["--epochs", "5"],
        1,
        "cannot copy the run to extend it (Not a directory); the run is unchanged",
    ),
    "still being extended": (_extension_live, ["--epochs", "5"], 1, f"still running (pid {os.getpid()})"),
    "still running": (
        lambda run: _manifest(run, status="running", pid=os.getpid(), host=socket.gethostname()),
        ["--epochs", "5"],
        1,
        f"still running (pid {os.getpid()})",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_an_extension_that_cannot_go_on_is_refused_and_changes_nothing(run_cli, trained_copy, tmp_path, case):
    damage, options, code, message = CASES[case]
    run, _ = trained_copy
    if damage:
        damage(run)
    before = snapshot(tmp_path / "runs")
    result = run_cli("train", "--resume", run, *options, "--runs-dir", tmp_path / "runs")
    assert_refused(result, code, message)
    assert snapshot(tmp_path / "runs") == before


@pytest.mark.trains
def test_an_extension_that_fails_leaves_the_completed_run_and_no_copy(run_cli, trained_copy, tmp_path, monkeypatch):
    """The disk fills while the extension saves its second epoch's last.keras. The bug: the copy
    left behind, or, beside another run's stopped extension, the folder of copies removed with it
    (or an OSError from trying, instead of the message)."""
    import keras

    real_save, saves = keras.Model.save, []

    def save(self, filepath, *args, **kwargs):
        saves.append(filepath)
        if "last" in str(filepath) and sum("last" in str(f) for f in saves) == 2:
            raise OSError(28, "No space left on device")
        return real_save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
    run, _ = trained_copy
    # another run of the config, its extension stopped: its copy stays, and so does `.extending`
    (run.parent / ".extending" / "20990101-000000").mkdir(parents=True)
    (run.parent / ".extending" / "20990101-000000" / "history.csv").write_text("epoch,loss\n1,0.5\n")
    before = snapshot(tmp_path / "runs")
    result = run_cli("train", "--resume", run, "--epochs", "6", "--runs-dir", run.parent)
    assert_refused(result, 1, f"{run} is as it was: completed, 3 epochs")
    assert "last.keras: cannot write (No space left on device)" in result.stderr
    assert snapshot(tmp_path / "runs") == before  # the copy it trained in is gone too


def test_extensions_of_two_runs_of_one_config_finish_and_fail_apart(tmp_path):
    """Two runs of one config extended at once share `<config>/.extending/`. The bugs: finishing
    one raising because the other's copy keeps that folder from being removed, or abandoning
    one whose copy is already gone (deleted by hand) raising instead of leaving the run as it was."""
    from cnnlab.storage.extension import begin
    from cnnlab.storage.folders import RunFolder

    runs = [tmp_path / "tiny" / name for name in ("20260101-000000", "20260101-000001")]
    for run in runs:
        run.mkdir(parents=True)
        (run / "manifest.json").write_text('{"status": "completed"}')
        (run / "mark").write_text(f"{run.name} as it was")
    first, second = (begin(RunFolder(run), 5) for run in runs)
    (first.copy.path / "mark").write_text("extended")
    assert first.finish().path == runs[0]
    assert (runs[0] / "mark").read_text() == "extended"
    assert not first.copy.path.exists() and second.copy.path.is_dir()
    shutil.rmtree(second.copy.path)
    second.abandon()
    assert (runs[1] / "mark").read_text() == "20260101-000001 as it was"
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == [run.name for run in runs]


def test_an_extension_stopped_or_failed_says_the_run_is_as_it_was_and_how_to_go_on(tmp_path):
    """What `train --resume RUN --epochs N` raises when its extension stops, from the run's and
    its copy's records (no training). The bugs: the epoch it stopped after, the run's epochs or
    the `go on with` step wrong or dropped; a failure's copy kept, or its error told to go on."""
    from cnnlab.api.trainer import _extension_stopped
    from cnnlab.errors import ConfigError, Interrupted, Problem, RunFailed
    from cnnlab.storage.extension import begin
    from cnnlab.storage.folders import RunFolder

    run = RunFolder(tmp_path / "tiny" / "20260101-000000")
    run.path.mkdir(parents=True)
    run.update(status="completed", epochs_completed=3)
    extension = begin(run, 6)
    extension.copy.write_history([{"epoch": epoch, "loss": 1 / epoch} for epoch in range(1, 6)])
    as_it_was = f"{run.path} is as it was: completed, 3 epochs"

    def told(error):
        return [(problem.message, problem.hint) for problem in error.problems]

    stopped = _extension_stopped(Interrupted("stopped"), extension, 6)
    assert type(stopped) is Interrupted and stopped.run == run.path
    assert told(stopped) == [
        ("the extension to 6 epochs stopped after epoch 5", ""),
        (as_it_was, f"go on with: cnnlab.resume({str(run.path)!r}, epochs=6)"),
    ]
    assert extension.copy.path.is_dir()  # its five epochs kept for the next --resume
    bug = ValueError("a bug")
    assert _extension_stopped(bug, extension, 6) is bug and not extension.copy.path.exists()
    for error, kind in ((RunFailed([Problem("NaN loss")]), RunFailed), (ConfigError("bad key"), ConfigError)):
        failed = _extension_stopped(error, begin(run, 6), 6)
        assert type(failed) is kind and failed.run == run.path
        assert told(failed) == [(error.problems[0].message, ""), (as_it_was, "")]
    assert sorted(path.name for path in run.path.parent.iterdir()) == [run.path.name]


@pytest.fixture
def ctrl_c_is_delivered():
    """A test run started in the background of a non-interactive shell inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _rows(run: Path) -> list[str]:
    return (run / "history.csv").read_text().splitlines()[1:]


def _when_rows(history: Path, count: int, then) -> threading.Thread:
    def watch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if history.is_file() and history.read_text().count("\n") > count:
                then()
                return
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.trains
@pytest.mark.processes
def test_an_extension_stopped_or_killed_keeps_the_completed_run_and_goes_on_from_its_epochs(
    run_cli, trained_copy, tmp_path, ctrl_c_is_delivered
):
    """Ctrl-C, then SIGKILL, in the middle of an extension: each time the completed run is as it
    was, byte for byte; the third --resume finishes the longer run from the copy's epochs."""
    run, _ = trained_copy
    original, before = _rows(run), snapshot(run)
    copy = run.parent / ".extending" / run.name

    _when_rows(copy / "history.csv", 4, lambda: os.kill(os.getpid(), signal.SIGINT))
    stopped = run_cli("train", "--resume", run, "--epochs", "60", "--runs-dir", run.parent)
    assert_refused(stopped, 130, "the extension to 60 epochs stopped after epoch")
    assert f"go on with: cnnlab train --resume {run} --epochs 60" in stopped.stderr
    assert snapshot(run) == before and len(_rows(copy)) >= 4

    killed = subprocess.Popen(
        [sys.executable, "-m", "cnnlab", "train", "--resume", str(run), "--epochs", "60"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done_before = len(_rows(copy))
    _when_rows(copy / "history.csv", done_before + 2, killed.kill).join(timeout=150)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert snapshot(run) == before

    longer = len(_rows(copy)) + 1
    finished = run_cli("train", "--resume", run, "--epochs", str(longer), "--runs-dir", run.parent)
    assert finished.exit_code == 0, finished.output
    assert "going on with the extension stopped after epoch" in finished.output
    rows = _rows(run)
    assert len(rows) == longer and rows[:3] == original  # the longer run took the run's place
    assert [row.split(",")[0] for row in rows] == [str(n) for n in range(1, len(rows) + 1)]
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
    assert not copy.parent.exists()


@pytest.mark.parametrize(
    ("state", "goes_on"),
    [
        ({"status": "interrupted"}, True),  # Ctrl-C
        ({"status": "running"}, True),  # killed while training (its pid is dead: not live)
        ({"status": "evaluating"}, True),  # killed while evaluating
        ({"status": "completed"}, False),  # the copy of an extension that ended: not to go on
        ({"status": "failed"}, False),
        ({"status": "interrupted", "epochs": 2}, False),  # 3 epochs finished, 2 asked for
        ({"status": "interrupted", "drop": "last.keras"}, False),  # nothing to go on from
        ({"status": "interrupted", "drop": "config.yaml"}, False),
        ({"status": "interrupted", "damage": "manifest.json"}, False),
        ({"status": "interrupted", "damage": "history.csv"}, False),
    ],
)
def test_an_earlier_extension_is_gone_on_from_only_when_it_stopped_with_what_it_needs(trained_copy, state, goes_on):
    """`begin` looks at the copy an earlier `--resume RUN --epochs N` left: the epochs it
    finished are kept only for a copy that was stopped (Ctrl-C, or killed training or
    evaluating), still has its config and last.keras, and is readable; otherwise a fresh copy
    of the run. Catches a copy of a failed extension trained on, or a damaged one trusted."""
    from cnnlab.storage.extension import begin, copy_path
    from cnnlab.storage.folders import RunFolder

    run = RunFolder(trained_copy[0])
    copy = begin(run, 5).copy.path
    assert copy == copy_path(run) and (copy / "last.keras").is_file()
    _manifest(copy, status=state["status"], pid=2**22 + 1)  # a pid no process has
    (copy / "mark").write_text("the earlier copy")
    if "drop" in state:
        (copy / state["drop"]).unlink()
    if "damage" in state:
        (copy / state["damage"]).write_text('{"cut off')
    said = []
    again = begin(run, state.get("epochs", 5), notify=said.append)
    assert again.copy.path == copy
    if goes_on:
        assert said == [f"going on with the extension stopped after epoch 3: {copy}"]
        assert (copy / "mark").is_file()
    else:
        assert said == [] and not (copy / "mark").exists() and (copy / "last.keras").is_file()
