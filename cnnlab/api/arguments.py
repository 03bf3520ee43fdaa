"""The API's boundary: every public function and method checks the types of its arguments
against its own signature before it does anything, and a wrong one raises `ConfigError` naming
the argument, never a `TypeError` from deep inside. The values are checked where they are used
(seeds, paths, names), in the same words the command line gives.

A text is not taken for a list of texts, and True is not taken for a number: both are mistakes
Python lets through silently (`overrides="train.epochs=2"` read letter by letter,
`repeat=True` as one run).

    >>> @checked
    ... def demo(count: int, names: list[str] | None = None): ...
    >>> demo("3")
    Traceback (most recent call last):
    cnnlab.errors.ConfigError: count: expected a whole number, got '3' (str)
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import numbers
import os
import types
import typing
from typing import Any

from cnnlab.errors import ConfigError, Problem, did_you_mean


def checked(function):
    """Refuse arguments the signature of `function` does not allow, and unknown keywords."""
    signature = inspect.signature(function)
    hints: dict[str, Any] | None = None

    @functools.wraps(function)
    def with_checks(*args, **kwargs):
        nonlocal hints
        if hints is None:
            hints = _hints(function)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise _call_error(function, signature, kwargs, error) from None
        for name, value in bound.arguments.items():
            hint = hints.get(name)
            if name != "self" and hint is not None and not allows(hint, value):
                raise ConfigError(
                    Problem(f"expected {describe(hint)}, got {_shown(value)} ({type(value).__name__})", key=name)
                )
        return function(*args, **kwargs)

    return with_checks


def _hints(function) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # an annotation that names what this module cannot see: check nothing
        return {}


def _call_error(function, signature: inspect.Signature, kwargs: dict, error: TypeError) -> ConfigError:
    name = function.__name__
    known = [p for p in signature.parameters if p != "self"]
    unknown = [key for key in kwargs if key not in signature.parameters]
    if unknown:
        close = did_you_mean(unknown[0], known)
        return ConfigError(
            Problem(
                f"{name}() has no argument {unknown[0]!r}",
                key=unknown[0],
                hint=close or f"its arguments: {', '.join(known) or 'none'}",
            )
        )
    return ConfigError(Problem(f"{name}(): {error}", hint=f"its arguments: {', '.join(known) or 'none'}"))


def allows(hint: Any, value: Any) -> bool:
    """Whether `value` is of the annotated type (as far as a check at the boundary can tell:
    the items of a list are checked, a mapping's are not)."""
    origin, parts = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object or isinstance(hint, typing.TypeVar):
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(allows(part, value) for part in parts)
    if origin is typing.Literal:
        return value in parts
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is os.PathLike or hint is os.PathLike[str]:
        return isinstance(value, os.PathLike)
    kind = origin or hint
    if kind in (collections.abc.Callable,):
        return callable(value)
    if not isinstance(kind, type):
        return True  # a construct this check does not know: let the function judge
    if issubclass(kind, (str, bytes)) or not issubclass(kind, collections.abc.Iterable):
        return isinstance(value, kind)
    if isinstance(value, (str, bytes)) or not isinstance(value, kind):
        return False  # a text is not a list of texts
    if issubclass(kind, collections.abc.Mapping) or not parts or not isinstance(value, collections.abc.Sized):
        return True
    return all(allows(parts[0], item) for item in value)


_WORDS = {
    bool: "True or False",
    int: "a whole number",
    float: "a number",
    str: "a text",
    type(None): "None",
}


def describe(hint: Any) -> str:
    """The annotated type in words: "a whole number, or None"."""
    origin, parts = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return ", or ".join(dict.fromkeys(describe(part) for part in parts))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, parts))
    if hint in _WORDS:
        return _WORDS[hint]
    if hint is None:
        return "None"
    if hint is os.PathLike or typing.get_origin(hint) is os.PathLike:
        return "a path"
    kind = origin or hint
    if isinstance(kind, type) and issubclass(kind, collections.abc.Mapping):
        return "a dict"
    if isinstance(kind, type) and issubclass(kind, collections.abc.Iterable) and not issubclass(kind, str):
        return f"a list of {_plural(parts[0])}" if parts else "a list"
    return f"a {getattr(kind, '__name__', str(kind))}"


def _plural(hint: Any) -> str:
    """ "whole numbers", "texts, paths or dicts": what a list of `hint` holds."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        words = list(dict.fromkeys(_plural(part) for part in typing.get_args(hint)))
        return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]
    return describe(hint).removeprefix("a ") + "s"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
