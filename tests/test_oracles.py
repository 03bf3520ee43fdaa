"""Every figure a run writes, recomputed from first principles and compared number by number.

The oracles share no code with cnnlab: the data come from `load_arrays` (the same images the
run read), the probabilities from Keras' own `predict` on best.keras with the preprocessing
written out here (x / 255), the scores from scikit-learn and SciPy, the layer sizes and MACs by
hand, the epoch times from a Keras callback's own clock. The reports' tables are parsed (the
Markdown pipe tables, the HTML `<table>`s) and compared cell by cell.

The run is an edge of what cnnlab accepts: non-square three-channel images (10x6x3), six
classes (so top-3 and top-5 both mean something), a model that is still making mistakes.
A second run, trained from a worker thread through the Python API, has a binary sigmoid head;
the two runs are evaluated, predicted, exported and compared from that thread too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import stats
from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support, top_k_accuracy_score

from cnnlab.config import load_config
from cnnlab.data import load_arrays
from tests.conftest import html_tables, markdown_tables, mcnemar_by_scipy

pytestmark = pytest.mark.trains  # the module's runs train once, in its fixtures

CLASSES = 6
EDGE = """
name: edge
seed: 7
data:
  dataset: synthetic
  validation_split: 0.2
  synthetic: {input_shape: [10, 6, 3], num_classes: 6, train_examples: 300, test_examples: 90}
model:
  layers:
    - Conv2D: {filters: 4, kernel_size: 3, activation: relu}
    - Flatten
    - Dense: {units: 6, activation: softmax}
train: {epochs: 3, batch_size: 16, optimizer: {name: adam, learning_rate: 0.0005}}
tensorboard: {enabled: false}
"""
# By hand: conv2d 3*3*3*4 + 4 = 112 parameters, output 8x4x4 = 128 values of 27 MACs each; dense
# 128*6 + 6 = 774 parameters and 768 MACs.
LAYERS = [
    ("conv2d", "Conv2D", "8x4x4", 112, 3456),
    ("flatten", "Flatten", "128", 0, 0),
    ("dense", "Dense", "6", 774, 768),
]
BINARY = """
name: binary
data:
  dataset: synthetic
  synthetic: {input_shape: [8, 8, 1], num_classes: 2, train_examples: 160, test_examples: 40}
model:
  layers:
    - Conv2D: {filters: 2, kernel_size: 3, activation: relu}
    - Flatten
    - Dense: {units: 1, activation: sigmoid}
