"""Guard rails of the Python API: every public function and method refuses a wrong argument
with a `CnnlabError` whose message names the argument, never a TypeError, KeyError or an error
from deep inside Keras or NumPy, and refuses it before writing anything."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import cnnlab
from tests.guard_rails import TINY_CONFIG, snapshot


@pytest.fixture
def config(write):
    return write("tiny.yaml", TINY_CONFIG)


@pytest.fixture
def run(trained):
    return cnnlab.load_run(trained[0])


SEARCH = {"max_trials": 2, "space": {"train.batch_size": [8, 16]}}


def _train(**arguments):
    return lambda config, runs: cnnlab.train(config, runs_dir=runs, progress=False, **arguments)


CALLS = {
    "seeds as a number": (_train(seeds=3), "seeds: expected a list of whole numbers, or None, got 3 (int)"),
    "repeat as a text": (_train(repeat="3"), "repeat: expected a whole number, or None, got '3' (str)"),
    "repeat as True": (_train(repeat=True), "repeat: expected a whole number, or None, got True (bool)"),
    "repeat of 0": (
        _train(repeat=0),
        ("repeat: a group has 1 to 1,000 runs, not 0 — for more, train several groups and compare them"),
    ),
    "repeat of 2**32": (
        _train(repeat=2**32),
        ("repeat: a group has 1 to 1,000 runs, not 4,294,967,296 — for more, train several groups and compare them"),
    ),
    "negative seeds": (
        _train(seeds=[-1, -2]),
        ("seeds: seed -1 is not between 0 and 4294967295 — give distinct seeds from 0 to 4294967295, such as 1,2,3"),
    ),
    "no seeds": (_train(seeds=[]), "seeds: no seed given — give distinct seeds from 0 to 4294967295, such as 1,2,3"),
    "a seed twice": (
        _train(seeds=[1, 1]),
        ("seeds: seed 1 is given twice — give distinct seeds from 0 to 4294967295, such as 1,2,3"),
    ),
    "seeds as texts": (_train(seeds=["a"]), "seeds: expected a list of whole numbers, or None, got ['a'] (list)"),
    "repeat and seeds": (
        _train(repeat=2, seeds=[1, 2]),
        "seeds: give repeat (how many runs) or seeds (which ones), not both",
    ),
    "overrides as one text": (
        _train(overrides="train.batch_size=0"),
        "overrides: expected a dict, or a list of texts, or None, got 'train.batch_size=0' (str)",
    ),
    "overrides as texts with an unknown key": (  # the bug: the shell's `--set` told to a Python caller
        _train(overrides=["train.epochz=2"]),
        "overrides train.epochz: unknown key — did you mean epochs?",
    ),
    "overrides as a text without its value": (
        _train(overrides=["train.epochs"]),
        "overrides: expected KEY=VALUE, got 'train.epochs' — for example train.epochs=2",
    ),
    "a name that is no folder name": (  # the bug: refused as one of the overrides (`--set name` in the shell)
        _train(name=".."),
        "name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$' (got '..')",
    ),
    "a runs folder as a number": (
        lambda config, runs: cnnlab.train(config, runs_dir=3),
        "runs_dir: expected a text, or a path, got 3 (int)",
    ),
    "progress as a text": (
        lambda config, runs: cnnlab.train(config, runs_dir=runs, progress="x"),
        "progress: expected True or False, or a Progress, got 'x' (str)",
    ),
    "an unknown keyword": (
        _train(epochs=2),
        (
            "epochs: train() has no argument 'epochs' — its arguments: config, "
            "overrides, runs_dir, name, repeat, seeds, progress"
        ),
    ),
    "a config as a number": (
        lambda config, runs: cnnlab.train(3, runs_dir=runs),
        ("config: expected a text, or a path, or a dict, or a list of texts, paths or dicts, got 3 (int)"),
    ),
    "check of a number": (
        lambda config, runs: cnnlab.check(3),
        "config: expected a text, or a path, or a dict, got 3 (int)",
    ),
    "tune with seeds": (
        lambda config, runs: cnnlab.tune(config, seeds=3),
        (
            "seeds: tune() has no argument 'seeds' — its arguments: config, "
            "resume, max_trials, overrides, runs_dir, confirm, workers, chief, wait, progress"
        ),
    ),
    "tune of a port past 65535": (
        lambda config, runs: cnnlab.tune(config, chief="127.0.0.1:99999", runs_dir=runs),
        ("chief: '127.0.0.1:99999' is not HOST:PORT with a port from 1 to 65535 — such as 127.0.0.1:8470"),
    ),
    "tune of a config and a search folder": (
        lambda config, runs: cnnlab.tune(config, resume=runs, runs_dir=runs),
        "resume: give a config to search, or a search folder to resume (not both)",
    ),
    "tune of nothing": (
        lambda config, runs: cnnlab.tune(runs_dir=runs),
        "config: give a config to search, or a search folder to resume (not both)",
    ),
    "tune resumed with overrides": (
        lambda config, runs: cnnlab.tune(resume=runs, overrides={"train.epochs": 2}, runs_dir=runs),
        "overrides: they change what the trials so far were scored on — start a new search",
    ),
    "tune of a data_parallel config": (
        lambda config, runs: cnnlab.tune(
            {**yaml.safe_load(TINY_CONFIG), "runtime": {"distribute": "data_parallel"}, "search": SEARCH}
        ),
        "runtime.distribute: a search runs each trial in one process (spread the trials instead: workers=N) — "
        "set distribute: none",
    ),
    "a runs folder as a long list": (
        lambda config, runs: cnnlab.runs(list(range(100))),
        "runs_dir: expected a text, or a path, got "
        "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16... (list)",  # 57 characters and "..."
    ),
    "tune with workers as a text": (
        lambda config, runs: cnnlab.tune(config, workers="2", runs_dir=runs),
        "workers: expected a whole number, or None, got '2' (str)",
    ),
    "a worker without its chief's port": (
        lambda config, runs: cnnlab.tune_worker(config, chief="host", runs_dir=runs),
        ("chief: 'host' is not HOST:PORT with a port from 1 to 65535 — such as 127.0.0.1:8470"),
    ),
    "resume of nothing": (
        lambda config, runs: cnnlab.resume(None),
        "run: expected a text, or a path, or a Run, or a Group, got None (NoneType)",
    ),
    "summary of a number": (
        lambda config, runs: cnnlab.summary(3),
        "config: expected a text, or a path, or a dict, or a Run, or None, got 3 (int)",
    ),
    "compare of nothing": (
        lambda config, runs: cnnlab.compare([]),
        "runs: nothing to compare — give runs, groups, config names or a folder of runs",
    ),
    "compare with a metric as a number": (
        lambda config, runs: cnnlab.compare([], metric=1),
        "metric: expected a text, got 1 (int)",
    ),
    "fetch of an unknown data set": (
        lambda config, runs: cnnlab.fetch("imagenet"),
        (
            "name: no built-in data set 'imagenet' — built in: mnist, "
            "fashion_mnist, cifar10, cifar100 (cnnlab.datasets() lists them)"
        ),
    ),
    "fetch of a near miss": (
        lambda config, runs: cnnlab.fetch("mnits"),
        "name: no built-in data set 'mnits' — did you mean mnist?",
    ),
    "load_run of a number": (
        lambda config, runs: cnnlab.load_run(3),
        "path_or_name: expected a text, or a path, or None, got 3 (int)",
    ),
    "load_run of a checkpoint that is not one": (
        lambda config, runs: cnnlab.load_run(checkpoint="worst", runs_dir=runs),
        "checkpoint: expected one of 'best', 'last', or None, got 'worst' (str)",
    ),
    "runs of a number": (lambda config, runs: cnnlab.runs(3), "runs_dir: expected a text, or a path, got 3 (int)"),
}


@pytest.mark.parametrize("case", list(CALLS), ids=list(CALLS))
def test_a_wrong_argument_is_a_cnnlab_error_that_names_it(config, tmp_path, case):
    call, message = CALLS[case]
    before = snapshot(tmp_path)
    with pytest.raises(cnnlab.CnnlabError) as raised:
        call(config, tmp_path / "runs")
    assert str(raised.value) == message
    assert snapshot(tmp_path) == before


METHODS = {
    "predict of no image": (
        lambda run: run.predict(np.zeros((0, 8, 8, 1))),
        "images: an array of shape (0, 8, 8, 1) holds no image",
    ),
    "predict of texts": (
        lambda run: run.predict(np.array([["a"]])),
        "images: pixels are numbers from 0 to 255, not <U1 — such as a uint8 array",
    ),
    "predict of two sizes": (
        lambda run: run.predict([np.zeros((8, 8)), np.zeros((9, 9))]),
        (
            "images: images 0 and 1 differ in shape ((8, 8) and (9, 9)) — give "
            "images of the model's size, or image files with convert=True to resize them"
        ),
    ),
    "predict of the wrong size": (
        lambda run: run.predict(np.zeros((2, 9, 9, 1))),
        "images: images of shape (2, 9, 9, 1) do not fit the model's input (8, 8, 1)",
    ),
    "predict of an empty list": (
        lambda run: run.predict([]),
        (
            "images: expected image files (paths) or pixels (a NumPy array of one "
            "image or of many) — got list with nothing in it"
        ),
    ),
    "predict of a number": (
        lambda run: run.predict(3),
        ("images: expected image files (paths) or pixels (a NumPy array of one image or of many) — got int"),
    ),
    "predict with top": (
        lambda run: run.predict(np.zeros((8, 8)), top=2),
        "top: predict() has no argument 'top' — its arguments: images, convert, invert",
    ),
    "predict with convert not named": (
        lambda run: run.predict(np.zeros((8, 8)), True),
        "predict(): too many positional arguments — its arguments: images, convert, invert",
    ),
    "predict with convert as a text": (
        lambda run: run.predict(np.zeros((8, 8)), convert="yes"),
        "convert: expected True or False, got 'yes' (str)",
    ),
    "evaluate of a checkpoint that is not one": (
        lambda run: run.evaluate(checkpoint="worst"),
        "checkpoint: expected one of 'best', 'last', got 'worst' (str)",
    ),
    "evaluate of a split that is not one": (
        lambda run: run.evaluate("nope"),
        "data: nope: not a split (test, val, train) and no such file or folder",
    ),
    "export to a format that is not one": (
        lambda run: run.export("zip"),
        "format: zip: not one of saved_model, tflite, onnx",
    ),
    "gradcam of an index as a text": (
        lambda run: run.gradcam("3"),
        "index: expected a whole number, or None, got '3' (str)",
    ),
    "visualize with an unknown keyword": (
        lambda run: run.visualize(colour=True),
        (
            "colour: visualize() has no argument 'colour' — its arguments: image, "
            "index, convert, invert, gradcam, target, patterns, layer"
        ),
    ),
    "evaluate of an empty data": (  # the bug: "" read as the current folder, refused for what is in it
        lambda run: run.evaluate(""),
        "data: '': no split and no path — test, val, train, or . for this folder",
    ),
    "gradcam of a class that is not one": (  # the bug: the shell's `--class` told to a Python caller
        lambda run: run.gradcam(0, cls="class_7"),
        "cls: class_7: not a class of this run — did you mean class_2 or class_1 or class_0?",
    ),
    "visualize of a class that is not one": (
        lambda run: run.visualize(gradcam=True, target="zebra"),
        "target: zebra: not a class of this run — its classes: class_0, class_1, class_2",
    ),
    "gradcam of an index past the test split": (  # the bug: `--index` told to a Python caller
        lambda run: run.gradcam(48),
        "index: 48: the test split has 48 examples (0 to 47)",
    ),
    "visualize of an image and an index": (  # the bugs below: an argument silently ignored
        lambda run: run.visualize(image="x.png", index=1),
        "index: give image or index, not both",
    ),
    "visualize of a class without gradcam": (
        lambda run: run.visualize(target="class_1"),
        "target: a class for Grad-CAM: give gradcam=True too",
    ),
    "visualize of a layer without patterns": (
        lambda run: run.visualize(layer="conv2d"),
        "layer: a layer for the filter patterns: give patterns=True too",
    ),
    "resume with seeds": (
        lambda run: run.resume(seeds=[1]),
        ("seeds: resume() has no argument 'seeds' — its arguments: config, overrides, epochs, progress"),
    ),
    "a Run of a number": (lambda run: cnnlab.Run(3), "path: expected a text, or a path, got 3 (int)"),
    "a Group of a number": (lambda run: cnnlab.Group(3), "path: expected a text, or a path, got 3 (int)"),
}


@pytest.mark.parametrize("case", list(METHODS), ids=list(METHODS))
def test_a_wrong_argument_to_a_method_is_a_cnnlab_error_that_names_it(run, trained, case):
    call, message = METHODS[case]
    before = snapshot(trained[0])
    with pytest.raises(cnnlab.CnnlabError) as raised:
        call(run)
    assert str(raised.value) == message
    assert snapshot(trained[0]) == before


def test_an_annotation_in_words():
    """What a refusal says the argument should have been, for each kind of annotation the API
    uses or could: catches "a list of" without its items, or a type named None."""
    import os
    import typing

    from cnnlab.api.arguments import describe

    assert [describe(hint) for hint in (list, list[int], tuple[str | os.PathLike, ...], dict, int | None)] == [
        "a list",
        "a list of whole numbers",
        "a list of texts or paths",
        "a dict",
        "a whole number, or None",
    ]
    assert describe(typing.Literal["best", "last"]) == "one of 'best', 'last'"
    assert describe("Forward") == "a Forward"  # an annotation left as text: its text


def test_an_image_of_another_size_is_refused_with_the_python_argument_from_python(run, run_cli, trained, tmp_path):
    """The same mistake from Python and from the shell, each told its own way on."""
    from PIL import Image

    Image.new("L", (9, 9)).save(tmp_path / "nine.png")
    with pytest.raises(cnnlab.DataError) as raised:
        run.predict([tmp_path / "nine.png"])
    assert str(raised.value).endswith("the model takes 8x8 — resize it, or pass convert=True")
    result = run_cli("predict", trained[0], tmp_path / "nine.png")
    assert result.exit_code != 0 and "resize it, or pass --convert" in result.stderr
    Image.new("RGB", (8, 8)).save(tmp_path / "colour.png")
    with pytest.raises(cnnlab.DataError) as raised:
        run.predict([tmp_path / "colour.png"])
    assert str(raised.value) == (
        f"{tmp_path / 'colour.png'}: image is colour (RGB), the model takes greyscale — "
        "convert it, or pass convert=True"
    )


def test_a_split_that_is_not_one_is_named_by_its_argument_from_python_and_its_option_from_the_shell(
    run, run_cli, trained
):
    """The bug: the shell's `--data` (or `--format`) named to a Python caller, whose argument is
    `data` (`format`), or the other way round."""
    with pytest.raises(cnnlab.ConfigError) as raised:
        run.evaluate("nope")
    assert str(raised.value) == "data: nope: not a split (test, val, train) and no such file or folder"
    result = run_cli("evaluate", trained[0], "--data", "nope")
    assert result.exit_code == 2
    assert "error: --data: nope: not a split (test, val, train) and no such file or folder" in result.stderr
    result = run_cli("evaluate", trained[0], "--data", "")
    assert result.exit_code == 2 and "error: --data: '': no split and no path — test, val" in result.stderr


def test_patterns_of_a_layer_that_is_no_conv_layer_are_refused_by_its_argument_before_any_picture(
    run, run_cli, trained
):
    """The bugs: the shell's `--layer` told a Python caller; the conv layers' list changed; the
    Grad-CAM asked for beside it drawn before the refusal (a refused command writes nothing)."""
    (conv,) = [layer.name for layer in run.model.layers if type(layer).__name__ == "Conv2D"]
    before = snapshot(trained[0])
    with pytest.raises(cnnlab.ConfigError) as raised:
        run.visualize(gradcam=True, patterns=True, layer="dense_head")
    assert str(raised.value) == f"layer: dense_head: not a convolutional layer of this model — its conv layers: {conv}"
    with pytest.raises(cnnlab.ConfigError) as raised:
        run.visualize(patterns=True, layer=conv.upper())
    assert str(raised.value) == f"layer: {conv.upper()}: not a convolutional layer of this model — did you mean {conv}?"
    result = run_cli("visualize", trained[0], "--patterns", "--layer", "dense_head")
    assert result.exit_code == 2
    assert f"error: --layer: dense_head: not a convolutional layer of this model — its conv layers: {conv}" in (
        result.stderr
    )
    assert snapshot(trained[0]) == before


def test_tune_resuming_a_folder_that_is_no_search_names_the_argument(tmp_path):
    """The bug: the refusal keyed to another name than `resume`, so it reads as a config mistake."""
    from cnnlab.storage.folders import SearchFolder

    with pytest.raises(cnnlab.ConfigError) as raised:
        cnnlab.tune(resume=tmp_path, runs_dir=tmp_path / "runs")
    assert str(raised.value) == f"resume: {tmp_path} is not a search folder (it has no {SearchFolder.CONFIG})"
    assert list(tmp_path.iterdir()) == []
