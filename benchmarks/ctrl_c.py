"""How long a training process takes to end after Ctrl-C: the seconds from the signal to
cnnlab's "interrupted" message, and to the process's exit, over many tries.

    .venv/bin/python benchmarks/ctrl_c.py [--tries 20] [--config configs/mnist_baseline.yaml]

Each try starts `cnnlab train CONFIG` in its own process group (as a terminal's foreground job),
waits until the first epoch is in history.csv, lets the second run for a random 0-2 s, then
sends SIGINT to the whole group, as Ctrl-C does. The bound the issue sets is 2 s to the exit.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CNNLAB = str(Path(sys.executable).with_name("cnnlab"))


def one_try(config: str, overrides: list[str], pause: float) -> tuple[float, float | None, str]:
    """(seconds from SIGINT to exit, seconds to the "interrupted" line or None, the last line)."""
    with tempfile.TemporaryDirectory() as runs:
        command = [CNNLAB, "train", config, "--runs-dir", runs, *(a for o in overrides for a in ("--set", o))]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        said: dict[str, float] = {}
        lines: list[str] = []

        def read() -> None:
            for line in process.stdout:
                lines.append(line.rstrip())
                if "interrupted" in line and "said" not in said:
                    said["said"] = time.monotonic()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while not any(len(p.read_text().splitlines()) > 1 for p in Path(runs).glob("*/*/history.csv")):
            if process.poll() is not None:
                raise SystemExit(f"the run ended before its first epoch: {lines[-3:]}")
            time.sleep(0.05)
        time.sleep(pause)
        sent = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        process.wait()
        ended = time.monotonic()
        reader.join(timeout=5)
        return ended - sent, (said["said"] - sent) if "said" in said else None, (lines[-1] if lines else "")


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=_at_least_one, default=20)
    parser.add_argument("--config", default="configs/mnist_baseline.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=["data.limit=6000"])
    parser.add_argument("--seed", type=int, default=0, help="for the pauses before each Ctrl-C")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    exits, messages = [], []
    for number in range(1, args.tries + 1):
        to_exit, to_message, last = one_try(args.config, args.overrides, rng.uniform(0, 2))
        exits.append(to_exit)
        if to_message is not None:
            messages.append(to_message)
        print(f"try {number:2}: exit {to_exit:5.2f} s, message {to_message or float('nan'):5.2f} s  | {last[:70]}")
    exits.sort()
    print(
        f"\nexit after Ctrl-C over {len(exits)} tries: min {exits[0]:.2f} s, median {statistics.median(exits):.2f} s, "
        f"max {exits[-1]:.2f} s; within 2 s: {sum(e <= 2 for e in exits)} of {len(exits)}"
    )
    if messages:
        print(f"message after Ctrl-C: median {statistics.median(messages):.2f} s, max {max(messages):.2f} s")
    return 0 if exits[-1] <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
