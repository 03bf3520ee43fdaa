"""A number that cannot be right says so. A one-epoch quick look of mnist_fast scored 0.85 in
training and 0.16 on the test split: its batch norm moving averages lagged behind weights that
moved fast. Training now ends by recomputing them for the final weights; a test accuracy that
is still far below the training accuracy, or barely above chance, carries a note."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import REPO, TINY_DATA


def _dense_then_batch_norm(frozen: bool = False):
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), keras.layers.BatchNormalization(), keras.layers.Dense(2)]
    )
    model.layers[1].trainable = not frozen
    return model


@pytest.mark.parametrize("examples, batch", [(1000, 250), (900, 250)], ids=["whole batches", "a short last batch"])
def test_recomputed_statistics_are_the_average_of_the_batches_statistics(examples, batch):
    """Worked out with NumPy from the Dense layer's own kernel: the input the batch norm sees
    is x @ W + b; Keras' moving mean and variance must end as the plain average of each
    batch's mean and (biased) variance over the first `examples` rows, whatever they held."""
    from cnnlab.engine.batchnorm import recompute_statistics

    model = _dense_then_batch_norm()
    norm = model.layers[1]
    norm.moving_mean.assign(np.full(4, 50.0))  # lagging statistics, far from the data's
    x = np.random.default_rng(0).normal(2.0, 3.0, (1200, 3)).astype("float32")
    kernel, bias = (w.numpy() if hasattr(w, "numpy") else np.asarray(w) for w in model.layers[0].weights)
    seen = x[:examples] @ kernel + bias
    batches = [seen[i : i + batch] for i in range(0, examples, batch)]

    assert recompute_statistics(model, x, examples=examples, batch=batch) == examples
    assert np.allclose(norm.moving_mean.numpy(), np.mean([b.mean(axis=0) for b in batches], axis=0), atol=1e-4)
    assert np.allclose(norm.moving_variance.numpy(), np.mean([b.var(axis=0) for b in batches], axis=0), rtol=1e-4)
    assert norm.momentum == 0.99  # Keras' own, back for any training that follows


def test_a_frozen_batch_norm_keeps_its_statistics_and_a_model_without_one_is_left_alone():
    from cnnlab.engine.batchnorm import recompute_statistics

    model = _dense_then_batch_norm(frozen=True)
    before = [w.numpy().copy() for w in model.layers[1].weights]
    assert recompute_statistics(model, np.ones((64, 3), "float32")) == 0
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.layers[1].weights))


BATCH_NORM = """
name: normed
model:
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, use_bias: false}
    - BatchNormalization
    - ReLU
    - Flatten
    - Dense: {units: 3, activation: softmax}
train: {epochs: 1, batch_size: 16, optimizer: {name: adam, learning_rate: 0.05}}
"""


@pytest.mark.trains
def test_a_trained_run_evaluates_the_model_with_recomputed_statistics_and_keeps_them(run_cli, write, tmp_path):
    """best.keras is rewritten with the statistics the report scored (evaluate, predict and
    export must see the same model); last.keras keeps training's own, for resuming."""
    import keras

    from cnnlab.data import load_splits
    from cnnlab.engine.batchnorm import recompute_statistics
    from cnnlab.storage.lookup import list_runs

    config = write("normed.yaml", BATCH_NORM + TINY_DATA)
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    manifest = json.loads((run / "manifest.json").read_text())
    used = manifest["data"]["train_examples"]  # 192 less the validation split's share
    assert manifest["batch_norm_recomputed"] == used == 173
    assert f"batch norm statistics recomputed for the final weights ({used} images)" in result.output

    from cnnlab.config import load_config

    cfg = load_config(run / "config.yaml")
    splits = load_splits(cfg, 3)
    best, last = (keras.saving.load_model(run / name) for name in ("best.keras", "last.keras"))
    recompute_statistics(last, splits.x_train)  # the oracle: the same pass on the same weights
    norm = {model: next(layer for layer in model.layers if "batch" in layer.name) for model in (best, last)}
    assert np.allclose(norm[best].moving_mean.numpy(), norm[last].moving_mean.numpy(), atol=1e-5)
    accuracy = float(np.mean(best.predict(splits.x_test, verbose=0).argmax(1) == splits.labels_test))
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == pytest.approx(accuracy, abs=1e-6)
    untouched = keras.saving.load_model(run / "last.keras")
    assert not np.allclose(norm[best].moving_variance.numpy(), untouched.layers[1].moving_variance.numpy())


@pytest.mark.trains
def test_the_benchmark_scores_last_keras_as_trained_and_as_the_run_scored_it(
    run_cli, write, tmp_path, capsys, monkeypatch
):
    """benchmarks/batch_norm.py: "nothing" is last.keras as training left it, "recomputed" what
    the run's own evaluation scored (one epoch, no validation: best and last are one epoch)."""
    import runpy

    import keras

    from cnnlab.config import load_config
    from cnnlab.data import load_splits
    from cnnlab.storage.lookup import list_runs

    config = write(
        "normed.yaml", BATCH_NORM + TINY_DATA.replace("dataset: synthetic", "dataset: synthetic\n  validation_split: 0")
    )
    assert run_cli("train", config, "--runs-dir", tmp_path / "runs").exit_code == 0
    (run,) = list_runs(tmp_path / "runs")
    splits = load_splits(load_config(run / "config.yaml"), 3)
    last = keras.saving.load_model(run / "last.keras")
    as_trained = float(np.mean(last.predict(splits.x_test, verbose=0).argmax(1) == splits.labels_test))
    monkeypatch.setattr("sys.argv", ["batch_norm.py", str(run)])
    capsys.readouterr()
    runpy.run_path(str(REPO / "benchmarks" / "batch_norm.py"), run_name="__main__")
    row = capsys.readouterr().out.splitlines()[1].split()
    scored = json.loads((run / "metrics.json").read_text())["accuracy"]
    assert [float(row[2]), float(row[3])] == [pytest.approx(as_trained, abs=5e-5), pytest.approx(scored, abs=5e-5)]


CANNOT_LEARN = """
name: still
model:
  layers:
    - Flatten
    - Dense: {units: 3, activation: softmax, kernel_initializer: zeros, bias_initializer: zeros, trainable: false}
train: {epochs: 1, batch_size: 16}
"""


@pytest.mark.trains
def test_a_test_accuracy_at_chance_carries_a_note_in_the_command_the_report_and_the_run(write, tmp_path):
    """All weights zero and frozen: every image gets equal probabilities, the
    first class wins, and 16 of the 48 test images (a third, as with 3 balanced classes) are
    right. The command, report.md, report.html and Run.caveat all say it is chance."""
    import cnnlab
    from cnnlab.api.progress import Progress

    config = write("still.yaml", CANNOT_LEARN + TINY_DATA)
    printed = []
    progress = Progress(quiet=False)
    progress.console.print = lambda text, **_: printed.append(str(text))
    run = cnnlab.train(config, runs_dir=tmp_path / "runs", progress=progress)
    assert run.metrics["accuracy"] == pytest.approx(16 / 48)
    assert run.caveat.startswith("test accuracy 0.3333 is barely above chance (0.33 for 3 classes)")
    assert f"note: {run.caveat}" in printed
    test_line = next(i for i, line in enumerate(printed) if line.startswith("test ("))
    assert printed[test_line + 1] == f"note: {run.caveat}"  # right under the number
    assert f"Note: {run.caveat}." in (run.path / "report.md").read_text()
    assert "barely above chance" in (run.path / "report.html").read_text()
