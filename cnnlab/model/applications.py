"""Keras Applications as one layer of the stack: `- MobileNetV2: {include_top: false,
weights: imagenet, pooling: avg}`, any `keras.applications` model by its name.

The application is built for the shape that reaches it, inside a small functional model named
like any other layer, so `model.freeze` and `init_from` treat the whole base as one layer.
With pretrained weights the images must look as they did in its training: the application's
own `preprocess_input` (MobileNetV2 wants [-1, 1], VGG16 BGR minus the ImageNet means, ...) is
measured once as the per-channel affine map it is, and becomes a fixed 1x1 convolution in
front of the base, fed from what `data.preprocess` gives. One argument, `preprocess_input:
false`, leaves it out. Without weights (`weights: null`) there is nothing to match.

    >>> "MobileNetV2" in application_names()
    True
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from pathlib import Path

import keras
import numpy as np

from cnnlab.config import LocatedConfig
from cnnlab.data.builtin import keras_home
from cnnlab.errors import ConfigError, did_you_mean
from cnnlab.model.factory import keras_message

_SET_BY_CNNLAB = {
    "input_shape": "the input shape is what the layers before it give",
    "input_tensor": "the input is what the layers before it give",
    "name": "the layer is named after its class, as every layer is",
}
_PIXEL_RANGE = {"scale": 1.0, "none": 255.0}  # data.preprocess -> the model input that means white
SCALING_SUFFIX = "_preprocess_input"  # the fixed first layer inside an application's layer


@functools.cache
def application_names() -> tuple[str, ...]:
    """Every model constructor in `keras.applications` (MobileNetV2, ResNet50, VGG16, ...)."""
    return tuple(n for n in dir(keras.applications) if n[:1].isupper() and callable(getattr(keras.applications, n)))


def build_application(
    cfg: LocatedConfig, index: int, name: str, input_shape: tuple, pretrained: bool = True
) -> keras.Model:
    """`cfg.model.layers[index]`, an application, built for `input_shape` (no batch axis);
    with `pretrained=False` its weights are not loaded (nothing is downloaded)."""
    spec = cfg.model.layers[index]
    where = ("model", "layers", index, spec.class_name)
    constructor = getattr(keras.applications, spec.class_name)
    arguments = dict(spec.arguments)
    scale_input = arguments.pop("preprocess_input", True)
    _check_arguments(cfg, where, constructor, arguments)
    weights = arguments.get("weights", "imagenet")  # Keras' default
    if weights not in (None, "imagenet") and not Path(str(weights)).is_file():
        raise ConfigError(
            cfg.problem((*where, "weights"), f"no weights file {weights}", "give imagenet, null or a .h5 file")
        )
    if not pretrained and weights is not None:
        _check_channels(cfg, where, input_shape)  # what Keras checks for pretrained weights
    try:
        base = constructor(input_shape=tuple(input_shape), **{**arguments, **({} if pretrained else {"weights": None})})
    except ValueError as error:
        raise ConfigError(_input_problem(cfg, where, keras_message(error), input_shape)) from None
    except Exception as error:  # Keras' downloader raises a bare Exception when offline
        if weights != "imagenet":
            raise
        raise ConfigError(_download_problem(cfg, (*where, "weights"), spec.class_name, str(error))) from None
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if weights is not None and scale_input:
        x = _input_scaling(cfg, where, constructor, input_shape, name)(x)
    return keras.Model(inputs, base(x), name=name)


def _check_arguments(cfg: LocatedConfig, where: tuple, constructor, arguments: dict) -> None:
    allowed = set(inspect.signature(constructor).parameters) - set(_SET_BY_CNNLAB)
    for key in arguments:
        if key in _SET_BY_CNNLAB:
            raise ConfigError(cfg.problem((*where, key), "not an argument cnnlab accepts here", _SET_BY_CNNLAB[key]))
        if key not in allowed:
            hint = did_you_mean(key, allowed) or "it takes: " + ", ".join(sorted(allowed | {"preprocess_input"}))
            raise ConfigError(cfg.problem((*where, key), f"unknown argument of {where[-1]}", hint))


def _input_problem(cfg: LocatedConfig, where: tuple, message: str, input_shape: tuple):
    """Keras' refusal of an input shape, with the layer that fixes it."""
    size = re.search(r"at least (\d+)x(\d+)", message)
    if size:
        height, width = size.groups()
        hint = f"add - Resizing: {{height: {height}, width: {width}}} before it (or larger: most were trained at 224)"
    elif "channels" in message:
        hint = (
            f"its input has {input_shape[-1]} channel(s): for an image folder set data.color_mode: rgb; "
            "for grayscale data add - Conv2D: {filters: 3, kernel_size: 1} before it"
        )
    else:
        hint = ""
    return cfg.problem(where, f"cannot take an input of shape {tuple(input_shape)}: {message}", hint)


