"""model.init_from and model.freeze: weights copied where position, class and shapes match,
frozen layers unchanged bit for bit by training, and every mistake located."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnnlab.config import load_config
from cnnlab.engine.plan import plan
from cnnlab.storage.lookup import list_runs
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


@pytest.mark.trains
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
    assert record["layers"][1]["why"] == "weight shapes (36, 5) and (5,) differ from the source's (36, 3) and (3,)"
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


def test_the_line_for_people_names_what_was_copied_skipped_and_frozen():
    from cnnlab.model.transfer import describe

    layers = [
        {"layer": "conv2d", "copied": True},
        {"layer": "dense", "copied": False, "why": "shapes differ"},
        {"layer": "dense_1", "copied": True},
    ]
    said = describe(layers, ["conv2d", "dense_1"])
    assert said == "copied conv2d, dense_1; skipped dense (shapes differ); frozen conv2d, dense_1"


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
        "a damaged .keras file": (
            new_head(source=tmp_path / "damaged.keras", freeze="copied"),
            ["model.init_from", f"{tmp_path / 'damaged.keras'} cannot be loaded as a Keras model ("],
        ),
        "nothing fits": (
            new_head(source=source, freeze="copied").replace("filters: 4", "filters: 6"),
            ["model.init_from", "no layer of", "fits this model"],
        ),
        "unknown layer": (new_head(source="null", freeze="[conv2dd]"), ["model.freeze", "did you mean conv2d?"]),
        "a layer name like none": (
            new_head(source="null", freeze="[zzz]"),
            ["model.freeze[0]", "no layer 'zzz' in this model — layers: conv2d, max_pooling2d, flatten,"],
        ),
        "copied, nothing copied": (
            new_head(source="null", freeze="copied"),
            ["model.freeze", "needs model.init_from"],
        ),
    }
    (tmp_path / "damaged.keras").write_bytes(b"PK\x03\x04 cut short")
    for name, (text, words) in cases.items():
        config = write(f"{name.replace(' ', '_').replace(',', '')}.yaml", text)
        result = run_cli("check", config)
        assert result.exit_code == 2, (name, result.output)
        assert all(word in result.stderr for word in words), (name, result.stderr)
        assert "Traceback" not in result.output


class _ConvWeightsEachEpoch(keras.callbacks.Callback):
    """The conv layer's kernel at every epoch's end (epoch number, 1-based -> kernel)."""

    def __init__(self, stop_after: int | None = None):
        super().__init__()
        self.kernels: dict[int, np.ndarray] = {}
        self.stop_after = stop_after

    def on_epoch_end(self, epoch, logs=None):
        self.kernels[epoch + 1] = self.model.get_layer("conv2d").get_weights()[0].copy()
        if epoch + 1 == self.stop_after:
            raise KeyboardInterrupt


def _fine_tune_run(write, trained, tmp_path):
    from cnnlab.storage.folders import RunFolder
    from cnnlab.storage.lookup import create_run_folder

    source, _, _ = trained
    text = new_head(source=source, freeze="copied").replace(
        "learning_rate: 0.01}}", "learning_rate: 0.01}, fine_tune: {epochs: 2, learning_rate: 0.001}}"
    )
    cfg = load_config(write("fine.yaml", text))
    run = create_run_folder(tmp_path / "runs", cfg.name)
    RunFolder(run).save_config(cfg.to_yaml())
    return cfg, run, keras.saving.load_model(source / "best.keras").get_layer("conv2d").get_weights()[0]


@pytest.mark.trains
def test_fine_tune_unfreezes_the_frozen_layers_for_its_own_epochs(write, trained, tmp_path):
    from cnnlab.engine.training import train
    from cnnlab.storage.folders import read_history

    cfg, run, source_kernel = _fine_tune_run(write, trained, tmp_path)
    seen = _ConvWeightsEachEpoch()
    notes: list[str] = []
    train(plan(cfg), run, callbacks=[seen], notify=notes.append)
    assert sorted(seen.kernels) == [1, 2, 3, 4]  # one history: 2 frozen epochs, then 2 more
    for epoch in (1, 2):
        np.testing.assert_array_equal(seen.kernels[epoch], source_kernel)  # frozen, bit for bit
    assert not np.array_equal(seen.kernels[3], source_kernel)  # trained in the second phase
    assert not np.array_equal(seen.kernels[4], seen.kernels[3])
    assert [row["epoch"] for row in read_history(run / "history.csv")] == [1, 2, 3, 4]
    assert any("fine-tuning: every layer trainable, learning rate 0.001, epochs 3-4" in n for n in notes)
    final = keras.saving.load_model(run / "last.keras")
    assert all(layer.trainable for layer in final.layers)
    assert float(final.optimizer.learning_rate) == np.float32(0.001)
    assert not (run / "backup").exists() and not (run / "backup-fine-tune").exists()


@pytest.mark.trains
@pytest.mark.filterwarnings("error:Skipping variable loading for optimizer")  # its state must come back too
@pytest.mark.parametrize("backup", ["kept", "not yet written"])
def test_a_run_stopped_while_fine_tuning_resumes_in_that_phase(write, trained, tmp_path, backup):
    """`not yet written`: stopped after the first fine-tuning epoch's history row, before that
    phase's first backup (as a kill can): the epoch goes on from last.keras, with its optimizer."""
    import shutil

    from cnnlab.engine.training import train
    from cnnlab.errors import Interrupted
    from cnnlab.storage.folders import read_history

    cfg, run, source_kernel = _fine_tune_run(write, trained, tmp_path)
    with pytest.raises(Interrupted, match="after 3 of 4 epochs"):
        train(plan(cfg), run, callbacks=[_ConvWeightsEachEpoch(stop_after=3)])
    if backup == "not yet written":
        shutil.rmtree(run / "backup-fine-tune")
    before = read_history(run / "history.csv")
    resumed = _ConvWeightsEachEpoch()
    keras.backend.clear_session()
    manifest = train(plan(cfg), run, resume=True, callbacks=[resumed])
    assert manifest["status"] == "completed" and sorted(resumed.kernels) == [4]  # no epoch done twice
    after = read_history(run / "history.csv")
    assert [row["epoch"] for row in after] == [1, 2, 3, 4] and after[:3] == before
    assert not np.array_equal(resumed.kernels[4], source_kernel)


