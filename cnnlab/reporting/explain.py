"""Where a network looks (Grad-CAM) and what its filters respond to (patterns by gradient ascent).

Both need gradients of an inner layer's output, which a Keras 3 `Sequential` model does not
expose: `functional_view` calls the same layer objects (weights shared, nothing copied) on a new
`Input` and returns the inner output beside the final one. The gradients come from the backend
Keras runs on: TensorFlow's `GradientTape`, or `jax.grad`.

Grad-CAM (Selvaraju et al., 2017): the class score's gradients with respect to the last
convolutional layer's maps, averaged over the map, weight those maps; their positive sum,
upsampled onto the input, is where the evidence for the class lies. The class score is taken
before the final softmax or sigmoid, where its gradient has not saturated.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from cnnlab.errors import ConfigError, RunError, did_you_mean
from cnnlab.model.applications import SCALING_SUFFIX
from cnnlab.scores import predicted_classes


def conv_layers(model) -> list:
    """The convolution layers whose outputs are 2-D maps (Conv2D, SeparableConv2D, ...), in
    order, including those inside a whole model used as one layer (a Keras Application), but not
    the fixed input scaling cnnlab puts in front of one."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += conv_layers(layer)
        elif "Conv" in type(layer).__name__ and len(layer.output.shape) == 4:
            if not layer.name.endswith(SCALING_SUFFIX):
                found.append(layer)
    return found


def functional_view(model, inner):
    """A `keras.Model` over `model`'s own layers (weights shared) with two outputs: `inner`'s,
    wherever it is, and the last layer's."""
    inputs = keras.Input(model.input_shape[1:])
    inner_output, output = _through(model, inner, inputs)
    return keras.Model(inputs, [inner_output, output])


def _through(container, inner, x):
    """`container` called on `x`: (inner's output, the container's output). A functional model
    that holds `inner` itself gives both from its own graph (an application's is not a chain);
    otherwise the layers are called in order (a Sequential, or cnnlab's wrapper of an
    application), going into the one that holds `inner`."""
    if not isinstance(container, keras.Sequential) and any(layer is inner for layer in container.layers):
        return keras.Model(container.inputs, [inner.output, container.outputs[0]])(x)
    inner_output = None
    for layer in container.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if layer is inner:
            x = inner_output = layer(x)
        elif isinstance(layer, keras.Model) and _holds(layer, inner):
            inner_output, x = _through(layer, inner, x)
        else:
            x = layer(x)
    return inner_output, x


def _holds(container, inner) -> bool:
    return any(
        layer is inner or (isinstance(layer, keras.Model) and _holds(layer, inner)) for layer in container.layers
    )


@contextlib.contextmanager
def linear_activation(layer):
    """Temporarily drop `layer`'s activation (softmax, relu, ...): gradients of the raw scores."""
    saved = getattr(layer, "activation", None)
    if saved is not None:
        layer.activation = keras.activations.linear
    try:
        yield
    finally:
        if saved is not None:
            layer.activation = saved


def gradcam(model, x: np.ndarray, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Heat maps (N, H, W) in [0, 1] at the input's size for the examples `x` (model inputs, i.e.
    preprocessed), for `classes` (default: each example's predicted class); and those classes."""
    convs = conv_layers(model)
    if not convs:
        raise RunError(f"{model.name}: the model has no convolutional layer, so Grad-CAM has no maps to weight")
    view = functional_view(model, convs[-1])
    to_maps, head = keras.Model(view.input, view.outputs[0]), _head(model, convs[-1])
    with linear_activation(model.layers[-1]):
        maps = keras.ops.convert_to_numpy(to_maps(np.asarray(x, np.float32), training=False))
        scores = keras.ops.convert_to_numpy(head(maps))
        classes = np.asarray(predicted_classes(scores) if classes is None else classes, dtype=np.int64)
        if scores.shape[-1] == 1:  # one sigmoid unit: its score is evidence for class 1, against class 0
            pick = np.where(classes == 1, 1.0, -1.0)[:, None].astype(np.float32)
        else:
            pick = np.eye(scores.shape[-1], dtype=np.float32)[classes]
        # The examples do not mix (inference mode), so the gradient of the sum is each one's own.
        gradients = gradient(lambda m: keras.ops.sum(head(m) * pick), maps)
    weights = gradients.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((maps * weights).sum(axis=-1, keepdims=True), 0.0)
    cam = keras.ops.convert_to_numpy(keras.ops.image.resize(cam, x.shape[1:3], interpolation="bilinear"))[..., 0]
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, cam / np.where(peak > 0, peak, 1), 0.0).astype(np.float32), classes


