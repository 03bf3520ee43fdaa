"""Faults in the middle of a run, each with a real `cnnlab` process: signals, SIGKILL, NaN,
a full disk, two trainings at once, Ctrl-C during the final evaluation.

What every test holds a run to: it keeps its config, manifest, history and logs; it leaves no
temporary file; a finished epoch is never trained again (the history rows written before the
fault come back byte for byte after the resume); and the manifest says how it ended.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnlab.storage.lookup import list_runs
from tests.conftest import REPO, TINY, stop_after_epoch

SLOW = """
name: slow
data:
  dataset: synthetic
  validation_split: 0.1
  synthetic: {input_shape: [16, 16, 1], num_classes: 3, train_examples: 1500, test_examples: 60}
model:
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
    - Flatten
    - Dense: {units: 3, activation: softmax}
train: {epochs: 3, batch_size: 4}
tensorboard: {histogram_freq: 0}
"""
KEPT = ("config.yaml", "manifest.json", "history.csv", "tensorboard", "best.keras", "last.keras")


@pytest.fixture(autouse=True)
def ctrl_c_reaches_the_children():
    """Start every child the way a terminal does, with Ctrl-C delivered. A test run launched in
    the background of a non-interactive shell (as a CI harness may) inherits SIGINT *ignored*,
    and a child would inherit that too; a Python handler here is reset to the default at exec."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def cnnlab(*args) -> subprocess.Popen:
    """`python -m cnnlab ARGS`, for what only a process shows: a signal, a kill, two at once."""
    command = [sys.executable, "-m", "cnnlab", *map(str, args)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(condition, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"process ended early ({process.returncode}): {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def ctrl_c_when(condition) -> None:
    """Send this process a Ctrl-C (SIGINT, as a terminal or a kernel's stop button does) once
    `condition()` holds; from a thread, so that the command under test runs meanwhile."""

    def watch():
        deadline = time.monotonic() + 120
        while not condition():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=watch, daemon=True).start()


def ctrl_c_after_the_first_epoch(runs: Path, name: str) -> None:
    """A Ctrl-C once run `name` under `runs` has written its first history row."""
    ctrl_c_when(lambda: any(p.read_text().count("\n") >= 2 for p in runs.glob(f"{name}/*/history.csv")))


def history_rows(runs: Path) -> list[str]:
    found = list(runs.glob("*/*/history.csv"))
    return found[0].read_text().splitlines()[1:] if found else []


def manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def temporaries(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if ".tmp" in p.name)


def tensorboard_epochs(run: Path) -> list[int]:
    """The epochs (from 0) whose loss TensorBoard's training log holds."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    return [event.step for event in events.Tensors("epoch_loss")]


def stop_mid_epoch(config: Path, runs: Path, how: signal.Signals) -> tuple[Path, list[str], str]:
    """Train until one epoch is done and the next has started, then send `how`; return the
    run, the history rows written before the signal, and what the process said. Ctrl-C ends
    the process within 2 s (the newcomer's issue: once in three it took 19 s)."""
    process = cnnlab("train", config, "--runs-dir", runs)
    wait_until(lambda: len(history_rows(runs)) >= 1, process)
    time.sleep(0.3)  # into the next epoch (about 0.8 s here, alone)
    process.send_signal(how)
    sent = time.monotonic()
    _, err = process.communicate(timeout=120)
    if how == signal.SIGINT:  # 0.1-0.3 s alone here, against 1.4-1.8 s of TensorFlow's teardown before
        assert time.monotonic() - sent < 2.0, f"the process took {time.monotonic() - sent:.1f} s to end"
    (run,) = list_runs(runs)
    assert process.returncode == (-how if how == signal.SIGKILL else 130), err
    rows = history_rows(runs)
    assert 1 <= len(rows) < 3
    return run, rows, err


@pytest.mark.processes
@pytest.mark.trains
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_stopped_run_resumes_without_redoing_an_epoch(run_cli, write, tmp_path, how):
    config, runs = write("slow.yaml", SLOW), tmp_path / "runs"
    run, rows, err = stop_mid_epoch(config, runs, how)
    assert all((run / name).exists() for name in KEPT), sorted(p.name for p in run.iterdir())
    status = manifest(run)["status"]
    if how == signal.SIGKILL:
        assert status == "running"  # nobody could say otherwise; the pid tells it is dead
        # What a writer killed mid-save leaves (fileio.replacing's name); --resume must remove it.
        (run / f".last.{manifest(run)['pid']}.tmp.keras").write_bytes(b"half a checkpoint")
    else:
        assert status == "interrupted" and manifest(run)["epochs_completed"] == len(rows)
        assert f"cnnlab train --resume {run}" in err and "Traceback" not in err
        assert temporaries(run) == []
        # The process leaves at once, its TensorBoard events written: the first epoch, done well
        # before the signal, is there (a signal between an epoch's history row and its events,
        # under load, leaves that one epoch out of TensorBoard: noticed, not fixed here).
        assert tensorboard_epochs(run)[:1] == [0]

    result = run_cli("train", "--resume", str(run), "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    after = history_rows(runs)
    assert after[: len(rows)] == rows  # a restart from epoch 1 would rewrite these rows
    assert [int(line.split(",")[0]) for line in after] == [1, 2, 3]
    assert manifest(run)["status"] == "completed" and len(manifest(run)["resumed"]) == 1
    assert list_runs(runs) == [run] and temporaries(run) == []


@pytest.mark.trains
@pytest.mark.parametrize("last", ["whole", "cut short"])
def test_a_run_stopped_between_its_history_row_and_its_backup_does_not_train_that_epoch_again(
    run_cli, write, tmp_path, last
):
    """The files a SIGKILL leaves while an epoch's backup is written (the last and slowest of
    its writes): last.keras and history.csv have epoch 2, the backup still epoch 1. Made here
    by putting back the previous backup Keras keeps beside the latest (`*.bkp`). A last.keras
    cut short (not cnnlab's doing: it replaces the file whole) leaves the backup in charge."""
    from cnnlab.config import load_config
    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.errors import Interrupted
    from cnnlab.storage.folders import RunFolder
    from cnnlab.storage.lookup import create_run_folder

    cfg = load_config(write("tiny.yaml", TINY))
    run = RunFolder(create_run_folder(tmp_path / "runs", cfg.name))
    with pytest.raises(Interrupted, match="after 2 of 3 epochs"):
        train(plan(cfg), run.path, callbacks=[stop_after_epoch(2)])
    previous = sorted(run.backup(0).glob("*.bkp"))
    assert len(previous) == 2, sorted(p.name for p in run.backup(0).iterdir())
    for path in previous:
        path.replace(path.with_suffix(""))
    rows = history_rows(tmp_path / "runs")
    if last == "cut short":
        run.checkpoint("last").write_bytes(run.checkpoint("last").read_bytes()[:1000])
    keras.backend.clear_session()
    result = run_cli("train", "--resume", run.path, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    after = history_rows(tmp_path / "runs")
    assert [int(line.split(",")[0]) for line in after] == [1, 2, 3]
    if last == "whole":
        assert after[:2] == rows
    else:  # epoch 2 trained again, from the backup of epoch 1
        assert after[0] == rows[0] and after[1] != rows[1]


@pytest.mark.trains
def test_nan_loss_fails_the_run_and_keeps_the_last_good_checkpoints(run_cli, write, tmp_path):
    # The learning rate jumps by 1e32 after the first epoch's 22 steps: epoch 1 is fine, epoch 2 is not.
    schedule = (
        "{name: sgd, learning_rate: {ExponentialDecay: "
        "{initial_learning_rate: 0.01, decay_steps: 22, decay_rate: 1.0e+32, staircase: true}}}"
    )
    config = write("nan.yaml", TINY.replace("{name: adam, learning_rate: 0.003}", schedule))
    runs = tmp_path / "runs"
    result = run_cli("train", config, "--runs-dir", runs)  # what a process shows of it: exit code and stderr
    assert result.exit_code == 1, result.output
    assert "NaN or infinite at epoch 2" in result.stderr and "Traceback" not in result.output
    (run,) = list_runs(runs)
    record = manifest(run)
    assert record["status"] == "failed" and "epoch 2" in record["failure"]
    assert len(history_rows(runs)) == 1 and temporaries(run) == []
    best = keras.saving.load_model(run / "best.keras")
    last = keras.saving.load_model(run / "last.keras")
    for a, b in zip(best.get_weights(), last.get_weights()):
        assert np.all(np.isfinite(a)) and np.array_equal(a, b)  # both are epoch 1's


@pytest.mark.trains
def test_a_full_disk_while_saving_a_checkpoint_keeps_the_previous_one(run_cli, write, tmp_path, monkeypatch):
    real_save, saves = keras.Model.save, []

    def save(self, filepath, *args, **kwargs):
        saves.append(filepath)
        if "last" in str(filepath) and sum("last" in str(f) for f in saves) == 2:
            open(filepath, "wb").write(b"half a checkpoint")  # then the disk is full
            raise OSError(28, "No space left on device")
        return real_save(self, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save)
    config, runs = write("t.yaml", TINY), tmp_path / "runs"
    result = run_cli("train", config, "--runs-dir", runs)
    assert result.exit_code == 1, result.output
    assert "last.keras: cannot write (No space left on device)" in result.stderr and "Traceback" not in result.output
    (run,) = list_runs(runs)
    assert manifest(run)["status"] == "failed" and "No space left" in manifest(run)["failure"]
    assert len(history_rows(runs)) == 1 and temporaries(run) == []
    keras.saving.load_model(run / "last.keras")  # epoch 1's, whole


def test_a_full_disk_while_writing_the_report_keeps_the_previous_one(run_cli, trained_copy, monkeypatch):
    import cnnlab.fileio

    run, _ = trained_copy
    before = (run / "report.html").read_text()
    real_replace = os.replace

    def replace(source, target):
        if str(target).endswith("report.html"):
            raise OSError(28, "No space left on device")
        return real_replace(source, target)

    monkeypatch.setattr(cnnlab.fileio.os, "replace", replace)
    result = run_cli("evaluate", str(run))
    assert result.exit_code == 1
    assert "report.html: cannot write (No space left on device)" in result.stderr
    assert (run / "report.html").read_text() == before and temporaries(run) == []


@pytest.mark.processes
def test_two_trainings_into_one_runs_folder_at_once(write, tmp_path):
    config, runs = write("t.yaml", TINY), tmp_path / "runs"
    processes = [cnnlab("train", config, "--runs-dir", runs) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    first, second = list_runs(runs)
    for run in (first, second):
        assert manifest(run)["status"] == "completed" and (run / "metrics.json").is_file()
        assert [r["epoch"] for r in csv.DictReader(open(run / "history.csv"))] == ["1", "2", "3"]


@pytest.mark.trains
def test_ctrl_c_during_the_final_evaluation_resumes_by_evaluating(run_cli, write, tmp_path):
    """A Ctrl-C (SIGINT to this process, where the CLI runs) once the manifest says evaluating."""
    big_test = TINY.replace("test_examples: 48", "test_examples: 20000")
    config, runs = write("t.yaml", big_test), tmp_path / "runs"

    def evaluating() -> bool:
        return any(
            manifest(r).get("status") == "evaluating" for r in list_runs(runs) if (r / "manifest.json").is_file()
        )

    ctrl_c_when(evaluating)
    stopped = run_cli("train", config, "--runs-dir", runs)
    assert stopped.exit_code == 130, stopped.output
    assert "interrupted during the test evaluation" in stopped.stderr
    (run,) = list_runs(runs)
    rows = history_rows(runs)
    assert manifest(run)["status"] == "interrupted" and temporaries(run) == []

    result = run_cli("train", "--resume", str(run), "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert "evaluating on the test split" in result.output
    assert history_rows(runs) == rows  # no epoch trained again
    assert manifest(run)["status"] == "completed"
    assert json.loads((run / "metrics.json").read_text())["examples"] == 20000


def test_an_error_a_destructor_swallowed_is_still_shown_while_a_ctrl_c_is_quiet(capsys):
    """The hook quiets only the KeyboardInterrupt it remembers; any other error in a destructor
    is printed by Python's own hook, as without cnnlab (a bug hidden there is still seen)."""
    from cnnlab.api.stopping import StopRequests

    stop = StopRequests()

    class Broken:
        def __del__(self):
            raise ValueError("a bug in a destructor")

    class Interrupted:
        def __del__(self):
            stop.handle(signal.SIGINT, None)

    hook, sys.unraisablehook = sys.unraisablehook, stop.unraisable
    try:
        Broken()
        shown = capsys.readouterr().err
        Interrupted()
        quiet = capsys.readouterr().err
    finally:
        sys.unraisablehook = hook
    assert "Exception ignored" in shown and "ValueError: a bug in a destructor" in shown
    assert quiet == "" and stop.requested


@pytest.mark.trains
def test_a_ctrl_c_that_a_destructor_swallowed_still_stops_training_and_evaluation():
    """The flake this catches: SIGINT landed in TensorFlow's EagerResourceDeleter.__del__,
    Python printed "Exception ignored" and the run went on to complete with exit 0."""
    from cnnlab.api.stopping import StopRequests

    stop = StopRequests()

    class Resource:
        def __del__(self):
            stop.handle(signal.SIGINT, None)  # as if the signal arrived while this ran

    hook, sys.unraisablehook = sys.unraisablehook, stop.unraisable
    try:
        Resource()  # Python swallows the KeyboardInterrupt raised in __del__, quietly here
    finally:
        sys.unraisablehook = hook
    assert stop.requested
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = np.zeros((16, 2), "float32"), np.eye(2, dtype="float32")[np.zeros(16, int)]
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[stop])
    assert int(model.optimizer.iterations) == 1  # stopped at the first batch's end
    with pytest.raises(KeyboardInterrupt):
        model.predict(x, verbose=0, callbacks=[stop])


@pytest.mark.trains
def test_a_ctrl_c_inside_tensorflows_writer_exit_leaves_the_next_training_in_the_process_whole(tmp_path, monkeypatch):
    """The CI flake this catches: SIGINT handled right after the TensorBoard writer's flush, inside
    TensorFlow's `as_default()` exit, left the closed writer as the thread's default, and the
    notebook's next `cnnlab.train` (or a resume) failed: "SummaryWriterInterface does not exist"."""
    from tensorflow.python.ops import summary_ops_v2

    import cnnlab

    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    flush, flushes = summary_ops_v2._ResourceSummaryWriter.flush, []

    def flush_then_ctrl_c(writer):
        flush(writer)
        flushes.append(writer)
        if len(flushes) == 3:  # the epoch-end scalars' exit: a Ctrl-C after the flush's C call
            raise KeyboardInterrupt

    monkeypatch.setattr(summary_ops_v2._ResourceSummaryWriter, "flush", flush_then_ctrl_c)
    with pytest.raises(cnnlab.Interrupted):
        cnnlab.train(config, runs_dir=tmp_path / "runs", progress=False)
    monkeypatch.undo()
    assert summary_ops_v2._summary_state.writer is None
    again = cnnlab.train(config, runs_dir=tmp_path / "runs", progress=False)
    assert again.status == "completed" and len(again.history) == 3


def _small_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


@pytest.mark.trains
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # only the layers are compared
def test_a_stop_while_the_backup_is_written_arrives_once_it_is_whole(tmp_path, monkeypatch):
    """Keras writes --resume's backup in place: a Ctrl-C that landed inside that write left half
    a weights file, and the resume after it failed to load (seen in tests/test_api.py)."""
    from cnnlab.engine.callbacks import Backup
    from cnnlab.storage.folders import RunFolder

    model = _small_model()
    model.fit(np.zeros((8, 4)), np.eye(2)[np.zeros(8, int)], epochs=1, verbose=0)
    backup = Backup(RunFolder(tmp_path), phase=0)
    backup.set_model(model)
    real_save = keras.Model.save_weights

    def save_weights(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the file is being written
        time.sleep(0.05)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", save_weights)
    with pytest.raises(KeyboardInterrupt):
        backup.on_epoch_end(0)
    restored = _small_model()
    restored.load_weights(tmp_path / "backup" / "latest.weights.h5")
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.trains
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # the cut backup has none
def test_a_backup_cut_short_by_a_kill_gives_way_to_the_one_before(tmp_path):
    """A SIGKILL cannot be held: a backup it cut short lacks some weights, which Keras reports
    as a ValueError and did not fall back on."""
    from cnnlab.engine.callbacks import Backup
    from cnnlab.storage.folders import RunFolder

    x, y = np.zeros((8, 4), "float32"), np.eye(2, dtype="float32")[np.zeros(8, int)]
    _small_model().fit(x, y, epochs=2, verbose=0, callbacks=[Backup(RunFolder(tmp_path), phase=0)])
    partial = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])  # the first layer's weights only
    partial.save_weights(tmp_path / "backup" / "latest.weights.h5")
    history = _small_model().fit(x, y, epochs=3, verbose=0, callbacks=[Backup(RunFolder(tmp_path), phase=0)])
    assert history.epoch == [1, 2]  # epoch 1's backup, then epochs 2 and 3: only the cut epoch again


@pytest.mark.processes
@pytest.mark.long  # three trainings in processes, one after another: about 20 s
def test_make_train_stopped_goes_on_from_the_printed_hint_and_from_make_train_again(tmp_path):
    """A newcomer's first hour: `make train`, Ctrl-C in epoch 2 (to make and cnnlab, as a
    terminal sends it), the printed command pasted into the same shell (no cnnlab on the PATH),
    Ctrl-C again, then `make train` once more: it goes on and completes, no epoch trained twice,
    and no make error line under cnnlab's own message."""
    (tmp_path / "slow.yaml").write_text(SLOW.replace("epochs: 3", "epochs: 4"))
    # a user's own shell: no cnnlab on the PATH, and not inside another make (as under make test)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    runs, env = tmp_path / "runs", {**env, "PATH": "/usr/bin:/bin"}
    make = ["make", "--no-print-directory", "-C", str(REPO), "train"]
    make += [f"TRAIN_CONFIG={tmp_path / 'slow.yaml'}", f"RUNS_DIR={runs}"]

    def ctrl_c_once(command, rows: int, **how) -> str:
        started = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=env, start_new_session=True, **how)  # fmt: skip
        history = lambda: list(runs.glob("slow/*/history.csv"))  # noqa: E731
        wait_until(lambda: history() and len(history()[0].read_text().splitlines()) > rows, started)
        os.killpg(started.pid, signal.SIGINT)  # the terminal's Ctrl-C reaches make and its child
        return started.communicate(timeout=60)[0]

    first = ctrl_c_once(make, 1)
    assert "***" not in first and "interrupted after 1 of 4 epochs" in first  # no make error line
    hint = first.split("resume with: ")[1].splitlines()[0]
    assert hint.split()[0] == os.path.relpath(Path(sys.executable).parent / "cnnlab", REPO) or hint.startswith("/")
    second = ctrl_c_once(hint, 2, shell=True, cwd=REPO)  # pasted into the same shell
    assert "interrupted after 2 of 4 epochs" in second, second
    (run,) = runs.glob("slow/*")
    rows = (run / "history.csv").read_text().splitlines()
    last = subprocess.run(make, capture_output=True, text=True, env=env)
    assert last.returncode == 0, last.stdout + last.stderr
    assert f"going on with the stopped run {run}" in last.stdout
    assert (run / "history.csv").read_text().splitlines()[: len(rows)] == rows  # kept byte for byte
    assert [r["epoch"] for r in csv.DictReader((run / "history.csv").open())] == ["1", "2", "3", "4"]
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
