"""The typed shape of a run config: what every YAML key means and which values it accepts.

Unknown keys are refused (`extra="forbid"`) so a typo never silently becomes a default.
Layer and optimizer arguments stay open mappings here: they are checked against Keras' own
signatures when the model is built (see `cnnlab.model.factory`).

    >>> cfg = RunConfig.model_validate({"name": "demo", "model": {"layers": ["Flatten"]}})
    >>> cfg.train.epochs, cfg.model.layers[0].class_name
    (12, 'Flatten')
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LayerSpec(Section):
    """One `Sequential` layer: a Keras class name and its constructor arguments.

    YAML form: `- Flatten` or `- Conv2D: {filters: 32, kernel_size: 3}`.
    """

    class_name: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, LayerSpec):
            return value
        if isinstance(value, str):
            return {"class_name": value, "arguments": {}}
        if isinstance(value, dict) and len(value) == 1:
            ((name, arguments),) = value.items()
            if arguments is None:
                arguments = {}
            if not isinstance(arguments, dict):
                raise ValueError(f"the arguments of {name} must be a mapping such as {{units: 10}}, not {arguments!r}")
            return {"class_name": str(name), "arguments": arguments}
        raise ValueError(
            "an entry is a Keras class name (- Flatten) or a one-key mapping (- Conv2D: {filters: 32, kernel_size: 3})"
        )

    @model_serializer
    def _to_yaml(self) -> Any:
        return {self.class_name: dict(self.arguments)} if self.arguments else self.class_name


class CallbackSpec(LayerSpec):
    """A `keras.callbacks` class and its arguments: `- EarlyStopping: {patience: 3}`."""


class SyntheticSpec(Section):
    """Shape and size of the `synthetic` data set (small, learnable, for tests and demos)."""

    input_shape: tuple[int, ...] = (28, 28, 1)
    num_classes: int = Field(10, ge=2)
    train_examples: int = Field(512, ge=1)
    test_examples: int = Field(128, ge=1)


class DataConfig(Section):
    """Where the examples come from and how they are prepared."""

    dataset: str = Field("mnist", description="registry name, or a path to IDX/npz files or an image folder")
    path: str | None = Field(None, description="local files for a named data set (skips the search)")
    validation_split: float = Field(0.1, ge=0.0, lt=1.0)
    test_split: float = Field(0.2, gt=0.0, lt=1.0, description="held out when a source has no test split")
    preprocess: Literal["scale", "standardize", "none"] = "scale"
    limit: int | None = Field(None, ge=1, description="train on the first N examples only")
    image_size: tuple[int, int] | None = Field(None, description="height, width (image folders)")
    color_mode: Literal["grayscale", "rgb", "rgba"] = "rgb"
    synthetic: SyntheticSpec | None = Field(None, description="shape and size when dataset: synthetic")


class ModelConfig(Section):
    """The `Sequential` stack. The input shape comes from the data set unless given here."""

    input_shape: tuple[int, ...] | None = None
    layers: list[LayerSpec] = Field(min_length=1)
    init_from: str | None = Field(
        None,
        description="copy weights from a trained model: a .keras file, a run folder or a run name "
        "(its best.keras); layers match by position, class and weight shapes",
    )
    freeze: Literal["copied"] | list[str | int] | None = Field(
        None, description="layers kept as they are while training: copied (those init_from copied), or names/indices"
    )


class OptimizerSpec(BaseModel):
    """`adam`, or `{name: adam, learning_rate: 1.0e-3, ...}` with any Keras optimizer argument."""

    model_config = ConfigDict(extra="allow")

    name: str = "adam"

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @model_serializer
    def _to_yaml(self) -> Any:
        return {"name": self.name, **self.arguments} if self.arguments else self.name


class FineTuneSpec(Section):
    """The classic second phase of transfer learning: every layer trainable, a lower rate."""

    epochs: int = Field(ge=1, description="epochs after train.epochs, with every layer trainable")
    learning_rate: float = Field(gt=0, description="a constant rate for this phase, usually 10-100x lower")


class TrainConfig(Section):
    """How `model.compile` and `model.fit` are called."""

    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    loss: str = "categorical_crossentropy"
    metrics: list[str] = Field(default_factory=lambda: ["accuracy"])
    epochs: int = Field(12, ge=1)
    batch_size: int = Field(32, ge=1)
    steps_per_execution: int = Field(
        8,
        ge=1,
        description="batches per call into the compiled training step: callbacks see the logs "
        "once per call, so the host does not stall the step loop every batch (benchmarks/README.md)",
    )
    monitor: str = Field(
        "auto",
        description="the validation metric that picks best.keras: auto "
        "is val_accuracy when accuracy is a metric, else val_loss; without "
        "validation data best.keras is the last epoch",
    )
    callbacks: list[CallbackSpec] = Field(
        default_factory=list, description="extra Keras callbacks, e.g. EarlyStopping, ReduceLROnPlateau"
    )
    fine_tune: FineTuneSpec | None = Field(
        None, description="after train.epochs with model.freeze's layers frozen, unfreeze them and train on"
    )

    @property
    def total_epochs(self) -> int:
        """`epochs`, plus `fine_tune.epochs` when the run has that second phase."""
        return self.epochs + (self.fine_tune.epochs if self.fine_tune else 0)


class TensorBoardConfig(Section):
    """Arguments of `keras.callbacks.TensorBoard`; `enabled: false` leaves it out."""

    enabled: bool = True
    histogram_freq: int = Field(1, ge=0)
    write_graph: bool = True
    update_freq: Literal["epoch", "batch"] | int = "epoch"
    profile_batch: int | tuple[int, int] = 0


class RuntimeConfig(Section):
    """Where and how the computation runs."""

    backend: Literal["tensorflow", "jax"] = Field(
        "tensorflow", description="Keras' backend; jax needs pip install 'cnnlab[jax]'"
    )
    device: Literal["auto", "cpu", "gpu"] = "auto"
    mixed_precision: bool = False
    deterministic: bool = False
    distribute: Literal["none", "mirrored", "data_parallel"] = Field(
        "none",
        description="mirrored: tf.distribute.MirroredStrategy over this machine's GPUs (or devices); "
        "data_parallel: Keras' DataParallel on JAX, one or many processes",
    )
    devices: list[str] | None = Field(
        None, min_length=1, description="mirrored: the devices to mirror over, e.g. [GPU:0, GPU:1]"
    )
    coordinator: str | None = Field(None, description="data_parallel: HOST:PORT of process 0")
    num_processes: int | None = Field(None, ge=1, description="data_parallel: how many processes train together")
    process_id: int | None = Field(None, ge=0, description="data_parallel: this process's number, 0 writes the run")

    @field_validator("distribute", mode="before")
    @classmethod
    def _none_is_a_choice(cls, value):
        return "none" if value is None else value  # --set reads the word none as null

    @field_validator("coordinator")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^:\s]+:\d{1,5}", value):
            raise ValueError(f"{value!r} is not HOST:PORT (process 0's address, e.g. host0:8476)")
        return value


class SearchConfig(Section):
    """`cnnlab tune`: which Keras Tuner algorithm tries which values of which keys."""

    algorithm: Literal["random", "hyperband", "bayesian"] = "random"
    max_trials: int = Field(8, ge=1)
    repeats: int = Field(
        1, ge=1, description="trainings per trial, with seeds seed, seed+1, ...: the tables show their mean and sd"
    )
    objective: str = Field("val_accuracy", description="a logged metric; loss and error metrics are minimised")
    space: dict[str, Any] = Field(
        min_length=1,
        description="dotted config keys (as in --set) -> [choices], {uniform: [low, high]}, "
        "{log_uniform: [low, high]} or {int: [low, high], step: N}",
    )


LARGEST_SEED = 2**32 - 1  # NumPy's seeds are 32-bit


class RunConfig(Section):
    """A whole run: the YAML file after `base:` inheritance and `--set` overrides."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    seed: int = Field(42, ge=0, le=LARGEST_SEED, description="NumPy, Python and Keras take seeds 0 to 2**32 - 1")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    tensorboard: TensorBoardConfig = Field(default_factory=TensorBoardConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    search: SearchConfig | None = Field(None, description="what cnnlab tune searches; train ignores it")


def section_fields(path: tuple) -> list[str]:
    """Names of the keys allowed at `path` (a tuple of keys and list indices), if it is a section.

    >>> section_fields(("train",))[:3]
    ['optimizer', 'loss', 'metrics']
    """
    model: Any = RunConfig
    for key in path:
        if isinstance(key, int):
            continue
        field = model.model_fields.get(key) if isinstance(model, type) else None
        if field is None:
            return []
        model = _section_type(field.annotation)
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, Section) else []


def _section_type(annotation: Any) -> Any:
    """The Section class inside `X`, `X | None` or `list[X]`, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _section_type(arg)
        if found is not None:
            return found
    return None
