"""Per-layer facts of a built model: output shape, parameters, MACs and receptive field.

Data only; the CLI renders it as a table or JSON. Parameter counts come from Keras itself, so
they always agree with `model.count_params()`. MACs (multiply-accumulates per example) are
counted for convolutions and dense layers, where nearly all of a CNN's arithmetic is; element-wise
layers (activations, normalisation, pooling) count 0.

    >>> s = summarize(keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3)]))
    >>> s.rows[0].output_shape, s.rows[0].macs, s.rows[0].receptive_field
    ((None, 2, 2, 2), 72, (3, 3))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import keras


@dataclass(frozen=True)
class LayerRow:
    name: str
    class_name: str
    output_shape: tuple
    trainable_params: int
    non_trainable_params: int
    macs: int
    receptive_field: tuple[int, ...] | None  # pixels of the input one output pixel sees

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params


@dataclass(frozen=True)
class ModelSummary:
    name: str
    input_shape: tuple
    rows: list[LayerRow] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.rows)

    @property
    def non_trainable_params(self) -> int:
        return sum(r.non_trainable_params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "input_shape": list(self.input_shape),
            "layers": [{**asdict(r), "params": r.params} for r in self.rows],
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
        }


def summarize(model: keras.Sequential) -> ModelSummary:
    """Walk a built `Sequential` model and describe each layer."""
    shape = tuple(model.inputs[0].shape)
    field_ = _Field.start(len(shape) - 2)
    rows = []
    for layer in model.layers:
        output = tuple(layer.compute_output_spec(keras.KerasTensor(shape)).shape)
        trainable = _count(layer.trainable_weights)
        field_ = field_.through(layer, shape, output)
        rows.append(
            LayerRow(
                layer.name,
                type(layer).__name__,
                output,
                trainable,
                _count(layer.weights) - trainable,
                layer_macs(layer, shape, output),
                field_.size,
            )
        )
        shape = output
    return ModelSummary(model.name, tuple(model.inputs[0].shape[1:]), rows)


def _count(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def layer_macs(layer, input_shape: tuple, output_shape: tuple) -> int:
    """Multiply-accumulates for one example (bias additions not counted)."""
    out_positions = math.prod(output_shape[1:-1])
    if isinstance(layer, keras.layers.Dense):
        return math.prod(input_shape[1:]) * layer.units
    if isinstance(layer, keras.layers.SeparableConv2D | keras.layers.SeparableConv1D):
        kernel = math.prod(layer.kernel_size)
        in_channels = input_shape[-1]
        depthwise = out_positions * in_channels * layer.depth_multiplier * kernel
        return depthwise + out_positions * in_channels * layer.depth_multiplier * layer.filters
    if isinstance(layer, keras.layers.DepthwiseConv2D | keras.layers.DepthwiseConv1D):
        return out_positions * input_shape[-1] * layer.depth_multiplier * math.prod(layer.kernel_size)
    if _is_transpose(layer):
        # Every input pixel spreads its kernel over the output.
        return math.prod(input_shape[1:-1]) * math.prod(layer.kernel_size) * input_shape[-1] * layer.filters
    if isinstance(layer, keras.layers.Conv1D | keras.layers.Conv2D | keras.layers.Conv3D):
        per_output = math.prod(layer.kernel_size) * input_shape[-1] // layer.groups
        return out_positions * layer.filters * per_output
    return 0


def _is_transpose(layer) -> bool:
    return isinstance(layer, keras.layers.Conv1DTranspose | keras.layers.Conv2DTranspose | keras.layers.Conv3DTranspose)


@dataclass(frozen=True)
class _Field:
    """Receptive field per spatial axis and the input-pixel distance between adjacent outputs."""

    size: tuple[int, ...] | None
    jump: tuple[float, ...]

    @classmethod
    def start(cls, spatial_axes: int) -> _Field:
        if spatial_axes < 1:
            return cls(None, ())
        return cls((1,) * spatial_axes, (1.0,) * spatial_axes)

    def through(self, layer, input_shape: tuple, output_shape: tuple) -> _Field:
        if self.size is None or len(output_shape) != len(input_shape):
            return _Field(None, ())  # flattened, pooled globally, or reshaped: no longer spatial
        window = _window(layer)
        if window is not None:
            kernel, strides, dilation = window
            if _is_transpose(layer):
                jump = tuple(j / s for j, s in zip(self.jump, strides))
                size = tuple(f + (k - 1) * j for f, k, j in zip(self.size, kernel, jump))
            else:
                size = tuple(f + d * (k - 1) * j for f, k, d, j in zip(self.size, kernel, dilation, self.jump))
                jump = tuple(j * s for j, s in zip(self.jump, strides))
            return _Field(tuple(round(s) for s in size), jump)
        if isinstance(layer, keras.layers.UpSampling1D | keras.layers.UpSampling2D | keras.layers.UpSampling3D):
            sizes = layer.size if isinstance(layer.size, tuple) else (layer.size,)  # UpSampling1D's is an int
            return _Field(self.size, tuple(j / s for j, s in zip(self.jump, sizes)))
        if output_shape[1:-1] != input_shape[1:-1]:
            return _Field(None, ())  # resized or cropped in a way this walk does not model
        return self


def _window(layer):
    """(kernel, strides, dilation) of a sliding-window layer, or None. Keras 3 keeps each as a
    tuple with one entry per spatial axis (pooling's strides already default to its pool)."""
    if hasattr(layer, "kernel_size") and hasattr(layer, "strides"):
        kernel = tuple(layer.kernel_size)
        return kernel, tuple(layer.strides), tuple(getattr(layer, "dilation_rate", (1,) * len(kernel)))
    if hasattr(layer, "pool_size"):
        pool = tuple(layer.pool_size)
        return pool, tuple(layer.strides), (1,) * len(pool)
    return None
