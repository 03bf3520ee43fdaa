"""Each speed lever of benchmarks/README.md keeps the results what they were without it.

The timings themselves live in benchmarks/, never here; these tests catch a lever that makes
training faster by training differently, or that blinds the NaN guard.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

from cnnlab.config import load_config
from cnnlab.engine.callbacks import NanGuard
from cnnlab.engine.plan import plan
from cnnlab.engine.training import train
from cnnlab.errors import RunError
from cnnlab.runtime import backend
from cnnlab.storage.folders import RunFolder, read_history
from cnnlab.storage.lookup import create_run_folder
from tests.conftest import TINY


def _tiny_model(steps_per_execution: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", steps_per_execution=steps_per_execution)
    return model


class EpochEnds(keras.callbacks.Callback):
    """Records which epochs Keras ended: a NaN epoch must never reach on_epoch_end."""

    def __init__(self):
        super().__init__()
        self.ended: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.ended.append(epoch)


def _data(bad_batch: int | None, batches: int = 12, batch_size: int = 8):
    """(x, y): `batches` batches of 8 examples; the first example of the 1-based batch
    `bad_batch` is NaN."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batches * batch_size, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, len(x))]
    if bad_batch:
        x[(bad_batch - 1) * batch_size] = np.nan
    return x, y


@pytest.mark.trains
@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_nan_guard_names_the_first_bad_batch_and_runs_no_further_chunk(steps_per_execution):
    model = _tiny_model(steps_per_execution)
    guard, ends = NanGuard(), EpochEnds()
    x, y = _data(bad_batch=6)
    with pytest.raises(RunError, match=r"at epoch 1, batch 6 "):
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[guard, ends])
    # Batch 6 lies in the chunk of batches 5-8 when 4 run per call: the guard stops there.
    assert int(model.optimizer.iterations) == (6 if steps_per_execution == 1 else 8)
    assert ends.ended == []


@pytest.mark.trains
def test_nan_guard_counts_batches_from_each_epochs_start():
    model = _tiny_model(steps_per_execution=4)
    guard = NanGuard()
    model.fit(*_data(bad_batch=None), batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[guard])
    with pytest.raises(RunError, match=r"at epoch 3, batch 3 "):
        model.fit(
            *_data(bad_batch=3), batch_size=8, initial_epoch=2, epochs=3, shuffle=False, verbose=0, callbacks=[guard]
        )


@pytest.mark.trains
def test_the_live_progress_counts_the_batches_of_an_epoch_with_several_per_call():
    import io

    from rich.console import Console

    from cnnlab.api.display import LiveProgress

    progress = LiveProgress(Console(file=io.StringIO(), force_terminal=True))
    model = _tiny_model(steps_per_execution=4)
    x, y = _data(bad_batch=None, batches=10)  # 10 batches: calls of 4, 4 and 2
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[progress])
    tasks = progress.progress.tasks
    assert [(t.completed, t.total) for t in tasks] == [(10, 10), (10, 10)]


@pytest.mark.trains
def test_the_guarded_model_saves_and_loads_as_plain_keras(tmp_path):
    model = _tiny_model(steps_per_execution=4)
    model.fit(*_data(bad_batch=None), batch_size=8, epochs=1, verbose=0, callbacks=[NanGuard()])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert "train_step" not in vars(loaded) and type(loaded) is keras.Sequential


def _trained_weights(tmp_path, steps_per_execution: int):
    path = tmp_path / f"spe{steps_per_execution}.yaml"
    path.write_text(TINY)
    cfg = load_config(path, [f"train.steps_per_execution={steps_per_execution}", "data.validation_split=0.25"])
    run = create_run_folder(tmp_path / "runs", cfg.name)
    RunFolder(run).save_config(cfg.to_yaml())
    train(plan(cfg), run)
    weights = keras.saving.load_model(run / "last.keras").get_weights()
    return weights, read_history(run / "history.csv")


