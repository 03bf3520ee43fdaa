"""Config -> `keras.Sequential`, with shape mistakes caught and located before any training;
and `compiled_model`, the one way every command turns a config into a model ready to fit.

The stack is built and traced symbolically one layer at a time, so a shape Keras refuses (or
one Keras accepts but a classifier cannot use) is reported at the layer that caused it, and a
Keras Application is built for the shape that reaches it.

    >>> from cnnlab.config import load_config
    >>> model = build_model(load_config("configs/mnist_baseline.yaml"))  # doctest: +SKIP
    >>> model.count_params()                                            # doctest: +SKIP
    1625866
"""

from __future__ import annotations

import re

import keras

from cnnlab.config import LocatedConfig
from cnnlab.data import DatasetInfo, dataset_info
from cnnlab.errors import ConfigError
from cnnlab.model.applications import application_names, build_application
from cnnlab.model.compiling import compile_model
from cnnlab.model.factory import keras_message
from cnnlab.model.layers import build_layer
from cnnlab.model.transfer import initialise

_FLATTENERS = "add Flatten or GlobalAveragePooling2D before it"


def build_model(cfg: LocatedConfig, info: DatasetInfo | None = None, pretrained: bool = True) -> keras.Sequential:
    """Build the model of `cfg` for the data set's input shape and class count (under the
    global dtype policy that `backend.configure` set). `pretrained=False` builds Keras
    Applications without loading their weights: the same structure, for check and summary."""
    info = info or dataset_info(cfg)
    input_shape = tuple(cfg.model.input_shape or info.input_shape)
    # Softmax in float16 or bfloat16 loses the small probabilities; Keras' guide keeps the output float32.
    output_float32 = (
        keras.config.dtype_policy().name.startswith("mixed_") and "dtype" not in cfg.model.layers[-1].arguments
    )
    last = len(cfg.model.layers) - 1
    x = keras.Input(shape=input_shape)
    layers, shapes = [], [tuple(x.shape)]
    for i, name in enumerate(_layer_names(cfg)):
        if cfg.model.layers[i].class_name in application_names():  # built for the shape it is given
            layer = build_application(cfg, i, name, shapes[-1][1:], pretrained)
        else:
            layer = build_layer(cfg, i, name, **({"dtype": "float32"} if i == last and output_float32 else {}))
        x = _trace(cfg, i, layer, x, shapes[-1])
        layers.append(layer)
        shapes.append(tuple(x.shape))
    _check_classifier_output(cfg, layers, shapes, info)
    return keras.Sequential([keras.Input(shape=input_shape), *layers], name=cfg.name)


def compiled_model(
    cfg: LocatedConfig, info: DatasetInfo, *, pretrained: bool = True, check_only: bool = False
) -> tuple[keras.Model, dict | None]:
    """The model of `cfg`, seeded, with `model.init_from`'s weights copied and `model.freeze`'s
    layers frozen, compiled: what training, every search trial and `check` start from. Also
    what transfer learning copied and froze, for the manifest (None when the config asks for
    neither). `check_only` turns a source run that is not trained yet into a note."""
    keras.utils.set_random_seed(cfg.seed)  # the same config always starts from the same weights
    model = build_model(cfg, info, pretrained)
    transfer = initialise(cfg, model, check_only)  # trainable flags must be set before compiling
    compile_model(model, cfg)
    return model, transfer


def _layer_names(cfg: LocatedConfig) -> list[str]:
    """Keras-style names numbered within this model (conv2d, conv2d_1, ...), stable across runs."""
    counts: dict[str, int] = {}
    names = []
    for spec in cfg.model.layers:
        base = re.sub(r"(?<!^)(?<![0-9A-Z])(?=[A-Z])", "_", spec.class_name).lower()
        seen = counts.get(base, 0)
        counts[base] = seen + 1
        names.append(base if seen == 0 else f"{base}_{seen}")
    return names


def _trace(cfg: LocatedConfig, index: int, layer, x, input_shape: tuple):
    """The layer called on the symbolic `x`: a shape Keras refuses, or an empty output, is
    reported at this layer."""
    spec = cfg.model.layers[index]
    where = ("model", "layers", index, spec.class_name)
    try:
        y = layer(x)
    except Exception as error:  # Keras raises ValueError, TypeError or backend errors here
        raise ConfigError(
            cfg.problem(
                where,
                f"cannot take an input of shape {input_shape}: {keras_message(error)}",
                _shape_hint(spec.class_name, input_shape),
            )
        ) from None
    shape = tuple(y.shape)
    if any(d is not None and d <= 0 for d in shape[1:]):
        raise ConfigError(
            cfg.problem(
                where,
                f"turns the input {input_shape} into an empty output {shape}",
                _shape_hint(spec.class_name, input_shape),
            )
        )
    return y


def _shape_hint(class_name: str, input_shape: tuple) -> str:
    if "Pooling" in class_name or "Conv" in class_name:
        return "the feature map is too small here: remove a pooling layer or use padding: same"
    if len(input_shape) > 2 and class_name in ("Dense", "Softmax"):
        return _FLATTENERS
    return ""


def _check_classifier_output(cfg: LocatedConfig, layers: list, shapes: list, info: DatasetInfo):
    output = shapes[-1]
    last = len(layers) - 1
    last_path = ("model", "layers", last, cfg.model.layers[last].class_name)
    if len(output) != 2:
        first_dense = next(
            (i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Dense) and len(shapes[i]) > 2), None
        )
        if first_dense is not None:
            name = cfg.model.layers[first_dense].class_name
            raise ConfigError(
                cfg.problem(
                    ("model", "layers", first_dense, name),
                    f"Dense on a {len(shapes[first_dense])}-D input {shapes[first_dense]} works pixel "
                    f"by pixel, so the model outputs {output} instead of one score per class",
                    _FLATTENERS,
                )
            )
        raise ConfigError(
            cfg.problem(
                last_path,
                f"the model outputs shape {output}; a classifier needs (None, {info.num_classes})",
                f"end with Flatten, then Dense with units: {info.num_classes}",
            )
        )
    width = output[1]
    if info.num_classes is None:  # an image folder not there yet: its classes are unknown
        return
    binary = info.num_classes == 2 and width == 1 and "binary" in cfg.train.loss
    if width != info.num_classes and not binary:
        path = last_path + (("units",) if "units" in cfg.model.layers[last].arguments else ())
        raise ConfigError(
            cfg.problem(
                path,
                f"the last layer gives {width} outputs but {info.name} has {info.num_classes} classes",
                f"set units: {info.num_classes}",
            )
        )