train: {epochs: 1, batch_size: 16, loss: binary_crossentropy, optimizer: {name: adam, learning_rate: 0.0003}}
tensorboard: {enabled: false}
"""


class EpochClock(keras.callbacks.Callback):
    """perf_counter at each epoch's begin and end, read after cnnlab's own callbacks have run."""

    def __init__(self):
        super().__init__()
        self.begun, self.ended = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None):
        self.ended.append(time.perf_counter())


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """(run folder, config, the clock's epoch intervals, the seconds train() took)."""
    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.storage.lookup import create_run_folder

    folder = tmp_path_factory.mktemp("edge")
    (folder / "edge.yaml").write_text(EDGE)
    cfg = load_config(folder / "edge.yaml")
    run, clock = create_run_folder(folder / "runs", cfg.name), EpochClock()
    started = time.perf_counter()
    train(plan(cfg), run, callbacks=[clock])
    took = time.perf_counter() - started
    keras.backend.clear_session()
    return Path(run), cfg, list(zip(clock.begun, clock.ended)), took


def _oracle(run: Path, cfg) -> dict:
    """What the run's test results must be: from the data, Keras' predict and scikit-learn."""
    arrays = load_arrays(cfg)
    model = keras.saving.load_model(run / "best.keras")
    probabilities = model.predict(arrays.x_test.astype(np.float32) / 255.0, verbose=0)
    y, labels = arrays.y_test, list(range(CLASSES))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    return {
        "y": y,
        "probabilities": probabilities,
        "predicted": predicted,
        "accuracy": float((predicted == y).mean()),
        "correct": int((predicted == y).sum()),
        "loss": log_loss(y, probabilities, labels=labels),
        "matrix": confusion_matrix(y, predicted, labels=labels),
        "per_class": list(zip(precision, recall, f1, support)),
        "top_3": top_k_accuracy_score(y, probabilities, k=3, labels=labels),
        "top_5": top_k_accuracy_score(y, probabilities, k=5, labels=labels),
    }


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _manifest(run: Path) -> dict:
    return json.loads((run / "manifest.json").read_text())


def _history(run: Path) -> list[dict]:
    lines = (run / "history.csv").read_text().splitlines()
    names = lines[0].split(",")
    return [dict(zip(names, map(float, line.split(",")))) for line in lines[1:]]


def _expected_tables(oracle: dict, names: list[str]) -> dict[str, list[list[str]]]:
    """The report's Results, Per class and Model tables, written from the oracle."""
    return {
        "Results": [
            ["metric", "value"],
            ["accuracy", f"{oracle['accuracy']:.4f}"],
            ["loss", f"{oracle['loss']:.4f}"],
            ["examples", str(len(oracle["y"]))],
            ["correct", str(oracle["correct"])],
            ["top-3 accuracy", f"{oracle['top_3']:.4f}"],
            ["top-5 accuracy", f"{oracle['top_5']:.4f}"],
        ],
        "Per class": [["class", "precision", "recall", "F1", "support"]]
        + [
            [name, f"{p:.4f}", f"{r:.4f}", f"{f:.4f}", str(s)] for name, (p, r, f, s) in zip(names, oracle["per_class"])
        ],
        "Model": [["layer", "type", "output", "parameters", "MACs"]]
        + [[n, kind, shape, f"{p:,}", f"{m:,}"] for n, kind, shape, p, m in LAYERS]
        + [["total", "", "", f"{sum(r[3] for r in LAYERS):,}", f"{sum(r[4] for r in LAYERS):,}"]],
    }


def _same_confused(actual: list[list[str]], oracle: dict, names: list[str]) -> None:
    """The five largest off-diagonal cells of the confusion matrix, largest first; cells tied in
    count may come in any order (and a tie at the fifth may pick either)."""
    off = oracle["matrix"].copy()
    np.fill_diagonal(off, 0)
    counts = sorted((int(c) for c in off.ravel() if c), reverse=True)[:5]
    assert actual[0] == ["true class", "predicted as", "examples"]
    assert [int(row[2]) for row in actual[1:]] == counts
    cells = [(names.index(true), names.index(predicted)) for true, predicted, _ in actual[1:]]
    assert len(set(cells)) == len(cells) and all(true != predicted for true, predicted in cells)
    assert [int(off[cell]) for cell in cells] == counts


def test_the_edge_run_discriminates(edge):
    """An oracle on a perfect run checks little: the fixture makes mistakes, in several classes."""
    run, cfg, _, _ = edge
    oracle = _oracle(run, cfg)
    assert 0.3 < oracle["accuracy"] < 0.97 and oracle["top_3"] > oracle["accuracy"]
    assert np.count_nonzero(oracle["matrix"] - np.diag(np.diag(oracle["matrix"]))) >= 3


def test_predictions_npz_holds_the_probabilities_keras_gives_for_the_test_images_in_order(edge):
    run, cfg, _, _ = edge
    oracle = _oracle(run, cfg)
    with np.load(run / "predictions.npz") as stored:
        assert np.array_equal(stored["y_true"], oracle["y"])
        assert np.array_equal(stored["y_pred"], oracle["predicted"])
        np.testing.assert_allclose(stored["probabilities"], oracle["probabilities"], atol=1e-6)


def test_metrics_json_against_scikit_learn(edge):
    run, cfg, _, _ = edge
    oracle, metrics = _oracle(run, cfg), _metrics(run)
    assert metrics["examples"] == len(oracle["y"]) and metrics["correct"] == oracle["correct"]
    assert metrics["accuracy"] == pytest.approx(oracle["accuracy"], abs=1e-6)
    assert metrics["loss"] == pytest.approx(oracle["loss"], rel=1e-4)
    assert metrics["confusion_matrix"] == oracle["matrix"].tolist()
    for row, (p, r, f, s) in zip(metrics["per_class"], oracle["per_class"], strict=True):
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx((p, r, f, s), abs=1e-9)
    assert metrics["top_k_accuracy"] == pytest.approx({"top_3": oracle["top_3"], "top_5": oracle["top_5"]})
    confused = [[r["true"], r["predicted"], str(r["count"])] for r in metrics["most_confused"]]
    _same_confused([["true class", "predicted as", "examples"], *confused], oracle, metrics["class_names"])


def test_the_best_epoch_is_the_first_with_the_highest_validation_accuracy(edge):
    run, _, _, _ = edge
    accuracy = [row["val_accuracy"] for row in _history(run)]
    assert _metrics(run)["best_epoch"] == _manifest(run)["best_epoch"] == accuracy.index(max(accuracy)) + 1


def test_history_epoch_seconds_against_a_callbacks_clock(edge):
    """Each row's epoch_seconds is that epoch's own time: within its callbacks' readings (cnnlab
    starts its clock a little before this callback's, and stops it before the backup is written,
    which this callback's reading includes), never a sum over the epochs before it."""
    run, _, intervals, _ = edge
    rows = _history(run)
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    for row, (begun, ended) in zip(rows, intervals, strict=True):
        assert 0 < row["epoch_seconds"] <= ended - begun + 0.05, (row, ended - begun)
    assert rows[2]["epoch_seconds"] < intervals[0][1] - intervals[0][0]  # epoch 1 (with tracing) is longer


def test_history_validation_scores_are_those_of_the_checkpoints_on_the_validation_split(edge):
    """Keras computes an epoch's val_ scores with the weights the epoch ended with: best.keras
    (the best epoch's) and last.keras (the last's) must score exactly those rows of history.csv
    on the run's validation split, by Keras' predict and scikit-learn."""
    from cnnlab.data import load_splits

    run, cfg, _, _ = edge
    splits = load_splits(cfg, CLASSES)
    rows, best = _history(run), _metrics(run)["best_epoch"]
    for checkpoint, row in (("best.keras", rows[best - 1]), ("last.keras", rows[-1])):
        probabilities = keras.saving.load_model(run / checkpoint).predict(splits.x_val, verbose=0)
        labels = splits.y_val.argmax(axis=1) if splits.y_val.ndim == 2 else splits.y_val
        assert row["val_accuracy"] == pytest.approx(float((probabilities.argmax(axis=1) == labels).mean()), abs=1e-6)
        assert row["val_loss"] == pytest.approx(log_loss(labels, probabilities, labels=range(CLASSES)), rel=1e-4)
    assert len(splits.x_val) == 60  # 20 % of the 300 training images, as the config says


def test_manifest_counts_and_timings_against_the_data_and_the_clock(edge):
    run, cfg, intervals, took = edge
    manifest, rows = _manifest(run), _history(run)
    arrays = load_arrays(cfg)
    validation = int(len(arrays.y_train) * 0.2)
    assert manifest["data"]["train_examples"] == len(arrays.y_train) - validation == 240
    assert manifest["data"]["validation_examples"] == validation and manifest["data"]["test_examples"] == 90
    assert manifest["parameters"] == sum(row[3] for row in LAYERS) and manifest["macs"] == sum(row[4] for row in LAYERS)
    timing = manifest["timing"]
    epochs_took = sum(row["epoch_seconds"] for row in rows)
    assert epochs_took - 0.01 <= timing["train_seconds"] <= intervals[-1][1] - intervals[0][0] + 0.5
    assert timing["train_seconds"] + timing["evaluate_seconds"] <= took + 0.01
    assert timing["images_per_second"] == pytest.approx(240 * 3 / timing["train_seconds"], rel=0.02)
    # seconds to the hundredth, as the report prints them (a thousandth would read as a precision the clock lacks)
    assert all(timing[key] == round(timing[key], 2) for key in ("train_seconds", "evaluate_seconds"))


def test_report_md_tables_cell_by_cell(edge):
    run, cfg, _, _ = edge
    oracle, names = _oracle(run, cfg), _metrics(run)["class_names"]
    tables, expected = markdown_tables((run / "report.md").read_text()), _expected_tables(oracle, names)
    for heading in ("Results", "Per class", "Model"):
        assert tables[heading] == expected[heading], heading
    _same_confused(tables["Most confused"], oracle, names)
    timing = _manifest(run)["timing"]
    # thousands separated, as every count of the report (a fast machine trains 1,166.5 images/s)
    line = re.search(r"Training took ([\d,.]+) s \(([\d,.]+) images/s\)", (run / "report.md").read_text())
    said = tuple(float(number.replace(",", "")) for number in line.groups())
    assert said == (timing["train_seconds"], timing["images_per_second"])


def test_report_html_tables_cell_by_cell(edge):
    run, cfg, _, _ = edge
    oracle, names = _oracle(run, cfg), _metrics(run)["class_names"]
    expected = _expected_tables(oracle, names)
    results, per_class, confused, model = html_tables((run / "report.html").read_text())[:4]
    assert results == expected["Results"] and per_class == expected["Per class"] and model == expected["Model"]
    _same_confused(confused, oracle, names)


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_the_exported_model_on_raw_pixels_gives_the_runs_probabilities(edge, tmp_path):
    """The artifact run with TensorFlow Lite's own interpreter, here, on the raw test images."""
    import tensorflow as tf

    from cnnlab.reporting.export import export_run

    run, cfg, _, _ = edge
    exported = export_run(run, "tflite", tmp_path / "model.tflite", examples=90)
    interpreter = tf.lite.Interpreter(model_path=str(exported.path))
    raw = load_arrays(cfg).x_test.astype(np.float32)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], raw.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], raw)
    interpreter.invoke()
    outputs = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    with np.load(run / "predictions.npz") as stored:
        np.testing.assert_allclose(outputs, stored["probabilities"], atol=1e-5)
    assert exported.parity.examples == 90 and exported.parity.agreement == 1.0


