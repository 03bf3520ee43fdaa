"""Bringing up TensorFlow/Keras quietly, and asking it which devices exist.

TensorFlow's C++ start-up lines (oneDNN notes, CUDA stubs, `cuInit` failures on machines
without a GPU) are written before its logging can be configured, so no environment variable
silences them; they would bury cnnlab's own output. We mute file descriptor 2 while TensorFlow
starts and lists devices. Python exceptions are unaffected.

    >>> len(visible_gpus()) >= 0
    True
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys


@contextlib.contextmanager
def stderr_muted():
    """Silence file descriptor 2 for a block: native libraries' start-up lines bypass Python."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.cache
def visible_gpus() -> tuple[str, ...]:
    """Names of the GPUs TensorFlow can use (empty on a CPU-only machine)."""
    with stderr_muted():
        import keras  # noqa: F401  (starts TensorFlow as Keras' backend)
        import tensorflow as tf

        return tuple(d.name for d in tf.config.list_physical_devices("GPU"))


def start() -> None:
    """Import TensorFlow and Keras without their start-up noise. Safe to call many times."""
    visible_gpus()


def configure(cfg) -> dict:
    """Apply `cfg.runtime` and `cfg.seed` before any model exists; return what was chosen.

    `device: gpu` without a visible GPU, and mixed precision without a GPU, are refused: on a
    CPU `mixed_float16` is slower, not faster.
    """
    from cnnlab.errors import ConfigError

    runtime = cfg.runtime
    gpus = visible_gpus()
    if runtime.device == "gpu" and not gpus:
        raise ConfigError(
            cfg.problem(
                ("runtime", "device"),
                "asks for a GPU, but TensorFlow sees none on this machine",
                "use device: auto (a GPU when there is one) or cpu",
            )
        )
    use_gpu = bool(gpus) and runtime.device != "cpu"
    if runtime.mixed_precision and not use_gpu:
        raise ConfigError(
            cfg.problem(
                ("runtime", "mixed_precision"),
                "mixed_float16 needs a GPU (on a CPU it is slower, not faster)",
                "set mixed_precision: false",
            )
        )
    import keras
    import tensorflow as tf

    if runtime.device == "cpu" and gpus:
        tf.config.set_visible_devices([], "GPU")
    policy = "mixed_float16" if runtime.mixed_precision else "float32"
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(cfg.seed)
    if runtime.deterministic:
        tf.config.experimental.enable_op_determinism()
    return {
        "device": "gpu" if use_gpu else "cpu",
        "gpus": list(gpus) if use_gpu else [],
        "dtype_policy": policy,
        "deterministic": runtime.deterministic,
        "seed": cfg.seed,
    }
