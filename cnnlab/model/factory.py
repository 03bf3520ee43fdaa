"""Keras objects by name, with located errors: any class a Keras module exports, built from a
config mapping after its argument names are checked against Keras' own signatures, so a typo gets
a "did you mean" at its line instead of a traceback.

Layers, optimizers, schedules, callbacks, regularizers and initializers are all made here.

    >>> from cnnlab.config import LocatedConfig
    >>> cfg = LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]}})
    >>> instantiate(cfg, ("model",), keras.layers.Dense, {"units": 3}).units
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


@functools.cache
def public_classes(module, base: type) -> dict[str, type]:
    """Every public subclass of `base` that `module` exports (keras.layers, keras.callbacks, ...)."""
    found = {}
    for name in dir(module):
        value = getattr(module, name)
        if inspect.isclass(value) and issubclass(value, base) and value is not base:
            found[name] = value
    return found


def keras_names(module) -> list[str]:
    """The public names of a Keras lookup module (keras.activations, keras.losses, ...), for
    "did you mean" suggestions; its own get/serialize/deserialize left out."""
    return [n for n in dir(module) if not n.startswith("_") and n not in ("get", "serialize", "deserialize")]


@functools.cache
def allowed_arguments(cls: type) -> frozenset[str]:
    """Constructor arguments of a Keras class, including those its `**kwargs` pass to its bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters.values()
        names |= {
            p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return frozenset(names)


def _required_arguments(cls: type) -> list[str]:
    """The arguments `cls` cannot be made without (no default value)."""
    try:
        parameters = inspect.signature(cls.__init__).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in parameters if p.kind in kinds and p.default is p.empty and p.name != "self"]


def instantiate(
    cfg: LocatedConfig, where: tuple, cls: type, arguments: dict[str, Any], refused: dict[str, str] | None = None
) -> Any:
    """`cls(**arguments)` after checking each argument name against the signature; any refusal
    (ours or Keras') becomes a `ConfigError` located at the argument or at `where`."""
    allowed = allowed_arguments(cls)
    resolved: dict[str, Any] = {}
    for key, value in arguments.items():
        if refused and key in refused:
            raise ConfigError(cfg.problem((*where, key), "not an argument cnnlab accepts here", refused[key]))
        if key not in allowed:
            hint = did_you_mean(key, allowed) or f"{cls.__name__} takes: " + ", ".join(sorted(allowed))
            raise ConfigError(cfg.problem((*where, key), f"unknown argument of {cls.__name__}", hint))
        resolved[key] = _resolve_object(cfg, (*where, key), value)
    lacking = [name for name in _required_arguments(cls) if name not in resolved]
    if lacking:
        raise ConfigError(
            cfg.problem(where, f"{cls.__name__} needs {' and '.join(lacking)}", f"give {lacking[0]}: VALUE")
        )
    try:
        return cls(**resolved)
    except (ValueError, TypeError) as error:
        message = keras_message(error)
        named = [key for key in arguments if re.search(rf"\b{re.escape(key)}\b", message)]
        path = (*where, named[0]) if named else where
        # cnnlab's own classes (the run schedules) speak for themselves, not for Keras.
        who = "Keras" if cls.__module__.startswith("keras") else cls.__name__
        raise ConfigError(cfg.problem(path, f"{who} refuses this value: {message}")) from None


def _resolve_object(cfg: LocatedConfig, path: tuple, value: Any) -> Any:
    """Check activation/initializer/regularizer/constraint names; build {Name: {args}} forms."""
    key = str(path[-1])
    kind = next((k for k in _OBJECT_ARGUMENTS if key == k or key.endswith("_" + k)), None)
    if kind is None or value is None or not isinstance(value, (str, dict)):
        return value
    module = _OBJECT_ARGUMENTS[kind]
    if isinstance(value, dict):
        if kind in ("activation", "recurrent_activation"):  # functions: nothing to configure
            raise ConfigError(cfg.problem(path, "an activation is given by its name", "for example activation: relu"))
        class_name, config = named_arguments(cfg, path, value, f"a {kind}", "{L2: {l2: 1.0e-4}}")
        cls = getattr(module, class_name, None) if class_name in keras_names(module) else None
        if inspect.isclass(cls):  # a known class: its arguments are checked like a layer's
            return instantiate(cfg, (*path, class_name), cls, config)
        value = {"class_name": class_name, "config": config}
    wanted = value if isinstance(value, str) else value["class_name"]
    try:
        return module.get(value)
    except (ValueError, TypeError):
        hint = did_you_mean(str(wanted), keras_names(module))
        raise ConfigError(cfg.problem(path, f"unknown {kind} {wanted!r}", hint)) from None


def named_arguments(cfg: LocatedConfig, path: tuple, value: dict, what: str, example: str) -> tuple[str, dict]:
    """`{Name: {argument: value}}` -> (Name, arguments), or a located error that shows `example`:
    the form every Keras object with arguments takes in a config (regularizers, schedules)."""
    if len(value) != 1:
        raise ConfigError(cfg.problem(path, f"{what} is a name or a one-key mapping", f"for example {example}"))
    ((name, arguments),) = value.items()
    if arguments is not None and not isinstance(arguments, dict):  # located at the name they follow
        raise ConfigError(
            cfg.problem(
                (*path, name), f"the arguments of {name} must be a mapping, not {arguments!r}", f"for example {example}"
            )
        )
    return str(name), dict(arguments or {})


def keras_message(error: BaseException) -> str:
    """The sentence that matters from a Keras error: no ANSI colours, no argument dump."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    text = text.split("\n\nArguments received by", 1)[0]
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("Exception encountered when calling")
    ]
    return " ".join(lines)