def test_gradcam_of_non_square_images_against_the_dense_layers_own_weights(edge):
    """Grad-CAM by hand for conv -> flatten -> dense: the gradient of class c's logit with respect
    to the conv maps is the dense kernel's column c, reshaped to the maps (8x4x4); its mean over
    the 8x4 positions weights each map; the ReLU of the sum, resized to the 10x6 input by
    TensorFlow's bilinear resize, divided by its peak."""
    import tensorflow as tf

    from cnnlab.reporting.explain import gradcam

    run, cfg, _, _ = edge
    model = keras.saving.load_model(run / "best.keras")
    x = load_arrays(cfg).x_test[:6].astype(np.float32) / 255.0
    conv, dense = model.get_layer("conv2d"), model.get_layer("dense")
    maps = keras.ops.convert_to_numpy(conv(x))  # (6, 8, 4, 4)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in dense.weights)
    classes = (maps.reshape(len(x), -1) @ kernel + bias).argmax(axis=1)  # the logits' largest
    weights = kernel.T.reshape(CLASSES, *maps.shape[1:])[classes].mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((maps * weights).sum(axis=-1, keepdims=True), 0.0)
    cam = tf.image.resize(cam, (10, 6), method="bilinear").numpy()[..., 0]
    peak = cam.max(axis=(1, 2), keepdims=True)
    expected = np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)

    heat, picked = gradcam(model, x)
    assert heat.shape == (6, 10, 6) and list(picked) == list(classes)
    np.testing.assert_allclose(heat, expected, atol=1e-5)
    assert (expected.max(axis=(1, 2)) == 1).sum() >= 1  # not all maps empty: a check that can fail


