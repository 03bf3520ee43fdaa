"""Trials per hour of a search with 1 worker process against N (`cnnlab tune CONFIG --workers`),
whole commands, the sides alternating (A B, B A, A B ...): medians, the spread, and the ratio.

    python benchmarks/search_workers.py [--config configs/mnist_search.yaml] [--workers 2]
        [--max-trials 4] [--rounds 3] [--set KEY=VALUE ...]

Each side is a fresh search of the same config and seed, so both run the same trials. The time
is the command's wall time, start-up and the chief included, as a user waits for it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_search(config: str, workers: int, max_trials: int, overrides: list[str]) -> tuple[float, int, list[float]]:
    """(wall seconds, completed trials, their scores) of one `cnnlab tune --workers N`."""
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "cnnlab", "tune", config, "--workers", str(workers)]
        command += ["--max-trials", str(max_trials), "--runs-dir", runs]
        command += [part for override in overrides for part in ("--set", override)]
        started = time.perf_counter()
        subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        (trials,) = Path(runs).glob("*/tune-*/trials.csv")
        with open(trials, newline="") as stream:
            rows = [row for row in csv.DictReader(stream) if row["status"] == "COMPLETED"]
        objective = next(key for key in rows[0] if key.startswith("val_") or key in ("accuracy", "loss"))
        return seconds, len(rows), [float(row[objective]) for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/mnist_search.yaml")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--quick", action="store_true", help="one short round on made-up images: CI's smoke run")
    args = parser.parse_args()
    if args.quick:  # benchmarks/quick.py
        import quick

        args.rounds, args.max_trials = 1, 2
        args.overrides = [*args.overrides, *quick.overrides(quick.made_up_mnist()), "train.epochs=1"]
    sides = {1: [], args.workers: []}
    for round_ in range(args.rounds):
        for workers in list(sides)[:: 1 if round_ % 2 == 0 else -1]:
            seconds, trials, scores = one_search(args.config, workers, args.max_trials, args.overrides)
            rate = trials * 3600 / seconds
            sides[workers].append(rate)
            shown = ", ".join(f"{score:.4f}" for score in sorted(scores))
            side = f"round {round_ + 1}, {workers} worker(s): {trials} trials in {seconds:.1f} s"
            print(f"{side}, {rate:.1f} trials/hour ({shown})", flush=True)
    print(f"\n{args.config}, {args.max_trials} trials per search: trials per hour, median (lowest-highest)")
    for workers, rates in sides.items():
        print(f"  {workers} worker(s): {statistics.median(rates):.1f} ({min(rates):.1f}-{max(rates):.1f})")
    one, many = sides.values()
    ratios = [b / a for a, b in zip(one, many)]
    print(
        f"  {args.workers} / 1 per round: median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
