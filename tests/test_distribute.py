"""Several devices and processes: `data_parallel` on JAX (two processes on 127.0.0.1),
`mirrored` on two logical CPU devices, the JAX backend on one process, and the config's
runtime checks. Training runs in child processes: Keras' backend and TensorFlow's devices are
fixed once a process has started them, and this one runs on TensorFlow."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnlab.storage.lookup import list_runs
from tests.conftest import REPO, TINY_MODEL
from tests.test_faults import history_rows

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="pip install 'cnnlab[jax]'")

# 144 training and 48 validation examples: whole batches of 16, so an epoch leaves nothing
# out and two processes see exactly the batches one process sees.
SHARED = (
    TINY_MODEL
    + """
data:
  dataset: synthetic
  validation_split: 0.25
  synthetic: {input_shape: [8, 8, 1], num_classes: 3, train_examples: 192, test_examples: 48}
train: {epochs: 2, batch_size: 16, optimizer: {name: adam, learning_rate: 0.003}}
tensorboard: {enabled: false}
"""
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cnnlab(*args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnlab", *map(str, args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(process: subprocess.Popen, seconds: float = 240) -> tuple[int, str]:
    out, err = process.communicate(timeout=seconds)
    return process.returncode, out + err


def processes(*args, count: int = 2, env: dict | None = None) -> list[subprocess.Popen]:
    """`cnnlab train ARGS` as the `count` processes of one data_parallel run."""
    joined = ("--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", count)
    return [cnnlab("train", *args, *joined, "--process-id", i, env=env) for i in range(count)]


def history(run: Path) -> list[dict]:
    with open(run / "history.csv") as file:
        return [{k: float(v) for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(file)]


@pytest.mark.processes
@pytest.mark.trains
def test_mirrored_on_two_cpu_devices_learns_like_a_plain_run(write, run_cli, tmp_path):
    """Two logical CPU devices exist only in a process that asked before TensorFlow started: the
    mirrored run is a child process; the plain run trains here meanwhile."""
    import keras

    learnable = SHARED.replace("epochs: 2", "epochs: 6")
    mirrored = write("m.yaml", "name: m\nruntime: {distribute: mirrored, devices: [CPU:0, CPU:1]}\n" + learnable)
    child = cnnlab("train", mirrored, "--runs-dir", tmp_path / "m")
    plain = run_cli("train", write("p.yaml", "name: p\n" + learnable), "--runs-dir", tmp_path / "p")
    assert plain.exit_code == 0, plain.output
    status, said = finish(child)
    assert status == 0, said
    (run,), (plain_run,) = list_runs(tmp_path / "m"), list_runs(tmp_path / "p")
    written, reference = (json.loads((r / "manifest.json").read_text()) for r in (run, plain_run))
    assert written["device"]["replicas"] == 2 and reference["device"]["replicas"] == 1
    assert written["test"]["accuracy"] > 0.6 and abs(written["test"]["accuracy"] - reference["test"]["accuracy"]) < 0.15
    assert "epochs on cpu (mirrored: 2 devices)" in (run / "report.md").read_text()
    model = keras.saving.load_model(run / "best.keras")  # a plain load, no strategy
    assert model.count_params() == written["parameters"]


# Several cnnlab commands in one process (one start-up paid): each argument is a command whose
# words are separated by tabs.
TWO_COMMANDS = """
import sys
from click.testing import CliRunner
from cnnlab.cli import cli
for command in sys.argv[1:]:
    result = CliRunner().invoke(cli, command.split("\\t"))
    print(f"exit {result.exit_code}\\n{result.output}", flush=True)