def test_the_saved_model_export_on_raw_pixels_gives_the_runs_probabilities(edge, tmp_path):
    """The SavedModel loaded by TensorFlow itself (no Keras), called through the serving
    signature that TensorFlow Serving calls, on the raw test images."""
    import tensorflow as tf

    from cnnlab.reporting.export import export_run

    run, cfg, _, _ = edge
    exported = export_run(run, "saved_model", tmp_path / "model", examples=90)
    serve = tf.saved_model.load(str(exported.path)).signatures["serving_default"]
    (name,) = serve.structured_input_signature[1]
    raw = load_arrays(cfg).x_test.astype(np.float32)
    (outputs,) = serve(**{name: tf.constant(raw)}).values()
    with np.load(run / "predictions.npz") as stored:
        np.testing.assert_allclose(outputs.numpy(), stored["probabilities"], atol=1e-5)


@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "tf2onnx")),
    reason="pip install 'cnnlab[export]'",
)
def test_the_onnx_export_on_raw_pixels_gives_the_runs_probabilities(edge, tmp_path):
    """The artifact run with onnxruntime's own session, here, on the raw test images."""
    import onnxruntime

    from cnnlab.reporting.export import export_run

    run, cfg, _, _ = edge
    exported = export_run(run, "onnx", tmp_path / "model.onnx", examples=90)
    session = onnxruntime.InferenceSession(str(exported.path), providers=["CPUExecutionProvider"])
    raw = load_arrays(cfg).x_test.astype(np.float32)
    (outputs,) = session.run(None, {session.get_inputs()[0].name: raw})
    with np.load(run / "predictions.npz") as stored:
        np.testing.assert_allclose(outputs, stored["probabilities"], atol=1e-5)


