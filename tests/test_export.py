"""`cnnlab export`: each format round-trips the shared tiny run (standardize preprocessing) with its
own runtime, and `predict` gives the same answers from the artifact as from the run."""

from __future__ import annotations

import importlib.util
import io
import json
import re

import keras
import numpy as np
import pytest
from PIL import Image

from cnnlab.config import load_config
from cnnlab.data import load_arrays
from cnnlab.data.prepare import Preprocessing

HAS_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxruntime", "tf2onnx"))
FORMATS = [
    "saved_model",
    "tflite",
    pytest.param("onnx", marks=pytest.mark.skipif(not HAS_ONNX, reason="pip install 'cnnlab[export]'")),
]
SUFFIX = {"saved_model": "", "tflite": ".tflite", "onnx": ".onnx"}


def test_the_exported_model_takes_raw_pixels(trained):
    from cnnlab.reporting.export import with_preprocessing

    run, config, _ = trained
    raw = load_arrays(load_config(config)).x_test.astype(np.float32)
    preprocessing = Preprocessing.load(run / "preprocessing.npz")
    assert preprocessing.method == "standardize"  # the per-pixel case, not just a rescale
    model = keras.saving.load_model(run / "best.keras")
    expected = model.predict(preprocessing.apply(raw), verbose=0)
    wrapped = with_preprocessing(model, preprocessing)
    assert np.allclose(wrapped.predict(raw, verbose=0), expected, atol=1e-6)
    # the step keeps its name in the exported graph, where a reader (Netron, saved_model_cli) sees it
    assert [layer.name for layer in wrapped.layers] == ["standardize", *(layer.name for layer in model.layers)]
    scaled = with_preprocessing(model, Preprocessing("scale"))
    assert [layer.name for layer in scaled.layers] == ["scale", *(layer.name for layer in model.layers)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips_and_predict_reads_it(run_cli, trained_copy, tmp_path, fmt):
    run, config = trained_copy
    out = tmp_path / "out" / f"model{SUFFIX[fmt]}"
    result = run_cli("export", run, "--format", fmt, "--out", out)
    assert result.exit_code == 0, result.output
    agreement, difference = re.search(
        r"same class ([\d.]+)%, largest probability difference (\S+)", result.stdout
    ).groups()
    assert float(agreement) == 100.0 and float(difference) < 1e-4
    assert "Saved artifact" not in result.output  # cnnlab's lines only, not Keras' export chatter
    labels = (out / "labels.txt") if fmt == "saved_model" else out.parent / "labels.txt"
    assert labels.read_text().splitlines() == ["class_0", "class_1", "class_2"]

    arrays = load_arrays(load_config(config))
    images = []
    for index in range(4):
        images.append(tmp_path / f"{index}.png")
        Image.fromarray(arrays.x_test[index][..., 0]).save(images[-1])
    from_run = json.loads(run_cli("predict", run, *images, "--json").stdout)
    from_artifact = run_cli("predict", out, *images, "--json")
    assert from_artifact.exit_code == 0, from_artifact.output
    for a, b in zip(from_run, json.loads(from_artifact.stdout), strict=True):
        assert a["predicted"] == b["predicted"]
        assert [t["class"] for t in a["top"]] == [t["class"] for t in b["top"]]
        assert np.allclose([t["probability"] for t in a["top"]], [t["probability"] for t in b["top"]], atol=1e-5)


def test_an_unfaithful_export_fails_and_says_so(run_cli, trained_copy, monkeypatch):
    from cnnlab.reporting import export

    run, _ = trained_copy
    # A converter that gets the class order wrong: every answer moves one class on.
    real = export.run_artifact
    monkeypatch.setattr(export, "run_artifact", lambda path, pixels: np.roll(real(path, pixels), 1, axis=1))
    result = run_cli("export", run, "--format", "tflite")
    assert result.exit_code == 1
    assert "agrees with the run's evaluation (predictions.npz) on only" in result.stderr
    assert "not a faithful copy, and was not written" in result.stderr
    assert not (run / "export").exists()  # checked before it took its place: nothing left behind


def test_an_artifact_its_runtime_cannot_run_is_refused_and_a_previous_export_kept(run_cli, trained_copy, monkeypatch):
    """As TFLite's interpreter refuses a mixed-precision model's ops: one line, not a traceback,
    and the export that was there before is the one still there."""
    from cnnlab.reporting import export

    run, _ = trained_copy
    assert run_cli("export", run, "--format", "tflite").exit_code == 0
    before = (run / "export" / "model.tflite").read_bytes()

    def refuses(path, pixels):
        raise RuntimeError("Select TensorFlow op(s) are not supported by this interpreter.\nNode number 2 failed")

    monkeypatch.setattr(export, "run_artifact", refuses)
    result = run_cli("export", run, "--format", "tflite")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot be run by its own runtime (Select TensorFlow op(s) are not supported" in result.stderr
    assert "nothing was written" in result.stderr
    assert (run / "export" / "model.tflite").read_bytes() == before
    assert sorted(p.name for p in (run / "export").iterdir()) == ["labels.txt", "model.tflite"]  # no temporary

    def says_nothing(path, pixels):
        raise RuntimeError("")

    monkeypatch.setattr(export, "run_artifact", says_nothing)
    result = run_cli("export", run, "--format", "tflite")
    assert (
        result.exit_code == 1
        and "cannot be run by its own runtime (RuntimeError); nothing was written" in result.stderr
    )


def test_a_wrapper_that_loses_the_runs_preprocessing_fails_the_parity_check(run_cli, trained_copy, monkeypatch):
    """The parity check must not compare the export with a copy of itself: a wrapper that skips
    the run's standardisation (as one that dropped a 1/255 scale would) is exported faithfully
    by every converter, and only the run's own evaluation (predictions.npz) shows it wrong."""
    from cnnlab.reporting import export

    run, _ = trained_copy
    wrap = export.with_preprocessing
    monkeypatch.setattr(export, "with_preprocessing", lambda model, _: wrap(model, Preprocessing("none")))
    result = run_cli("export", run, "--format", "tflite")
    assert result.exit_code == 1, result.output
    assert "agrees with the run's evaluation (predictions.npz) on only" in result.stderr


def test_the_parity_check_reads_the_runs_own_evaluation_or_recomputes_it(trained_copy, capfd):
    """Against predictions.npz while it holds best.keras' probabilities; once `evaluate
    --checkpoint last` has replaced them, best.keras on the run's own preprocessing, quietly
    (the bug: Keras' progress bar printed from the engine, into a notebook's export cell)."""
    from cnnlab.reporting.export import RECOMPUTED, STORED, runs_own_outputs
    from cnnlab.storage.folders import RunFolder

    run, config = trained_copy
    folder, preprocessing = RunFolder(run), Preprocessing.load(run / "preprocessing.npz")
    model = keras.saving.load_model(run / "best.keras")
    raw = load_arrays(load_config(config)).x_test[:20].astype(np.float32)
    stored = np.load(run / "predictions.npz")["probabilities"][:20]
    assert not np.allclose(stored, stored[::-1])  # the order of the images matters
    outputs, reference = runs_own_outputs(folder, model, preprocessing, raw)
    assert reference == STORED and np.array_equal(outputs, stored)

    metrics = json.loads((run / "metrics.json").read_text())
    whole = (run / "predictions.npz").read_bytes()
    damaged = {  # each a record the export cannot trust: it recomputes, and the export goes on
        "from last.keras": lambda: (run / "metrics.json").write_text(
            json.dumps({**metrics, "checkpoint": "last.keras"})
        ),
        "predictions cut short": lambda: (run / "predictions.npz").write_bytes(whole[:100]),
        "metrics not JSON": lambda: (run / "metrics.json").write_text("{not json"),
        "no predictions": lambda: (run / "predictions.npz").unlink(),
    }
    for why, damage in damaged.items():
        damage()
        outputs, reference = runs_own_outputs(RunFolder(run), model, preprocessing, raw)
        assert reference == RECOMPUTED and np.allclose(outputs, stored, atol=1e-6), why
        assert capfd.readouterr().out == "", why
    (run / "metrics.json").write_text(json.dumps(metrics))
    with np.load(io.BytesIO(whole)) as kept:
        first_ten = {key: kept[key][:10] for key in kept.files}
    np.savez(run / "predictions.npz", **first_ten)  # fewer images than the export checks on
    outputs, reference = runs_own_outputs(RunFolder(run), model, preprocessing, raw)
    assert reference == RECOMPUTED and np.allclose(outputs, stored, atol=1e-6)


def test_onnx_without_its_extra_names_the_extra(run_cli, trained_copy, monkeypatch):
    run, _ = trained_copy
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a)
    )
    result = run_cli("export", run, "--format", "onnx")
    assert result.exit_code == 2
    assert (
        "ONNX export needs" in result.stderr
        and "onnxruntime" in result.stderr
        and "pip install 'cnnlab[export]'" in result.stderr
    )


