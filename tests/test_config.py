"""Config loading: inheritance, overrides, and located errors for every kind of schema mistake."""

from __future__ import annotations

import pytest

from cnnlab.config import load_config, parse_key_path
from cnnlab.errors import ConfigError
from cnnlab.schema import section_fields
from tests.conftest import TINY_DATA, TINY_MODEL


def problems(path, overrides=()):
    with pytest.raises(ConfigError) as caught:
        load_config(path, list(overrides))
    return caught.value.problems


def test_base_inheritance_merges_mappings_at_any_depth(write, tmp_path):
    write("grand.yaml", "name: grand\nseed: 1\ntrain: {epochs: 5, batch_size: 16}\n" + TINY_MODEL)
    write("sub/parent.yaml", "base: ../grand.yaml\nname: parent\ntrain: {epochs: 7}\n")
    child = write("sub/child.yaml", "base: parent.yaml\ntrain: {batch_size: 64}\n")
    cfg = load_config(child)
    assert (cfg.seed, cfg.train.epochs, cfg.train.batch_size) == (1, 7, 64)
    assert cfg.name == "parent"  # inherited; the file stem is only the fallback
    assert [layer.class_name for layer in cfg.model.layers][0] == "Conv2D"


def test_child_list_replaces_the_base_list(write):
    write("base.yaml", "name: base\n" + TINY_MODEL)
    child = write("child.yaml", "base: base.yaml\nmodel:\n  layers: [Flatten, {Dense: {units: 10}}]\n")
    assert [layer.class_name for layer in load_config(child).model.layers] == ["Flatten", "Dense"]


def test_name_defaults_to_the_file_stem(write):
    assert load_config(write("my_net.yaml", TINY_MODEL)).name == "my_net"


def test_base_cycle_is_refused_at_the_base_line(write):
    write("a.yaml", "name: a\nbase: b.yaml\n")
    b = write("b.yaml", "base: a.yaml\n")
    (problem,) = problems(b)
    assert problem.file.endswith("a.yaml") and problem.line == 2
    assert "cycle" in problem.message and "b.yaml -> a.yaml -> b.yaml" in problem.message


def test_missing_base_file_suggests_a_neighbour(write):
    write("mnist_base.yaml", TINY_MODEL)
    child = write("child.yaml", "name: c\nbase: mnist_bsae.yaml\n")
    (problem,) = problems(child)
    assert (problem.line, problem.key) == (2, "base")
    assert "did you mean mnist_base.yaml" in problem.hint


def test_error_in_a_base_file_names_the_base_file_and_line(write):
    write("base.yaml", "name: b\ntrain:\n  epochs: 2\n  batch_sise: 8\n" + TINY_MODEL)
    child = write("child.yaml", "base: base.yaml\nseed: 3\n")
    (problem,) = problems(child)
    assert problem.file.endswith("base.yaml") and problem.line == 4


@pytest.mark.parametrize(
    "override, read, expected",
    [
        ("train.epochs=2", lambda c: c.train.epochs, 2),
        ("train.optimizer.learning_rate=1e-4", lambda c: c.train.optimizer.arguments["learning_rate"], 1e-4),
        ("model.layers.3.Dense.units=7", lambda c: c.model.layers[3].arguments["units"], 7),
        ("model.layers[0].Conv2D.padding=same", lambda c: c.model.layers[0].arguments["padding"], "same"),
        ("data.limit=100", lambda c: c.data.limit, 100),
        ("runtime.deterministic=true", lambda c: c.runtime.deterministic, True),
        ("train.metrics=['accuracy', 'auc']", lambda c: c.train.metrics, ["accuracy", "auc"]),
        ("name=other_name", lambda c: c.name, "other_name"),
        # a section the file left out still has its keys (it is None until one is set)
        (
            "data.synthetic.num_classes=4",
            lambda c: (c.data.synthetic.num_classes, c.data.synthetic.train_examples),
            (4, 512),
        ),
    ],
)
def test_overrides_parse_values_and_reach_nested_keys(write, override, read, expected):
    assert read(load_config(write("c.yaml", TINY_MODEL), [override])) == expected


