"""`cnnlab train` end to end on tiny synthetic data: the run folder, its files, and its failures."""

from __future__ import annotations

import csv
import json
import os

import keras
import numpy as np
import pytest

from cnnlab.config import load_config
from cnnlab.data import load_arrays
from cnnlab.data.prepare import Preprocessing
from cnnlab.runtime.backend import visible_gpus
from cnnlab.runtime.processes import weights_digest
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import list_runs
from tests.conftest import TINY

DESIGN_FILES = [
    "config.yaml",
    "manifest.json",
    "history.csv",
    "tensorboard",
    "best.keras",
    "last.keras",
    "metrics.json",
    "predictions.npz",
    "report.md",
    "curves.png",
]


def test_run_folder_holds_every_file_of_the_design(trained):
    run, _, result = trained
    assert all((run / name).exists() for name in DESIGN_FILES), sorted(p.name for p in run.iterdir())
    assert not [p.name for p in run.iterdir() if ".tmp" in p.name]
    assert f"report: {run / 'report.html'}" in result.output  # the page a person opens
    assert "trained 3 epochs in " in result.output


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
    assert manifest["device"]["device"] == ("gpu" if visible_gpus() else "cpu") and manifest["seed"] == 42
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


@pytest.mark.trains
def test_nan_loss_fails_the_run_with_exit_1(run_cli, write, tmp_path):
    config = write(
        "nan.yaml", TINY.replace("{name: adam, learning_rate: 0.003}", "{name: sgd, learning_rate: 1.0e+30}")
    )
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    assert "NaN or infinite at epoch 1" in result.stderr
    (run,) = [p for p in (tmp_path / "runs" / "tiny").iterdir()]
    assert json.loads((run / "manifest.json").read_text())["status"] == "failed"


