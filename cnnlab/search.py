"""The `search:` section: which keys `cnnlab tune` varies, over which values, judged by what.

Each entry of `search.space` is a dotted config key (as `--set` takes it) and its values:
a list of choices, or a range `{uniform: [low, high]}`, `{log_uniform: [low, high]}` or
`{int: [low, high], step: N}`. Everything is checked before the first trial, with the line of
the entry that is wrong: the key must exist, the range must make sense, and the config must
stay valid (and its model buildable) at both ends of every range.

    >>> from cnnlab.config import LocatedConfig
    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": [{"Dense": {"units": 3}}]},
    ...     "search": {"space": {"train.optimizer.learning_rate": {"log_uniform": [1.0e-4, 1.0e-2]}}}})
    >>> [(d.key, d.kind, d.low, d.high) for d in search_space(cfg)]
    [('train.optimizer.learning_rate', 'log_uniform', 0.0001, 0.01)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cnnlab.config import LocatedConfig, format_path, parse_key_path, with_values
from cnnlab.errors import ConfigError, did_you_mean

SPACE = ("search", "space")
DISTRIBUTIONS = ("uniform", "log_uniform", "int")
_FORMS = "a list of choices, {uniform: [low, high]}, {log_uniform: [low, high]} or {int: [low, high], step: 1}"
# A change of data between trials would make their scores incomparable; name and seed are not hyperparameters.
_SEARCHABLE = ("model", "train")


@dataclass(frozen=True)
class Dimension:
    """One searched key: its choices, or a range (`low`..`high`, `step` for int and uniform)."""

    key: str
    kind: str  # choice | uniform | log_uniform | int
    choices: tuple = ()
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None

    @property
    def extremes(self) -> tuple:
        """The values checked before a search: every choice, or both ends of the range."""
        return self.choices if self.kind == "choice" else (self.low, self.high)

    def sample(self, hp) -> Any:
        """This dimension's value in a Keras Tuner trial (registers it on first use)."""
        if self.kind == "choice":
            return hp.Choice(self.key, list(self.choices))
        if self.kind == "int":
            return hp.Int(self.key, self.low, self.high, step=self.step or 1)
        sampling = "log" if self.kind == "log_uniform" else "linear"
        return hp.Float(self.key, self.low, self.high, step=self.step, sampling=sampling)


def search_space(cfg: LocatedConfig) -> list[Dimension]:
    """The dimensions of `cfg.search.space`, each read and checked on its own (see the module)."""
    if cfg.search is None:
        raise ConfigError(cfg.problem(("search",), "this config has no search: section", "see cnnlab tune --help"))
    return [_dimension(cfg, key, spec) for key, spec in cfg.search.space.items()]


def check_search(cfg: LocatedConfig, build) -> list[Dimension]:
    """The dimensions, after checking the objective and that every value keeps the config valid:
    each choice and both ends of each range alone, then all lows together and all highs
    together through `build(cfg)` (which builds the model), so a shape that breaks only at an
    extreme is found now rather than in trial 7."""
    dimensions = search_space(cfg)
    objective_direction(cfg)
    for dimension in dimensions:
        for value in dimension.extremes:
            values_config(cfg, {dimension.key: value})
    for end in (0, -1):
        values = {d.key: d.extremes[end] for d in dimensions}
        try:
            build(values_config(cfg, values))
        except ConfigError as error:
            raise _at_the_culprit(cfg, error, values, "lowest" if end == 0 else "highest") from None
    return dimensions


def _at_the_culprit(cfg: LocatedConfig, error: ConfigError, values: dict, end: str) -> ConfigError:
    """A model that fails at one end of the space, reported at the searched key of the layer
    (or argument) that refused, with the value that broke it."""
    problem = error.problems[0]
    culprit = next((key for key in values if format_path(parse_key_path(key)).startswith(problem.key)), None)
    if culprit is None:
        shown = ", ".join(f"{key}={value!r}" for key, value in values.items())
        return ConfigError(cfg.problem(SPACE, f"with the {end} values ({shown}): {problem.message}", problem.hint))
    message = f"{values[culprit]!r} (the {end} end) breaks the model at {problem.key}: {problem.message}"
    return ConfigError(cfg.problem((*SPACE, culprit), message, problem.hint))


