"""The search: section read on its own, without a trial: each form of a dimension, each way an
entry can be wrong (at its own line), the objective's direction, and the check of every value
before the first trial. `cnnlab tune` end to end is in test_tune.py."""

from __future__ import annotations

import keras_tuner
import pytest

from cnnlab.config import load_config
from cnnlab.errors import ConfigError, Problem
from cnnlab.search import Dimension, check_search, objective_direction, search_space, values_config
from tests.conftest import TINY_DATA, TINY_MODEL

HEAD = "name: s\n" + TINY_DATA + TINY_MODEL + "train: {epochs: 1, batch_size: 8}\n"


def searched(write, *entries: str, objective: str = "val_accuracy"):
    """A config searching `entries` ("key: spec" lines), and the line of each entry."""
    text = HEAD + f"search:\n  objective: {objective}\n  space:\n" + "".join(f"    {e}\n" for e in entries)
    lines = text.splitlines()
    return load_config(write("s.yaml", text)), [lines.index(f"    {e}") + 1 for e in entries]


def refused(write, entry: str) -> Problem:
    cfg, (line,) = searched(write, entry)
    with pytest.raises(ConfigError) as caught:
        search_space(cfg)
    (problem,) = caught.value.problems
    assert (problem.file.endswith("s.yaml"), problem.line) == (True, line), problem
    assert problem.key == "search.space." + entry.split(":")[0]
    return problem


def test_each_form_of_an_entry_becomes_its_dimension(write):
    cfg, _ = searched(
        write,
        "model.layers.3.Dense.units: [4, 8]",
        "train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}",
        "train.optimizer.beta_1: {uniform: [0.8, 0.95], step: 0.05}",
        "train.optimizer.beta_2: {uniform: [0.9, 0.999]}",
        "model.layers.0.Conv2D.filters: {int: [2, 9], step: 3}",
        "train.batch_size: {int: [8, 16]}",
        "model.layers.0.Conv2D.padding: [same, valid]",
        "train.optimizer.amsgrad: [true, false]",
    )
    assert search_space(cfg) == [
        Dimension("model.layers.3.Dense.units", "choice", choices=(4, 8)),
        Dimension("train.optimizer.learning_rate", "log_uniform", low=1e-4, high=1e-2),
        Dimension("train.optimizer.beta_1", "uniform", low=0.8, high=0.95, step=0.05),
        Dimension("train.optimizer.beta_2", "uniform", low=0.9, high=0.999),
        Dimension("model.layers.0.Conv2D.filters", "int", low=2, high=8, step=3),  # 9 is off the steps
        Dimension("train.batch_size", "int", low=8, high=16, step=1),
        Dimension("model.layers.0.Conv2D.padding", "choice", choices=("same", "valid")),
        Dimension("train.optimizer.amsgrad", "choice", choices=(True, False)),
    ]


def test_whole_and_fractional_choices_become_one_float_type(write):
    cfg, _ = searched(write, "train.optimizer.learning_rate: [1, 0.5]")
    (dimension,) = search_space(cfg)
    assert dimension.choices == (1.0, 0.5) and all(type(v) is float for v in dimension.choices)


def test_an_int_range_whose_top_is_on_a_step_keeps_it(write):
    cfg, _ = searched(write, "train.batch_size: {int: [4, 16], step: 4}")
    assert search_space(cfg)[0].high == 16


def test_extremes_are_every_choice_or_both_ends():
    assert Dimension("k", "choice", choices=(1, 2, 3)).extremes == (1, 2, 3)
    assert Dimension("k", "int", low=2, high=8, step=3).extremes == (2, 8)


# What a user reads: every message and hint in full.
FORMS = "a list of choices, {uniform: [low, high]}, {log_uniform: [low, high]} or {int: [low, high], step: 1}"
STEP = "step is a positive number, for int and uniform ranges"


