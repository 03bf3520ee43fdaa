"""How long cnnlab waits before it calls a silent peer gone: each wait a default, and an
environment variable for tests and for impatient users (`CNNLAB_<NAME>_SECONDS`).

The defaults suit real machines, where a slow step is not a dead one. A test that waits out a
hung peer, or a user who would rather know in seconds, sets the variable; every process of one
run or search should get the same values (`tune --workers N` passes them on to its workers).

    >>> seconds("heartbeat", {})
    20.0
    >>> seconds("lease", {"CNNLAB_LEASE_SECONDS": "1.5"})
    1.5
    >>> seconds("lease", {"CNNLAB_LEASE_SECONDS": "soon"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    cnnlab.errors.ConfigError: CNNLAB_LEASE_SECONDS: 'soon' is not a number of seconds above 0 ...
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from cnnlab.errors import ConfigError

# Longer is no wait a person means, and JAX takes its waits as 32-bit whole seconds.
LONGEST = 7 * 24 * 3600.0

# name: (default seconds, what it decides)
WAITS: dict[str, tuple[float, str]] = {
    "heartbeat": (20.0, "a data_parallel process silent this long is dead, and the others stop (JAX's own is 100 s)"),
    "join": (120.0, "how long a data_parallel process tries to reach process 0 before giving up"),
    "lease": (30.0, "a search worker silent this long is gone, and its trial goes to another"),
    "gather": (60.0, "how long a search's first trials wait for all of `--workers N` to start up"),
    "first_worker": (600.0, "how long a search chief waits for its first worker"),
}


def variable(name: str) -> str:
    """The environment variable that sets wait `name`.

    >>> variable("first_worker")
    'CNNLAB_FIRST_WORKER_SECONDS'
    """
    return f"CNNLAB_{name.upper()}_SECONDS"


def seconds(name: str, environ: Mapping[str, str] = os.environ) -> float:
    """Wait `name` in seconds: its environment variable when set, else the default. Read at
    each use, so that a process sees the value it was started with."""
    default, meaning = WAITS[name]
    text = environ.get(variable(name), "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= LONGEST):
        raise ConfigError.at(
            variable(name),
            f"{text!r} is not a number of seconds above 0 and at most a week, {LONGEST:,.0f} ({meaning})",
            hint=f"unset it for the default, {default:g} s",
        )
    return value


def check(environ: Mapping[str, str] = os.environ) -> None:
    """Read every wait once, so that a mistaken variable is refused before a command writes
    anything rather than in the middle of a run."""
    for name in WAITS:
        seconds(name, environ)
