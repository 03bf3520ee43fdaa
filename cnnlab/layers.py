"""Layer specs -> Keras layers, through Keras' own classes, with located errors.

Every class in `keras.layers` works without cnnlab code per layer: the YAML key is the class
name, the YAML mapping its constructor arguments. Names and arguments are checked against Keras'
own class list and signatures first, so a typo gets a "did you mean" instead of a traceback.

    >>> from cnnlab.config import LocatedConfig
    >>> cfg = LocatedConfig.model_validate(
    ...     {"name": "x", "model": {"layers": [{"Dense": {"units": 3}}]}})
    >>> build_layer(cfg, 0).units
    3
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import keras

from cnnlab.config import LocatedConfig
from cnnlab.errors import ConfigError, did_you_mean

# Arguments whose string or {Name: {...}} value names a Keras object, and where Keras looks it up.
_OBJECT_ARGUMENTS = {
    "activation": keras.activations,
    "recurrent_activation": keras.activations,
    "initializer": keras.initializers,
    "regularizer": keras.regularizers,
    "constraint": keras.constraints,
}
_SET_BY_CNNLAB = {
    "input_shape": "the input shape comes from the data set; set model.input_shape to change it",
    "input_dim": "the input shape comes from the data set; set model.input_shape to change it",
    "batch_input_shape": "the batch size is train.batch_size",
}


@functools.cache
def layer_classes() -> dict[str, type]:
    """Every public layer class of `keras.layers`, by class name."""
    found = {}
    for name in dir(keras.layers):
        value = getattr(keras.layers, name)
        if (inspect.isclass(value) and issubclass(value, keras.layers.Layer)
                and name not in ("Layer", "InputLayer")):
            found[name] = value
    return found


@functools.cache
def allowed_arguments(cls: type) -> frozenset[str]:
    """Constructor arguments of a layer class, its Keras base classes' included."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not (isinstance(klass, type) and issubclass(klass, keras.layers.Layer)):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in parameters
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return frozenset(names)


def build_layer(cfg: LocatedConfig, index: int, name: str | None = None) -> keras.layers.Layer:
    """Instantiate `cfg.model.layers[index]`; raise a located `ConfigError` if Keras would refuse it."""
    spec = cfg.model.layers[index]
    where = ("model", "layers", index, spec.class_name)
    cls = layer_classes().get(spec.class_name)
    if cls is None:
        hint = did_you_mean(spec.class_name, layer_classes()) or "see the layers listed in keras.layers"
        raise ConfigError(cfg.problem(where, f"unknown layer {spec.class_name!r}", hint))
    allowed = allowed_arguments(cls)
    arguments: dict[str, Any] = {}
    for key, value in spec.arguments.items():
        if key in _SET_BY_CNNLAB:
            raise ConfigError(cfg.problem((*where, key), "not a layer argument in cnnlab",
                                          _SET_BY_CNNLAB[key]))
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f"{spec.class_name} takes: " + ", ".join(sorted(allowed))
            raise ConfigError(cfg.problem((*where, key), f"unknown argument of {spec.class_name}", hint))
        arguments[key] = _resolve_object(cfg, (*where, key), value)
    if name and "name" not in arguments:
        arguments["name"] = name
    try:
        return cls(**arguments)
    except (ValueError, TypeError) as error:
        message = keras_message(error)
        named = [key for key in spec.arguments if re.search(rf"\b{re.escape(key)}\b", message)]
        path = (*where, named[0]) if named else where
        raise ConfigError(cfg.problem(path, f"Keras refuses this value: {message}")) from None


def _resolve_object(cfg: LocatedConfig, path: tuple, value: Any) -> Any:
    """Check activation/initializer/regularizer/constraint names; build {Name: {args}} forms."""
    key = str(path[-1])
    kind = next((k for k in _OBJECT_ARGUMENTS if key == k or key.endswith("_" + k)), None)
    if kind is None or value is None or not isinstance(value, (str, dict)):
        return value
    module = _OBJECT_ARGUMENTS[kind]
    if isinstance(value, dict):
        if len(value) != 1:
            raise ConfigError(cfg.problem(path, f"a {kind} is a name or a one-key mapping",
                                          "for example {L2: {l2: 1.0e-4}}"))
        ((class_name, config),) = value.items()
        value = {"class_name": class_name, "config": dict(config or {})}
    try:
        return module.get(value)
    except (ValueError, TypeError) as error:
        wanted = value if isinstance(value, str) else value["class_name"]
        choices = [n for n in dir(module) if not n.startswith("_") and n not in ("get", "serialize", "deserialize")]
        hint = did_you_mean(str(wanted), choices)
        raise ConfigError(cfg.problem(path, f"unknown {kind} {wanted!r}" if hint or isinstance(value, str)
                                      else f"Keras refuses this {kind}: {keras_message(error)}",
                                      hint)) from None


def keras_message(error: BaseException) -> str:
    """The sentence that matters from a Keras error: no ANSI colours, no argument dump."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    text = text.split("\n\nArguments received by", 1)[0]
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith("Exception encountered when calling")]
    return " ".join(lines)