def test_override_can_add_an_argument_to_a_bare_layer(write):
    cfg = load_config(write("c.yaml", TINY_MODEL), ["model.layers.2.Flatten.data_format=channels_last"])
    assert cfg.model.layers[2].arguments == {"data_format": "channels_last"}


def test_overridden_value_is_located_at_the_override(write):
    (problem,) = problems(write("c.yaml", TINY_MODEL), ["train.epochs=lots"])
    assert (problem.file, problem.key) == ("overrides", "train.epochs")  # the argument (the shell: --set)
    assert "integer" in problem.message and "'lots'" in problem.message


@pytest.mark.parametrize(
    "override, key, hint",
    [
        ("train.epochz=2", "train.epochz", "did you mean epochs?"),
        ("trian.epochs=2", "trian", "did you mean train?"),
        ("model.layers.9.Dense.units=2", "model.layers", "has 4 items"),
    ],
)
def test_unknown_override_paths_are_refused_with_a_suggestion(write, override, key, hint):
    (problem,) = problems(write("c.yaml", TINY_MODEL), [override])
    assert problem.file == "overrides" and problem.key.startswith(key.split(".")[0])
    assert hint in str(problem)


def test_override_without_equals_sign_is_refused(write):
    (problem,) = problems(write("c.yaml", TINY_MODEL), ["train.epochs"])
    assert "KEY=VALUE" in problem.message


def test_parse_key_path_accepts_dots_and_brackets():
    assert parse_key_path("model.layers[4].Dense.units") == parse_key_path("model.layers.4.Dense.units")
    assert parse_key_path("a.b.0") == ("a", "b", 0)


def test_yaml_syntax_error_names_the_line(write):
    path = write("c.yaml", "name: x\nmodel:\n  layers:\n    - Flatten\n   - Dense: {units: 3}\n")
    (problem,) = problems(path)
    assert problem.line == 5 and "YAML syntax error" in problem.message


def test_duplicate_key_is_refused(write):
    path = write("c.yaml", "name: x\ntrain: {epochs: 1}\ntrain: {epochs: 2}\n" + TINY_MODEL)
    (problem,) = problems(path)
    assert (problem.line, problem.key) == (3, "train") and "duplicate" in problem.message


def test_unknown_section_and_key_get_line_and_suggestion(write):
    path = write("c.yaml", "name: x\ntrian:\n  epochs: 3\ntrain:\n  batch_sise: 8\n" + TINY_MODEL)
    first, second = problems(path)
    assert (first.line, first.key, first.hint) == (2, "trian", "did you mean train?")
    assert (second.line, second.key, second.hint) == (5, "train.batch_sise", "did you mean batch_size?")
    assert str(second).startswith(f"{path}:5 train.batch_sise: unknown key")


@pytest.mark.parametrize(
    "yaml_line, key, words",
    [
        ("train: {epochs: three}", "train.epochs", "valid integer"),
        ("train: {epochs: 0}", "train.epochs", "greater than or equal to 1"),
        ("runtime: {device: tpu}", "runtime.device", "'auto', 'cpu' or 'gpu'"),
        ("data: {validation_split: 1.5}", "data.validation_split", "less than 1"),
        ("name: 'has space'", "name", "pattern"),
    ],
)
def test_wrong_types_and_values_are_located(write, yaml_line, key, words):
    path = write("c.yaml", "seed: 1\n" + yaml_line + "\n" + TINY_MODEL)
    (problem,) = problems(path)
    assert (problem.line, problem.key) == (2, key) and words in problem.message


def test_malformed_layer_entry_is_located(write):
    path = write("c.yaml", "name: x\nmodel:\n  layers:\n    - Flatten\n    - Dense: 10\n")
    (problem,) = problems(path)
    assert (problem.line, problem.key) == (5, "model.layers[1]")
    assert "mapping" in problem.message


def test_missing_model_is_reported(write):
    (problem,) = problems(write("c.yaml", "name: x\n"))
    assert problem.key == "model" and "missing" in problem.message


def test_resolved_yaml_loads_back_to_the_same_config(write, tmp_path):
    cfg = load_config(write("c.yaml", "name: x\n" + TINY_MODEL + TINY_DATA), ["train.epochs=3"])
    again = write("again.yaml", cfg.to_yaml())
    assert load_config(again).model_dump() == cfg.model_dump()
    assert "- Dense: {units: 3, activation: softmax}" in cfg.to_yaml()


