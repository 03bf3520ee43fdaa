"""`cnnlab train` end to end on tiny synthetic data: the run folder, its files, and its failures."""

from __future__ import annotations

import csv
import os
import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from cnnlab.config import load_config
from cnnlab.data import load_arrays
from cnnlab.data.prepare import Preprocessing
from cnnlab.runs import list_runs
from tests.conftest import REPO, TINY

DESIGN_FILES = ["config.yaml", "manifest.json", "history.csv", "tensorboard", "best.keras",
                "last.keras", "metrics.json", "predictions.npz", "report.md", "curves.png"]


def test_run_folder_holds_every_file_of_the_design(trained):
    run, _, result = trained
    assert all((run / name).exists() for name in DESIGN_FILES), sorted(p.name for p in run.iterdir())
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert f"report: {run / 'report.md'}" in result.output


def test_history_has_one_row_per_epoch(trained):
    run, _, _ = trained
    with open(run / "history.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"} <= set(rows[0])


def test_manifest_records_how_the_run_went(trained):
    run, _, _ = trained
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 3
    assert manifest["device"]["device"] == "cpu" and manifest["seed"] == 42
    assert manifest["versions"]["keras"] == keras.__version__
    assert len(manifest["data"]["checksums"]["synthetic"]) == 64
    assert manifest["data"]["train_examples"] + manifest["data"]["validation_examples"] == 192
    assert manifest["timing"]["images_per_second"] > 0


def test_saved_config_reruns_as_is(trained):
    run, config, _ = trained
    assert load_config(run / "config.yaml").model_dump() == load_config(config).model_dump()