@pytest.mark.trains
def test_several_steps_per_execution_train_the_same_weights_as_one_each_tracing_its_step_once(tmp_path, monkeypatch):
    """The step is traced once per training: the optimizer's and metrics' variables exist before
    the first trace (otherwise TensorFlow traces a function that made variables twice)."""
    from cnnlab.engine import callbacks

    traces, guarded = [], callbacks._counting_first_nonfinite

    def counted(train_step, steps, first_bad):
        step = guarded(train_step, steps, first_bad)
        return lambda data: traces.append(data) or step(data)  # Python runs only while tracing

    monkeypatch.setattr(callbacks, "_counting_first_nonfinite", counted)
    one, history_one = _trained_weights(tmp_path, 1)
    eight, history_eight = _trained_weights(tmp_path, 8)
    assert len(traces) == 2
    for a, b in zip(one, eight):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    for row_one, row_eight in zip(history_one, history_eight):
        assert row_one["loss"] == pytest.approx(row_eight["loss"], abs=1e-6)
        assert row_one["val_accuracy"] == row_eight["val_accuracy"]


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "200000 100000\n"}, 2.0),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu.max": "garbage"}, None),
        ({}, None),
    ],
)
def test_cgroup_cpu_quota_reads_both_cgroup_versions(tmp_path, files, quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert backend.cgroup_cpu_quota(tmp_path) == quota


def test_usable_cores_rounds_a_quota_up_and_never_exceeds_the_affinity(tmp_path):
    import os

    affinity = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert backend.usable_cores(tmp_path) == 1  # half a CPU still needs one thread
    (tmp_path / "cpu.max").write_text(f"{(affinity + 7) * 100000} 100000\n")
    assert backend.usable_cores(tmp_path) == affinity


@pytest.mark.processes
def test_the_three_pictures_every_run_draws_need_no_matplotlib(tmp_path):
    """Curves, confusion matrix and mistakes are drawn by Pillow; importing matplotlib for its
    font or its colours would cost every training process a third of a second again."""
    script = f"""
import sys
from pathlib import Path
import numpy as np
from cnnlab.reporting import confusion, curves, gallery
folder = Path({str(tmp_path)!r})
curves.learning_curves([{{"epoch": 1, "loss": 0.5, "val_loss": 0.6}}], folder / "c.png")
confusion.confusion_matrix(np.array([[3, 1], [0, 4]]), ["a", "b"], folder / "m.png")
images, truth = np.zeros((2, 4, 4, 1)), np.array([0, 1])
gallery.misclassified(images, truth, 1 - truth, np.full((2, 2), 0.5), ["a", "b"], folder / "g.png",
                      np.array([0, 1]), heatmaps=np.ones((2, 4, 4)) / 2)
print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert {p.name for p in tmp_path.iterdir()} == {"c.png", "m.png", "g.png"}


@pytest.mark.processes
def test_a_cnnlab_command_starts_keras_fitted_to_its_quota_frozen_and_without_what_it_never_uses():
    """What only a fresh `cnnlab` process shows, all from one probe (TensorFlow's start-up is the
    probe's cost, 3 s here):

    - Keras starts without scikit-learn (Keras' wrappers), pandas (DataFrames given to fit),
      matplotlib (`keras.visualization`'s galleries) and, on TensorFlow, JAX (TFLite's converter
      from JAX functions): 2.2 s of a 5 s start. All still import afterwards, for Keras Tuner's
      Bayesian search, a run's `history_frame`, `cnnlab visualize`'s plots and whoever else
      needs them.
    - TensorFlow's thread pools follow a CPU quota below the visible cores.
    - The objects that importing TensorFlow and Keras made are frozen out of the garbage
      collector's sight, so that Keras' clear_session before each training does not walk them
      all again (0.4 s each)."""
    script = """
import gc, sys
from unittest import mock
import cnnlab.runtime.backend as b
from cnnlab.cli import main
sys.argv = ["cnnlab", "summary", "configs/mnist_fast.yaml"]
with mock.patch.object(b, "usable_cores", return_value=1), mock.patch.object(b, "_affinity_cores", return_value=2):
    try:
        main()
    except SystemExit as done:
        code = done.code
started = [name for name in ("sklearn", "pandas", "matplotlib", "jax") if name in sys.modules]
from tensorflow.config import threading
threads = [threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()]
frozen = gc.get_freeze_count()
import sklearn.gaussian_process, pandas, matplotlib.pyplot, jax.numpy
print("at start:", started, "threads:", threads, "frozen:", frozen, file=sys.stderr)
sys.exit(code)
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}  # as `train` sets it from its config
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Total params" in done.stdout or "parameters" in done.stdout
    said = re.search(r"at start: (.*) threads: \[(\d+), (\d+)\] frozen: (\d+)", done.stderr)
    assert said, done.stderr[-2000:]
    assert said.group(1) == "[]"
    assert (int(said.group(2)), int(said.group(3))) == (1, 1)
    assert int(said.group(4)) > 100_000  # some 450,000 here; none before Keras started


def test_only_a_process_of_one_command_leaves_out_what_keras_imports_for_others(monkeypatch):
    monkeypatch.setattr(backend, "_one_command", False)
    assert backend._unused_at_start() == []  # a user's own Python: Keras as Keras makes it
    monkeypatch.setattr(backend, "_one_command", True)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backend._unused_at_start() == ["sklearn", "pandas", "matplotlib"]  # JAX trains: not left out
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backend._unused_at_start() == ["sklearn", "pandas", "matplotlib", "jax"]
    monkeypatch.delenv("KERAS_BACKEND")  # Keras may read JAX from its keras.json: not held back
    assert backend._unused_at_start() == ["sklearn", "pandas", "matplotlib"]


def test_a_module_held_back_fails_to_import_only_while_held(monkeypatch, tmp_path):
    import json

    (tmp_path / "cnnlab_held_module.py").write_text("ANSWER = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with backend._held_back(["cnnlab_held_module", "json"]):
        with pytest.raises(ImportError):
            import cnnlab_held_module  # noqa: F401
        assert __import__("json") is json  # already imported: nothing to hold back
    import cnnlab_held_module

    assert cnnlab_held_module.ANSWER == 42
    monkeypatch.delitem(sys.modules, "cnnlab_held_module")