@pytest.mark.parametrize(
    ("entry", "message", "hint"),
    [
        (
            "data.limit: [10, 20]",
            "search.space varies model and train keys only",
            "keep data, seed and name fixed in a search",
        ),
        ("seed: [1, 2]", "search.space varies model and train keys only", "keep data, seed and name fixed in a search"),
        ("train.epochs: 5", "5 is not a set of values to try", FORMS),
        ("train.epochs: {int: [1, 5], uniform: [1, 5]}", "a range names one distribution", FORMS),
        ("train.epochs: {step: 2}", "a range names one distribution", FORMS),
        ("train.epochs: {poisson: [1, 5]}", "unknown distribution 'poisson'", FORMS),
        ("train.epochs: {intt: [1, 5]}", "unknown distribution 'intt'", "did you mean int?"),
        (
            "train.epochs: {int: [1, 5, 9]}",
            "int takes [low, high], two numbers (got [1, 5, 9])",
            "for example {int: [1, 10]}",
        ),
        ("train.epochs: {int: 5}", "int takes [low, high], two numbers (got 5)", "for example {int: [1, 10]}"),
        (
            "train.epochs: {int: [1, x]}",
            "int takes [low, high], two numbers (got [1, 'x'])",
            "for example {int: [1, 10]}",
        ),
        (
            "train.epochs: {int: [true, 5]}",
            "int takes [low, high], two numbers (got [True, 5])",
            "for example {int: [1, 10]}",
        ),
        ("train.epochs: {int: [5, 5]}", "int: low 5 must be below high 5", ""),
        ("train.epochs: {int: [6, 5]}", "int: low 6 must be below high 5", ""),
        ("train.epochs: {int: [1, 5.5]}", "int takes whole numbers (got [1, 5.5])", "use uniform for fractions"),
        ("train.epochs: {int: [1.0, 5]}", "int takes whole numbers (got [1.0, 5])", "use uniform for fractions"),
        (
            "train.optimizer.beta_1: {log_uniform: [0, 0.1]}",
            "log_uniform needs low > 0 (got 0)",
            "for example {log_uniform: [1.0e-4, 1.0e-2]}",
        ),
        (
            "train.optimizer.beta_1: {log_uniform: [-1, 0.1]}",
            "log_uniform needs low > 0 (got -1)",
            "for example {log_uniform: [1.0e-4, 1.0e-2]}",
        ),
        ("train.optimizer.beta_1: {log_uniform: [0.01, 0.1], step: 0.01}", "step 0.01 does not fit log_uniform", STEP),
        ("train.optimizer.beta_1: {uniform: [0.1, 0.9], step: 0}", "step 0 does not fit uniform", STEP),
        ("train.optimizer.beta_1: {uniform: [0.1, 0.9], step: -0.1}", "step -0.1 does not fit uniform", STEP),
        ("train.optimizer.beta_1: {uniform: [0.1, 0.9], step: x}", "step 'x' does not fit uniform", STEP),
        ("train.optimizer.beta_1: {uniform: [0.1, 0.9], step: true}", "step True does not fit uniform", STEP),
        ("train.epochs: {int: [1, 9], step: 1.5}", "step 1.5 does not fit int", STEP),
        ("train.epochs: []", "an empty list of choices", "give at least one value"),
        ("train.epochs: [1, [2]]", "choices are numbers, strings or booleans (Keras Tuner's Choice)", ""),
        ("train.epochs: [{a: 1}]", "choices are numbers, strings or booleans (Keras Tuner's Choice)", ""),
        ("train.epochs: [1, wide]", "choices mix types (int, str)", "give values of one type"),
        ("train.epochs: [1, true]", "choices mix types (bool, int)", "give values of one type"),
    ],
)
def test_a_wrong_entry_is_refused_at_its_line(write, entry, message, hint):
    problem = refused(write, entry)
    assert (problem.message, problem.hint) == (message, hint)


def test_a_step_on_an_int_range_may_be_left_out_or_whole(write):
    cfg, _ = searched(write, "train.epochs: {int: [1, 9], step: 2}", "train.batch_size: {uniform: [8, 16], step: 2}")
    assert [(d.low, d.high, d.step) for d in search_space(cfg)] == [(1, 9, 2), (8, 16, 2)]


def test_a_config_without_a_search_section_is_told_where_to_look(write):
    cfg = load_config(write("plain.yaml", HEAD))
    with pytest.raises(ConfigError) as caught:
        search_space(cfg)
    (problem,) = caught.value.problems
    assert (problem.key, problem.message) == ("search", "this config has no search: section")
    assert problem.hint == "see cnnlab tune --help"