def values_config(cfg: LocatedConfig, values: dict[str, Any]) -> LocatedConfig:
    """The config a trial trains: `cfg` with the trial's values set."""
    return with_values(cfg, values, SPACE)


def objective_direction(cfg: LocatedConfig) -> str:
    """ "min" or "max" for `search.objective`: losses and errors go down, everything else up."""
    objective = cfg.search.objective
    metric = objective.removeprefix("val_")
    logged = ["loss", *cfg.train.metrics]
    if metric not in logged:
        names = [*logged, *(f"val_{name}" for name in logged)]
        hint = did_you_mean(objective, names) or "logged: " + ", ".join(names)
        raise ConfigError(cfg.problem(("search", "objective"), f"{objective!r} is not a metric this run logs", hint))
    if objective.startswith("val_") and cfg.data.validation_split == 0:
        raise ConfigError(
            cfg.problem(
                ("search", "objective"),
                f"{objective} needs validation data, and data.validation_split is 0",
                "set data.validation_split (0.1 holds out a tenth), or search on a training metric",
            )
        )
    return "min" if metric.endswith("loss") or "error" in metric else "max"


def _dimension(cfg: LocatedConfig, key: str, spec: Any) -> Dimension:
    where = (*SPACE, key)

    def fail(message: str, hint: str = _FORMS) -> ConfigError:
        return ConfigError(cfg.problem(where, message, hint))

    if key.split(".")[0] not in _SEARCHABLE:
        raise fail("search.space varies model and train keys only", "keep data, seed and name fixed in a search")
    if isinstance(spec, list):
        return _choices(key, spec, fail)
    if not isinstance(spec, dict):
        raise fail(f"{spec!r} is not a set of values to try")
    kinds = [name for name in spec if name != "step"]
    if len(kinds) != 1 or kinds[0] not in DISTRIBUTIONS:
        unknown = next((name for name in kinds if name not in DISTRIBUTIONS), None)
        if unknown is not None:
            raise fail(f"unknown distribution {unknown!r}", did_you_mean(str(unknown), DISTRIBUTIONS) or _FORMS)
        raise fail("a range names one distribution")
    kind = kinds[0]
    bounds, step = spec[kind], spec.get("step")
    if not (isinstance(bounds, list) and len(bounds) == 2 and all(_is_number(b) for b in bounds)):
        raise fail(f"{kind} takes [low, high], two numbers (got {bounds!r})", f"for example {{{kind}: [1, 10]}}")
    low, high = bounds
    if not low < high:
        raise fail(f"{kind}: low {low} must be below high {high}", "")
    if kind == "int" and not all(isinstance(b, int) for b in bounds):
        raise fail(f"int takes whole numbers (got {bounds!r})", "use uniform for fractions")
    if kind == "log_uniform" and low <= 0:
        raise fail(f"log_uniform needs low > 0 (got {low})", "for example {log_uniform: [1.0e-4, 1.0e-2]}")
    if step is not None:
        if kind == "log_uniform" or not _is_number(step) or step <= 0 or (kind == "int" and not isinstance(step, int)):
            raise fail(f"step {step!r} does not fit {kind}", "step is a positive number, for int and uniform ranges")
    if kind == "int":
        step = step or 1
        high = low + (high - low) // step * step  # the top value Keras Tuner can draw
    return Dimension(key, kind, low=low, high=high, step=step)


def _choices(key: str, values: list, fail) -> Dimension:
    if not values:
        raise fail("an empty list of choices", "give at least one value")
    if not all(isinstance(v, (bool, int, float, str)) for v in values):
        raise fail("choices are numbers, strings or booleans (Keras Tuner's Choice)", "")
    kinds = {type(v) for v in values}
    if len(kinds) > 1 and kinds != {int, float}:
        raise fail(f"choices mix types ({', '.join(sorted(k.__name__ for k in kinds))})", "give values of one type")
    if kinds == {int, float}:
        values = [float(v) for v in values]
    return Dimension(key, "choice", choices=tuple(values))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
