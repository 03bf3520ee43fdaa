"""The bad-input catalogue: every command, every kind of mistake, one located line and an exit code.

Each case asserts the exit code (2 for usage and config mistakes, 1 for a failed run or an
unreadable file), words that name the file, line, key or argument at fault, and that no Python
traceback escaped. A case breaks when a mistake starts to crash, to pass silently, or to lose
its location.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.guard_rails import GOOD


def config(tmp: Path, *replacements: tuple[str, str], text: str | None = None, name="c.yaml") -> Path:
    """GOOD (or `text`) with each (old, new) replaced once; the replacement must apply."""
    text = GOOD if text is None else text
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def layer(old_args: str, new_args: str) -> tuple[str, str]:
    return (f"Conv2D: {{{old_args}}}", f"Conv2D: {{{new_args}}}")


CONV = "filters: 2, kernel_size: 3, activation: relu"


def data_folder(tmp: Path, make) -> Path:
    folder = tmp / "data"
    folder.mkdir()
    make(folder)
    return folder


def image_folder(root: Path, classes=("a", "b"), per_class=3, size=(8, 8), splits=("",)) -> None:
    for split in splits:
        for name in classes:
            target = root / split / name
            target.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new("L", size, 40 * i).save(target / f"{i}.png")


def idx(shape, dtype_code=0x08, data: bytes | None = None) -> bytes:
    head = bytes([0, 0, dtype_code, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)
    return head + (bytes(int(np.prod(shape))) if data is None else data)


def idx_folder(root: Path, train_images: bytes) -> None:
    (root / "train-images-idx3-ubyte").write_bytes(train_images)
    (root / "train-labels-idx1-ubyte").write_bytes(idx((4,), data=bytes([0, 1, 0, 1])))
    (root / "t10k-images-idx3-ubyte").write_bytes(idx((2, 8, 8)))
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx((2,), data=bytes([0, 1])))


def dataset(path: Path) -> tuple[str, str]:
    return ("dataset: synthetic", f"dataset: {path}")


def folder_data(path: Path) -> tuple[str, str]:
    return (
        "dataset: synthetic\n",
        f"dataset: image_folder\n  path: {path}\n  image_size: [8, 8]\n  color_mode: grayscale\n",
    )


def two_class_model() -> tuple[str, str]:
    return ("Dense: {units: 3,", "Dense: {units: 2,")


# Each case: tmp folder -> (argv, exit code, words the message must hold; "{tmp}" is the folder).
CASES = {
    # --- the config file itself -----------------------------------------------------------
    "missing config": lambda t: (["check", t / "nope.yaml"], 2, ["{tmp}/nope.yaml: no such config file"]),
    "empty config": lambda t: (["check", config(t, text="")], 2, ["c.yaml", "must be a YAML mapping"]),
    "binary config": lambda t: (["check", _binary(t)], 2, ["c.yaml", "cannot read"]),
    "directory as config": lambda t: (["check", t], 2, [f"{t}", "cannot read"]),
    "list config": lambda t: (["check", config(t, text="- a\n- b\n")], 2, ["c.yaml:1", "YAML mapping"]),
    "scalar config": lambda t: (["check", config(t, text="hello\n")], 2, ["c.yaml:1", "YAML mapping"]),
    "tab indentation": lambda t: (
        ["check", config(t, ("  dataset", "\tdataset"))],
        2,
        ["c.yaml:3", "YAML syntax error"],
    ),
    "duplicate key": lambda t: (
        ["check", config(t, ("train:", "seed: 1\nseed: 2\ntrain:"))],
        2,
        ["c.yaml:11 seed", "duplicate key"],
    ),
    "unknown top-level key": lambda t: (
        ["check", config(t, ("train:", "trian: {}\ntrain:"))],
        2,
        ["c.yaml:10 trian: unknown key", "did you mean train?"],
    ),
    "missing model": lambda t: (["check", config(t, text="name: t\n")], 2, ["model: required key is missing"]),
    # --- wrong types and out-of-range values, section by section ----------------------------
    "epochs not a number": lambda t: (
        ["check", config(t, ("epochs: 1", "epochs: ten"))],
        2,
        ["c.yaml:10 train.epochs", "'ten'"],
    ),
    "epochs zero": lambda t: (
        ["check", config(t, ("epochs: 1", "epochs: 0"))],
        2,
        ["c.yaml:10 train.epochs", "greater than or equal to 1"],
    ),
    "batch size negative": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: -1"))],
        2,
        ["c.yaml:10 train.batch_size"],
    ),
    "validation split above 1": lambda t: (
        ["check", config(t, ("dataset: synthetic", "dataset: synthetic\n  validation_split: 1.5"))],
        2,
        ["c.yaml:4 data.validation_split", "less than 1"],
    ),
    "unknown preprocess": lambda t: (
        ["check", config(t, ("dataset: synthetic", "dataset: synthetic\n  preprocess: normalize"))],
        2,
        ["c.yaml:4 data.preprocess", "'scale'"],
    ),
    "seed not an integer": lambda t: (["check", config(t, ("name: t", "name: t\nseed: [1]"))], 2, ["c.yaml:2 seed"]),
    "tensorboard wrong type": lambda t: (
        ["check", config(t, ("train:", "tensorboard: {histogram_freq: often}\ntrain:"))],
        2,
        ["c.yaml:10 tensorboard.histogram_freq"],
    ),
    "runtime unknown device": lambda t: (
        ["check", config(t, ("train:", "runtime: {device: tpu}\ntrain:"))],
        2,
        ["c.yaml:10 runtime.device", "'auto'"],
    ),
    "synthetic one class": lambda t: (
        ["check", config(t, ("num_classes: 3", "num_classes: 1"))],
        2,
        ["c.yaml:4 data.synthetic.num_classes"],
    ),
    "run name with slash": lambda t: (["check", config(t, ("name: t", "name: ../t"))], 2, ["c.yaml:1 name"]),
    "run name by --name with dots": lambda t: (
        ["train", config(t), "--name", "..", "--runs-dir", t / "runs"],
        2,
        ["error: --name: String should match pattern", "'..'"],
    ),
    "layer arguments not a mapping": lambda t: (
        ["check", config(t, ("Dense: {units: 3, activation: softmax}", "Dense: 3"))],
        2,
        ["c.yaml:9 model.layers[2]", "must be a mapping"],
    ),
    "no layers": lambda t: (
        ["check", config(t, text="name: t\nmodel: {layers: []}\n")],
        2,
        ["c.yaml:2 model.layers", "at least 1 item"],
    ),
    # --- base: inheritance ---------------------------------------------------------------
    "base cycle": lambda t: (["check", _cycle(t)], 2, ["b.yaml:1 base", "cycle", "a.yaml -> b.yaml -> a.yaml"]),
    "missing base": lambda t: (["check", config(t, text="base: basline.yaml\n")], 2, ["c.yaml:1 base", "no such file"]),
    "base not a file name": lambda t: (["check", config(t, text="base: [a.yaml]\n")], 2, ["c.yaml:1 base"]),
    # --- --set overrides ---------------------------------------------------------------------
    "--set without =": lambda t: (["check", config(t), "--set", "train.epochs"], 2, ["--set", "expected KEY=VALUE"]),
    "--set unknown key": lambda t: (
        ["check", config(t), "--set", "train.epochz=2"],
        2,
        ["--set train.epochz", "did you mean epochs?"],
    ),
    "--set index out of range": lambda t: (
        ["check", config(t), "--set", "model.layers.7.Dense.units=5"],
        2,
        ["--set model.layers.7.Dense.units", "has 3 items"],
    ),
    "--set wrong type": lambda t: (
        ["check", config(t), "--set", "train.epochs=abc"],
        2,
        ["--set train.epochs", "'abc'"],
    ),
    "--set unhashable literal": lambda t: (
        ["check", config(t), "--set", "train.epochs={[1]: 2}"],
        2,
        ["--set train.epochs"],
    ),
    "--set into a value": lambda t: (
        ["check", config(t), "--set", "train.epochs.x=1"],
        2,
        ["--set train.epochs.x", "is a value, not a section"],
    ),
    # --- Keras names: layers, arguments and the objects they name ---------------------------
    "unknown layer": lambda t: (
        ["check", config(t, ("Flatten", "Flaten"))],
        2,
        ["c.yaml:8 model.layers[1].Flaten", "did you mean Flatten?"],
    ),
    "unknown layer argument": lambda t: (
        ["check", config(t, layer(CONV, CONV + ", kernel_sise: 3"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.kernel_sise", "did you mean kernel_size?"],
    ),
    "value Keras refuses": lambda t: (
        ["check", config(t, layer(CONV, "filters: 2, kernel_size: 3, padding: sideways"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D", "padding"],
    ),
    "unknown activation": lambda t: (
        ["check", config(t, layer(CONV, "filters: 2, kernel_size: 3, activation: rellu"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.activation", "did you mean relu"],
    ),
    "unknown initializer": lambda t: (
        ["check", config(t, layer(CONV, CONV + ", kernel_initializer: he_normall"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.kernel_initializer", "did you mean he_normal"],
    ),
    "unknown regularizer": lambda t: (
        ["check", config(t, layer(CONV, CONV + ", kernel_regularizer: l3"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.kernel_regularizer", "unknown regularizer 'l3'"],
    ),
    "regularizer arguments not a mapping": lambda t: (
        ["check", config(t, layer(CONV, CONV + ", kernel_regularizer: {L2: 0.001}"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.kernel_regularizer", "must be a mapping", "{L2: {l2: 1.0e-4}}"],
    ),
    "regularizer argument misspelt": lambda t: (
        ["check", config(t, layer(CONV, CONV + ", kernel_regularizer: {L2: {l3: 0.1}}"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.kernel_regularizer.L2.l3", "unknown argument of L2", "L2 takes: l2"],
    ),
    "activation with arguments": lambda t: (
        ["check", config(t, layer(CONV, "filters: 2, kernel_size: 3, activation: {relu: {}}"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.activation", "given by its name"],
    ),
    "YAML nested thousands deep": lambda t: (
        ["check", config(t, text="name: t\nmodel: " + "[" * 5000 + "]" * 5000 + "\n")],
        2,
        ["c.yaml: nested too deeply"],
    ),
    "unknown constraint": lambda t: (
        ["check", config(t, layer(CONV, CONV + ", kernel_constraint: max_normm"))],
        2,
        ["c.yaml:7 model.layers[0].Conv2D.kernel_constraint", "did you mean max_norm"],
    ),
    "unknown optimizer": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: 8, optimizer: adamm"))],
        2,
        ["c.yaml:10 train.optimizer.name", "did you mean adam"],
    ),
    "unknown optimizer argument": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: 8, optimizer: {name: adam, learning_rat: 0.1}"))],
        2,
        ["c.yaml:10 train.optimizer.learning_rat", "did you mean learning_rate?"],
    ),
    "unknown loss": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: 8, loss: categorical_crossentropyy"))],
        2,
        ["c.yaml:10 train.loss", "did you mean categorical_crossentropy?"],
    ),
    "unknown metric": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: 8, metrics: [acuracy]"))],
        2,
        ["c.yaml:10 train.metrics[0]", "did you mean accuracy?"],
    ),
    "unknown schedule": lambda t: (
        [
            "check",
            config(t, ("batch_size: 8", "batch_size: 8, optimizer: {name: adam, learning_rate: {CosineDecai: {}}}")),
        ],
        2,
        ["c.yaml:10 train.optimizer.learning_rate.CosineDecai", "did you mean CosineDecay?"],
    ),
    "schedule arguments not a mapping": lambda t: (
        [
            "check",
            config(
                t, ("batch_size: 8", "batch_size: 8, optimizer: {name: adam, learning_rate: {ExponentialDecay: 0.001}}")
            ),
        ],
        2,
        ["c.yaml:10 train.optimizer.learning_rate.ExponentialDecay", "must be a mapping"],
    ),
    "unknown callback": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: 8, callbacks: [EarlyStoping]"))],
        2,
        ["c.yaml:10 train.callbacks[0].EarlyStoping", "did you mean EarlyStopping?"],
    ),
    "managed callback": lambda t: (
        ["check", config(t, ("batch_size: 8", "batch_size: 8, callbacks: [CSVLogger: {filename: x}]"))],
        2,
        ["c.yaml:10 train.callbacks[0].CSVLogger", "history.csv"],
    ),
    # --- shapes --------------------------------------------------------------------------------
    "pooling a too-small map": lambda t: (
        ["check", config(t, ("- Flatten", "- MaxPooling2D: {pool_size: 9}\n    - Flatten"))],
        2,
        ["c.yaml:8 model.layers[1].MaxPooling2D", "too small"],
    ),
    "Dense on a 4-D input": lambda t: (
        ["check", config(t, ("    - Flatten\n", ""))],
        2,
        ["c.yaml:8 model.layers[1].Dense", "add Flatten"],
    ),
    "last layer width": lambda t: (
        ["check", config(t, ("units: 3", "units: 4"))],
        2,
        ["c.yaml:9 model.layers[2].Dense.units", "set units: 3"],
    ),
    # --- data paths and files ---------------------------------------------------------------
    "data set name misspelt": lambda t: (
        ["check", config(t, ("dataset: synthetic", "dataset: mnits"))],
        2,
        ["c.yaml:3 data.dataset", "did you mean mnist?"],
    ),
    "data path does not exist": lambda t: (
        ["check", config(t, dataset(t / "missing"))],
        2,
        ["c.yaml:3 data.dataset", "no such path"],
    ),
    "data path is a text file": lambda t: (
        ["check", config(t, dataset(_text_file(t)))],
        2,
        ["c.yaml:3 data.dataset", "not an .npz file"],
    ),
    "IDX with a wrong magic number": lambda t: (
        ["check", config(t, dataset(data_folder(t, lambda d: idx_folder(d, b"\x00\x00\x07\x03" + bytes(12)))))],
        2,
        ["c.yaml:3 data.dataset", "bad magic number"],
    ),
    "IDX truncated": lambda t: (
        [
            "train",
            config(t, dataset(data_folder(t, lambda d: idx_folder(d, idx((4, 8, 8))[:-10]))), two_class_model()),
            "--runs-dir",
            t / "runs",
        ],
        1,
        ["train-images-idx3-ubyte", "truncated IDX file"],
    ),
    "corrupt npz": lambda t: (
        ["check", config(t, dataset(_corrupt_npz(t)))],
        2,
        ["c.yaml:3 data.dataset", "not a Keras-style .npz"],
    ),
    "npz without test arrays": lambda t: (
        ["train", config(t, dataset(_partial_npz(t)), two_class_model()), "--runs-dir", t / "runs"],
        1,
        ["missing arrays x_test, y_test"],
    ),
    "gzipped IDX that is not gzip": lambda t: (
        ["check", config(t, dataset(data_folder(t, _bad_gzip_idx)), two_class_model())],
        2,
        ["c.yaml:3 data.dataset", "train-images-idx3-ubyte.gz", "cannot read"],
    ),
    "image folder without images": lambda t: (
        ["check", config(t, folder_data(data_folder(t, lambda d: image_folder(d, per_class=0))), two_class_model())],
        2,
        ["c.yaml:3 data.dataset", "no images"],
    ),
    "image folder with one class": lambda t: (
        ["check", config(t, folder_data(data_folder(t, lambda d: image_folder(d, classes=("a",)))))],
        2,
        ["c.yaml:3 data.dataset", "found 1"],
    ),
    "image folder test/ missing a class": lambda t: (
        ["check", config(t, folder_data(data_folder(t, _test_missing_class)), two_class_model())],
        2,
        ["c.yaml:3 data.dataset", "test", "'b'"],
    ),
    "image folder with an unreadable image": lambda t: (
        [
            "train",
            config(t, folder_data(data_folder(t, _unreadable_image)), two_class_model()),
            "--runs-dir",
            t / "runs",
        ],
        1,
        ["broken.png", "not a readable image"],
    ),
    "image_folder without a path": lambda t: (
        ["check", config(t, ("dataset: synthetic", "dataset: image_folder"))],
        2,
        ["c.yaml:3 data.dataset", "image_folder needs data.path — add path: folder/with/one/sub-folder/per/class"],
    ),
    "limit leaves no validation examples": lambda t: (
        ["check", config(t, ("dataset: synthetic", "dataset: synthetic\n  limit: 4\n  validation_split: 0.1"))],
        2,
        ["c.yaml:5 data.validation_split", "4 training examples"],
    ),
    "labels beyond the class count": lambda t: (
        ["train", config(t, dataset(_npz(t, test_labels=[0, 5])), two_class_model()), "--runs-dir", t / "runs"],
        1,
        ["test labels run from 0 to 5"],
    ),
    # --- runs directories and run names --------------------------------------------------
    "runs dir below a plain file": lambda t: (
        ["train", config(t), "--runs-dir", _text_file(t) / "runs"],
        2,
        ["--runs-dir", "a.txt is a file, not a folder"],
    ),
    "runs dir is a plain file": lambda t: (
        ["train", config(t), "--runs-dir", _text_file(t)],
        2,
        ["--runs-dir", "a.txt' is a file"],
    ),
    "evaluate: run not found": lambda t: (["evaluate", "nothing", "--runs-dir", t], 2, ["'nothing'", "no runs in"]),
    "summary: run not found": lambda t: (["summary", "nothing", "--runs-dir", t], 2, ["'nothing'"]),
    "compare: run not found": lambda t: (["compare", "nothing", "--runs-dir", t], 2, ["'nothing'"]),
    "train: neither config nor --resume": lambda t: (["train"], 2, ["give a CONFIG"]),
    "train --resume: run not found": lambda t: (["train", "--resume", "nothing", "--runs-dir", t], 2, ["'nothing'"]),
}


def _binary(tmp: Path) -> Path:
    path = tmp / "c.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01")
    return path


def _cycle(tmp: Path) -> Path:
    (tmp / "b.yaml").write_text("base: a.yaml\n")
    (tmp / "a.yaml").write_text("base: b.yaml\n")
    return tmp / "a.yaml"


def _text_file(tmp: Path) -> Path:
    path = tmp / "a.txt"
    path.write_text("not data\n")
    return path


def _npz(tmp: Path, test_labels=(0, 1)) -> Path:
    path = tmp / "d.npz"
    np.savez(
        path,
        x_train=np.zeros((4, 8, 8), np.uint8),
        y_train=np.array([0, 1, 0, 1]),
        x_test=np.zeros((len(test_labels), 8, 8), np.uint8),
        y_test=np.array(test_labels),
    )
    return path


def _corrupt_npz(tmp: Path) -> Path:
    path = tmp / "d.npz"
    path.write_bytes(_npz(tmp).read_bytes()[:200])
    return path


def _partial_npz(tmp: Path) -> Path:
    path = tmp / "d.npz"
    np.savez(path, x_train=np.zeros((4, 8, 8), np.uint8), y_train=np.array([0, 1, 0, 1]))
    return path


def _bad_gzip_idx(root: Path) -> None:
    idx_folder(root, idx((4, 8, 8)))
    (root / "train-images-idx3-ubyte").rename(root / "train-images-idx3-ubyte.gz")  # not gzip inside


def _test_missing_class(root: Path) -> None:
    image_folder(root, splits=("train",))
    image_folder(root, classes=("a",), splits=("test",))


def _unreadable_image(root: Path) -> None:
    image_folder(root)
    (root / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not the rest of a PNG")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_gets_one_located_line(run_cli, tmp_path, case):
    argv, code, words = CASES[case](tmp_path)
    result = run_cli(*argv)
    assert_refused(result, code, [w.replace("{tmp}", str(tmp_path)) for w in words])


def assert_refused(result, code: int, words: list[str]) -> None:
    """Exit `code`, every word in the error output, and no traceback (in-process: the only
    exception click saw was its own exit)."""
    text = result.stderr + result.stdout
    assert "Traceback" not in text
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, text
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"
    assert "error:" in result.stderr or "Error:" in result.stderr, text


# --- finished, failed, running and damaged runs ----------------------------------------------


def _break(run: Path, how: str) -> None:
    if how == "truncated checkpoint":
        data = (run / "best.keras").read_bytes()
        (run / "best.keras").write_bytes(data[: len(data) // 2])
    elif how == "failed before a checkpoint":
        for name in ("best.keras", "last.keras", "metrics.json"):
            (run / name).unlink()
        _manifest(run, status="failed", failure="loss became NaN")
    elif how == "corrupt manifest":
        (run / "manifest.json").write_text('{"status": "compl')
    elif how == "corrupt metrics":
        (run / "metrics.json").write_text('{"accuracy": 0.9')
    elif how == "corrupt history":
        (run / "history.csv").write_text("epoch,loss,epoch_seconds\n1,0.5,2.0\n2,abc,2.0\n")
        _manifest(run, status="interrupted")  # so that --resume gets as far as reading it
    elif how == "corrupt preprocessing":
        (run / "preprocessing.npz").write_bytes(b"PK\x03\x04 half a zip file")
    elif how == "corrupt config":
        (run / "config.yaml").write_text("name: [unclosed\n")
    elif how == "still running":
        _manifest(run, status="running", pid=os.getpid(), host=socket.gethostname())
    elif how == "no conv layer":
        import keras

        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
        model.save(run / "best.keras")


def _manifest(run: Path, **fields) -> None:
    data = json.loads((run / "manifest.json").read_text())
    data.update(fields)
    (run / "manifest.json").write_text(json.dumps(data))


RUN_CASES = [
    ("evaluate", "truncated checkpoint", 1, ["best.keras", "cannot be loaded"]),
    ("predict", "truncated checkpoint", 1, ["best.keras", "cannot be loaded"]),
    ("visualize", "truncated checkpoint", 1, ["best.keras", "cannot be loaded"]),
    ("evaluate", "failed before a checkpoint", 1, ["best.keras is missing", "failed"]),
    ("predict", "failed before a checkpoint", 1, ["best.keras is missing"]),
    ("evaluate", "corrupt manifest", 1, ["manifest.json", "not valid JSON"]),
    ("compare", "corrupt manifest", 1, ["manifest.json", "not valid JSON"]),
    ("compare", "corrupt metrics", 1, ["metrics.json", "not valid JSON", "cnnlab evaluate"]),
    ("evaluate", "corrupt history", 1, ["history.csv:3", "not a history row"]),
    ("train --resume", "corrupt history", 1, ["history.csv:3", "not a history row"]),
    ("evaluate", "corrupt preprocessing", 1, ["preprocessing.npz", "cannot be read"]),
    ("predict", "corrupt preprocessing", 1, ["preprocessing.npz", "cannot be read"]),
    ("compare", "failed before a checkpoint", 1, ["the run failed", "loss became NaN"]),
    ("summary", "corrupt config", 2, ["config.yaml:2", "YAML syntax error"]),
    ("evaluate", "corrupt config", 2, ["config.yaml:2", "YAML syntax error"]),
    ("evaluate", "still running", 1, ["still running", f"pid {os.getpid()}"]),
    ("train --resume", "still running", 1, ["still running", f"pid {os.getpid()}"]),
    ("visualize", "no conv layer", 1, ["no Conv2D layer"]),
]


@pytest.mark.parametrize("command, how, code, words", RUN_CASES, ids=[f"{c}: {h}" for c, h, _, _ in RUN_CASES])
def test_damaged_or_unfinished_run_gets_one_line(run_cli, trained_copy, tmp_path, command, how, code, words):
    run, _ = trained_copy
    _break(run, how)
    image = tmp_path / "x.png"
    Image.new("L", (8, 8)).save(image)
    argv = {
        "evaluate": ["evaluate", run],
        "predict": ["predict", run, image],
        "visualize": ["visualize", run],
        "compare": ["compare", run],
        "summary": ["summary", run],
        "train --resume": ["train", "--resume", run],
    }[command]
    assert_refused(run_cli(*argv), code, words)


IMAGE_CASES = {
    "wrong size": (lambda p: Image.new("L", (20, 20)).save(p), 1, ["image is 20x20, the model takes 8x8", "--convert"]),
    "wrong mode": (lambda p: Image.new("RGB", (8, 8)).save(p), 1, ["colour (RGB)", "--convert"]),
    "not an image": (lambda p: p.write_text("hello"), 1, ["not a readable image"]),
    "empty file": (lambda p: p.write_bytes(b""), 1, ["not a readable image"]),
    "no such file": (lambda p: None, 2, ["no such image file or folder"]),
    "empty folder": (lambda p: p.mkdir(), 2, ["no images found"]),
}


@pytest.mark.parametrize("case", list(IMAGE_CASES), ids=list(IMAGE_CASES))
def test_predict_refuses_images_it_cannot_use(run_cli, trained, tmp_path, case):
    run, _, _ = trained
    make, code, words = IMAGE_CASES[case]
    path = tmp_path / "in.png"
    make(path)
    assert_refused(run_cli("predict", run, path), code, [*words, "in.png"])


def test_predict_top_must_be_positive(run_cli, trained, tmp_path):
    run, _, _ = trained
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    assert_refused(run_cli("predict", run, tmp_path / "x.png", "--top", "0"), 2, ["--top", "0"])


def test_compare_outputs_go_into_new_folders_and_unwritable_ones_are_named(run_cli, trained, tmp_path):
    run, _, _ = trained
    out = tmp_path / "new" / "deeper"
    result = run_cli("compare", run, "--csv", out / "c.csv", "--markdown", out / "c.md", "--plot", out / "c.png")
    assert result.exit_code == 0, result.output
    assert (out / "c.csv").read_text().startswith("run,") and (out / "c.png").read_bytes()[:4] == b"\x89PNG"
    blocked = _text_file(tmp_path) / "c.csv"
    assert_refused(run_cli("compare", run, "--csv", blocked), 1, [str(blocked), "cannot write"])