def _head(container, inner):
    """The part of `container` after `inner`, as a function of `inner`'s output (inference
    mode): what Grad-CAM differentiates. Inside a functional model (an application) it is that
    model's own graph from `inner` on; in a chain, the layers after the one holding `inner`."""
    if not isinstance(container, keras.Sequential) and any(layer is inner for layer in container.layers):
        return keras.Model(inner.output, container.outputs[0])  # Keras copies the graph between the two
    layers = [layer for layer in container.layers if not isinstance(layer, keras.layers.InputLayer)]
    at = next(
        i for i, layer in enumerate(layers) if layer is inner or isinstance(layer, keras.Model) and _holds(layer, inner)
    )
    first = (lambda m: m) if layers[at] is inner else _head(layers[at], inner)

    def rest(maps):
        x = first(maps)
        for layer in layers[at + 1 :]:
            x = layer(x, training=False)
        return x

    return rest


def gradient(function, x: np.ndarray) -> np.ndarray:
    """The gradient of the scalar `function(x)` with respect to the array `x`, by whichever
    backend Keras runs on (TensorFlow's tape, JAX's `grad`).

    >>> import keras
    >>> gradient(lambda v: keras.ops.sum(v * v), np.array([1.0, 2.0], np.float32)).tolist()
    [2.0, 4.0]
    """
    if keras.backend.backend() == "jax":
        import jax  # the backend Keras runs on: only then installed for sure

        return np.asarray(jax.grad(function)(x))
    import tensorflow as tf  # the default backend

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = function(x)
    return tape.gradient(value, x).numpy()


def conv_layer(model, layer_name: str | None = None):
    """The convolution layer named `layer_name` (default: the last), or a refusal naming the
    argument and the layers there are.

    >>> layers = [keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c1"), keras.layers.Conv2D(2, 3, name="c2")]
    >>> model = keras.Sequential(layers)
    >>> conv_layer(model).name, conv_layer(model, "c1").name
    ('c2', 'c1')
    """
    convs = conv_layers(model)
    if not convs:
        raise RunError(f"{model.name}: the model has no convolutional layer, so it has no filters to show")
    names = [layer.name for layer in convs]
    if layer_name is None:
        return convs[-1]
    if layer_name not in names:
        hint = did_you_mean(layer_name, names) or "its conv layers: " + ", ".join(names)
        raise ConfigError.at("layer", f"{layer_name}: not a convolutional layer of this model", hint=hint)
    return convs[names.index(layer_name)]


def filter_patterns(model, preprocessing, layer_name: str | None = None, steps: int = 60) -> tuple[np.ndarray, str]:
    """For each filter of a conv layer (default: the last), the input that most excites it, found by
    gradient ascent from a grey image: (filters, h, w, C) raw pixel values 0-255, cropped to the
    pixels that moved (the receptive field of the unit), and the layer name.

    What is maximised is the filter's pre-activation at the centre of its map (a ReLU's flat side
    would give a grey start no gradient). Its mean over the whole map would not do: for a first
    layer that is a linear function of every pixel alike, maximised by a flat black or white
    image. The step is normalised per image; the image is pulled a little towards grey and kept
    within the pixel range, which keeps the pictures readable."""
    layer = conv_layer(model, layer_name)
    view = functional_view(model, layer)
    to_maps = keras.Model(view.input, view.outputs[0])
    count, shape = layer.output.shape[-1], model.input_shape[1:]
    low, high, grey = (preprocessing.apply(np.full((1, *shape), v, np.uint8)) for v in (0, 255, 128))
    x = np.repeat(grey, count, axis=0).astype(np.float32)
    step = 0.05 * float(np.mean(high - low))
    one_hot = np.eye(count, dtype=np.float32)  # filter i for image i

    def excitement(images):
        maps = to_maps(images, training=False)
        return keras.ops.sum(maps[:, maps.shape[1] // 2, maps.shape[2] // 2, :] * one_hot)

    with linear_activation(layer):
        for _ in range(steps):
            ascent = gradient(excitement, x)
            ascent /= np.sqrt(np.mean(np.square(ascent), axis=(1, 2, 3), keepdims=True)) + 1e-8
            x = np.clip(grey + 0.98 * (x + step * ascent - grey), low, high).astype(np.float32)
    raw = np.clip(preprocessing.invert(x), 0.0, 255.0)  # rounding of the inverse, not the picture
    return _crop_to_change(raw, preprocessing.invert(grey)), layer.name


def _crop_to_change(images: np.ndarray, grey: np.ndarray, margin: int = 1) -> np.ndarray:
    """The smallest window (plus `margin`) holding every pixel that any image moved from grey."""
    moved = np.abs(images - grey).max(axis=(0, 3)) > 1.0
    if not moved.any():
        return images
    rows, columns = np.flatnonzero(moved.any(axis=1)), np.flatnonzero(moved.any(axis=0))
    top, left = max(rows[0] - margin, 0), max(columns[0] - margin, 0)
    return images[:, top : rows[-1] + margin + 1, left : columns[-1] + margin + 1]
