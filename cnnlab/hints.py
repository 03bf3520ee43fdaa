"""What to do next, said so that it works where it is read: a command line that runs in the
user's shell, or the Python call.

cnnlab's messages end with the next step ("resume with: cnnlab train --resume RUN"). From the
shell that line must run as printed: `make train` starts `.venv/bin/cnnlab` without putting it
on the PATH, so there the hint names the program the way it was started. From Python the same
hint names the call (`cnnlab.resume('RUN')`, `convert=True`), never a command-line flag.

The command line sets the shell voice for its own duration (`speaking_to_the_shell`); Python is
the default.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

_shell = False


@contextlib.contextmanager
def speaking_to_the_shell() -> Iterator[None]:
    """Hints name command lines while this lasts (the CLI wraps each command in it)."""
    global _shell
    before, _shell = _shell, True
    try:
        yield
    finally:
        _shell = before


def next_step(shell: str, python: str) -> str:
    """`shell` ("cnnlab train --resume RUN", "--convert"), its `cnnlab` as this shell starts it,
    for the command line; `python` ("cnnlab.resume('RUN')", "convert=True") for the API.

    >>> next_step("cnnlab evaluate runs/x", "cnnlab.load_run('runs/x').evaluate()")
    "cnnlab.load_run('runs/x').evaluate()"
    """
    if not _shell:
        return python
    return program() + shell.removeprefix("cnnlab") if shell.startswith("cnnlab ") else shell


def resume_step(target, epochs: int | None = None) -> str:
    """How to go on with a stopped run or group (`target`, its folder), or train a completed run
    on to `epochs`: the one hint every resumable thing ends with.

    >>> resume_step("runs/x/1", epochs=4)
    "cnnlab.resume('runs/x/1', epochs=4)"
    """
    more = "" if epochs is None else f" --epochs {epochs}"
    return next_step(
        f"cnnlab train --resume {target}{more}",
        f"cnnlab.resume({str(target)!r}{'' if epochs is None else f', epochs={epochs}'})",
    )


def evaluate_step(run) -> str:
    """How to evaluate the run at folder `run` again (which rewrites its test records)."""
    return next_step(f"cnnlab evaluate {run}", f"cnnlab.load_run({str(run)!r}).evaluate()")


def program() -> str:
    """How to start this cnnlab from the current folder: `cnnlab` when that name on the PATH
    is the program that runs, else the path it was started by (`.venv/bin/cnnlab`), or
    `python -m cnnlab` with this interpreter."""
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if started.name == "__main__.py" and started.parent.name == "cnnlab":
        return f"{_shortest(Path(sys.executable))} -m cnnlab"
    if started.name != "cnnlab":  # embedded (a test's CliRunner, another program): its own name
        return "cnnlab"
    found = shutil.which("cnnlab")
    if found and Path(found).resolve() == started.resolve():
        return "cnnlab"
    return _shortest(started)


def _shortest(path: Path) -> str:
    """`path` relative to the current folder when that is shorter (".venv/bin/cnnlab")."""
    absolute = path.absolute()
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive (Windows)
        return str(absolute)
    if not relative.startswith(".."):
        return relative if os.sep in relative else f".{os.sep}{relative}"
    return str(absolute)
