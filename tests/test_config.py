"""Config loading: inheritance, overrides, and located errors for every kind of schema mistake."""

from __future__ import annotations

import pytest

from cnnlab.config import load_config, parse_key_path
from cnnlab.errors import ConfigError
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
    assert (problem.file, problem.key) == ("--set", "train.epochs")
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
    assert problem.file == "--set" and problem.key.startswith(key.split(".")[0])
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