def test_each_dimension_registers_the_keras_tuner_hyperparameter_it_describes():
    hp = keras_tuner.HyperParameters()
    dimensions = [
        Dimension("units", "choice", choices=(4, 8)),
        Dimension("filters", "int", low=2, high=8, step=3),
        Dimension("epochs", "int", low=1, high=4),  # a step left out is 1
        Dimension("rate", "log_uniform", low=1e-4, high=1e-2),
        Dimension("beta", "uniform", low=0.8, high=0.95, step=0.05),
    ]
    drawn = [d.sample(hp) for d in dimensions]
    space = {p.name: p.get_config() for p in hp.space}
    assert [type(p).__name__ for p in hp.space] == ["Choice", "Int", "Int", "Float", "Float"]
    assert space["units"]["values"] == [4, 8]
    assert (space["filters"]["min_value"], space["filters"]["max_value"], space["filters"]["step"]) == (2, 8, 3)
    assert space["epochs"]["step"] == 1
    assert (space["rate"]["min_value"], space["rate"]["max_value"], space["rate"]["sampling"]) == (1e-4, 1e-2, "log")
    assert (space["beta"]["step"], space["beta"]["sampling"]) == (0.05, "linear")
    assert drawn == [4, 2, 1, 1e-4, 0.8]  # a fresh HyperParameters draws each default: the lowest


@pytest.mark.parametrize(
    ("objective", "direction"),
    [
        ("val_accuracy", "max"),
        ("accuracy", "max"),
        ("val_loss", "min"),
        ("loss", "min"),
        ("val_auc", "max"),
        ("mean_absolute_error", "min"),
    ],
)
def test_losses_and_errors_are_minimised_and_everything_else_maximised(write, objective, direction):
    metrics = "['accuracy', 'auc', 'mean_absolute_error']"
    cfg, _ = searched(write, "train.epochs: [1, 2]", objective=objective)
    cfg = load_config(write("m.yaml", cfg.to_yaml()), [f"train.metrics={metrics}"])
    assert objective_direction(cfg) == direction


def test_an_objective_not_logged_is_refused_at_its_line_with_a_suggestion(write):
    cfg, _ = searched(write, "train.epochs: [1, 2]", objective="val_acuracy")
    with pytest.raises(ConfigError) as caught:
        objective_direction(cfg)
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("search.objective", HEAD.count("\n") + 2)
    assert problem.message == "'val_acuracy' is not a metric this run logs"
    assert problem.hint == "did you mean val_accuracy?"


def test_an_objective_far_from_every_metric_lists_the_logged_ones(write):
    cfg, _ = searched(write, "train.epochs: [1, 2]", objective="zzz")
    with pytest.raises(ConfigError) as caught:
        objective_direction(cfg)
    assert caught.value.problems[0].hint == "logged: loss, accuracy, val_loss, val_accuracy"


def test_a_validation_objective_without_validation_data_is_refused(write):
    cfg, _ = searched(write, "train.epochs: [1, 2]")
    cfg = load_config(write("v.yaml", cfg.to_yaml()), ["data.validation_split=0"])
    with pytest.raises(ConfigError) as caught:
        objective_direction(cfg)
    (problem,) = caught.value.problems
    assert problem.key == "search.objective"
    assert problem.message == "val_accuracy needs validation data, and data.validation_split is 0"
    assert problem.hint.startswith("set data.validation_split")
    assert objective_direction(load_config(write("t.yaml", cfg.to_yaml()), ["search.objective=loss"])) == "min"


def test_values_config_sets_each_value_and_keeps_the_rest(write):
    cfg, _ = searched(write, "model.layers.3.Dense.units: [4, 8]")
    trial = values_config(cfg, {"model.layers.3.Dense.units": 8, "train.epochs": 3})
    assert (trial.model.layers[3].arguments["units"], trial.train.epochs) == (8, 3)
    assert (cfg.model.layers[3].arguments["units"], cfg.train.epochs) == (3, 1)  # the search config is unchanged


def test_check_search_builds_all_lows_together_then_all_highs_together(write):
    cfg, _ = searched(
        write,
        "model.layers.3.Dense.units: [16, 4, 8]",
        "model.layers.0.Conv2D.filters: {int: [2, 9], step: 3}",
    )
    built = []

    def build(trial):
        built.append((trial.model.layers[3].arguments["units"], trial.model.layers[0].arguments["filters"]))

    dimensions = check_search(cfg, build)
    assert [d.key for d in dimensions] == ["model.layers.3.Dense.units", "model.layers.0.Conv2D.filters"]
    assert built == [(16, 2), (8, 8)]  # a choice's first and last, a range's ends


