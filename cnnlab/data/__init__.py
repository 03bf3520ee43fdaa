"""Data sets: metadata from the registry, examples from one source module per kind."""

from __future__ import annotations

from cnnlab.config import LocatedConfig
from cnnlab.data.registry import BUILTIN, DatasetInfo
from cnnlab.errors import ConfigError, did_you_mean
from cnnlab.schema import SyntheticSpec

__all__ = ["DatasetInfo", "dataset_info", "KNOWN_NAMES"]

KNOWN_NAMES = (*BUILTIN, "synthetic")


def dataset_info(cfg: LocatedConfig) -> DatasetInfo:
    """Input shape, class count and class names of `cfg.data`, without loading any example.

    >>> from cnnlab.schema import RunConfig
    >>> dataset_info(LocatedConfig.model_validate({"name": "x", "model": {"layers": ["Flatten"]}})).input_shape
    (28, 28, 1)
    """
    name = cfg.data.dataset
    if name in BUILTIN:
        return BUILTIN[name]
    if name == "synthetic":
        spec = cfg.data.synthetic or SyntheticSpec()
        names = tuple(f"class_{i}" for i in range(spec.num_classes))
        return DatasetInfo("synthetic", tuple(spec.input_shape), spec.num_classes, names)
    hint = did_you_mean(name, KNOWN_NAMES) or "known: " + ", ".join(KNOWN_NAMES)
    raise ConfigError(cfg.problem(("data", "dataset"), f"unknown data set {name!r}", hint))
