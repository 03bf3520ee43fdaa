"""Bringing up Keras and TensorFlow quietly, on the devices and with the seed a config asks for.

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
import gc
import math
import os
import platform
import sys
from pathlib import Path

from cnnlab.errors import ConfigError
from cnnlab.version import __version__


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


# What Keras and TensorFlow import at start-up only for features a cnnlab command never uses:
# Keras' scikit-learn wrappers (0.9 s of a 5 s start here), pandas for DataFrames given to fit
# (0.4 s; cnnlab gives arrays and datasets), matplotlib's pyplot for `keras.visualization`'s
# galleries (0.4 s; a run's pictures are Pillow's, and `reporting.plots` imports matplotlib when
# it draws) and, on the TensorFlow backend, TFLite's converter from JAX functions (0.5 s). Left
# out only in a process that runs one cnnlab command (`for_one_command`): in a user's own Python
# they stay as Keras makes them.
UNUSED_AT_START = {"sklearn": "any", "pandas": "any", "matplotlib": "any", "jax": "tensorflow"}
_one_command = False


def for_one_command() -> None:
    """Say that this process runs one cnnlab command and nothing else (the `cnnlab` program):
    Keras may then start without `UNUSED_AT_START`."""
    global _one_command
    _one_command = True


@contextlib.contextmanager
def _held_back(names: list[str]):
    """While this lasts, importing any of `names` fails (ImportError, as if not installed), so
    that an optional import is skipped; afterwards they import as usual, for whoever needs them
    (Keras Tuner's Bayesian search needs scikit-learn)."""
    held = [name for name in names if name not in sys.modules]
    sys.modules.update(dict.fromkeys(held))
    try:
        yield
    finally:
        for name in held:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def _unused_at_start() -> list[str]:
    if not _one_command:
        return []
    # Without KERAS_BACKEND (a command without a config) Keras may choose JAX from its own
    # keras.json: JAX is then held back from nothing.
    wanted = os.environ.get("KERAS_BACKEND")
    return [name for name, backend in UNUSED_AT_START.items() if backend in ("any", wanted)]


@functools.cache
def visible_gpus() -> tuple[str, ...]:
    """Names of the GPUs Keras' backend can use (empty on a CPU-only machine)."""
    with stderr_muted(), _held_back(_unused_at_start()):
        # Keras reads KERAS_BACKEND at its first import: only here, after the config chose it.
        import keras
        import tensorflow as tf  # the data pipeline's, whichever backend trains

        _fit_threads_to_quota(tf)
        _settle_heap()
        if keras.backend.backend() == "jax":
            import jax

            # tf.data only feeds JAX here: TensorFlow must not reserve the GPUs' memory.
            tf.config.set_visible_devices([], "GPU")
            return tuple(str(d) for d in jax.local_devices() if d.platform == "gpu")
        return tuple(d.name for d in tf.config.list_physical_devices("GPU"))


def _settle_heap() -> None:
    """Move what importing TensorFlow and Keras made (some 450,000 objects that live as long as
    the process) out of the garbage collector's sight. Keras' `clear_session`, before every
    training and every search trial, runs a full collection, and each walked them all to find
    nothing: 0.35-0.5 s a collection here, under 0.01 s after this. Garbage of the moment is
    collected first; what is frozen is only what was alive when Keras started."""
    gc.collect()
    gc.freeze()


def usable_cores(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may keep busy: its CPU affinity (`taskset`), capped by a cgroup
    CPU quota (`docker --cpus 2` on a 64-core host), rounded up.

    >>> 1 <= usable_cores() <= os.cpu_count()
    True
    """
    cores = _affinity_cores()
    quota = cgroup_cpu_quota(cgroup)
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def _affinity_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cgroup_cpu_quota(cgroup: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs' worth of time per period the cgroup allows (cgroup v2 `cpu.max`, v1
    `cpu.cfs_quota_us`), or None when unlimited or unknown."""
    try:
        if (cgroup / "cpu.max").is_file():  # v2: "max 100000" or "200000 100000"
            quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        else:  # v1
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _fit_threads_to_quota(tf) -> None:
    """TensorFlow sizes its thread pools by the CPU affinity and ignores a cgroup quota: in a
    container limited to 2 CPUs on a 64-core host it would run 64 threads on 2 CPUs' time. Size
    them by the quota instead; without one, TensorFlow's own choice stands."""
    cores = usable_cores()
    if cores < _affinity_cores():
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(cores)


def start() -> None:
    """Import TensorFlow and Keras without their start-up noise. Safe to call many times."""
    visible_gpus()


def cpu_has_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AVX512_BF16 or AMX), where
    `mixed_bfloat16` can beat float32. Linux says so in /proc/cpuinfo; elsewhere: no."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def configure(cfg) -> dict:
    """Apply `cfg.runtime` and `cfg.seed` before any model exists; return what was chosen.

    `device: gpu` without a visible GPU is refused. Mixed precision is `mixed_float16` on a GPU
    and `mixed_bfloat16` on a CPU with bfloat16 instructions (benchmarks/precision.py: 1.52x the
    baseline's float32 images/s here, but 1.00x for mnist_fast's small convolutions); a CPU
    without them is refused, as float16 there is slower, not faster.
    """
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
    if runtime.mixed_precision and not use_gpu and not cpu_has_bfloat16():
        raise ConfigError(
            cfg.problem(
                ("runtime", "mixed_precision"),
                "needs a GPU (float16) or a CPU with AVX512_BF16 or AMX (bfloat16); this machine has neither",
                "set mixed_precision: false",
            )
        )
    import keras  # started above, by visible_gpus
    import tensorflow as tf

    tensorflow = keras.backend.backend() == "tensorflow"
    if runtime.device == "cpu" and gpus and tensorflow:  # JAX was kept to its CPU at start-up
        tf.config.set_visible_devices([], "GPU")
    if runtime.distribute == "mirrored" and not use_gpu:
        _split_cpu(cfg, tf)
    policy = ("mixed_float16" if use_gpu else "mixed_bfloat16") if runtime.mixed_precision else "float32"
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(cfg.seed)
    if tensorflow:  # XLA on a CPU, JAX's compiler, is deterministic already
        _set_op_determinism(tf, runtime.deterministic)
    return {
        "backend": keras.backend.backend(),
        "device": "gpu" if use_gpu else "cpu",
        "gpus": list(gpus) if use_gpu else [],
        "dtype_policy": policy,
        "deterministic": runtime.deterministic,
        "distribute": runtime.distribute,
        "seed": cfg.seed,
    }


_determinism_is_ours = False  # whether op determinism is on because a config asked for it


def _set_op_determinism(tf, wanted: bool) -> None:
    """TensorFlow's op determinism on for `runtime.deterministic`; for the next config of the
    same Python process (the API's second call) off again if a config turned it on, as a fresh
    command would have it. A user's own `enable_op_determinism()` stays."""
    global _determinism_is_ours
    from tensorflow.python.framework import config as tf_config  # no public getter or way back

    if wanted and not tf_config.is_op_determinism_enabled():
        tf.config.experimental.enable_op_determinism()
        _determinism_is_ours = True
    elif not wanted and _determinism_is_ours:
        tf_config.disable_op_determinism()
        _determinism_is_ours = False


def _split_cpu(cfg, tf) -> None:
    """`mirrored` on a machine without a GPU: split the CPU into as many logical devices as
    `runtime.devices` names CPUs, so the strategy can be tried (and tested) anywhere."""
    wanted = sum("CPU" in device.upper() for device in cfg.runtime.devices or ())
    if wanted < 2:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    if len(tf.config.get_logical_device_configuration(cpu) or ()) == wanted:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * wanted)
    except RuntimeError:  # TensorFlow's devices exist once it has run anything
        raise ConfigError(
            cfg.problem(
                ("runtime", "devices"),
                f"the CPU cannot be split into {wanted} devices after TensorFlow has started",
                "train this config in a command of its own",
            )
        ) from None


def versions() -> dict:
    """The versions of what trains a run, for its manifest."""
    import keras  # started: a run records what it ran on
    import numpy
    import tensorflow

    return {
        "cnnlab": __version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tensorflow.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
    }
