"""The `train:` section -> what `model.compile` and `model.fit` take: optimizer, loss, metrics,
and the user's extra Keras callbacks, each checked by name with a located error.

    >>> from cnnlab.config import LocatedConfig
    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]},
    ...     "train": {"optimizer": {"name": "adam", "learning_rate": 0.01}}})
    >>> round(float(build_optimizer(cfg).learning_rate), 4)
    0.01
"""

from __future__ import annotations

import math
from typing import Any

import keras

from cnnlab.config import LocatedConfig
from cnnlab.errors import ConfigError, did_you_mean
from cnnlab.model.factory import instantiate, keras_names, named_arguments, public_classes
from cnnlab.model.schedules import RUN_SCHEDULES, RunSchedule
from cnnlab.storage.folders import RunFolder

# Callbacks whose files and folders cnnlab manages itself, and what to use instead.
_MANAGED_CALLBACKS = {
    "TensorBoard": "configure it in the tensorboard: section",
    "ModelCheckpoint": f"every run keeps {RunFolder.BEST} and {RunFolder.LAST}",
    "BackupAndRestore": "every run is resumable: cnnlab train --resume RUN",
    "CSVLogger": f"every run writes {RunFolder.HISTORY}",
    "ProgbarLogger": "cnnlab shows its own progress",
    "LambdaCallback": "Python functions cannot be given in YAML",
    "LearningRateScheduler": "give a schedule as learning_rate: {warmup_cosine: {peak: 1.0e-3, warmup: 0.05}}",
}


def build_optimizer(cfg: LocatedConfig) -> keras.optimizers.Optimizer:
    """The optimizer named in `train.optimizer`, with its arguments (a schedule allowed)."""
    spec = cfg.train.optimizer
    classes = {name.lower(): cls for name, cls in public_classes(keras.optimizers, keras.optimizers.Optimizer).items()}
    cls = classes.get(spec.name.lower())
    if cls is None:
        hint = did_you_mean(spec.name.lower(), classes) or "known: " + ", ".join(sorted(classes))
        raise ConfigError(cfg.problem(("train", "optimizer", "name"), f"unknown optimizer {spec.name!r}", hint))
    arguments = dict(spec.arguments)
    rate = arguments.get("learning_rate")
    if isinstance(rate, (int, float)) and not isinstance(rate, bool) and not 0 < rate < math.inf:
        raise ConfigError(
            cfg.problem(
                ("train", "optimizer", "learning_rate"),
                f"a learning rate is a number above 0, not {rate}",
                "such as 1.0e-3",
            )
        )
    if isinstance(rate, dict):
        schedule = _schedule(cfg, rate)
        # Fractions of the run are sized when the fit loop knows its steps (sized_schedule).
        arguments["learning_rate"] = schedule.sized(1) if isinstance(schedule, RunSchedule) else schedule
    return instantiate(cfg, ("train", "optimizer"), cls, arguments)


