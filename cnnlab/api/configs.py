"""The configs the API takes: a YAML file's path, or a mapping in the YAML's shape (a notebook
writes it inline), with overrides as `--set` texts or a mapping of dotted keys to values.

    >>> resolve({"model": {"layers": ["Flatten"]}}, {"train.epochs": 1}, name="demo").name
    'demo'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cnnlab.config import LocatedConfig, load_config
from cnnlab.errors import ConfigError

Config = str | os.PathLike | Mapping[str, Any]
Overrides = Mapping[str, Any] | Iterable[str] | None


def resolve(config: Config, overrides: Overrides = None, name: str | None = None) -> LocatedConfig:
    """The validated config; a mistake raises `ConfigError` at its file and line, or at its key
    for a mapping. `name` names the run (its folder under `runs/`): a mapping without one is
    called "notebook"."""
    if isinstance(config, Mapping):
        config = {**config, **({"name": name} if name else {})}
        config.setdefault("name", "notebook")
    elif name:
        overrides = with_override(overrides, "name", name)
    try:
        return load_config(config if isinstance(config, Mapping) else Path(config), overrides or ())
    except ConfigError as error:
        if not name or isinstance(config, Mapping):
            raise
        # a refused name is this argument's, not one of the overrides it was passed down as
        raise ConfigError(
            [replace(p, file=None) if (p.file, p.key) == ("overrides", "name") else p for p in error.problems]
        ) from None


def with_override(overrides: Overrides, key: str, value: Any) -> Overrides:
    """`overrides` and one more (the last word on `key`), in the form they came in.

    >>> with_override(["seed=1"], "train.epochs", 4), with_override(None, "seed", 2)
    (['seed=1', 'train.epochs=4'], ['seed=2'])
    """
    if isinstance(overrides, Mapping):
        return {**overrides, key: value}
    return [*(overrides or ()), f"{key}={value}"]


def label(config: Config) -> str:
    """How a config is named in messages and tables: its path, or the run name of a mapping."""
    return str(config.get("name", "notebook")) if isinstance(config, Mapping) else str(config)
