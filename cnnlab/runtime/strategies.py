"""How a run spreads over devices: on one device; over several devices of one machine
(`mirrored`: TensorFlow's `MirroredStrategy`); or over several processes on one or many machines
(`data_parallel`: Keras' `DataParallel` on the JAX backend, see `processes`).

`check` reads the config alone (pure Python, no backend); `activate` runs once Keras has started.

    >>> Strategy().sharded, Strategy(replicas=2, processes=2).sharded
    (False, True)
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from cnnlab.config import LocatedConfig
from cnnlab.errors import ConfigError


def check(cfg: LocatedConfig) -> None:
    """Refuse runtime settings that cannot work together, at their line; imports no backend."""
    runtime = cfg.runtime

    def refuse(key: str, message: str, hint: str):
        raise ConfigError(cfg.problem(("runtime", key), message, hint))

    if runtime.backend == "jax" and importlib.util.find_spec("jax") is None:
        refuse("backend", "the JAX backend is not installed", "pip install 'cnnlab[jax]'")
    if runtime.distribute == "data_parallel" and runtime.backend != "jax":
        refuse("distribute", "data_parallel is Keras' distribution API, which runs on JAX", "set runtime.backend: jax")
    if runtime.distribute == "mirrored" and runtime.backend != "tensorflow":
        refuse(
            "distribute",
            "mirrored is TensorFlow's MirroredStrategy",
            "set runtime.backend: tensorflow, or use distribute: data_parallel on JAX",
        )
    if runtime.devices and runtime.distribute != "mirrored":
        refuse("devices", "only distribute: mirrored takes a list of devices", "remove it, or distribute: mirrored")
    names = [device_name(device) for device in runtime.devices or ()]
    odd = next((d for d, name in zip(runtime.devices or (), names) if not re.fullmatch(r"(CPU|GPU):\d+", name)), None)
    if odd is not None:
        refuse("devices", f"{odd!r} is not a device name", "name devices as TensorFlow does: GPU:0, GPU:1 (or CPU:0)")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        refuse("devices", f"{repeated[0]} is listed twice", "list each device once")
    given = [key for key in ("coordinator", "num_processes", "process_id") if getattr(runtime, key) is not None]
    if given and runtime.distribute != "data_parallel":
        refuse(given[0], "only distribute: data_parallel runs several processes", "set distribute: data_parallel")
    if runtime.process_id is not None and runtime.num_processes is not None:
        if runtime.process_id >= runtime.num_processes:
            refuse("process_id", f"must be below num_processes ({runtime.num_processes})", "number processes from 0")


@dataclass(frozen=True)
class Strategy:
    """How the plan builds the model and the fit loop feeds it, once Keras has started."""

    replicas: int = 1  # devices that share each batch
    processes: int = 1  # processes that train together
    process: int = 0  # this one's number among them: 0 writes the run
    scope: Callable[[], AbstractContextManager] = contextlib.nullcontext

    @property
    def sharded(self) -> bool:
        """Each process takes its share of every batch: every process must get the same
        number of whole batches, or one would wait for the others forever."""
        return self.processes > 1


def activate(cfg: LocatedConfig) -> Strategy:
    """Set up the run's strategy; the batch must divide among the devices that share it."""
    runtime = cfg.runtime
    if runtime.distribute == "mirrored":
        import tensorflow as tf  # started by runtime.startup before any strategy exists

        _require_devices(cfg, [device_name(d.name) for d in tf.config.list_logical_devices()])
        mirrored = tf.distribute.MirroredStrategy(runtime.devices)
        found = Strategy(mirrored.num_replicas_in_sync, scope=mirrored.scope)
    elif runtime.distribute == "data_parallel":
        import jax  # the backend that data_parallel runs on (check refused any other)
        import keras

        keras.distribution.set_distribution(keras.distribution.DataParallel())
        found = Strategy(len(keras.distribution.list_devices()), jax.process_count(), jax.process_index())
    else:
        return Strategy()
    if cfg.train.batch_size % found.replicas:
        raise ConfigError(
            cfg.problem(
                ("train", "batch_size"),
                f"the global batch ({cfg.train.batch_size}) must divide evenly among the run's "
                f"{found.replicas} devices",
                f"use a multiple of {found.replicas}",
            )
        )
    return found


def device_name(device: str) -> str:
    """ "GPU:0" for "/device:GPU:0", "/job:localhost/replica:0/task:0/device:gpu:0" or "gpu:0"."""
    return device.upper().rpartition("DEVICE:")[2].lstrip("/")


def _require_devices(cfg: LocatedConfig, available: list[str]) -> None:
    """Refuse devices this process does not have before MirroredStrategy waits on them."""
    missing = [device for device in cfg.runtime.devices or () if device_name(device) not in available]
    if missing:
        raise ConfigError(
            cfg.problem(
                ("runtime", "devices"),
                f"{missing[0]} is not a device of this machine (it has {', '.join(available) or 'none'})",
                "list devices it has, or leave devices out to mirror over every GPU",
            )
        )


@contextlib.contextmanager
def locally():
    """Run a block on this process alone: process 0 saving a checkpoint must not create
    variables laid out across all processes (that is a collective the others never join)."""
    import keras  # started: this runs inside training

    if keras.backend.backend() != "jax":
        yield
        return
    saved = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(saved)