def test_a_childs_mistake_in_a_key_it_overrides_is_located_in_the_child(write):
    write("base.yaml", "name: b\ntrain:\n  epochs: 2\n" + TINY_MODEL)
    child = write("child.yaml", "base: base.yaml\nseed: 3\ntrain:\n  epochs: 0\n")
    (problem,) = problems(child)
    assert (problem.key, problem.line) == ("train.epochs", 4) and problem.file.endswith("child.yaml")


# --- what a mutation run found untested -----------------------------------------------------


def only_problem(source, overrides=()):
    (problem,) = problems(source, overrides)
    return problem


def test_a_key_at_any_depth_is_located_at_its_nearest_written_parent(write):
    path = write("c.yaml", "name: x\n" + TINY_MODEL)
    cfg = load_config(path)
    assert cfg.locate(("model", "layers", 3, "Dense", "units")) == (str(path), 8)
    assert cfg.locate(("model", "layers", 2, "Flatten", "data_format")) == (str(path), 7)  # odd depth below
    assert cfg.locate(("runtime", "backend")) == (str(path), None)  # nothing written: the file, no line
    problem = cfg.problem(("runtime", "backend"), "wrong")
    assert (problem.file, problem.line, problem.key, problem.hint) == (str(path), None, "runtime.backend", "")
    assert str(problem) == f"{path} runtime.backend: wrong"


@pytest.mark.parametrize(
    ("text", "key", "line", "message", "hint"),
    [
        ("name: x\nmodel: {}\n", "model.layers", 2, "required key is missing", "add it"),
        (
            "name: x\n" + TINY_MODEL + "data:\n  image_size: [2]\n",
            "data.image_size",
            10,
            "needs at least 2 values (got [2])",
            "",
        ),
        (
            "name: x\n" + TINY_MODEL + "data:\n  synthetic:\n    input_shape: [8, a, 1]\n",
            "data.synthetic.input_shape[1]",
            11,
            "Input should be a valid integer, unable to parse string as an integer (got 'a')",
            "",
        ),
        (
            "name: x\n" + TINY_MODEL + "train:\n  metrics:\n    - accuracy\n    - 3\n",
            "train.metrics[1]",
            12,
            "Input should be a valid string (got 3)",
            "",
        ),
        (
            "name: x\n" + TINY_MODEL + "train:\n  optimizer: [adam]\n",
            "train.optimizer",
            10,
            "Input should be a valid dictionary or instance of OptimizerSpec",
            "",
        ),
    ],
)
def test_each_kind_of_schema_mistake_has_its_message_key_line_and_hint(write, text, key, line, message, hint):
    problem = only_problem(write("c.yaml", text))
    assert (problem.key, problem.line, problem.message, problem.hint) == (key, line, message, hint)


def test_an_unknown_key_far_from_every_name_lists_the_allowed_ones(write):
    problem = only_problem(write("c.yaml", "name: x\n" + TINY_MODEL + "runtime:\n  colour: 3\n"))
    assert (problem.key, problem.line, problem.message) == ("runtime.colour", 10, "unknown key")
    assert problem.hint == "allowed: " + ", ".join(section_fields(("runtime",)))
    assert problem.hint.startswith("allowed: backend, device, ")


def test_a_value_errors_text_has_no_pydantic_prefix_and_no_repeat_of_a_mapping(write):
    problem = only_problem(write("c.yaml", "name: x\nmodel:\n  layers:\n    - Flatten\n    - Dense: 10\n"))
    assert problem.message == "the arguments of Dense must be a mapping such as {units: 10}, not 10"
    problem = only_problem(write("d.yaml", "name: x\nmodel: {layers: [Flatten]}\ntrain: {optimizer: {name: 3}}\n"))
    assert problem.message == "Input should be a valid string (got 3)"


def test_problems_in_the_file_come_first_in_line_order_then_those_of_its_base(write):
    write("base.yaml", "name: b\ntrain:\n  epochs: 0\n" + TINY_MODEL)
    child = write("child.yaml", "base: base.yaml\nseed: x\nrun_time: 1\ntrain:\n  batch_size: 0\n")
    found = problems(child)
    assert [(p.file.rsplit("/", 1)[-1], p.line) for p in found] == [
        ("child.yaml", 2),
        ("child.yaml", 3),
        ("child.yaml", 5),
        ("base.yaml", 3),
    ]