def test_out_with_the_wrong_suffix_is_refused_by_its_option_and_from_python_by_its_argument(
    run_cli, trained_copy, tmp_path
):
    """The bug: the shell's `--out` told a Python caller, whose argument is `out`."""
    import cnnlab

    run, _ = trained_copy
    result = run_cli("export", run, "--format", "tflite", "--out", tmp_path / "model.onnx")
    assert result.exit_code == 2
    assert f"error: --out: {tmp_path / 'model.onnx'}: a tflite export is a file ending in .tflite" in result.stderr
    with pytest.raises(cnnlab.ConfigError) as raised:
        cnnlab.Run(run).export("saved_model", tmp_path / "model.tflite")
    assert str(raised.value) == (
        f"out: {tmp_path / 'model.tflite'}: a saved_model export is a folder, not a file ending in .tflite"
    )
    assert not (tmp_path / "model.onnx").exists() and not (tmp_path / "model.tflite").exists()


def test_an_export_that_disagrees_on_one_test_image_in_48_fails(run_cli, trained_copy, monkeypatch):
    """The bar is 99.9 %: one answer in 48 moved (97.9 %) is not a faithful copy either."""
    from cnnlab.reporting import export

    run, _ = trained_copy
    real = export.run_artifact

    def one_wrong(path, pixels):
        probabilities = real(path, pixels)
        probabilities[0] = np.roll(probabilities[0], 1)
        return probabilities

    monkeypatch.setattr(export, "run_artifact", one_wrong)
    result = run_cli("export", run, "--format", "tflite")
    assert result.exit_code == 1, result.output
    assert "agrees with the run's evaluation (predictions.npz) on only 97.92% of 48 test images" in result.stderr


def test_a_saved_model_folder_may_have_any_name(run_cli, trained_copy, tmp_path):
    run, _ = trained_copy
    out = tmp_path / "model.saved_model"
    result = run_cli("export", run, "--format", "saved_model", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "saved_model.pb").is_file() and (out / "labels.txt").is_file()
    assert f"wrote {out} and {out / 'labels.txt'}" in " ".join(result.stdout.split())  # rich may wrap it
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    assert run_cli("predict", out, tmp_path / "x.png").exit_code == 0
    refused = run_cli("export", run, "--format", "saved_model", "--out", tmp_path / "model.tflite")
    assert refused.exit_code == 2 and "--out" in refused.stderr and "tflite" in refused.stderr
