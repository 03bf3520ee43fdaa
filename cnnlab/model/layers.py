"""Layer specs -> Keras layers, through Keras' own classes, with located errors.

Every class in `keras.layers` works without cnnlab code per layer: the YAML key is the class
name, the YAML mapping its constructor arguments (checked by `factory.instantiate`).

    >>> from cnnlab.config import LocatedConfig
    >>> cfg = LocatedConfig.model_validate(
    ...     {"name": "x", "model": {"layers": [{"Dense": {"units": 3}}]}})
    >>> build_layer(cfg, 0).units
    3
"""

from __future__ import annotations

from typing import Any

import keras

from cnnlab.config import LocatedConfig
from cnnlab.errors import ConfigError, did_you_mean
from cnnlab.model.applications import application_names
from cnnlab.model.factory import instantiate, public_classes

_SET_BY_CNNLAB = {
    "input_shape": "the input shape comes from the data set; set model.input_shape to change it",
    "input_dim": "the input shape comes from the data set; set model.input_shape to change it",
    "batch_input_shape": "the batch size is train.batch_size",
}


def layer_classes() -> dict[str, type]:
    """Every public layer class of `keras.layers`, by class name."""
    classes = dict(public_classes(keras.layers, keras.layers.Layer))
    classes.pop("InputLayer", None)  # the input comes from the data set
    return classes


def build_layer(cfg: LocatedConfig, index: int, name: str | None = None, **fixed: Any) -> keras.layers.Layer:
    """Instantiate `cfg.model.layers[index]`; raise a located `ConfigError` if Keras would refuse it."""
    spec = cfg.model.layers[index]
    where = ("model", "layers", index, spec.class_name)
    cls = layer_classes().get(spec.class_name)
    if cls is None:
        known = [*layer_classes(), *application_names()]
        hint = did_you_mean(spec.class_name, known) or "see keras.layers, and keras.applications for whole models"
        raise ConfigError(cfg.problem(where, f"unknown layer {spec.class_name!r}", hint))
    arguments = dict(spec.arguments)
    if name and "name" not in arguments:
        arguments["name"] = name
    return instantiate(cfg, where, cls, {**arguments, **fixed}, _SET_BY_CNNLAB)