@pytest.fixture(scope="module")
def from_a_thread(edge, tmp_path_factory):
    """The Python API driven from a worker thread, as a notebook's background job or a web
    server would: a binary sigmoid run trained, evaluated, predicted and exported; the edge run
    and the same config at a higher learning rate compared; the edge run's non-square images
    predicted as pixels and as PNG files. What came back, or what the thread raised."""
    import cnnlab

    run, _, _, _ = edge
    folder = tmp_path_factory.mktemp("thread")
    (folder / "binary.yaml").write_text(BINARY)
    results: dict = {}

    def work():
        try:
            binary = cnnlab.train(folder / "binary.yaml", runs_dir=folder / "runs", progress=False)
            pixels = load_arrays(load_config(folder / "binary.yaml")).x_test[:5]
            results.update(
                binary=binary,
                evaluated=binary.evaluate(),
                predicted=binary.predict(pixels),
                exported=binary.export("tflite", folder / "binary.tflite", examples=25),
                second=cnnlab.train(
                    run.parent.parent.parent / "edge.yaml",
                    overrides={"train.optimizer.learning_rate": 0.0006},
                    name="edge_higher_rate",
                    runs_dir=folder / "runs",
                    progress=False,
                ),
            )
            results["compared"] = cnnlab.compare([run, results["second"].path])
            edge_run, edge_images = cnnlab.load_run(run), load_arrays(load_config(run / "config.yaml")).x_test[:3]
            files = []
            for index, image in enumerate(edge_images):  # 10 rows, 6 columns: a PNG 6 wide, 10 high
                files.append(folder / f"edge{index}.png")
                Image.fromarray(image, mode="RGB").save(files[-1])
            results.update(edge_pixels=edge_run.predict(edge_images), edge_files=edge_run.predict(files))
        except BaseException as error:  # handed to the test, which says what it was
            results["error"] = error

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive() and "error" not in results, results.get("error")
    return results


def test_a_binary_sigmoid_head_from_a_thread_against_scikit_learn(from_a_thread):
    binary = from_a_thread["binary"]
    arrays = load_arrays(load_config(binary.path / "config.yaml"))
    model = keras.saving.load_model(binary.path / "best.keras")
    probability = model.predict(arrays.x_test.astype(np.float32) / 255.0, verbose=0)[:, 0]
    predicted = (probability > 0.5).astype(int)
    metrics = from_a_thread["evaluated"]
    assert 0 < (predicted == arrays.y_test).sum() < len(predicted)  # still making mistakes
    assert metrics["correct"] == int((predicted == arrays.y_test).sum())
    assert metrics["confusion_matrix"] == confusion_matrix(arrays.y_test, predicted, labels=[0, 1]).tolist()
    assert metrics["loss"] == pytest.approx(log_loss(arrays.y_test, probability, labels=[0, 1]), rel=1e-4)
    np.testing.assert_allclose(from_a_thread["predicted"][:, -1], probability[:5], atol=1e-6)
    exported = from_a_thread["exported"]  # 25 of the 40 test images, as asked
    assert (exported.parity.examples, exported.parity.agreement) == (25, 1.0)


def test_compare_from_a_thread_against_scipy(from_a_thread, edge):
    """McNemar's exact test is a binomial test of the discordant pairs at 1/2 (SciPy's binomtest)."""
    run, _, _, _ = edge
    (pair,) = from_a_thread["compared"].pairs
    by_label = {f"{path.parent.name}/{path.name}": path for path in (run, from_a_thread["second"].path)}
    right = {}
    for side in (pair.a, pair.b):
        with np.load(by_label[side] / "predictions.npz") as stored:
            right[side] = stored["y_pred"] == stored["y_true"]
    only_a, only_b, p = mcnemar_by_scipy(right[pair.a], right[pair.b])
    assert (pair.only_a, pair.only_b) == (only_a, only_b) and only_a + only_b > 0
    assert pair.p_value == pytest.approx(p, rel=1e-9, abs=0)


def test_compare_rows_from_a_thread_are_each_runs_records(from_a_thread, edge):
    run, _, _, _ = edge
    for row in from_a_thread["compared"].rows:
        manifest, metrics = _manifest(row.run.path), _metrics(row.run.path)
        timing = manifest["timing"]
        assert row.values() == [
            f"{row.run.path.parent.name}/{row.run.path.name}",
            manifest["parameters"],
            manifest["macs"],
            len(_history(row.run.path)),
            timing["train_seconds"],
            timing["images_per_second"],
            metrics["loss"],
            metrics["accuracy"],
        ]
    accuracies = [row.metrics["accuracy"] for row in from_a_thread["compared"].rows]
    assert accuracies == sorted(accuracies, reverse=True)  # best first


