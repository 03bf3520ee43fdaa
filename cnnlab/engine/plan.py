"""The plan of a run: everything that can be checked before a run folder exists, so that a config
mistake found here leaves nothing behind on disk. `cnnlab check` is this plan without the data
and the pretrained weights; `train` and `tune` start from it.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import keras

from cnnlab.config import LocatedConfig
from cnnlab.data import DatasetInfo, dataset_info
from cnnlab.data.prepare import split_sizes
from cnnlab.errors import ConfigError, DataError
from cnnlab.model.applications import application_names
from cnnlab.model.build import compiled_model
from cnnlab.model.compiling import build_callbacks
from cnnlab.runtime import backend, strategies
from cnnlab.runtime.strategies import Strategy
from cnnlab.search import Dimension, check_search


@dataclass(frozen=True)
class Plan:
    """A config made ready to train: its compiled model, its data set's shape and classes, the
    device and strategy it trains on, and the extra callbacks it asks for."""

    cfg: LocatedConfig
    model: keras.Model
    info: DatasetInfo
    device: dict  # what runtime.backend.configure chose, for the manifest
    user_callbacks: list[keras.callbacks.Callback]
    strategy: Strategy = Strategy()
    transfer: dict | None = None  # what model.init_from copied and model.freeze froze
    notes: tuple[str, ...] = ()  # what a check could not see (data or weights not here yet)
    dimensions: tuple[Dimension, ...] = ()  # what `cnnlab tune` varies, when the config has a search

    def trial(self, cfg: LocatedConfig, model: keras.Model) -> Plan:
        """The plan of one search trial: `cfg` (the search's config with the trial's values)
        and its compiled model, on the search's device and data set."""
        return dataclasses.replace(self, cfg=cfg, model=model, user_callbacks=build_callbacks(cfg), transfer=None)


def plan(cfg: LocatedConfig, check_only: bool = False) -> Plan:
    """Set up the device, seed and strategy, check the search if there is one, build and compile
    the model, build the extra callbacks.

    `check_only` (for `cnnlab check`) checks what can be checked without the data and the
    pretrained weights: an image folder that is not there yet and ImageNet weights that are
    not downloaded yet become notes, not errors. Its runtime settings are checked here too:
    `check` starts Keras on TensorFlow whatever the configs say, where `train` checked them
    while choosing the backend (`runtime.startup`)."""
    if check_only:
        strategies.check(cfg)
    device = backend.configure(cfg)
    strategy = Strategy() if check_only else strategies.activate(cfg)
    info = dataset_info(cfg, missing_ok=check_only)
    _check_split_sizes(cfg)
    dimensions = ()
    if cfg.search is not None:  # so that check finds what tune would refuse
        dimensions = tuple(check_search(cfg, functools.partial(compiled_model, info=info, pretrained=not check_only)))
    with strategy.scope():  # mirrored: the variables are made once per device
        model, transfer = compiled_model(cfg, info, pretrained=not check_only, check_only=check_only)
    notes = _unchecked(cfg, info, transfer) if check_only else ()
    device |= {"replicas": strategy.replicas, "processes": strategy.processes}
    return Plan(cfg, model, info, device, build_callbacks(cfg), strategy, transfer, notes, dimensions)


def _unchecked(cfg: LocatedConfig, info: DatasetInfo, transfer: dict | None) -> tuple[str, ...]:
    notes = [transfer["unchecked"]] if transfer and "unchecked" in transfer else []
    if info.num_classes is None:
        notes.append(f"data.path {cfg.data.path} does not exist yet: its classes are not checked")
    for spec in cfg.model.layers:
        if spec.class_name in application_names() and spec.arguments.get("weights", "imagenet") == "imagenet":
            notes.append(f"{spec.class_name}'s ImageNet weights are not loaded here; train downloads them once")
    return tuple(notes)


def _check_split_sizes(cfg: LocatedConfig) -> None:
    """Refuse a validation split that would leave a split empty, when the training-set size is
    known without loading (a limit, or synthetic data); otherwise `prepare` checks it."""
    sizes = [cfg.data.limit] if cfg.data.limit else []
    if cfg.data.dataset == "synthetic" and cfg.data.synthetic:
        sizes.append(cfg.data.synthetic.train_examples)
    if sizes:
        try:
            split_sizes(min(sizes), cfg.data.validation_split)
        except DataError as error:
            raise ConfigError(
                cfg.problem(("data", "validation_split"), str(error), "raise data.limit, or set validation_split: 0")
            ) from None
