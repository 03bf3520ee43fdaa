"""evaluate, predict and visualize as a user runs them, on the shared tiny run (compare: test_compare.py)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cnnlab.config import load_config
from cnnlab.data import load_arrays


def test_evaluate_without_argument_takes_the_newest_run(run_cli, trained_copy):
    run, _ = trained_copy
    older = run.parent / "20000101-000000"
    shutil.copytree(run, older)
    (run / "metrics.json").write_text("{}")  # evaluate must write it again
    result = run_cli("evaluate", "--runs-dir", run.parent.parent)
    assert result.exit_code == 0, result.output
    assert str(run) in result.stdout and str(older) not in result.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.sum() == metrics["examples"] == 48
    assert np.trace(matrix) == metrics["correct"]
    assert np.trace(matrix) == pytest.approx(metrics["accuracy"] * metrics["examples"], abs=1e-3)
    assert sum(c["support"] for c in metrics["per_class"]) == 48


def test_report_files_are_complete_and_html_is_self_contained(trained):
    run, _, _ = trained
    for name in ("report.md", "report.html", "curves.png", "confusion_matrix.png", "misclassified.png"):
        assert (run / name).is_file(), name
    markdown = (run / "report.md").read_text()
    assert "Status completed: 3 epochs" in markdown  # not "evaluating", the state while it was written
    assert "![confusion matrix](confusion_matrix.png)" in markdown
    assert "## Per class" in markdown and "| class | precision | recall | F1 | support |" in markdown
    page = (run / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and 'src="curves.png"' not in page
    assert "Conv2D" in page and "dataset: synthetic" in page


def test_evaluate_other_split_and_checkpoint_write_beside_the_test_files(run_cli, trained_copy):
    run, _ = trained_copy
    before = (run / "metrics.json").read_text()
    result = run_cli("evaluate", str(run), "--data", "val", "--checkpoint", "last")
    assert result.exit_code == 0, result.output
    assert (run / "metrics.json").read_text() == before
    val = json.loads((run / "metrics_val.json").read_text())
    assert val["split"] == "val" and val["checkpoint"] == "last.keras" and val["examples"] == 19
    # the training split: 192 synthetic images less the 19 held out (a train read as val gives 19)
    assert run_cli("evaluate", str(run), "--data", "train").exit_code == 0
    assert json.loads((run / "metrics_train.json").read_text())["examples"] == 192 - 19


def test_evaluate_with_a_missing_checkpoint_fails_clearly(run_cli, trained_copy):
    run, _ = trained_copy
    (run / "best.keras").unlink()
    result = run_cli("evaluate", str(run))
    assert result.exit_code == 1
    assert "best.keras is missing" in result.stderr and "Traceback" not in result.output


def test_evaluate_with_no_runs_or_an_unknown_run(run_cli, trained_copy, tmp_path):
    result = run_cli("evaluate", "--runs-dir", tmp_path / "empty")
    assert result.exit_code == 2 and "no runs in" in result.stderr
    run, _ = trained_copy
    result = run_cli("evaluate", "tinyy", "--runs-dir", run.parent.parent)
    assert result.exit_code == 2 and "did you mean tiny?" in result.stderr


def test_predict_matches_what_evaluate_stored(run_cli, trained, tmp_path):
    run, config, _ = trained
    arrays = load_arrays(load_config(config))
    stored = np.load(run / "predictions.npz")["y_pred"]
    files = []
    for index in range(5):
        path = tmp_path / f"example{index}.png"
        Image.fromarray(arrays.x_test[index][..., 0]).save(path)
        files.append(path)
    result = run_cli("predict", str(run), *files, "--json", "--top", "2")
    assert result.exit_code == 0, result.output
    predictions = json.loads(result.stdout)
    assert [p["predicted"] for p in predictions] == [f"class_{c}" for c in stored[:5]]
    assert all(len(p["top"]) == 2 and p["top"][0]["probability"] >= p["top"][1]["probability"] for p in predictions)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: Image.new("L", (20, 20)).save(p), "image is 20x20, the model takes 8x8"),
        (lambda p: Image.new("RGB", (8, 8)).save(p), "image is colour (RGB), the model takes greyscale"),
        (lambda p: p.write_text("not an image"), "not a readable image"),
    ],
)
def test_predict_refuses_images_that_do_not_fit(run_cli, trained, tmp_path, make, words):
    run, _, _ = trained
    path = tmp_path / "bad.png"
    make(path)
    result = run_cli("predict", str(run), path)
    assert result.exit_code == 1 and words in result.stderr and "Traceback" not in result.output


def test_predict_convert_resizes_and_invert_flips(run_cli, trained, tmp_path):
    run, _, _ = trained
    Image.new("RGB", (32, 24), (255, 255, 255)).save(tmp_path / "white.png")
    Image.new("L", (8, 8), 0).save(tmp_path / "black.png")
    white = json.loads(run_cli("predict", str(run), tmp_path / "white.png", "--convert", "--json").stdout)
    inverted = json.loads(run_cli("predict", str(run), tmp_path / "black.png", "--invert", "--json").stdout)
    assert white[0]["top"] == inverted[0]["top"]  # both are an all-white 8x8 grey image


def test_visualize_draws_filters_and_feature_maps(run_cli, trained_copy):
    run, _ = trained_copy
    result = run_cli("visualize", str(run), "--index", "3")
    assert result.exit_code == 0, result.output
    for name in ("filters.png", "feature_maps.png"):
        assert (run / name).read_bytes()[:4] == b"\x89PNG"
    bad = run_cli("visualize", str(run), "--index", "999")
    assert bad.exit_code == 2 and "error: --index: 999: the test split has 48 examples (0 to 47)" in bad.stderr
    both = run_cli("visualize", str(run), "--index", "1", "--image", str(run / "filters.png"))
    assert both.exit_code == 2


def test_predict_with_a_missing_checkpoint_fails_clearly(run_cli, trained_copy, tmp_path):
    run, _ = trained_copy
    (run / "best.keras").unlink()
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    result = run_cli("predict", str(run), tmp_path / "x.png")
    assert result.exit_code == 1 and "best.keras is missing" in result.stderr


def test_visualize_with_no_runs_says_how_to_make_one(run_cli, tmp_path):
    result = run_cli("visualize", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "cnnlab train" in result.stderr


@pytest.mark.parametrize("metrics", [["accuracy"], ["accuracy", "auc", "top_k_categorical_accuracy"]])
def test_one_pass_evaluation_gives_what_keras_evaluate_gives(metrics):
    """The lever of evaluating from predict's probabilities must not change a number: the
    regularisation term in the loss, a stateful metric (AUC), top-k."""
    import keras

    from cnnlab.engine.evaluation import evaluate_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 6, 6, 1)).astype(np.float32)
    labels = rng.integers(0, 3, 300)
    y = np.eye(3, dtype=np.float32)[labels]
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, kernel_regularizer=keras.regularizers.L2(0.1)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=metrics)
    expected = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    got, predictions = evaluate_model(model, x, y, labels, 32, ["a", "b", "c"])
    assert list(got)[: len(expected)] == list(expected)  # same names, same order
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-5), key
    assert np.allclose(predictions["probabilities"], model.predict(x, verbose=0), atol=1e-6)


def test_evaluate_on_another_data_sets_path_uses_the_runs_preprocessing(run_cli, trained_copy, tmp_path):
    """README: evaluate --data PATH scores the run on that data set's test split, transformed as
    the run's own data was, beside the run's test files (which stay the report's)."""
    import keras

    from cnnlab.data.prepare import Preprocessing

    run, _ = trained_copy
    rng = np.random.default_rng(5)
    x_test, y_test = rng.integers(0, 256, (30, 8, 8), dtype=np.uint8), np.arange(30) % 3
    np.savez(tmp_path / "other.npz", x_train=x_test, y_train=y_test, x_test=x_test, y_test=y_test)
    before = (run / "metrics.json").read_text()
    result = run_cli("evaluate", run, "--data", tmp_path / "other.npz")
    assert result.exit_code == 0, result.output
    other = json.loads((run / "metrics_other.json").read_text())
    assert other["split"] == str(tmp_path / "other.npz") and other["examples"] == 30
    model = keras.saving.load_model(run / "best.keras")
    pixels = Preprocessing.load(run / "preprocessing.npz").apply(x_test[..., np.newaxis])  # standardized
    expected = model.predict(pixels, verbose=0)
    stored = np.load(run / "predictions_other.npz")
    np.testing.assert_allclose(stored["probabilities"], expected, atol=1e-5)
    assert other["accuracy"] == pytest.approx((expected.argmax(axis=1) == y_test).mean())
    assert (run / "metrics.json").read_text() == before
    np.savez(tmp_path / "wide.npz", x_train=x_test, y_train=y_test, x_test=x_test, y_test=np.arange(30) % 5)
    refused = run_cli("evaluate", run, "--data", tmp_path / "wide.npz")
    assert refused.exit_code == 1 and "labels go up to 4, the model knows 3 classes" in refused.stderr


def test_predict_takes_a_list_of_pixel_arrays_and_names_what_it_cannot_take(trained):
    """The bugs: a list of same-shaped arrays refused as if their shapes differed; the hint
    that says what to do, or what was given, dropped from a refusal."""
    import cnnlab
    from cnnlab.config import load_config
    from cnnlab.data import load_splits
    from cnnlab.errors import ConfigError

    run_path, _, _ = trained
    run = cnnlab.Run(run_path)
    raw = load_splits(load_config(run_path / "config.yaml"), 3).raw_test[:3]
    assert np.allclose(run.predict(list(raw)), run.predict(raw), atol=1e-6)
    # as Keras loads MNIST, without the channel axis: the same images, one or several
    stored = np.load(run_path / "predictions.npz")["probabilities"][:3]
    assert np.allclose(run.predict(raw[..., 0]), stored, atol=1e-6)
    assert np.allclose(run.predict(raw[0, ..., 0]), stored[:1], atol=1e-6)
    with pytest.raises(ConfigError) as mixed:
        run.predict([raw[0], np.zeros((9, 9, 1), np.uint8)])
    assert str(mixed.value).endswith(
        "images 0 and 1 differ in shape ((8, 8, 1) and (9, 9, 1)) — give images of the model's size, "
        "or image files with convert=True to resize them"
    )
    with pytest.raises(ConfigError) as number:
        run.predict(42)
    assert str(number.value).endswith("(a NumPy array of one image or of many) — got int")


def test_evaluate_on_a_data_set_of_another_image_size_names_both_shapes(run_cli, trained_copy, tmp_path):
    """The bug: the refusal quoting a slice of the examples' shape that is not their image."""
    run, _ = trained_copy
    images, labels = np.zeros((6, 9, 9), np.uint8), np.arange(6) % 3
    np.savez(tmp_path / "big.npz", x_train=images, y_train=labels, x_test=images, y_test=labels)
    result = run_cli("evaluate", run, "--data", tmp_path / "big.npz")
    assert result.exit_code != 0
    assert "examples of shape (9, 9, 1) do not fit the model's input (8, 8, 1)" in result.stderr
    assert "Traceback" not in result.output and not list(run.glob("*_big.*"))  # refused, nothing written


def test_another_data_set_given_as_a_path_from_python_is_its_test_split_named_by_its_path(trained_copy, tmp_path):
    """`Run.evaluate(Path(...))` as `cnnlab evaluate RUN --data FILE`. The bug: the path kept
    as a Path where the metrics name their split, which JSON cannot hold."""
    import cnnlab

    run, config = trained_copy
    arrays = load_arrays(load_config(config))
    same = tmp_path / "same.npz"  # the run's own test images under another name
    np.savez(same, x_train=arrays.x_test, y_train=arrays.y_test, x_test=arrays.x_test, y_test=arrays.y_test)
    metrics = cnnlab.Run(run).evaluate(same)
    stored = json.loads((run / "metrics_same.json").read_text())
    assert metrics["split"] == stored["split"] == str(same)
    assert metrics["accuracy"] == json.loads((run / "metrics.json").read_text())["accuracy"]
