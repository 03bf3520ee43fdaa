"""Which epoch becomes best.keras, on a run whose best epoch is not its last.

The fixture run's learning rate jumps from 0.01 to 1.0 for its sixth and last epoch, which
wrecks it: validation accuracy reaches 1.0 at epoch 3 and stays there until the jump, validation
loss keeps falling until epoch 5. So the three choices differ: `monitor: auto` (validation
accuracy, first best) picks epoch 3, `monitor: val_loss` epoch 5, and the last epoch is 6. A run
that kept the last epoch, or judged by the wrong metric, or forgot its best on resume, shows it.
"""

from __future__ import annotations

import json

import keras
import pytest

from cnnlab.config import load_config
from cnnlab.engine.plan import plan
from cnnlab.engine.training import train
from cnnlab.errors import Interrupted
from cnnlab.storage.folders import read_history
from cnnlab.storage.lookup import create_run_folder, list_runs
from tests.conftest import TINY_MODEL, stop_after_epoch

PEAK = (
    """
name: peak
data:
  dataset: synthetic
  validation_split: 0.25
  synthetic: {input_shape: [8, 8, 1], num_classes: 3, train_examples: 192, test_examples: 48}
"""
    + TINY_MODEL
    + """train:
  epochs: 6
  batch_size: 8
  optimizer: {name: adam, learning_rate: {PiecewiseConstantDecay: {boundaries: [90], values: [0.01, 1.0]}}}
tensorboard: {enabled: false}
"""
)  # 144 training examples in batches of 8: 18 steps an epoch, so step 90 begins epoch 6


def history(run) -> list[dict]:
    return read_history(run / "history.csv")


def manifest(run) -> dict:
    return json.loads((run / "manifest.json").read_text())


def val_metrics(run_cli, run, checkpoint: str) -> dict:
    """The checkpoint evaluated again on the validation split, by cnnlab evaluate."""
    result = run_cli("evaluate", run, "--data", "val", "--checkpoint", checkpoint)
    assert result.exit_code == 0, result.output
    return json.loads((run / "metrics_val.json").read_text())


@pytest.fixture(scope="module")
def peak(tmp_path_factory):
    """(config path, the run trained with monitor: auto)."""
    from click.testing import CliRunner

    from cnnlab.cli import cli

    folder = tmp_path_factory.mktemp("peak")
    config = folder / "peak.yaml"
    config.write_text(PEAK)
    result = CliRunner().invoke(cli, ["train", str(config), "--runs-dir", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    (run,) = list_runs(folder / "runs")
    rows = history(run)
    accuracy, loss = [r["val_accuracy"] for r in rows], [r["val_loss"] for r in rows]
    # The fixture discriminates: the first best accuracy, the lowest loss and the last epoch differ.
    assert (accuracy.index(max(accuracy)) + 1, loss.index(min(loss)) + 1, len(rows)) == (3, 5, 6), (accuracy, loss)
    return config, run


def test_best_keras_is_the_epoch_of_the_best_validation_accuracy_not_the_last(run_cli, peak):
    _, run = peak
    rows = history(run)
    assert manifest(run)["best_epoch"] == 3 and json.loads((run / "metrics.json").read_text())["best_epoch"] == 3
    best = val_metrics(run_cli, run, "best")
    assert best["checkpoint"] == "best.keras"
    assert best["accuracy"] == pytest.approx(rows[2]["val_accuracy"]) and best["loss"] == pytest.approx(
        rows[2]["val_loss"], rel=1e-4
    )
    assert best["accuracy"] > rows[5]["val_accuracy"] + 0.3  # the wrecked last epoch is far worse


def test_evaluate_checkpoint_last_evaluates_the_last_epoch(run_cli, peak):
    _, run = peak
    rows = history(run)
    last = val_metrics(run_cli, run, "last")
    assert last["checkpoint"] == "last.keras"
    assert last["accuracy"] == pytest.approx(rows[5]["val_accuracy"])
    assert last["loss"] == pytest.approx(rows[5]["val_loss"], rel=1e-4)


@pytest.mark.trains
def test_an_explicit_monitor_val_loss_picks_the_lowest_loss_epoch(run_cli, peak, tmp_path):
    config, _ = peak
    result = run_cli("train", config, "--set", "train.monitor=val_loss", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    (run,) = list_runs(tmp_path / "runs")
    rows = history(run)
    assert manifest(run)["best_epoch"] == 5
    assert val_metrics(run_cli, run, "best")["loss"] == pytest.approx(rows[4]["val_loss"], rel=1e-4)


@pytest.mark.trains
def test_a_resumed_run_keeps_the_best_epoch_it_had(run_cli, peak, tmp_path):
    """Stopped after epoch 4 (best so far: 3), resumed: epochs 5 and 6 are not better, so
    best.keras must stay epoch 3's, whatever a fresh start would have thought of epoch 5."""
    config, _ = peak
    cfg = load_config(config)
    run = create_run_folder(tmp_path / "runs", cfg.name)
    with pytest.raises(Interrupted, match="after 4 of 6 epochs"):
        train(plan(cfg), run, callbacks=[stop_after_epoch(4)])
    assert manifest(run)["best_epoch"] == 3
    keras.backend.clear_session()
    result = run_cli("train", "--resume", run, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    rows = history(run)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert manifest(run)["best_epoch"] == 3 and "from epoch 3" in result.output
    assert val_metrics(run_cli, run, "best")["loss"] == pytest.approx(rows[2]["val_loss"], rel=1e-4)