"""


def commands_in_one_process(*commands: tuple) -> subprocess.Popen:
    """`cnnlab COMMAND` for each command in turn, in one new process."""
    words = ["\t".join(map(str, command)) for command in commands]
    return subprocess.Popen(
        [sys.executable, "-c", TWO_COMMANDS, *words],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.processes
@needs_jax
def test_two_data_parallel_processes_train_as_one_and_each_backend_evaluates_the_others_run(
    trained_copy, write, run_cli, tmp_path
):
    """Beside the data_parallel pair, one JAX process trains the same run alone (the pair's
    reference), then evaluates a TensorFlow run; this (TensorFlow) process evaluates the JAX run:
    each backend's .keras loads on the other and scores the same."""
    tf_run, _ = trained_copy
    tf_before = json.loads((tf_run / "metrics.json").read_text())["accuracy"]
    config = write("dp.yaml", "name: dp\nruntime: {backend: jax, distribute: data_parallel}\n" + SHARED)
    single = write("one.yaml", "name: one\nruntime: {backend: jax}\n" + SHARED)
    alone = commands_in_one_process(("train", single, "--runs-dir", tmp_path / "alone"), ("evaluate", tf_run))
    pair = processes(config, "--runs-dir", tmp_path / "pair")
    status, said = finish(alone)
    assert status == 0 and said.count("exit 0\n") == 2, said
    (status0, said0), (status1, said1) = (finish(p) for p in pair)
    assert (status0, status1) == (0, 0), said0 + said1

    (run,) = list_runs(tmp_path / "pair")  # one run folder, and process 1 wrote nothing else
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["alone", "pair", "runs"]  # runs: tf_run
    assert {"report.md", "metrics.json", "best.keras", "predictions.npz"} <= {p.name for p in run.iterdir()}
    written = json.loads((run / "manifest.json").read_text())
    assert written["status"] == "completed" and written["device"]["processes"] == 2
    assert "process 1 of 2" in said1 and "process 0 finished with exit status 0" in said1
    assert "epochs on cpu (jax, data_parallel: 2 processes, 2 devices)" in (run / "report.md").read_text()
    # Both processes end with the same weights ...
    assert re.search(r"weights sha256 (\w+)", said1).group(1) == written["weights_sha256"]
    # ... and train as one process does on the same global batch.
    (one,) = list_runs(tmp_path / "alone")
    together, apart = history(run), history(one)
    assert [row.keys() for row in together] == [row.keys() for row in apart] and len(together) == 2
    for a, b in zip(together, apart):
        np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-4, atol=1e-5)

    # The run trained alone on JAX reports as any run ...
    alone_written = json.loads((one / "manifest.json").read_text())
    assert alone_written["status"] == "completed" and alone_written["device"]["backend"] == "jax"
    assert {"report.md", "report.html", "confusion_matrix.png", "curves.png"} <= {p.name for p in one.iterdir()}
    # ... the TensorFlow run, evaluated on JAX, scores as it did on TensorFlow ...
    assert json.loads((tf_run / "metrics.json").read_text())["accuracy"] == pytest.approx(tf_before, abs=1e-6)
    # ... and the .keras the JAX run saved loads on TensorFlow (this process) and scores the same.
    result = run_cli("evaluate", one)
    assert result.exit_code == 0, result.output
    again = json.loads((one / "metrics.json").read_text())
    assert again["accuracy"] == pytest.approx(alone_written["test"]["accuracy"], abs=1e-6)
    assert run_cli("visualize", one).exit_code == 0 and (one / "filters.png").is_file()


@pytest.mark.parametrize(
    "runtime, located",
    [
        (
            "{distribute: data_parallel}",
            "runtime.distribute: data_parallel is Keras' distribution API, which runs on JAX",
        ),
        ("{backend: jax, distribute: mirrored}", "runtime.distribute: mirrored is TensorFlow's MirroredStrategy"),
        ("{devices: [GPU:0, GPU:1]}", "runtime.devices: only distribute: mirrored takes a list of devices"),
        ("{coordinator: 'h:1'}", "runtime.coordinator: only distribute: data_parallel runs several processes"),
        (
            "{backend: jax, distribute: data_parallel, num_processes: 2, process_id: 2}",
            "runtime.process_id: must be below num_processes (2)",
        ),
    ],
)
def test_runtime_settings_that_cannot_work_together(write, run_cli, runtime, located):
    config = write("bad.yaml", f"name: bad\nruntime: {runtime}\n" + SHARED)
    result = run_cli("train", config, "--runs-dir", config.parent / "runs")
    assert result.exit_code == 2, result.output
    assert f"{config}:2 {located}" in result.output and "Traceback" not in result.output
    assert not (config.parent / "runs").exists()


