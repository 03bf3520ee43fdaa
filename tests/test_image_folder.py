"""The image-folder homework end to end (configs/image_folder_8class.yaml on a generated folder
of eight classes of colour PNGs), a Keras Application as a layer with its input scaling, and
the located errors for inputs an application cannot take."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from cnnlab.data.synthetic import make_synthetic
from cnnlab.storage.lookup import list_runs
from tests.conftest import REPO

CLASSES = ("ankle_boot", "bag", "coat", "dress", "pullover", "sandal", "shirt", "trouser")
QUICK = ["--set", "data.image_size=[32, 32]", "--set", "train.epochs=1", "--set", "train.batch_size=16"]
# MobileNetV2's graph is slow to trace: one step per call, no validation pass, no TensorBoard graph.
FEWER_TRACES = ["--set", "train.steps_per_execution=1", "--set", "data.validation_split=0"]
FEWER_TRACES += ["--set", "tensorboard.enabled=false"]


def write_photo_folder(root: Path, per_class: int = 10, splits: tuple[str, ...] = ()) -> Path:
    """Eight classes of 20x24 RGB PNGs (a learnable pattern per class, plus noise), in
    root/<class>/ or, with `splits`, in root/<split>/<class>/."""
    arrays = make_synthetic((12, 12, 3), len(CLASSES), per_class * len(CLASSES), 8, seed=3)
    seen = [0] * len(CLASSES)
    for index, (image, label) in enumerate(zip(arrays.x_train, arrays.y_train)):
        split = splits[seen[label] % len(splits)] if splits else ""  # every split gets every class
        seen[label] += 1
        folder = root / split / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, "RGB").resize((24, 20)).save(folder / f"{index}.png")
    return root


def _one_run(runs: Path) -> Path:
    (run,) = list_runs(runs)
    return run


@pytest.mark.trains
@pytest.mark.parametrize("splits", [(), ("train", "train", "val", "test")], ids=["one-folder", "train-val-test"])
def test_the_homework_config_trains_on_a_folder_of_eight_classes(run_cli, tmp_path, splits):
    photos = write_photo_folder(tmp_path / "photos", splits=splits)
    config = REPO / "configs" / "image_folder_8class.yaml"
    result = run_cli("train", config, "--set", f"data.path={photos}", *QUICK, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = _one_run(tmp_path / "runs")
    manifest = json.loads((run / "manifest.json").read_text())
    data = manifest["data"]
    images = len(list(photos.rglob("*.png")))
    assert data["train_examples"] + data["validation_examples"] + data["test_examples"] == images
    if splits:  # the folder's own split, not a random one
        assert data["test_examples"] == len(list((photos / "test").rglob("*.png")))
        assert data["validation_examples"] == len(list((photos / "val").rglob("*.png")))
    metrics = json.loads((run / "metrics.json").read_text())
    assert [row["class"] for row in metrics["per_class"]] == list(CLASSES)  # named after their folders


def _weights_file(tmp_path: Path) -> Path:
    """A MobileNetV2 weights file made here (a stand-in for the ImageNet download)."""
    path = tmp_path / "mobilenet_v2_0.35_32.weights.h5"
    keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None, alpha=0.35).save_weights(
        path
    )
    keras.backend.clear_session()
    return path


def _pretrained_overrides(photos: Path, weights: Path) -> list[str]:
    return [
        f"data.path={photos}",
        "data.image_size=[32, 32]",
        f"model.layers.2.MobileNetV2.weights={weights}",
        "model.layers.2.MobileNetV2.alpha=0.35",
    ]


@pytest.mark.trains
def test_a_pretrained_application_trains_as_a_frozen_base(run_cli, tmp_path):
    photos = write_photo_folder(tmp_path / "photos")
    weights = _weights_file(tmp_path)
    config = REPO / "configs" / "image_folder_mobilenet.yaml"
    overrides = [*_pretrained_overrides(photos, weights), "train.fine_tune=None"]
    result = run_cli(
        "train",
        config,
        *(a for o in overrides for a in ("--set", o)),
        *QUICK,
        *FEWER_TRACES,
        "--runs-dir",
        tmp_path / "runs",
    )
    assert result.exit_code == 0, result.output
    assert "frozen mobile_net_v2" in result.output
    model = keras.saving.load_model(_one_run(tmp_path / "runs") / "best.keras")  # plain Keras loads it
    base = model.get_layer("mobile_net_v2")
    source = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=weights, alpha=0.35)
    trained_base = base.layers[-1]
    for mine, theirs in zip(trained_base.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(mine, theirs)  # frozen: the weights file's values, bit for bit
    scaling = base.get_layer("mobile_net_v2_preprocess_input")
    # data.preprocess: scale gives [0, 1]; MobileNetV2 was trained on [-1, 1].
    white_and_black = np.array([[[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]], np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(scaling(white_and_black)), [[[[1, 1, 1], [-1, -1, -1]]]])


def test_fine_tuning_unfreezes_the_application_but_not_its_input_scaling(write, tmp_path):
    from cnnlab.config import load_config
    from cnnlab.engine.plan import plan
    from cnnlab.model.transfer import fine_tuning

    photos = write_photo_folder(tmp_path / "photos", per_class=2)
    overrides = _pretrained_overrides(photos, _weights_file(tmp_path))
    cfg = load_config(REPO / "configs" / "image_folder_mobilenet.yaml", overrides)
    model = plan(cfg).model
    base = model.get_layer("mobile_net_v2")
    assert not base.trainable and not base.trainable_weights
    fine_tuning(cfg, model)
    trainable = {id(w) for w in model.trainable_weights}
    scaling = base.get_layer("mobile_net_v2_preprocess_input")
    assert base.trainable and all(id(w) not in trainable for w in scaling.weights)
    assert all(id(w) in trainable for w in base.layers[-1].trainable_weights)  # the pretrained layers learn


def test_the_input_scaling_matches_each_applications_own_preprocess_input():
    from cnnlab.model.applications import preprocess_affine

    pixels = np.random.default_rng(1).uniform(0, 255, (5, 3))
    for name in ("MobileNetV2", "VGG16", "DenseNet121", "EfficientNetB0"):  # tf, caffe (BGR), torch, none
        constructor = getattr(keras.applications, name)
        matrix, offset = preprocess_affine(constructor)
        expected = constructor.__globals__["preprocess_input"](pixels.reshape(1, 1, 5, 3).copy())
        np.testing.assert_allclose(pixels @ matrix.T + offset, np.asarray(expected).reshape(5, 3), atol=1e-3)


APPLICATION_ON_MNIST = """
name: app
model:
  layers:
    - {first}
    - MobileNetV2: {{include_top: false, weights: {weights}, pooling: avg{extra}}}
    - Dense: {{units: 10, activation: softmax}}