def sized_schedule(cfg: LocatedConfig, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule | None:
    """Keras' schedule for a learning rate written as fractions of the run, sized to a run of
    `total_steps` optimizer steps; None when the config's rate is anything else.

    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]}, "train": {"optimizer":
    ...     {"name": "adam", "learning_rate": {"warmup_cosine": {"peak": 1e-3, "warmup": 0.1}}}}})
    >>> [(s.warmup_steps, s.decay_steps) for s in (sized_schedule(cfg, 200), sized_schedule(cfg, 1000))]
    [(20, 180), (100, 900)]
    """
    value = cfg.train.optimizer.arguments.get("learning_rate")
    schedule = _schedule(cfg, value) if isinstance(value, dict) else None
    return schedule.sized(total_steps) if isinstance(schedule, RunSchedule) else None


def _schedule(cfg: LocatedConfig, value: dict) -> Any:
    where = ("train", "optimizer", "learning_rate")
    classes = public_classes(keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule)
    example = "{warmup_cosine: {peak: 1.0e-3, warmup: 0.05}}"
    name, arguments = named_arguments(cfg, where, value, "a schedule", example)
    if name in RUN_SCHEDULES:
        return instantiate(cfg, (*where, name), RUN_SCHEDULES[name], arguments)
    if name not in classes:
        raise ConfigError(
            cfg.problem(
                (*where, name),
                f"unknown learning-rate schedule {name!r}",
                did_you_mean(name, [*RUN_SCHEDULES, *classes]) or "known: " + ", ".join([*RUN_SCHEDULES, *classes]),
            )
        )
    return instantiate(cfg, (*where, name), classes[name], arguments)


def check_loss(cfg: LocatedConfig) -> str:
    """The loss name, after checking that Keras knows it."""
    return _known(cfg, ("train", "loss"), cfg.train.loss, keras.losses, "loss")


def check_metrics(cfg: LocatedConfig) -> list[str]:
    """The metric names, after checking that Keras knows each ('accuracy' adapts to the labels)."""
    return [
        _known(cfg, ("train", "metrics", i), name, keras.metrics, "metric") for i, name in enumerate(cfg.train.metrics)
    ]


def _known(cfg: LocatedConfig, where: tuple, name: str, module, kind: str) -> str:
    try:
        module.get(name)
    except (ValueError, TypeError):
        choices = [n for n in keras_names(module) if n[0].islower()]  # functions, not classes
        if module is keras.metrics:
            choices.append("accuracy")  # compile's own name, which picks the right accuracy
        raise ConfigError(cfg.problem(where, f"unknown {kind} {name!r}", did_you_mean(name, choices))) from None
    return name


def build_callbacks(cfg: LocatedConfig) -> list[keras.callbacks.Callback]:
    """The extra callbacks of `train.callbacks` (EarlyStopping, ReduceLROnPlateau, ...)."""
    classes = public_classes(keras.callbacks, keras.callbacks.Callback)
    built = []
    for index, spec in enumerate(cfg.train.callbacks):
        where = ("train", "callbacks", index, spec.class_name)
        if spec.class_name in _MANAGED_CALLBACKS:
            raise ConfigError(
                cfg.problem(where, f"{spec.class_name} is managed by cnnlab", _MANAGED_CALLBACKS[spec.class_name])
            )
        if spec.class_name not in classes:
            raise ConfigError(
                cfg.problem(where, f"unknown callback {spec.class_name!r}", did_you_mean(spec.class_name, classes))
            )
        built.append(instantiate(cfg, where, classes[spec.class_name], dict(spec.arguments)))
    return built


def schedule_mismatch(cfg: LocatedConfig, total_steps: int) -> str | None:
    """A warning when a learning-rate schedule that ends (CosineDecay, PolynomialDecay) was
    sized for another number of steps than the run takes, else None. Schedules count steps,
    so `--set train.epochs=1` or a `data.limit` leaves a cosine stopped in its warm-up, or
    runs the last epochs at the schedule's end value.

    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]}, "train": {"optimizer":
    ...     {"name": "adam", "learning_rate": {"CosineDecay": {"initial_learning_rate": 1e-3, "decay_steps": 900}}}}})
    >>> schedule_mismatch(cfg, 950) is None, "stops before its end" in schedule_mismatch(cfg, 100)
    (True, True)
    """
    value = cfg.train.optimizer.arguments.get("learning_rate")
    schedule = _schedule(cfg, value) if isinstance(value, dict) else None
    if not isinstance(schedule, keras.optimizers.schedules.CosineDecay | keras.optimizers.schedules.PolynomialDecay):
        return None
    if getattr(schedule, "cycle", False):
        return None  # a cycling PolynomialDecay has no end
    span = int(schedule.decay_steps) + int(getattr(schedule, "warmup_steps", 0) or 0)
    if abs(total_steps - span) <= 0.1 * span:
        return None
    name = type(schedule).__name__
    if total_steps < span:
        what = "it stops before its end" + (
            ", still warming up" if total_steps < int(getattr(schedule, "warmup_steps", 0) or 0) else ""
        )
    else:
        what = f"the last {total_steps - span:,} run at its final rate"
    return (
        f"train.optimizer.learning_rate: {name} spans {span:,} steps but this run takes {total_steps:,}: {what} "
        "— size decay_steps (plus warmup_steps) to epochs x batches per epoch"
    )


def compile_model(model: keras.Model, cfg: LocatedConfig) -> None:
    """`model.compile` with the optimizer, loss, metrics and steps per execution of `cfg.train`.

    Under `mirrored` a step runs one batch: Keras' several-batch step fails inside
    MirroredStrategy ("You must feed a value for placeholder tensor", keras-team/keras#19246)."""
    mirrored = cfg.runtime.distribute == "mirrored"
    model.compile(
        optimizer=build_optimizer(cfg),
        loss=check_loss(cfg),
        metrics=check_metrics(cfg),
        steps_per_execution=1 if mirrored else cfg.train.steps_per_execution,
    )


def build_state(model: keras.Model, batch_spec) -> None:
    """Create the optimizer's and the metrics' variables before `fit` traces its first step.

    On TensorFlow without a distribution strategy Keras leaves them to the first trace, and
    TensorFlow traces a function that created variables a second time: about 0.5 s of every
    small training. `batch_spec` is the training dataset's `element_spec` (shapes and dtypes, no
    batch is read). On JAX and under a strategy Keras builds this way before its first trace.

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> build_state(model, (keras.KerasTensor((None, 2)), keras.KerasTensor((None, 2))))
    >>> model.optimizer.built
    True
    """
    # Keras' own build (private: a Keras without it only costs the second trace again)
    build = getattr(model, "_symbolic_build", None)
    if build is not None and keras.backend.backend() == "tensorflow":
        build(data_batch=batch_spec)