def test_a_set_value_may_itself_hold_an_equals_sign(write):
    cfg = load_config(write("c.yaml", TINY_MODEL), ["description=a=b"])
    assert cfg.description == "a=b"


def test_a_set_without_a_key_or_equals_is_one_located_line(write):
    for override in ("train.epochs", "=3"):
        problem = only_problem(write("c.yaml", TINY_MODEL), [override])
        assert (problem.file, problem.key, problem.line) == ("overrides", "", None)
        assert problem.message == f"expected KEY=VALUE, got {override!r}"
        assert problem.hint == "for example train.epochs=2"


@pytest.mark.parametrize(
    ("override", "key", "message", "hint"),
    [
        ("train.epochz=2", "train.epochz", "unknown key", "did you mean epochs?"),
        ("train.epochs.x=2", "train.epochs.x", "train.epochs is a value, not a section", ""),
        ("train.epochs.x.y=2", "train.epochs.x.y", "train.epochs is a value, not a section", ""),
        ("model.layers.4.Dense.units=2", "model.layers.4.Dense.units", "model.layers has 4 items (0 to 3)", ""),
        ("model.layers.4=Flatten", "model.layers.4", "model.layers has 4 items (0 to 3)", ""),
        ("model.layers.x=Flatten", "model.layers.x", "model.layers has 4 items (0 to 3)", ""),
        ("data.synthetic.shape=2", "data.synthetic.shape", "unknown key", "did you mean input_shape?"),
        ("trian.epochs=2", "trian.epochs", "unknown key trian", "did you mean train?"),
    ],
)
def test_a_set_to_a_key_that_is_not_there_says_why_at_the_set(write, override, key, message, hint):
    problem = only_problem(write("c.yaml", TINY_MODEL), [override])
    assert (problem.file, problem.key, problem.message, problem.hint) == ("overrides", key, message, hint)


def test_a_set_on_the_last_layer_index_and_on_a_bare_layer_reaches_it(write):
    cfg = load_config(write("c.yaml", TINY_MODEL), ["model.layers.3=Flatten", "model.layers.2.Flatten.name=f"])
    assert [layer.class_name for layer in cfg.model.layers][2:] == ["Flatten", "Flatten"]
    assert cfg.model.layers[2].arguments == {"name": "f"}


def test_a_set_argument_of_an_optimizer_given_by_name_keeps_the_name(write):
    cfg = load_config(write("c.yaml", TINY_MODEL + "train: {optimizer: sgd}\n"), ["train.optimizer.momentum=0.9"])
    assert (cfg.train.optimizer.name, cfg.train.optimizer.arguments) == ("sgd", {"momentum": 0.9})


def test_a_set_may_add_a_key_to_the_search_space(write):
    text = TINY_MODEL + "search:\n  space:\n    train.epochs: [1, 2]\n"
    cfg = load_config(write("c.yaml", text), ["search.space.seed=[1, 2]"])
    assert cfg.search.space == {"train.epochs": [1, 2], "seed": [1, 2]}
    problem = only_problem(write("d.yaml", text), ["search.spaces.seed=[1, 2]"])
    assert (problem.key, problem.message, problem.hint) == (
        "search.spaces.seed",
        "unknown key search.spaces",
        "did you mean space?",
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("false", False),
        ("null", None),
        ("None", None),
        ("none", None),
        ("3", 3),
        ("[1, 2]", [1, 2]),
        ("same", "same"),
        ("{[1]: 2}", "{[1]: 2}"),
    ],
)
def test_a_set_value_is_read_as_python_or_yaml_words_else_kept_as_text(write, text, value):
    cfg = load_config(write("c.yaml", TINY_MODEL), [f"model.layers.0.Conv2D.use_bias={text}"])
    assert cfg.model.layers[0].arguments["use_bias"] == value
    assert type(cfg.model.layers[0].arguments["use_bias"]) is type(value)


