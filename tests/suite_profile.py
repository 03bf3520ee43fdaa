"""Where `make test`'s CPU goes, from py-spy's samples of the whole process tree (`make
test-profile`): `make test-durations` gives each test's wall time, which hides what its child
processes spend and what the two workers take from each other.

py-spy (`--format raw`) writes one line per distinct stack, `frame;frame;... COUNT`, where the
first frames are `process PID:"COMMAND"`, one per process from pytest down. Each sample is a
thread seen running (or waiting for a core) at the sampling rate, so COUNT / rate is seconds.

    >>> split('process 1:"pytest";process 2:"python -c import sys;exec(eval(...))";fit (keras/trainer.py:3)')
    (['pytest', 'python -c import sys;exec(eval(...))'], ['fit (keras/trainer.py:3)'])
    >>> kind_of(['pytest', 'python -c import sys;exec(eval(...))'])
    'xdist worker'
    >>> category_of(["fit (keras/src/backend/tensorflow/trainer.py:314)", "savefig (matplotlib/figure.py:3360)"])
    'pictures (matplotlib)'
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

PROCESS = re.compile(r'process \d+:"([^"]*)";?')  # a command may hold ";", never '"' here
# The first rule that matches a stack names its category (deepest work first).
CATEGORIES = [
    ("imports", re.compile(r"_find_and_load")),
    ("pictures (matplotlib)", re.compile(r"matplotlib/")),
    ("tf.function tracing", re.compile(r"func_graph_from_py_func|trace_function")),
    ("garbage collection", re.compile(r"clear_session|gc\.collect|\bcollect \(")),
    ("Keras fit", re.compile(r"\bfit \(keras/")),
    ("Keras predict/evaluate", re.compile(r"\b(predict|evaluate) \(keras/")),
    ("saving models", re.compile(r"keras/src/saving/")),
    ("Keras Tuner", re.compile(r"keras_tuner/")),
]
TEST_FILE = re.compile(r"\((?:tests/)?(test_\w+\.py):\d+\)")


def split(stack: str) -> tuple[list[str], list[str]]:
    """A stack's process commands, from pytest down, and then its frames."""
    commands, at = [], 0
    while found := PROCESS.match(stack, at):
        commands.append(found.group(1))
        at = found.end()
    return commands, stack[at:].split(";") if stack[at:] else []


def kind_of(processes: list[str]) -> str:
    """The kind of process a stack ran in: pytest, an xdist worker, or a child of a worker."""
    command = processes[-1] if processes else ""
    if len(processes) <= 1:
        return "pytest"
    if "import sys;exec(eval(" in command:  # how execnet starts an xdist worker
        return "xdist worker"
    if "-m cnnlab" in command or "bin/cnnlab" in command:
        return "cnnlab process"
    return "other process" if "ipykernel" not in command else "Jupyter kernel"


def category_of(frames: list[str]) -> str:
    stack = ";".join(frames)
    return next((name for name, pattern in CATEGORIES if pattern.search(stack)), "the rest")


def read(path: Path, rate: float):
    """(kind, category, test file, seconds) of each stack in py-spy's raw output."""
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a command line that held a newline, cut across lines: too few to matter
        processes, work = split(stack)
        test = TEST_FILE.search(stack)
        yield kind_of(processes), category_of(work), test.group(1) if test else "-", int(count) / rate


def report(rows, top: int = 25) -> str:
    by_kind, by_category, by_file = collections.Counter(), collections.Counter(), collections.Counter()
    for kind, category, test, seconds in rows:
        by_kind[kind] += seconds
        by_category[kind, category] += seconds
        by_file[test if kind == "xdist worker" else f"({kind})"] += seconds
    lines = [f"{sum(by_kind.values()):8.1f} s  sampled in all", ""]
    lines += [f"{seconds:8.1f} s  {kind}" for kind, seconds in by_kind.most_common()]
    lines += ["", "by process and category:"]
    lines += [f"{seconds:8.1f} s  {kind}: {category}" for (kind, category), seconds in by_category.most_common(top)]
    lines += ["", "an xdist worker's seconds by test file (children apart):"]
    lines += [f"{seconds:8.1f} s  {name}" for name, seconds in by_file.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path, help="py-spy record --format raw output")
    parser.add_argument("--rate", type=float, default=40, help="the samples per second it was recorded at")
    arguments = parser.parse_args(argv)
    print(report(read(arguments.raw, arguments.rate)))


if __name__ == "__main__":
    main(sys.argv[1:])
