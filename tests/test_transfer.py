"""model.init_from and model.freeze: weights copied where position, class and shapes match,
frozen layers unchanged bit for bit by training, and every mistake located."""

from __future__ import annotations

import json

import keras
import numpy as np

from cnnlab.config import load_config
from cnnlab.runs import list_runs
from cnnlab.train import plan
from tests.conftest import TINY_DATA

# The tiny model's convolution and pooling, with a wider head: the conv layer fits the trained
# tiny run, the two dense layers do not (other units; the source has no fifth layer).
NEW_HEAD = """
name: transferred
model:
  init_from: {source}
  freeze: {freeze}
  layers:
    - Conv2D: {{filters: 4, kernel_size: 3, activation: relu}}
    - MaxPooling2D: {{pool_size: 2}}
    - Flatten
    - Dense: {{units: 5, activation: relu}}
    - Dense: {{units: 3, activation: softmax}}
train: {{epochs: 2, batch_size: 8, optimizer: {{name: adam, learning_rate: 0.01}}}}
tensorboard: {{histogram_freq: 0}}
"""


def new_head(source, freeze: str) -> str:
    """The config above, on the tiny run's data (standardized, as the tiny run was trained)."""
    data = TINY_DATA.replace("dataset: synthetic", "dataset: synthetic\n  preprocess: standardize")
    return NEW_HEAD.format(source=source, freeze=freeze) + data


def test_copied_and_frozen_layers_keep_the_sources_weights_and_the_rest_train(run_cli, write, trained, tmp_path):
    source, _, _ = trained
    config = write("new.yaml", new_head(source=source, freeze="copied"))
    initial = plan(load_config(config)).model  # the same seed: the weights training starts from
    result = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "copied conv2d; skipped dense (weight shapes" in result.output and "frozen conv2d" in result.output
    (run,) = list_runs(tmp_path / "runs")
    trained_model = keras.saving.load_model(run / "last.keras")
    source_model = keras.saving.load_model(source / "best.keras")
    for mine, theirs in zip(
        trained_model.get_layer("conv2d").get_weights(), source_model.get_layer("conv2d").get_weights()
    ):
        np.testing.assert_array_equal(mine, theirs)  # frozen: bit for bit
    for name in ("dense", "dense_1"):
        before, after = initial.get_layer(name).get_weights()[0], trained_model.get_layer(name).get_weights()[0]
        assert not np.array_equal(before, after)
    record = json.loads((run / "manifest.json").read_text())["transfer"]
    assert record["source"] == str(source / "best.keras") and record["frozen"] == ["conv2d"]
    assert [(r["layer"], r["copied"]) for r in record["layers"]] == [
        ("conv2d", True),
        ("dense", False),
        ("dense_1", False),
    ]
    assert "only 4 layers" in record["layers"][2]["why"]


def test_copied_but_not_frozen_layers_start_from_the_source_and_train(write, trained):
    source, _, _ = trained
    config = write("new.yaml", new_head(source=source, freeze="null"))
    planned = plan(load_config(config))
    copied = planned.model.get_layer("conv2d").get_weights()[0]
    np.testing.assert_array_equal(
        copied, keras.saving.load_model(source / "best.keras").get_layer("conv2d").get_weights()[0]
    )
    assert planned.model.get_layer("conv2d").trainable and planned.transfer["frozen"] == []


def test_freeze_by_name_and_index_without_init_from(write):
    config = write("new.yaml", new_head(source="null", freeze="[conv2d, -1]"))
    model = plan(load_config(config)).model
    assert [layer.name for layer in model.layers if not layer.trainable] == ["conv2d", "dense_1"]


def test_transfer_mistakes_are_located(run_cli, write, trained, tmp_path):
    source, _, _ = trained
    cases = {
        "missing file": (
            new_head(source=tmp_path / "nope.keras", freeze="copied"),
            ["model.init_from", "does not exist"],
        ),
        "unknown run": (
            new_head(source="no_such_run", freeze="copied"),
            ["model.init_from", "not a .keras file"],
        ),
        "nothing fits": (
            new_head(source=source, freeze="copied").replace("filters: 4", "filters: 6"),
            ["model.init_from", "no layer of", "fits this model"],
        ),
        "unknown layer": (new_head(source="null", freeze="[conv2dd]"), ["model.freeze", "did you mean conv2d?"]),
        "copied, nothing copied": (
            new_head(source="null", freeze="copied"),
            ["model.freeze", "needs model.init_from"],
        ),
    }
    for name, (text, words) in cases.items():
        config = write(f"{name.replace(' ', '_').replace(',', '')}.yaml", text)
        result = run_cli("check", config)
        assert result.exit_code == 2, (name, result.output)
        assert all(word in result.stderr for word in words), (name, result.stderr)
        assert "Traceback" not in result.output
