"""Several processes training one model (`data_parallel`): on one or many machines, joined by
`jax.distributed` before JAX computes anything.

Process 0 writes the run; the others train beside it and write nothing. They all see the same
global batches' metrics, so every process stops at the same epoch for the same reason; once
process 0 has evaluated the run, every process ends with its exit status (`outcome`).

    >>> from types import SimpleNamespace as Namespace
    >>> environment(Namespace(runtime=Namespace(backend="jax", device="cpu")))
    {'KERAS_BACKEND': 'jax', 'JAX_PLATFORMS': 'cpu'}
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from cnnlab import clocks
from cnnlab.config import LocatedConfig
from cnnlab.errors import ConfigError, RunError


def environment(cfg: LocatedConfig) -> dict[str, str]:
    """Environment variables to set before Keras is imported."""
    env = {"KERAS_BACKEND": cfg.runtime.backend}
    if cfg.runtime.backend == "jax" and cfg.runtime.device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    return env


def join(cfg: LocatedConfig) -> None:
    """Connect a data_parallel process to the others (given in the config, or found by JAX in
    a SLURM, Open MPI or Kubernetes job); without either, the process trains alone."""
    runtime = cfg.runtime
    if runtime.distribute != "data_parallel":
        return
    import jax  # only data_parallel needs it, and it is an extra: pip install 'cnnlab[jax]'

    given = (runtime.coordinator, runtime.num_processes, runtime.process_id)
    join_seconds = clocks.seconds("join")
    try:
        # JAX takes whole seconds; a peer silent for the heartbeat wait is dead (cnnlab/clocks.py)
        jax.distributed.initialize(
            *given,
            initialization_timeout=math.ceil(join_seconds),
            heartbeat_timeout_seconds=math.ceil(clocks.seconds("heartbeat")),
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
            f"within {join_seconds:g} s ({str(error).splitlines()[0]}); start every process, process 0 first"
        ) from None


def outcome(status: int | None) -> int:
    """Process 0's exit status, for every process: process 0 passes its own, the others
    `None` and wait for it (while process 0 evaluates and writes the report)."""
    from jax.experimental import multihost_utils  # several processes run on JAX only

    try:
        return int(multihost_utils.broadcast_one_to_all(np.int32(status or 0)))
    except Exception as error:  # the transport's error when process 0 is gone
        raise lost_peer(error) from None


def weights_digest(model) -> str:
    """A short SHA-256 of the model's weights: every process of a data_parallel run ends with
    the same one (process 0's manifest keeps it; the others print it)."""
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