def test_a_mapping_of_overrides_is_located_at_overrides(write):
    path = write("c.yaml", TINY_MODEL)
    assert load_config(path, {"train.epochs": 2, "model.layers.3.Dense.units": 5}).train.epochs == 2
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"train.epocs": 2})
    (problem,) = caught.value.problems
    assert (problem.file, problem.key, problem.message, problem.hint) == (
        "overrides",
        "train.epocs",
        "unknown key",
        "did you mean epochs?",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"train.epochs": "many"})
    (problem,) = caught.value.problems
    assert (problem.file, problem.key, problem.line) == ("overrides", "train.epochs", None)


def test_a_config_given_as_a_mapping_is_read_like_its_yaml(write, monkeypatch, tmp_path):
    write("base.yaml", "name: b\nseed: 5\n" + TINY_MODEL)
    monkeypatch.chdir(tmp_path)
    cfg = load_config({"base": "base.yaml", "train": {"epochs": 4}})
    assert (cfg.name, cfg.seed, cfg.train.epochs) == ("b", 5, 4)
    problem = only_problem({"name": "m", "model": {"layers": ["Flatten"]}, "train": {"epochz": 1}})
    assert (problem.file, problem.line, problem.key) == (None, None, "train.epochz")
    problem = only_problem({"base": "bsae.yaml"})
    assert (problem.key, problem.hint) == ("base", "did you mean base.yaml?")


def test_the_written_yaml_keeps_the_order_unicode_and_long_lines_of_the_config(write):
    text = "name: x\ndescription: Schrödinger's " + "n" * 90 + "\n" + TINY_MODEL + TINY_DATA
    cfg = load_config(write("c.yaml", text))
    written = cfg.to_yaml()
    assert written.startswith("name: x\ndescription: Schrödinger's nnn")
    assert len(written.splitlines()[1]) > 100  # one line, as written
    assert [line.split(":")[0] for line in written.splitlines() if not line.startswith(" ")] == [
        "name",
        "description",
        "seed",
        "data",
        "model",
        "train",
        "tensorboard",
        "runtime",
    ]
    assert "input_shape: [8, 8, 1]" in written and "metrics: [accuracy]" in written  # flow lists
    assert "search" not in written  # only a search config has that section
    searched = load_config(write("s.yaml", text + "search:\n  space:\n    train.epochs: [1, 2]\n"))
    assert searched.to_yaml().endswith(
        "search:\n  algorithm: random\n  max_trials: 8\n  repeats: 1\n  objective: val_accuracy\n"
        "  space:\n    train.epochs: [1, 2]\n"
    )