def test_fine_tune_without_frozen_layers_is_a_located_error(run_cli, write, trained, tmp_path):
    source, _, _ = trained
    text = new_head(source=source, freeze="null").replace(
        "learning_rate: 0.01}}", "learning_rate: 0.01}, fine_tune: {epochs: 2, learning_rate: 0.001}}"
    )
    result = run_cli("check", write("fine.yaml", text))
    assert result.exit_code == 2
    assert "fine.yaml:" in result.stderr and "train.fine_tune" in result.stderr and "freezes none" in result.stderr


def test_check_passes_an_init_from_whose_config_is_beside_it_before_it_is_trained(run_cli, write, tmp_path):
    from tests.conftest import TINY

    write("source.yaml", TINY.replace("name: tiny", "name: source"))
    config = write("new.yaml", new_head(source="source", freeze="copied"))
    result = run_cli("check", config)
    assert result.exit_code == 0, result.output
    assert "note: model.init_from source: no run yet, so nothing was copied; train" in result.output
    trained_too_early = run_cli("train", config, "--runs-dir", tmp_path / "runs")
    assert trained_too_early.exit_code == 2 and "model.init_from" in trained_too_early.stderr


@pytest.mark.trains
def test_fine_tuning_keeps_writing_weight_histograms(write, trained, tmp_path):
    """The second phase is a second `fit`: the histogram writer the first closed must not be
    reused (it was: the run failed at the first fine-tuning epoch)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cnnlab.engine.training import train

    cfg, run, _ = _fine_tune_run(write, trained, tmp_path)
    cfg = load_config(write("fine.yaml", cfg.to_yaml().replace("histogram_freq: 0", "histogram_freq: 1")))
    assert train(plan(cfg), run)["status"] == "completed"
    events = EventAccumulator(str(run / "tensorboard" / "train"), size_guidance={"tensors": 0})
    events.Reload()
    assert [e.step for e in events.Tensors("conv2d/kernel/histogram")] == [0, 1, 2, 3]


def test_init_from_a_run_name_takes_its_newest_run_that_has_a_best_checkpoint(write, trained, tmp_path, monkeypatch):
    """A run name means its newest run with `best.keras`: a newer run of that name that failed
    before its first epoch (no checkpoint) is passed over, not refused. The bugs: the lookup
    not asked for a checkpoint, or asked for one by another name ("has no best.keras")."""
    import shutil

    from cnnlab.model.transfer import source_checkpoint

    source, _, _ = trained
    runs = tmp_path / "runs" / "tiny"
    older = runs / "20261201-100000"
    shutil.copytree(source, older)
    newer = runs / "20261201-110000"
    newer.mkdir()
    shutil.copy(older / "config.yaml", newer / "config.yaml")  # a run folder that ended before epoch 1
    monkeypatch.chdir(tmp_path)  # init_from's run names are looked up in ./runs
    cfg = load_config(write("new.yaml", new_head(source="tiny", freeze="copied")))
    assert source_checkpoint(cfg).resolve() == (older / "best.keras").resolve()