def test_config_mistake_leaves_no_run_folder(run_cli, write, tmp_path):
    config = write("bad.yaml", TINY.replace("name: adam", "name: adamm"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "did you mean adam" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_data_error_after_the_run_folder_exists_marks_the_run_failed(run_cli, write, tmp_path):
    # Test labels beyond the training labels' classes pass dataset_info (which reads the
    # training labels) and fail in prepare, after the run folder is made.
    data = tmp_path / "d.npz"
    np.savez(
        data,
        x_train=np.zeros((8, 8, 8), np.uint8),
        y_train=np.arange(8) % 3,
        x_test=np.zeros((2, 8, 8), np.uint8),
        y_test=np.array([0, 5]),
    )
    config = write("t.yaml", TINY.replace("dataset: synthetic", f"dataset: {data}").replace("  synthetic: {", "  # {"))
    runs = tmp_path / "runs"
    result = run_cli("train", config, "--runs-dir", runs)
    assert result.exit_code == 1 and "test labels run from 0 to 5" in result.stderr
    (run,) = list_runs(runs)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "test labels run from 0 to 5" in manifest["failure"]
    evaluate = run_cli("evaluate", "--runs-dir", runs)  # nothing trained: it must not pick this run
    assert evaluate.exit_code == 1
    assert f"the run failed before its first checkpoint: {data}: test labels run from 0 to 5" in evaluate.stderr


def test_evaluate_without_a_run_passes_over_a_newer_failed_one(run_cli, trained_copy):
    run, _ = trained_copy
    failed = run.parent / "29991231-235959"
    failed.mkdir()
    (failed / "config.yaml").write_text((run / "config.yaml").read_text())
    (failed / "manifest.json").write_text(json.dumps({"status": "failed", "failure": "bad data"}))
    result = run_cli("evaluate", "--runs-dir", run.parent.parent)
    assert result.exit_code == 0, result.output
    assert str(run) in result.stdout and str(failed) not in result.stdout


needs_no_gpu = pytest.mark.skipif(bool(visible_gpus()), reason="this machine has a GPU")


@needs_no_gpu
def test_gpu_request_without_a_gpu_is_a_clear_error(run_cli, write, tmp_path):
    result = run_cli("train", write("t.yaml", TINY), "--device", "gpu", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "error: --device: asks for a GPU, but TensorFlow sees none" in result.stderr  # the option typed


def test_mixed_precision_on_a_cpu_without_bfloat16_is_refused(run_cli, write, tmp_path, monkeypatch):
    monkeypatch.setattr("cnnlab.runtime.backend.cpu_has_bfloat16", lambda: False)
    config = write("t.yaml", TINY + "runtime: {device: cpu, mixed_precision: true}\n")
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().endswith(
        "runtime.mixed_precision: needs a GPU (float16) or a CPU with AVX512_BF16 or AMX (bfloat16); "
        "this machine has neither — set mixed_precision: false"
    )
    assert not (tmp_path / "runs").exists()  # refused before a run folder


@pytest.mark.trains
def test_mixed_precision_on_a_cpu_with_bfloat16_trains_in_bfloat16_with_a_float32_output(
    run_cli, write, tmp_path, monkeypatch
):
    monkeypatch.setattr("cnnlab.runtime.backend.cpu_has_bfloat16", lambda: True)  # emulated where it is not
    config = write("t.yaml", TINY + "runtime: {device: cpu, mixed_precision: true}\n")
    try:
        result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    finally:
        keras.config.set_dtype_policy("float32")  # the policy is global: later tests build in float32
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert RunFolder(run).manifest["device"]["dtype_policy"] == "mixed_bfloat16"
    model = keras.saving.load_model(RunFolder(run).checkpoint("best"))
    assert [layer.compute_dtype for layer in model.layers] == ["bfloat16", "bfloat16", "bfloat16", "float32"]


def test_managed_callbacks_are_refused_with_the_alternative(run_cli, write, tmp_path):
    config = write(
        "t.yaml", TINY.replace("batch_size: 8,", "batch_size: 8, callbacks: [{ModelCheckpoint: {filepath: x.keras}}],")
    )
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "best.keras and last.keras" in result.stderr


@pytest.mark.trains
def test_early_stopping_callback_stops_training(run_cli, write, tmp_path):
    config = write(
        "t.yaml",
        TINY.replace(
            "epochs: 3, batch_size: 8,",
            "epochs: 30, batch_size: 8, callbacks: [{EarlyStopping: {monitor: loss, min_delta: 100.0, patience: 1}}],",
        ),
    )
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert json.loads((run / "manifest.json").read_text())["epochs_completed"] == 2


# --- resume ----------------------------------------------------------------------------------


def _interrupted_tiny_run(write, tmp_path):
    """A run folder of TINY that says it was interrupted: what --resume checks before training."""
    run = tmp_path / "runs" / "tiny" / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(load_config(write("t.yaml", TINY)).to_yaml())
    (run / "manifest.json").write_text(json.dumps({"status": "interrupted"}))
    return run


def test_resume_refuses_a_changed_architecture_and_shows_the_difference(run_cli, write, tmp_path):
    run = _interrupted_tiny_run(write, tmp_path)
    changed = write("changed.yaml", TINY.replace("filters: 4", "filters: 8"))
    result = run_cli("train", changed, "--resume", run, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert "the model section differs" in result.stderr
    assert "-  - Conv2D:" in result.stderr or "filters: 4" in result.stderr
    assert "+" in result.stderr and "filters: 8" in result.stderr


def test_resume_refuses_another_seed(run_cli, write, tmp_path):
    run = _interrupted_tiny_run(write, tmp_path)
    result = run_cli("train", "--resume", run, "--set", "seed=7", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "the seed value differs" in result.stderr
    assert "-42" in result.stderr and "+7" in result.stderr


def test_resume_refuses_another_data_section(run_cli, write, tmp_path):
    """The validation split and the shuffles come from the data section: the finished epochs
    trained on examples that another one would put elsewhere."""
    run = _interrupted_tiny_run(write, tmp_path)
    result = run_cli("train", "--resume", run, "--set", "data.validation_split=0.3", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "the data section differs" in result.stderr
    assert "-validation_split: 0.1" in result.stderr and "+validation_split: 0.3" in result.stderr


@pytest.mark.trains
def test_resume_by_the_config_name_continues_its_newest_run(run_cli, write, tmp_path):
    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.errors import Interrupted
    from cnnlab.storage.lookup import create_run_folder

    class StopAfterTheFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    cfg = load_config(write("t.yaml", TINY))
    runs = tmp_path / "runs"
    run = create_run_folder(runs, cfg.name)
    with pytest.raises(Interrupted):
        train(plan(cfg), run, callbacks=[StopAfterTheFirstEpoch()])
    keras.backend.clear_session()
    result = run_cli("train", "--resume", "tiny", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert f"resuming tiny -> {run}" in result.output and list_runs(runs) == [run]
    assert [row["epoch"] for row in csv.DictReader(open(run / "history.csv"))] == ["1", "2", "3"]


def test_resume_of_a_completed_run_is_refused(run_cli, trained):
    run, _, _ = trained
    result = run_cli("train", "--resume", run, "--runs-dir", run.parent.parent)
    assert result.exit_code == 2 and "already completed all its 3 epochs" in result.stderr
    assert f"cnnlab train --resume {run} --epochs 6" in result.stderr


@pytest.mark.trains
def test_resume_with_more_epochs_continues_a_completed_run_keeping_its_rows_and_optimizer(run_cli, trained_copy):
    """The 2 new epochs start from the last one's weights and optimizer state: Adam's step
    counter ends at 5 epochs' steps (3 + 2), not 2 epochs' (a fresh optimizer), and the first
    3 history rows are byte for byte what they were."""
    run, _ = trained_copy
    rows_before = (run / "history.csv").read_text().splitlines()
    result = run_cli("train", "--resume", run, "--epochs", "5", "--runs-dir", run.parent.parent)
    assert result.exit_code == 0, result.output
    rows_after = (run / "history.csv").read_text().splitlines()
    assert rows_after[: len(rows_before)] == rows_before and len(rows_after) == 1 + 5
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_completed"] == 5
    assert manifest["timing"]["train_seconds"] == pytest.approx(
        sum(float(row["epoch_seconds"]) for row in csv.DictReader(open(run / "history.csv"))), abs=0.01
    )
    steps_per_epoch = -(-manifest["data"]["train_examples"] // 8)
    assert int(keras.saving.load_model(run / "last.keras").optimizer.iterations) == 5 * steps_per_epoch


@pytest.mark.trains
@pytest.mark.parametrize(
    "schedule, refused",
    [
        ("{CosineDecay: {initial_learning_rate: 0.003, decay_steps: 44}}", True),
        ("{warmup_cosine: {peak: 0.003}}", False),
    ],
)
def test_resume_with_more_epochs_refuses_a_schedule_sized_in_steps_and_stretches_a_fraction(
    run_cli, write, tmp_path, schedule, refused
):
    config = write("t.yaml", TINY.replace("epochs: 3", "epochs: 2").replace("0.003}", f"{schedule}}}"))
    assert run_cli("train", config, "--runs-dir", tmp_path / "runs").exit_code == 0
    (run,) = list_runs(tmp_path / "runs")
    result = run_cli("train", "--resume", run, "--epochs", "4", "--runs-dir", tmp_path / "runs")
    rows = list(csv.DictReader(open(run / "history.csv")))
    if refused:
        assert result.exit_code == 2
        assert (
            "learning_rate.CosineDecay: CosineDecay counts steps and was sized for this run's 2 epochs" in result.stderr
        )
        assert "warmup_cosine" in result.stderr and len(rows) == 2
    else:
        assert result.exit_code == 0, result.output
        assert len(rows) == 4


def test_best_checkpoint_is_chosen_by_validation_accuracy(trained):
    run, _, _ = trained
    rows = list(csv.DictReader(open(run / "history.csv")))
    accuracies = [float(r["val_accuracy"]) for r in rows]
    best_epoch = json.loads((run / "metrics.json").read_text())["best_epoch"]
    assert best_epoch == 1 + accuracies.index(max(accuracies))  # first epoch reaching the best


@pytest.mark.parametrize(
    "monitor, scores, best",
    [("val_accuracy", [0.5, 0.9, 0.7], 2), ("val_loss", [0.9, 0.4, 0.6], 2), (None, [0.5, 0.9, 0.7], 3)],
)
def test_best_keras_holds_the_weights_of_the_best_epoch(tmp_path, monitor, scores, best):
    """best.keras must be the model as it was at the best epoch, not at the last one."""
    from cnnlab.engine.callbacks import Checkpoints

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    checkpoints = Checkpoints(tmp_path, monitor)
    checkpoints.set_model(model)
    checkpoints.on_train_begin()
    weights = {}
    for epoch, score in enumerate(scores):
        model.set_weights([np.full((2, 1), epoch + 1.0), np.array([epoch + 1.0])])
        weights[epoch + 1] = model.get_weights()
        checkpoints.on_epoch_end(epoch, {"loss": 1.0, "val_accuracy": score, "val_loss": score})
    assert checkpoints.best_epoch == best
    for name, epoch in (("best.keras", best), ("last.keras", 3)):
        saved = keras.saving.load_model(tmp_path / name).get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(saved, weights[epoch])), name


@pytest.mark.trains
def test_without_validation_the_last_epoch_is_best(run_cli, write, tmp_path):
    config = write("t.yaml", TINY.replace("test_examples: 48}", "test_examples: 48}\n  validation_split: 0.0"))
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    assert json.loads((run / "metrics.json").read_text())["best_epoch"] == 3
    assert "val_loss" not in (run / "history.csv").read_text()


@pytest.mark.trains
def test_same_seed_gives_the_same_history(run_cli, write, tmp_path):
    config = write("t.yaml", TINY)
    for _ in range(2):
        assert run_cli("train", config, "--runs-dir", tmp_path / "runs").exit_code == 0
    first, second = list_runs(tmp_path / "runs")
    drop_times = [
        {k: v for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(open(first / "history.csv"))
    ]
    again = [
        {k: v for k, v in row.items() if k != "epoch_seconds"} for row in csv.DictReader(open(second / "history.csv"))
    ]
    assert drop_times == again


@pytest.mark.trains
def test_deterministic_runs_of_one_seed_end_with_the_same_weights(run_cli, write, tmp_path):
    config = write("t.yaml", TINY + "runtime: {deterministic: true}\n")
    digests = []
    for seed in (7, 7, 8):
        result = run_cli("train", config, "--runs-dir", tmp_path / f"runs{len(digests)}", "--set", f"seed={seed}")
        assert result.exit_code == 0, result.output
        (run,) = list_runs(tmp_path / f"runs{len(digests)}")
        manifest = RunFolder(run).manifest
        last = keras.saving.load_model(RunFolder(run).checkpoint("last"))
        assert manifest["weights_sha256"] == weights_digest(last)  # the digest is of the last epoch's weights
        digests.append(manifest["weights_sha256"])
    assert digests[0] == digests[1] != digests[2]  # the same seed repeats itself; another does not


def test_deterministic_runtime_turns_op_determinism_on_and_the_next_config_off_again(write):
    """From Python as from the shell: after a config with `runtime.deterministic`, the next one
    of the same process (a fresh command's would be) trains without op determinism; one that a
    user turned on stays on."""
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config  # no public getter

    from cnnlab.runtime import backend

    deterministic = load_config(write("d.yaml", TINY + "runtime: {deterministic: true}\n"))
    plain = load_config(write("p.yaml", TINY))
    try:
        assert backend.configure(deterministic)["deterministic"] is True
        assert tf_config.is_op_determinism_enabled()
        assert backend.configure(plain)["deterministic"] is False
        assert not tf_config.is_op_determinism_enabled()
        tf.config.experimental.enable_op_determinism()  # the user's own
        backend.configure(plain)
        assert tf_config.is_op_determinism_enabled()
    finally:
        tf_config.disable_op_determinism()  # the rest of this worker's tests as they were


def test_hparams_entry_is_written_for_tensorboard(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _, _ = trained
    events = EventAccumulator(str(run / "tensorboard" / "hparams"))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    values = {
        key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
        for key, value in start.hparams.items()
    }
    manifest = json.loads((run / "manifest.json").read_text())
    assert values == {  # the tiny config's, under the names the dashboard shows
        "dataset": "synthetic",
        "preprocess": "standardize",
        "optimizer": "adam",
        "batch_size": 8,
        "epochs": 3,
        "layers": 4,
        "parameters": manifest["parameters"],
        "seed": 42,
        "learning_rate": pytest.approx(0.003),
    }


def test_progress_is_live_on_a_terminal_and_plain_in_logs():
    from rich.console import Console

    from cnnlab.api.display import LiveProgress, PlainProgress, progress_callback

    assert isinstance(progress_callback(Console(force_terminal=True)), LiveProgress)
    assert isinstance(progress_callback(Console(force_terminal=False, file=open(os.devnull, "w"))), PlainProgress)


def test_the_live_bar_shows_the_batches_done_and_the_running_metrics_of_an_epoch_of_unknown_length():
    """Keras' calls as fit makes them on data of unknown length (steps None). The bugs: the
    count one ahead of the batches done, or the running loss and accuracy left off the bar."""
    import io

    from rich.console import Console

    from cnnlab.api.display import LiveProgress

    live = LiveProgress(Console(file=io.StringIO(), force_terminal=True, width=200))
    live.set_params({"epochs": 2, "steps": None})
    live.on_train_begin()
    live.on_epoch_begin(0)
    live.on_train_batch_end(4, {"loss": 0.5, "accuracy": 0.25, "learning_rate": 0.001})
    (task,) = live.progress.tasks
    assert (task.description, task.completed, task.total) == ("epoch 1/2", 5, None)
    assert task.fields["metrics"] == "loss 0.500  accuracy 0.250"
    live.on_epoch_end(0, {"loss": 0.25, "accuracy": 0.5, "val_loss": 0.75})
    assert task.fields["metrics"] == "loss 0.250  accuracy 0.500  val_loss 0.750"
    live.on_train_end()


def test_weight_histograms_are_tensorboards_own(trained):
    """Every weight's histogram at every epoch, under Keras' tags, readable by TensorBoard, and at
    the last epoch bucket for bucket what TensorBoard's own histogram_pb makes of last.keras."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb
    from tensorboard.util.tensor_util import make_ndarray

    run, _, _ = trained
    events = EventAccumulator(str(run / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    model = keras.saving.load_model(run / "last.keras")
    tags = set(events.PluginTagToContent("histograms"))
    assert tags == {f"{w.path}/histogram" for layer in model.layers for w in layer.weights}
    for layer in model.layers:
        for weight in layer.weights:
            written = events.Tensors(f"{weight.path}/histogram")
            assert [e.step for e in written] == [0, 1, 2]
            theirs = make_ndarray(histogram_pb("x", keras.ops.convert_to_numpy(weight)).value[0].tensor)
            assert np.allclose(make_ndarray(written[-1].tensor_proto), theirs)


@pytest.mark.trains
def test_a_schedule_sized_for_another_run_length_is_pointed_out(run_cli, write, tmp_path):
    """173 training examples after the validation split: 22 batches of 8, 1 epoch. A cosine
    over 4 + 1,000 steps would stop early; one over 4 + 18 fits and says nothing."""

    def train_with(decay_steps: int):
        schedule = (
            "{name: adam, learning_rate: {CosineDecay: {initial_learning_rate: 0.0, warmup_target: 0.003, "
            f"warmup_steps: 4, decay_steps: {decay_steps}}}}}}}"
        )
        text = TINY.replace("{name: adam, learning_rate: 0.003}", schedule).replace("epochs: 3", "epochs: 1")
        config = write(f"cosine{decay_steps}.yaml", text)
        result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
        assert result.exit_code == 0, result.output
        return result.output

    assert "CosineDecay spans 1,004 steps but this run takes 22: it stops before its end" in train_with(1000)
    assert "CosineDecay spans" not in train_with(18)


@pytest.mark.trains
def test_a_run_records_the_sha256_of_the_data_file_it_read(run_cli, write, tmp_path):
    """The manifest names what was read, so that a result can be traced to its data: the
    SHA-256 of the .npz, by hashlib here."""
    import hashlib

    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.integers(0, 255, (24, 8, 8), np.uint8), y_train=np.arange(24) % 3,
             x_test=rng.integers(0, 255, (6, 8, 8), np.uint8), y_test=np.arange(6) % 3)  # fmt: skip
    config = write("t.yaml", TINY.replace("dataset: synthetic", f"dataset: {data}").replace("  synthetic: {", "  # {"))
    result = run_cli("train", config, "--set", "train.epochs=1", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    recorded = json.loads((run / "manifest.json").read_text())["data"]["checksums"]
    assert recorded == {"d.npz": hashlib.sha256(data.read_bytes()).hexdigest()}