def _check_channels(cfg: LocatedConfig, where: tuple, input_shape: tuple) -> None:
    if input_shape[-1] != 3:
        raise ConfigError(_input_problem(cfg, where, "pretrained weights take 3 channels", input_shape))


def _download_problem(cfg: LocatedConfig, where: tuple, class_name: str, message: str):
    found = re.search(r"URL fetch failure on (\S+?):? ", message)
    file = found.group(1).rsplit("/", 1)[-1] if found else "its weights file"
    cache = keras_home() / "models"  # where Keras' get_file caches application weights
    return cfg.problem(
        where,
        f"Keras could not download {class_name}'s ImageNet weights ({message.split(' -- ')[-1].strip()})",
        f"put {file} in {cache}, where Keras looks first, or give weights: path/to/{file}",
    )


def _input_scaling(cfg: LocatedConfig, where: tuple, constructor, input_shape: tuple, name: str):
    """A fixed 1x1 convolution doing what the application's `preprocess_input` does, from the
    model's input as `data.preprocess` leaves it."""
    if cfg.data.preprocess not in _PIXEL_RANGE:
        raise ConfigError(
            cfg.problem(
                ("data", "preprocess"),
                f"{cfg.data.preprocess} hides the pixel values that {where[-1]}'s pretrained weights expect",
                f"set data.preprocess: scale (cnnlab then feeds {where[-1]} what it was trained on), "
                "or preprocess_input: false on the layer",
            )
        )
    _check_channels(cfg, where, input_shape)
    try:
        matrix, offset = preprocess_affine(constructor)
    except ValueError as error:
        hint = "set preprocess_input: false and scale its input yourself"
        raise ConfigError(cfg.problem(where, str(error), hint)) from None
    matrix = matrix * (255.0 / _PIXEL_RANGE[cfg.data.preprocess])
    layer = keras.layers.Conv2D(3, 1, trainable=False, name=f"{name}{SCALING_SUFFIX}")
    layer.build((None, *input_shape))
    layer.set_weights([matrix.T.reshape(1, 1, 3, 3).astype("float32"), offset.astype("float32")])
    return layer


def keep_scaling_fixed(model: keras.Model) -> None:
    """Make every application's input scaling untrainable again: making its whole layer
    trainable (fine-tuning) must not make `preprocess_input` something to learn."""
    for layer in model._flatten_layers(include_self=False):
        if layer.name.endswith(SCALING_SUFFIX):
            layer.trainable = False


def preprocess_affine(constructor) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with preprocess_input(x) == A @ x + b for RGB pixel values x in [0, 255], measured
    on the application's own function; checked on random pixels, since it must be affine.

    >>> a, b = preprocess_affine(keras.applications.MobileNetV2)  # [0, 255] -> [-1, 1]
    >>> np.round(np.diag(a), 5).tolist(), b.tolist()
    ([0.00784, 0.00784, 0.00784], [-1.0, -1.0, -1.0])
    """
    function = sys.modules[constructor.__module__].preprocess_input
    probes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32) * 255.0
    out = np.asarray(function(probes.reshape(1, 1, 4, 3).copy()), np.float64).reshape(4, 3)
    offset = out[0]
    matrix = (out[1:] - offset).T / 255.0  # column j: what one unit of channel j adds
    pixels = np.random.default_rng(0).uniform(0, 255, (16, 3)).astype(np.float32)
    expected = np.asarray(function(pixels.reshape(1, 1, 16, 3).copy()), np.float64).reshape(16, 3)
    if not np.allclose(pixels @ matrix.T + offset, expected, atol=1e-3):
        raise ValueError(f"{constructor.__name__}'s preprocess_input is not a per-pixel affine map")
    return matrix, offset