def test_tensorboard_scalars_are_readable(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    run, _, _ = trained
    events = EventAccumulator(str(run / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    loss = events.Tensors("epoch_loss")
    assert [e.step for e in loss] == [0, 1, 2]
    history_loss = [float(r["loss"]) for r in csv.DictReader(open(run / "history.csv"))]
    assert np.allclose([float(make_ndarray(e.tensor_proto)) for e in loss], history_loss, rtol=1e-5)
    assert (run / "tensorboard" / "hparams").is_dir()


def test_checkpoint_reload_gives_the_stored_predictions(trained):
    run, config, _ = trained
    arrays = load_arrays(load_config(config))
    preprocessing = Preprocessing.load(run / "preprocessing.npz")  # standardize stats of the run
    model = keras.saving.load_model(run / "best.keras")
    probabilities = model.predict(preprocessing.apply(arrays.x_test), verbose=0)
    stored = np.load(run / "predictions.npz")
    assert np.allclose(probabilities, stored["probabilities"], atol=1e-5)
    assert np.array_equal(stored["y_true"], arrays.y_test)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["correct"] == int((stored["y_pred"] == stored["y_true"]).sum())
    assert metrics["accuracy"] == pytest.approx(metrics["correct"] / metrics["examples"], abs=1e-6)


def test_tiny_model_learns_the_synthetic_task(trained):
    run, _, _ = trained
    assert json.loads((run / "metrics.json").read_text())["accuracy"] > 0.6  # chance is 1/3


def test_nan_loss_fails_the_run_with_exit_1(run_cli, write, tmp_path):
    config = write("nan.yaml", TINY.replace("{name: adam, learning_rate: 0.003}", "{name: sgd, learning_rate: 1.0e+30}"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    assert "NaN or infinite at epoch 1" in result.stderr
    (run,) = [p for p in (tmp_path / "runs" / "tiny").iterdir()]
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"


def test_config_mistake_leaves_no_run_folder(run_cli, write, tmp_path):
    config = write("bad.yaml", TINY.replace("name: adam", "name: adamm"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "did you mean adam" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("config.yaml"))


def test_gpu_request_without_a_gpu_is_a_clear_error(run_cli, write, tmp_path):
    result = run_cli("train", write("t.yaml", TINY), "--device", "gpu", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "runtime.device: asks for a GPU, but TensorFlow sees none" in result.stderr


def test_mixed_precision_on_cpu_is_refused(run_cli, write, tmp_path):
    config = write("t.yaml", TINY + "runtime: {device: cpu, mixed_precision: true}\n")
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "mixed_float16 needs a GPU" in result.stderr


def test_managed_callbacks_are_refused_with_the_alternative(run_cli, write, tmp_path):
    config = write("t.yaml", TINY.replace("batch_size: 8,", "batch_size: 8, callbacks: [{ModelCheckpoint: {filepath: x.keras}}],"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "best.keras and last.keras" in result.stderr


def test_early_stopping_callback_stops_training(run_cli, write, tmp_path):
    config = write("t.yaml", TINY.replace(
        "epochs: 3, batch_size: 8,",
        "epochs: 30, batch_size: 8, callbacks: [{EarlyStopping: {monitor: loss, min_delta: 100.0, patience: 1}}],"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert json.loads((run / "manifest.json").read_text())["epochs_completed"] == 2


# --- interrupt, then resume ------------------------------------------------------------------

SLOW = """
name: slow
data:
  dataset: synthetic
  validation_split: 0.1
  synthetic: {input_shape: [16, 16, 1], num_classes: 3, train_examples: 3000, test_examples: 60}
model:
  layers:
    - Conv2D: {filters: 8, kernel_size: 3, activation: relu}
    - Flatten
    - Dense: {units: 3, activation: softmax}
train: {epochs: 6, batch_size: 4}
tensorboard: {histogram_freq: 0}
"""


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_resumes_to_the_configured_epoch_count(run_cli, write, tmp_path, stop_signal):
    config = write("slow.yaml", SLOW)
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-m", "cnnlab", "train", str(config), "--runs-dir", str(runs)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        history = list(runs.glob("slow/*/history.csv"))
        if history and len(history[0].read_text().splitlines()) >= 2:  # header + one epoch
            break
        time.sleep(0.2)
    process.send_signal(stop_signal)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    (run,) = list_runs(runs)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and 1 <= manifest["epochs_completed"] < 6
    assert f"cnnlab train --resume {run}" in err and "Traceback" not in err

    result = run_cli("train", "--resume", str(run), "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and len(manifest["resumed"]) == 1
    assert list_runs(runs) == [run]  # resumed in place, no new folder


def test_resume_refuses_a_changed_architecture_and_shows_the_difference(run_cli, write, tmp_path):
    run = tmp_path / "runs" / "tiny" / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(load_config(write("t.yaml", TINY)).to_yaml())
    (run / "manifest.json").write_text(json.dumps({"status": "interrupted"}))
    changed = write("changed.yaml", TINY.replace("filters: 4", "filters: 8"))
    result = run_cli("train", changed, "--resume", run, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "the model section differs" in result.stderr
    assert "-  - Conv2D:" in result.stderr or "filters: 4" in result.stderr
    assert "+" in result.stderr and "filters: 8" in result.stderr


def test_resume_of_a_completed_run_is_refused(run_cli, trained):
    run, _, _ = trained
    result = run_cli("train", "--resume", run, "--runs-dir", run.parent.parent)
    assert result.exit_code == 2 and "already completed" in result.stderr


def test_best_checkpoint_is_chosen_by_validation_accuracy(trained):
    run, _, _ = trained
    rows = list(csv.DictReader(open(run / "history.csv")))
    accuracies = [float(r["val_accuracy"]) for r in rows]
    best_epoch = json.loads((run / "metrics.json").read_text())["best_epoch"]
    assert best_epoch == 1 + accuracies.index(max(accuracies))  # first epoch reaching the best


def test_without_validation_the_last_epoch_is_best(run_cli, write, tmp_path):
    config = write("t.yaml", TINY.replace("test_examples: 48}", "test_examples: 48}\n  validation_split: 0.0"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert json.loads((run / "metrics.json").read_text())["best_epoch"] == 3
    assert "val_loss" not in (run / "history.csv").read_text()


def test_same_seed_gives_the_same_history(run_cli, write, tmp_path):
    config = write("t.yaml", TINY)
    for _ in range(2):
        assert run_cli("train", config, "--runs-dir", tmp_path / "runs").exit_code == 0
    first, second = list_runs(tmp_path / "runs")
    drop_times = [{k: v for k, v in row.items() if k != "epoch_seconds"}
                  for row in csv.DictReader(open(first / "history.csv"))]
    again = [{k: v for k, v in row.items() if k != "epoch_seconds"}
             for row in csv.DictReader(open(second / "history.csv"))]
    assert drop_times == again


def test_deterministic_runtime_turns_on_op_determinism(write):
    config = write("t.yaml", TINY + "runtime: {deterministic: true}\n")
    probe = ("import sys, tensorflow as tf\n"
             "from cnnlab.config import load_config\nfrom cnnlab import backend\n"
             f"chosen = backend.configure(load_config({str(config)!r}))\n"
             "from tensorflow.python.framework import config as tf_config\n"  # no public getter
             "print(tf_config.is_op_determinism_enabled(), chosen['deterministic'])\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO)
    assert done.stdout.split() == ["True", "True"], done.stderr[-2000:]


def test_hparams_entry_is_written_for_tensorboard(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _, _ = trained
    events = EventAccumulator(str(run / "tensorboard" / "hparams"))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in content
    assert b"batch_size" in content["_hparams_/session_start_info"]


def test_progress_is_live_on_a_terminal_and_plain_in_logs():
    from rich.console import Console

    from cnnlab.cli.display import LiveProgress, PlainProgress, progress_callback

    assert isinstance(progress_callback(Console(force_terminal=True)), LiveProgress)
    assert isinstance(progress_callback(Console(force_terminal=False, file=open(os.devnull, "w"))), PlainProgress)