def test_a_value_the_schema_refuses_is_found_before_any_build(write):
    cfg, (line,) = searched(write, "train.batch_size: [8, 0]")
    built = []
    with pytest.raises(ConfigError) as caught:
        check_search(cfg, built.append)
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("train.batch_size", line)
    assert "greater than or equal to 1" in problem.message
    assert built == []


def test_a_model_that_breaks_at_one_end_is_reported_at_the_key_that_broke_it(write):
    cfg, lines = searched(
        write,
        "train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}",
        "model.layers.0.Conv2D.kernel_size: [3, 9]",
    )

    def build(trial):
        size = trial.model.layers[0].arguments["kernel_size"]
        if size > 8:
            raise ConfigError(Problem("a 9x9 kernel does not fit 8x8", key="model.layers[0].Conv2D", hint="smaller"))

    with pytest.raises(ConfigError) as caught:
        check_search(cfg, build)
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("search.space.model.layers.0.Conv2D.kernel_size", lines[1])
    assert (
        problem.message
        == "9 (the highest end) breaks the model at model.layers[0].Conv2D: a 9x9 kernel does not fit 8x8"
    )
    assert problem.hint == "smaller"


def test_a_model_that_breaks_at_the_low_end_says_lowest(write):
    cfg, lines = searched(write, "model.layers.0.Conv2D.kernel_size: [9, 3]")

    def build(trial):
        if trial.model.layers[0].arguments["kernel_size"] > 8:
            raise ConfigError(Problem("too big", key="model.layers[0].Conv2D"))

    with pytest.raises(ConfigError, match=r"9 \(the lowest end\) breaks the model") as caught:
        check_search(cfg, build)
    assert caught.value.problems[0].line == lines[0]


def test_a_break_no_searched_key_explains_names_every_value_at_the_space(write):
    cfg, _ = searched(write, "model.layers.3.Dense.units: [4, 8]", "train.batch_size: [8, 16]")

    def build(trial):
        raise ConfigError(Problem("out of memory", key="model.layers[1].MaxPooling2D", hint="fewer units"))

    with pytest.raises(ConfigError) as caught:
        check_search(cfg, build)
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("search.space", HEAD.count("\n") + 3)
    assert problem.message == (
        "with the lowest values (model.layers.3.Dense.units=4, train.batch_size=8): out of memory"
    )
    assert problem.hint == "fewer units"


def test_the_real_model_refuses_a_kernel_bigger_than_its_input(write):
    from cnnlab.model.build import build_model

    cfg, lines = searched(write, "model.layers.0.Conv2D.kernel_size: [3, 9]")
    with pytest.raises(ConfigError) as caught:
        check_search(cfg, build_model)
    (problem,) = caught.value.problems
    assert (
        problem.line == lines[0] and "(the highest end) breaks the model at model.layers[0].Conv2D" in problem.message
    )


@pytest.mark.parametrize(
    ("entry", "key", "message", "hint"),
    [
        ("model.layers.9.Dense.units: [4, 8]", "model.layers.9.Dense.units", "model.layers has 4 items (0 to 3)", ""),
        ("train.epochz: [1, 2]", "train.epochz", "unknown key", "did you mean epochs?"),
        ("train.epochs.x: [1, 2]", "train.epochs.x", "train.epochs is a value, not a section", ""),
    ],
)
def test_a_key_the_config_does_not_have_is_refused_at_its_search_line(write, entry, key, message, hint):
    cfg, (line,) = searched(write, entry)
    with pytest.raises(ConfigError) as caught:
        check_search(cfg, lambda trial: None)
    (problem,) = caught.value.problems
    assert (problem.file.endswith("s.yaml"), problem.line, problem.key) == (True, line, key)
    assert (problem.message, problem.hint) == (message, hint)


def test_a_trial_config_keeps_the_search_configs_file_for_its_other_keys(write):
    cfg, (line,) = searched(write, "train.batch_size: [8, 16]")
    trial = values_config(cfg, {"train.batch_size": 16})
    assert trial.locate(("train", "batch_size")) == (cfg.locate(("train",))[0], line)
    assert trial.locate(("model", "layers", 0)) == cfg.locate(("model", "layers", 0))
    assert trial.locate(("runtime",)) == (cfg.locate(("train",))[0], None)