def test_non_square_colour_images_predicted_from_a_thread_as_pixels_and_as_files(from_a_thread, edge):
    run, cfg, _, _ = edge
    expected = _oracle(run, cfg)["probabilities"][:3]
    np.testing.assert_allclose(from_a_thread["edge_pixels"], expected, atol=1e-6)
    np.testing.assert_allclose(from_a_thread["edge_files"], expected, atol=1e-6)


def test_compare_json_and_compare_md_of_two_runs_against_their_records_and_scipy(
    from_a_thread, edge, run_cli, tmp_path
):
    """Each row: the layer sizes by hand, the epochs of history.csv, the manifest's clock,
    the test scores of Keras' predict, Wilson's interval from SciPy; the pair: McNemar as SciPy's
    binomial test of the discordant examples. The JSON and every cell of compare.md."""
    run, cfg, _, _ = edge
    result = run_cli("compare", run, from_a_thread["second"].path, "--json", "--report", tmp_path / "report")
    assert result.exit_code == 0, result.output
    oracles = {path: _oracle(path, cfg) for path in (run, from_a_thread["second"].path)}
    ranked = sorted(oracles, key=lambda path: -oracles[path]["accuracy"])
    assert oracles[ranked[0]]["accuracy"] > oracles[ranked[1]]["accuracy"]  # an order to get right
    parameters, macs = sum(row[3] for row in LAYERS), sum(row[4] for row in LAYERS)

    compared = json.loads(result.stdout)
    table = markdown_tables((tmp_path / "report" / "compare.md").read_text())
    assert table[None][0] == [
        "run", "parameters", "MACs", "epochs", "train s", "images/s", "test loss", "test accuracy",
        "accuracy 95 % interval",
    ]  # fmt: skip
    for path, row, cells in zip(ranked, compared["runs"], table[None][1:], strict=True):
        oracle, timing, loss = oracles[path], _manifest(path)["timing"], _metrics(path)["loss"]
        assert loss == pytest.approx(oracle["loss"], rel=1e-4)
        assert row == {
            "run": f"{path.parent.name}/{path.name}",
            "parameters": parameters,
            "MACs": macs,
            "epochs": len(_history(path)),
            "train s": timing["train_seconds"],
            "images/s": timing["images_per_second"],
            "test loss": loss,
            "test accuracy": pytest.approx(oracle["accuracy"], abs=1e-7),
            "path": str(path),
        }
        low, high = stats.binomtest(oracle["correct"], len(oracle["y"])).proportion_ci(method="wilson")
        assert cells == [
            path.parent.name,  # the config name alone: the two names differ
            f"{parameters:,}",
            f"{macs:,}",
            str(len(_history(path))),
            f"{timing['train_seconds']:,.2f}",  # to the hundredth, as recorded
            f"{timing['images_per_second']:,.1f}",  # 1,166.5 on a fast machine
            f"{loss:.4f}",
            f"{oracle['accuracy']:.4f}",
            f"{low:.4f} to {high:.4f}",
        ]

    right = {path: oracles[path]["predicted"] == oracles[path]["y"] for path in ranked}
    only_a, only_b, p = mcnemar_by_scipy(right[ranked[0]], right[ranked[1]])
    (pair,) = compared["pairs"]
    assert (pair["a"], pair["b"]) == tuple(row["run"] for row in compared["runs"])
    assert (pair["only_a"], pair["only_b"]) == (only_a, only_b)
    assert pair["p_mcnemar"] == pytest.approx(p, rel=1e-9, abs=0)
    first, second = (path.parent.name for path in ranked)
    assert table["Is the difference more than chance?"] == [
        ["p-value", first, second],
        [first, "-", f"{p:.3g}"],
        [second, f"{p:.3g}", "-"],
    ]


def test_the_top_classes_of_a_sigmoid_head_are_its_two_classes_with_p_and_1_minus_p():
    """One sigmoid unit says p for class 1, so class 0 has 1 - p: what `cnnlab predict` ranks."""
    from cnnlab.engine.predict import ranked

    results = ranked(["a.png", "b.png"], np.array([[0.3], [0.9]]), ["cat", "dog"], top=2)
    assert [r["predicted"] for r in results] == ["cat", "dog"]
    assert [[(t["class"], round(t["probability"], 6)) for t in r["top"]] for r in results] == [
        [("cat", 0.7), ("dog", 0.3)],
        [("dog", 0.9), ("cat", 0.1)],
    ]