def test_jax_not_installed_names_the_extra(write, run_cli, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    config = write("j.yaml", "name: j\nruntime: {backend: jax}\n" + SHARED)
    result = run_cli("train", config)
    assert result.exit_code == 2
    assert "runtime.backend: the JAX backend is not installed" in result.output
    assert "pip install 'cnnlab[jax]'" in result.output


@needs_jax
def test_a_second_backend_in_one_process_is_refused(write, run_cli):
    run_cli("check", write("warm.yaml", "name: warm\n" + SHARED))  # Keras is on TensorFlow here
    config = write("j.yaml", "name: j\nruntime: {backend: jax}\n" + SHARED)
    result = run_cli("train", config, "--runs-dir", config.parent / "runs")
    assert result.exit_code == 2
    assert "Keras has already started on tensorflow in this process" in result.output


def test_tune_refuses_data_parallel(write, run_cli):
    config = write(
        "s.yaml",
        "name: s\nruntime: {backend: jax, distribute: data_parallel}\n"
        + SHARED
        + "search: {max_trials: 2, space: {model.layers.0.Conv2D.filters: [2, 4]}}\n",
    )
    result = run_cli("tune", config, "--runs-dir", config.parent / "runs")
    assert result.exit_code == 2, result.output
    assert f"{config}:2 runtime.distribute: a search runs each trial in one process" in result.output


def test_a_coordinator_without_a_port_is_refused(write, run_cli):
    config = write("dp.yaml", "name: dp\nruntime: {backend: jax, distribute: data_parallel}\n" + SHARED)
    result = run_cli("train", config, "--coordinator", "host0", "--num-processes", "2", "--process-id", "0")
    assert result.exit_code == 2
    assert "error: --coordinator: 'host0' is not HOST:PORT (process 0's address, e.g. host0:8476)" in result.output


def test_set_distribute_none_means_the_choice_not_null(write):
    from cnnlab.config import load_config

    config = write("m.yaml", "name: m\nruntime: {distribute: mirrored}\n" + SHARED)
    assert load_config(config, ["runtime.distribute=none"]).runtime.distribute == "none"


def _after_one_more_epoch(runs: Path, pair: list[subprocess.Popen]) -> list[str]:
    """Wait until the pair has written one more history row than the run had (the next epoch is
    then under way), and return the history's rows."""
    before, deadline = len(history_rows(runs)), time.monotonic() + 120
    while len(history_rows(runs)) <= before:
        assert time.monotonic() < deadline and all(p.poll() is None for p in pair), [finish(p, 5) for p in pair]
        time.sleep(0.05)
    return history_rows(runs)


@pytest.mark.processes
@pytest.mark.long  # four pairs of processes, one after another: about 50 s
@needs_jax
def test_a_killed_or_hung_process_stops_the_other_and_the_run_resumes_on_both(write, tmp_path):
    """One data_parallel run through three faults, each in an epoch of its own, resumed after
    each on both processes: process 1 killed (SIGKILL), then process 0, then process 1 hung
    (SIGSTOP). A killed process stops the other within a minute and leaves the run resumable; a
    hung one is declared dead once it has sent no heartbeat for CNNLAB_HEARTBEAT_SECONDS (3 s
    here, 20 s by default), and JAX ends the other at once (an abort: a collective blocked in C++
    leaves no way to say more). The last resume finishes the run, every finished epoch's row kept."""
    config = write(
        "dp.yaml",
        "name: dp\nruntime: {backend: jax, distribute: data_parallel}\n"
        + SHARED.replace("train_examples: 192", "train_examples: 1000").replace("epochs: 2", "epochs: 5"),
    )
    runs, quick = tmp_path / "runs", {"CNNLAB_HEARTBEAT_SECONDS": "3"}
    pair, kept = processes(config, "--runs-dir", runs, env=quick), []
    for victim in (1, 0):
        rows = _after_one_more_epoch(runs, pair)
        assert rows[: len(kept)] == kept  # a resume trains no finished epoch again
        pair[victim].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        status, said = finish(pair[1 - victim], seconds=60)  # raises TimeoutExpired past 60 s
        assert status != 0, said
        assert time.monotonic() - killed < 60
        finish(pair[victim])
        (run,) = list_runs(runs)
        written = json.loads((run / "manifest.json").read_text())
        assert written["status"] in ("running", "failed") and (run / "backup").is_dir()  # resumable
        if victim == 1 and written["status"] == "failed":
            assert "another process of this run stopped" in written["failure"]
        kept = history_rows(runs)
        pair = processes("--resume", run, "--runs-dir", runs, env=quick)

    rows = _after_one_more_epoch(runs, pair)
    assert rows[: len(kept)] == kept
    pair[1].send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    status, said = finish(pair[0], seconds=90)
    waited = time.monotonic() - stopped
    pair[1].kill()
    finish(pair[1])
    assert status != 0 and "stopped sending heartbeats" in said, said
    assert waited < 16, f"process 0 waited {waited:.0f} s for a hung peer"  # 3 s of heartbeat, and slack, not 20
    done = (run / "history.csv").read_text().splitlines()
    resumed = processes("--resume", run, "--runs-dir", runs, env=quick)
    (status0, said0), (status1, said1) = (finish(p) for p in resumed)
    assert (status0, status1) == (0, 0), said0 + said1
    after = (run / "history.csv").read_text().splitlines()
    assert after[: len(done)] == done and [line.split(",")[0] for line in after[1:]] == ["1", "2", "3", "4", "5"]
    assert json.loads((run / "manifest.json").read_text())["status"] == "completed"