"""


@pytest.mark.parametrize(
    ("first", "weights", "extra", "key", "message"),
    [
        ("Rescaling: {scale: 1.0}", "null", "", "MobileNetV2", "Input size must be at least 32x32"),
        ("Resizing: {height: 32, width: 32}", "imagenet", "", "MobileNetV2", "pretrained weights take 3 channels"),
        ("Resizing: {height: 32, width: 32}", "null", ", alpah: 0.35", "alpah", "of MobileNetV2 — did you mean alpha?"),
        (
            "Resizing: {height: 32, width: 32}",
            "null",
            ", input_shape: [32, 32, 3]",
            "input_shape",
            "not an argument cnnlab accepts here — the input shape is what the layers before it give",
        ),
        (
            "Resizing: {height: 32, width: 32}",
            "missing.h5",
            "",
            "weights",
            "no weights file missing.h5 — give imagenet, null or a .h5 file",
        ),
    ],
    ids=["too-small", "one-channel", "argument-typo", "set-by-cnnlab", "no-weights-file"],
)
def test_an_input_an_application_cannot_take_is_one_located_error(run_cli, write, first, weights, extra, key, message):
    config = write("app.yaml", APPLICATION_ON_MNIST.format(first=first, weights=weights, extra=extra))
    result = run_cli("check", config)
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "app.yaml:5" in line and key in line and message in line  # the application's line
    if "at least" in message:
        assert "add - Resizing: {height: 32, width: 32} before it" in line
    if "channels" in message:
        assert "Conv2D: {filters: 3, kernel_size: 1}" in line


def test_standardized_pixels_under_pretrained_weights_are_refused_at_the_preprocess_line(run_cli, write):
    """Standardized pixels no longer tell black from white, which is what an application's
    `preprocess_input` needs to turn them into what its weights were trained on. The bugs: the
    refusal located on another key, naming another layer, or without its two ways out."""
    text = APPLICATION_ON_MNIST.format(first="Resizing: {height: 32, width: 32}", weights="imagenet", extra="")
    text = text.replace("    - Resizing", "    - Conv2D: {filters: 3, kernel_size: 1}\n    - Resizing")
    config = write("app.yaml", text + "data: {dataset: mnist, preprocess: standardize}\n")
    result = run_cli("check", config)
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.stderr.replace("\n  ", " ").splitlines() if line.startswith("error:")]
    data_line = config.read_text().splitlines().index("data: {dataset: mnist, preprocess: standardize}") + 1
    assert line == (
        f"error: {config}:{data_line} data.preprocess: standardize hides the pixel values that MobileNetV2's "
        "pretrained weights expect — set data.preprocess: scale (cnnlab then feeds MobileNetV2 what it was "
        "trained on), or preprocess_input: false on the layer"
    )
    unscaled = write("unscaled.yaml", text.replace("pooling: avg}", "pooling: avg, preprocess_input: false}"))
    assert run_cli("check", unscaled).exit_code == 0  # the way out it offers is taken


@pytest.mark.parametrize("weights", ["imagenet", "Keras' default"])
def test_weights_that_cannot_be_downloaded_say_where_to_put_the_file(run_cli, write, tmp_path, monkeypatch, weights):
    """The bugs: another default than Keras' imagenet for a layer without `weights:`, the
    refusal located on another key, or a download error without its URL crashing the message."""
    from keras.src.utils import file_utils

    def offline(fname, origin, **kwargs):  # what Keras' downloader raises without a network
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    text = APPLICATION_ON_MNIST.format(first="Resizing: {height: 32, width: 32}", weights="imagenet", extra="")
    if weights != "imagenet":
        text = text.replace("weights: imagenet, ", "")
    text = text.replace("    - Resizing", "    - Conv2D: {filters: 3, kernel_size: 1}\n    - Resizing")
    result = run_cli("train", write("app.yaml", text), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert "could not download MobileNetV2's ImageNet weights" in result.stderr
    assert f"put mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 in {tmp_path}/keras/models" in (
        result.stderr.replace("\n", "")
    )
    assert "or give weights: path/to/" in result.stderr and "Traceback" not in result.output
    lines = text.lstrip("\n").splitlines()  # as write() saves it
    line = next(n for n, text_line in enumerate(lines, 1) if text_line.startswith("    - MobileNetV2"))
    assert f"app.yaml:{line} model.layers[2].MobileNetV2.weights: Keras could not download MobileNetV2's " in (
        result.stderr.replace("\n", "")
    )


def test_check_passes_a_photo_config_before_its_folder_and_weights_are_there(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/photos here
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # and no weights: check must not download
    result = run_cli("check", REPO / "configs" / "image_folder_mobilenet.yaml")
    assert result.exit_code == 0, result.output
    assert "note: data.path data/photos does not exist yet: its classes are not checked" in result.output
    assert "note: MobileNetV2's ImageNet weights are not loaded here" in result.output
    assert not (tmp_path / "keras").exists()
    # without ImageNet weights (random ones, `weights: null`), there is nothing to note
    config = (REPO / "configs" / "image_folder_mobilenet.yaml").read_text()
    unweighted = tmp_path / "unweighted.yaml"  # beside the config it builds on
    (tmp_path / "image_folder_8class.yaml").write_text((REPO / "configs" / "image_folder_8class.yaml").read_text())
    unweighted.write_text(config.replace("weights: imagenet, ", "weights: null, "))
    result = run_cli("check", unweighted)
    assert result.exit_code == 0 and "ImageNet weights" not in result.output, result.output
    unweighted.write_text(config.replace("weights: imagenet, ", ""))  # the default: ImageNet's
    assert "note: MobileNetV2's ImageNet weights are not loaded here" in run_cli("check", unweighted).output
    training = run_cli("train", REPO / "configs" / "image_folder_mobilenet.yaml", "--runs-dir", tmp_path / "runs")
    assert training.exit_code == 2 and "data.path: no folder data/photos" in training.stderr  # train needs it


@pytest.mark.trains
def test_predict_on_an_image_folder_run_resizes_and_converts_as_training_did(run_cli, tmp_path):
    """README: a run trained on an image folder takes images of any size and colour mode, as its
    training images were read; a run on fixed-size arrays refuses them without --convert."""
    photos = write_photo_folder(tmp_path / "photos", per_class=4)
    config = REPO / "configs" / "image_folder_8class.yaml"
    result = run_cli("train", config, "--set", f"data.path={photos}", *QUICK, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    run = _one_run(tmp_path / "runs")
    photo = sorted(photos.rglob("*.png"))[0]  # 24x20 RGB; the model takes 32x32x3
    Image.open(photo).resize((32, 32), Image.BILINEAR).save(tmp_path / "resized.png")
    Image.open(photo).convert("L").save(tmp_path / "grey.png")
    said = {}
    for name, image in (("photo", photo), ("resized", tmp_path / "resized.png"), ("grey", tmp_path / "grey.png")):
        predicted = run_cli("predict", run, image, "--json", "--top", "8")
        assert predicted.exit_code == 0, predicted.output
        (said[name],) = json.loads(predicted.stdout)
    probabilities = {name: {t["class"]: t["probability"] for t in p["top"]} for name, p in said.items()}
    assert probabilities["photo"] == pytest.approx(probabilities["resized"], abs=1e-6)  # resized as in training
    assert sorted(probabilities["grey"]) == sorted(CLASSES)  # converted to RGB, not refused
