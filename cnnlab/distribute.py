"""Where a run trains: on one device; on several devices of one machine (`mirrored`:
TensorFlow's `MirroredStrategy`); or in several processes on one or many machines
(`data_parallel`: Keras' `DataParallel` on the JAX backend, joined by `jax.distributed`).

Keras reads its backend once, at import, and JAX must know its peers before it computes
anything. So the order is fixed: `check` the config (pure Python), apply `environment(cfg)`,
`join` the other processes, and only then import Keras and `activate` the strategy.

Process 0 writes the run; the others train beside it and write nothing. They all see the same
global batches' metrics, so every process stops at the same epoch for the same reason.

    >>> from types import SimpleNamespace as Namespace
    >>> environment(Namespace(runtime=Namespace(backend="jax", device="cpu")))
    {'KERAS_BACKEND': 'jax', 'JAX_PLATFORMS': 'cpu'}
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass

from cnnlab.errors import ConfigError, RunError

# A peer that stops sending heartbeats for this long is dead: the others stop instead of
# waiting for it (JAX's default is 100 s).
HEARTBEAT_SECONDS = 20
JOIN_SECONDS = 120  # how long process 0's address is tried before giving up


def check(cfg) -> None:
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
    given = [key for key in ("coordinator", "num_processes", "process_id") if getattr(runtime, key) is not None]
    if given and runtime.distribute != "data_parallel":
        refuse(given[0], "only distribute: data_parallel runs several processes", "set distribute: data_parallel")
    if runtime.process_id is not None and runtime.num_processes is not None:
        if runtime.process_id >= runtime.num_processes:
            refuse("process_id", f"must be below num_processes ({runtime.num_processes})", "number processes from 0")


def environment(cfg) -> dict[str, str]:
    """Environment variables to set before Keras is imported."""
    env = {"KERAS_BACKEND": cfg.runtime.backend}
    if cfg.runtime.backend == "jax" and cfg.runtime.device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    return env


def join(cfg) -> None:
    """Connect a data_parallel process to the others (given in the config, or found by JAX in
    a SLURM, Open MPI or Kubernetes job); without either, the process trains alone."""
    runtime = cfg.runtime
    if runtime.distribute != "data_parallel":
        return
    import jax

    given = (runtime.coordinator, runtime.num_processes, runtime.process_id)
    try:
        jax.distributed.initialize(
            *given, initialization_timeout=JOIN_SECONDS, heartbeat_timeout_seconds=HEARTBEAT_SECONDS
        )
    except ValueError:
        if given == (None, None, None):  # no scheduler found and nothing given: this process alone
            return
        raise ConfigError(
            cfg.problem(
                ("runtime", "coordinator"),
                "data_parallel needs coordinator, num_processes and process_id, or a cluster scheduler that sets them",
                "cnnlab train CONFIG --coordinator HOST:PORT --num-processes N --process-id I",
            )
        ) from None
    except RuntimeError as error:  # JAX's own "Barrier timed out", "Deadline exceeded" ...
        raise RunError(
            f"data_parallel: could not join the other processes at {runtime.coordinator or 'the coordinator'} "
            f"within {JOIN_SECONDS} s ({str(error).splitlines()[0]}); start every process, process 0 first"
        ) from None


def process_index() -> int:
    """This process's number among those training together; 0 writes the run."""
    import keras

    if keras.backend.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


@dataclass
class Strategy:
    """How `plan` builds the model and `fit` feeds it, once Keras is started."""

    replicas: int = 1
    processes: int = 1
    scope: object = contextlib.nullcontext

    @property
    def sharded(self) -> bool:
        """Each process takes its share of every batch: every process must get the same
        number of whole batches, or one would wait for the others forever."""
        return self.processes > 1


def activate(cfg) -> Strategy:
    """Set up the run's strategy; the batch must divide among the devices that share it."""
    runtime = cfg.runtime
    if runtime.distribute == "mirrored":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(runtime.devices)
        found = Strategy(strategy.num_replicas_in_sync, 1, strategy.scope)
    elif runtime.distribute == "data_parallel":
        import jax
        import keras

        keras.distribution.set_distribution(keras.distribution.DataParallel())
        found = Strategy(len(keras.distribution.list_devices()), jax.process_count())
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


@contextlib.contextmanager
def locally():
    """Run a block on this process alone: process 0 saving a checkpoint must not create
    variables laid out across all processes (that is a collective the others never join)."""
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    saved = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(saved)


def follow(planned, resumed, notify=lambda _: None) -> None:
    """Train as a data_parallel process other than process 0: the same data, batches and
    epochs, in step with process 0, writing nothing. `resumed` is the run folder being
    resumed (or None): its backup is read, as process 0 reads it."""
    import os

    from cnnlab.callbacks import Backup, NanGuard
    from cnnlab.data import load_arrays
    from cnnlab.data.prepare import prepare_for
    from cnnlab.train import fit_phases

    splits = prepare_for(planned.cfg, load_arrays(planned.cfg, notify, os.environ), planned.info.num_classes)

    def read_only(folder: str):
        return Backup(resumed / folder, read_only=True) if resumed else None

    fit_phases(planned, splits, [NanGuard()], planned.user_callbacks, read_only, notify)


def outcome(status: int | None) -> int:
    """Process 0's exit status, for every process: process 0 passes its own, the others
    `None` and wait for it (while process 0 evaluates and writes the report)."""
    import numpy as np
    from jax.experimental import multihost_utils

    try:
        return int(multihost_utils.broadcast_one_to_all(np.int32(status or 0)))
    except Exception as error:  # the transport's error when process 0 is gone
        raise lost_peer(error) from None


def weights_digest(model) -> str:
    """A short SHA-256 of the model's weights: every process of a data_parallel run ends with
    the same one (process 0's manifest keeps it; the others print it)."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for variable in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(variable)).tobytes())
    return digest.hexdigest()[:16]


class PeerLost(RunError):
    """Another process of a data_parallel run stopped, so this one cannot go on."""


def lost_peer(error: Exception) -> PeerLost:
    """The error a process gives when the collective it waits in loses a peer."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    detail = first[first.index("Gloo") :] if "Gloo" in first else first  # past JAX's repeated prefixes
    return PeerLost(f"data_parallel: another process of this run stopped ({detail}); resume the run with --resume")


def is_lost_peer(error: Exception) -> bool:
    """Whether `fit` failed because a peer went away (JAX reports it as a ValueError)."""
    text = str(error)
    return any(sign in text for sign in ("Gloo", "Connection closed by peer", "coordination service"))
