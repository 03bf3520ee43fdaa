"""Starting Keras for a command: Keras reads its backend once, at its first import, and JAX must
know its peers before it computes anything. So the order is fixed: `check` each config (pure
Python), set the backend's environment, `join` the other processes, and only then import Keras.
"""

from __future__ import annotations

import os
import sys

from cnnlab import clocks
from cnnlab.config import LocatedConfig
from cnnlab.errors import ConfigError, Problem
from cnnlab.runtime import backend, processes, strategies


def start_keras(*configs: LocatedConfig) -> None:
    """Start Keras on the backend the configs ask for (TensorFlow unless told otherwise).

    Every config of one command must ask for the same backend; a config whose runtime settings
    cannot work together is refused at its line before anything starts."""
    clocks.check()
    environments = []
    for cfg in configs:
        strategies.check(cfg)
        environments.append(processes.environment(cfg))
    if len({env["KERAS_BACKEND"] for env in environments}) > 1:
        raise ConfigError(
            Problem(
                "these configs ask for different backends (runtime.backend)", hint="train them in separate commands"
            )
        )
    if environments:
        wanted = environments[0]["KERAS_BACKEND"]
        started = sys.modules.get("keras")
        if started is not None and started.backend.backend() != wanted:
            raise ConfigError(
                configs[0].problem(
                    ("runtime", "backend"),
                    f"Keras has already started on {started.backend.backend()} in this process",
                    "run this config in a command of its own",
                )
            )
        os.environ.update(environments[0])
        processes.join(configs[0])  # before Keras: JAX must know its peers before it computes
    backend.start()