def _deep(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("name: x\nmodel: " + "[" * 5000 + "]" * 5000 + "\n")
    return path


def _unreadable_text(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    return path


@pytest.mark.parametrize(
    ("make", "message", "line", "hint"),
    [
        (lambda d: d / "absent.yaml", "no such config file", None, "give a path such as configs/mnist_baseline.yaml"),
        (lambda d: d, "cannot read: [Errno 21] Is a directory: '{path}'", None, ""),
        (
            _unreadable_text,
            "cannot read: 'utf-8' codec can't decode byte 0xe9 in position 9: invalid continuation byte",
            None,
            "",
        ),
        (_deep, "nested too deeply to read", None, "is this a config file?"),
        (
            lambda d: _text(d, "name: x\nmodel:\n  layers:\n    - Flatten\n   - Dense\n"),
            "YAML syntax error: while parsing a block mapping expected <block end>, but found '<block sequence start>'",
            5,
            "check the indentation and the colons",
        ),
        (
            lambda d: _text(d, "\nname: x\nseed: 1\x07\n\n\n"),  # the lines before it count, not those after
            "character #x0007 is not allowed in YAML",
            3,
            "remove it; was the file saved from a terminal or a binary tool?",
        ),
        (
            lambda d: _text(d, ""),
            "a config must be a YAML mapping of sections (name, data, model, train, ...)",
            None,
            "",
        ),
        (
            lambda d: _text(d, "# a comment\n\n- Flatten\n"),
            "a config must be a YAML mapping of sections (name, data, model, train, ...)",
            3,
            "",
        ),
    ],
    ids=["missing", "a folder", "not UTF-8", "nested deeply", "syntax", "control character", "empty", "a list"],
)
def test_a_file_that_is_not_a_config_is_one_located_problem(tmp_path, make, message, line, hint):
    path = make(tmp_path)
    problem = only_problem(path)
    assert (problem.file, problem.key) == (str(path), "")
    assert (problem.message, problem.line, problem.hint) == (message.format(path=path), line, hint)


def _text(folder, text):
    path = folder / "c.yaml"
    path.write_text(text)
    return path


def test_a_base_that_is_not_a_file_name_or_not_there_is_located_at_its_line(write, tmp_path):
    path = write("c.yaml", "name: c\nseed: 1\nbase: 3\n")
    problem = only_problem(path)
    assert (problem.file, problem.line, problem.key) == (str(path), 3, "base")
    assert (problem.message, problem.hint) == ("must be a file name such as mnist_baseline.yaml", "")
    path = write("d.yaml", "name: d\nbase: nowhere.yaml\n")
    problem = only_problem(path)
    assert (problem.file, problem.line, problem.key) == (str(path), 2, "base")
    assert (problem.message, problem.hint) == (f"no such file: {tmp_path / 'nowhere.yaml'}", "")


def test_a_base_cycle_says_how_to_break_it(write):
    write("a.yaml", "name: a\nbase: b.yaml\n")
    problem = only_problem(write("b.yaml", "base: a.yaml\n"))
    assert (problem.key, problem.hint) == ("base", "remove one of these base: lines")


def test_a_duplicate_key_names_its_file_and_why(write):
    path = write("c.yaml", "name: x\nmodel:\n  layers: [Flatten]\n  layers: [Flatten]\n")
    problem = only_problem(path)
    assert (problem.file, problem.line, problem.key) == (str(path), 4, "model.layers")
    assert problem.message == "duplicate key (YAML would keep only the last one)"


def test_a_missing_section_is_located_at_the_file(write):
    path = write("c.yaml", "name: x\n")
    problem = only_problem(path)
    assert (problem.file, problem.line, problem.key, problem.hint) == (str(path), None, "model", "add it")


def test_an_entry_that_is_not_a_layer_is_said_once_without_its_value_repeated(write):
    problem = only_problem(write("c.yaml", "name: x\nmodel:\n  layers:\n    - Flatten\n    - 5\n"))
    assert (problem.key, problem.line) == ("model.layers[1]", 5)
    assert problem.message == (
        "an entry is a Keras class name (- Flatten) or a one-key mapping (- Conv2D: {filters: 32, kernel_size: 3})"
    )


def test_problems_without_a_line_come_first_then_by_line_and_base_files_by_name(write):
    found = problems(write("c.yaml", "seed: x\nname: y\n"))
    assert [(p.key, p.line) for p in found] == [("model", None), ("seed", 1)]
    write("z_parent.yaml", "base: a_grand.yaml\nseed: x\n")
    write("a_grand.yaml", "name: g\ntrain: {epochs: 0}\n" + TINY_MODEL)
    found = problems(write("child.yaml", "base: z_parent.yaml\n"))
    assert [(p.file.rsplit("/", 1)[-1], p.key) for p in found] == [
        ("a_grand.yaml", "train.epochs"),
        ("z_parent.yaml", "seed"),
    ]


def test_pydantic_tags_are_dropped_from_a_located_key():
    from cnnlab.config import _data_path

    data = {"train": {"callbacks": [{"EarlyStopping": {"patience": "x"}}]}}
    loc = ("train", "callbacks", 0, "function-before[_from_yaml()]", "EarlyStopping", "patience")
    assert _data_path(loc, data) == ("train", "callbacks", 0, "EarlyStopping", "patience")
    assert _data_path(("model", "layers"), {"model": {}}) == ("model", "layers")  # a missing last key stays
    assert _data_path(("data", "image_size", 1), {"data": {"image_size": [2]}}) == ("data", "image_size")


def test_the_arguments_of_callbacks_and_schedules_take_any_keras_argument(write):
    text = (
        "name: x\n" + TINY_MODEL + "train:\n  optimizer:\n    name: adam\n"
        "    learning_rate: {ExponentialDecay: {initial_learning_rate: 0.01, decay_steps: 10, decay_rate: 0.5}}\n"
        "  callbacks:\n    - EarlyStopping: {patience: 2}\n"
    )
    cfg = load_config(
        write("c.yaml", text),
        [
            "train.callbacks.0.EarlyStopping.min_delta=0.1",
            "train.optimizer.learning_rate.ExponentialDecay.staircase=true",
        ],
    )
    assert cfg.train.callbacks[0].arguments == {"patience": 2, "min_delta": 0.1}
    assert cfg.train.optimizer.arguments["learning_rate"]["ExponentialDecay"]["staircase"] is True
    problem = only_problem(write("d.yaml", text), ["train.optimizer.learning_rate.x.y=1"])
    assert (problem.key, problem.message) == (
        "train.optimizer.learning_rate.x.y",
        "unknown key train.optimizer.learning_rate.x",
    )


def test_a_set_through_a_string_value_is_refused(write):
    problem = only_problem(write("c.yaml", TINY_MODEL), ["train.loss.x=1"])
    assert (problem.key, problem.message) == ("train.loss.x", "train.loss is a value, not a section")
    problem = only_problem(write("c.yaml", TINY_MODEL), ["model.layers.3.Conv2D=5"])
    assert (problem.key, problem.message, problem.hint) == ("model.layers.3.Conv2D", "unknown key", "")


def test_a_set_reaches_an_item_of_a_fixed_length_list(write):
    cfg = load_config(write("c.yaml", TINY_MODEL + TINY_DATA), ["data.synthetic.input_shape.0=4"])
    assert cfg.data.synthetic.input_shape == (4, 8, 1)
    problem = only_problem(write("c.yaml", TINY_MODEL + TINY_DATA), ["data.synthetic.input_shape.3=4"])
    assert problem.message == "data.synthetic.input_shape has 3 items (0 to 2)"


def test_values_set_into_a_config_reach_items_of_its_lists(write):
    from cnnlab.config import with_values

    cfg = load_config(write("c.yaml", "name: x\n" + TINY_MODEL + TINY_DATA))
    changed = with_values(cfg, {"data.synthetic.input_shape.0": 4}, ("search", "space"))
    assert changed.data.synthetic.input_shape == (4, 8, 1)


def test_a_mapping_override_that_goes_through_a_value_has_no_hint(write):
    with pytest.raises(ConfigError) as caught:
        load_config(write("c.yaml", TINY_MODEL), {"train.epochs.x": 1})
    (problem,) = caught.value.problems
    assert (problem.file, problem.message, problem.hint) == ("overrides", "train.epochs is a value, not a section", "")


def test_overrides_keep_the_file_as_the_place_of_keys_nobody_wrote(write):
    path = write("c.yaml", TINY_MODEL)
    assert load_config(path, ["train.epochs=2"]).locate(("runtime",)) == (str(path), None)


def test_a_mapping_config_is_left_as_the_caller_wrote_it(write, monkeypatch, tmp_path):
    write("base.yaml", "name: b\n" + TINY_MODEL)
    monkeypatch.chdir(tmp_path)
    source = {"base": "base.yaml", "model": {"layers": [{"Dense": {"units": 3}}]}, "train": {"epochs": 2}}
    before = repr(source)
    load_config(source, {"model.layers.0.Dense.units": 5, "train.epochs": 4})
    assert repr(source) == before


def test_the_written_yaml_keeps_sections_in_blocks_and_short_entries_on_one_line(write):
    long_layer = (
        "    - Conv2D: {filters: 4, kernel_size: 3, activation: relu, kernel_initializer: he_normal, use_bias: false}\n"
    )
    text = "name: x\nmodel:\n  layers:\n" + long_layer + "    - Flatten\n    - Dense: {units: 3}\n" + TINY_DATA
    written = load_config(write("c.yaml", text)).to_yaml()
    assert "  synthetic:\n    input_shape: [8, 8, 1]\n    num_classes: 3\n" in written
    assert long_layer.strip().removeprefix("- ") in written  # 98 characters: still one line


def test_a_mapping_configs_bad_base_is_located_in_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    problem = only_problem({"base": 3, "name": "x"})
    assert (problem.file, problem.line, problem.key) == (None, None, "base")  # not a file called "None"
    problem = only_problem({"base": "nowhere.yaml", "name": "x"})
    assert (problem.file, problem.message) == (None, f"no such file: {tmp_path / 'nowhere.yaml'}")
