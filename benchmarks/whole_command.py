"""`cnnlab train` against the plain Keras script a user would write, as whole processes: wall
time, peak memory, test accuracy; the share of the machine's matrix-multiply peak that training
reaches; and how long the everyday commands take beside a bare `import keras`.

    .venv/bin/python benchmarks/whole_command.py [--rounds 3] [--examples 15000] [--epochs 2]
    .venv/bin/python benchmarks/whole_command.py --quick      # a one-minute look

The two sides alternate (plain, cnnlab, plain, cnnlab, ...) so that a shared machine's drift
falls on both; medians are printed with the spread (lowest-highest). Both read the same verified
MNIST files (`cnnlab data fetch mnist` puts them in Keras' cache) and train the classic baseline
with the same seed, epochs and batch size. Ratios are plain / cnnlab for time (above 1.00:
cnnlab is faster) and cnnlab / plain for memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
CNNLAB = [PYTHON, "-m", "cnnlab"]
# Forward multiply-accumulates per example of the baseline (cnnlab summary); a training step
# costs about three forward passes (forward, and the two backward products), two FLOPs a MAC.
FLOPS_PER_MAC, PASSES = 2, 3


def run(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak resident MB of that process alone, its output)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def accuracy(output: str) -> float:
    return float(re.findall(r"accuracy ([01]\.\d+)", output)[-1])  # 1.0000 is an accuracy too


def spread(values: list[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def gemm_peak_gflops(size: int = 1024, seconds: float = 3.0) -> float:
    """float32 matrix-multiply GFLOP/s that TensorFlow reaches here, the best of a few seconds."""
    probe = (
        "import time, tensorflow as tf\n"
        f"a = tf.random.normal(({size}, {size})); b = tf.random.normal(({size}, {size}))\n"
        "tf.linalg.matmul(a, b).numpy(); best = 0.0; end = time.perf_counter() + " + str(seconds) + "\n"
        "while time.perf_counter() < end:\n"
        "    t = time.perf_counter(); tf.linalg.matmul(a, b).numpy(); best = max(best, "
        f"2 * {size}**3 / (time.perf_counter() - t) / 1e9)\n"
        "print(best)\n"
    )
    return float(run([PYTHON, "-c", probe])[2].strip().splitlines()[-1])


def whole_job(args, mnist: Path, env: dict) -> dict:
    plain_cmd = [
        PYTHON,
        "benchmarks/plain_mnist.py",
        str(mnist),
        "--examples",
        str(args.examples),
        "--epochs",
        str(args.epochs),
    ]
    sides = {"plain": [], "cnnlab": []}
    runs_dir = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    last_run = None
    for round_ in range(args.rounds):
        for side in ("plain", "cnnlab"):
            if side == "plain":
                seconds, peak, output = run(plain_cmd, env)
            else:
                seconds, peak, output = run(
                    [
                        *CNNLAB,
                        "train",
                        "configs/mnist_baseline.yaml",
                        "--runs-dir",
                        str(runs_dir),
                        "--set",
                        f"train.epochs={args.epochs}",
                        "--set",
                        f"data.limit={args.examples}",
                        *(part for override in args.data for part in ("--set", override)),
                    ],
                    env,
                )
                last_run = sorted(runs_dir.glob("*/*/manifest.json"))[-1].parent
            sides[side].append({"seconds": seconds, "peak_mb": peak, "accuracy": accuracy(output)})
            print(
                f"round {round_ + 1}  {side:6s}  {seconds:6.1f} s  peak {peak:6.0f} MB  "
                f"test accuracy {accuracy(output):.4f}",
                flush=True,
            )
    return {"sides": sides, "last_run": last_run}


def command_times(run_folder: Path, rounds: int, env: dict, quick: bool = False) -> dict:
    """Median wall time of each everyday command, and of a bare `import keras` for scale;
    `quick` times only the one that reads a run (each of the others is a bare process start)."""
    commands = {
        "python -c 'import keras'": [PYTHON, "-c", "import keras"],
        "python -c 'import cnnlab'": [PYTHON, "-c", "import cnnlab"],
        "cnnlab --help": [*CNNLAB, "--help"],
        "cnnlab summary": [*CNNLAB, "summary", "configs/mnist_baseline.yaml"],
        "cnnlab check": [*CNNLAB, "check", "configs/mnist_baseline.yaml"],
        "cnnlab evaluate (the test split)": [*CNNLAB, "evaluate", str(run_folder)],
    }
    if quick:
        commands = {name: command for name, command in commands.items() if name.startswith("cnnlab evaluate")}
    times = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            times[name].append(run(command, env)[0])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=15000, help="training examples (data.limit)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one round of one epoch on made-up images: CI's smoke run")
    args = parser.parse_args()
    env, args.data = dict(os.environ), []
    if args.quick:  # benchmarks/quick.py
        import quick

        mnist = quick.made_up_mnist()
        args.rounds, args.examples, args.epochs, args.data = 1, quick.TRAIN, 1, quick.overrides(mnist)
    else:
        fetched = run([*CNNLAB, "data", "fetch", "mnist"], env)[2]  # verified files in Keras' cache
        mnist = (
            Path(re.search(r"verified files in (\S+)", fetched).group(1))
            if "verified files in" in fetched
            else Path(env.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist"
        )

    print(
        f"== whole job: {args.epochs} epochs on {args.examples:,} {'made-up' if args.quick else 'MNIST'} images, "
        f"then the test images; {args.rounds} rounds, alternating",
        flush=True,
    )
    job = whole_job(args, mnist, env)
    plain, ours = job["sides"]["plain"], job["sides"]["cnnlab"]
    wall_ratios = [p["seconds"] / c["seconds"] for p, c in zip(plain, ours)]
    memory_ratios = [c["peak_mb"] / p["peak_mb"] for p, c in zip(plain, ours)]
    manifest = json.loads((job["last_run"] / "manifest.json").read_text())
    rate, macs = manifest["timing"]["images_per_second"], manifest["macs"]
    achieved = rate * macs * FLOPS_PER_MAC * PASSES / 1e9
    peak = gemm_peak_gflops(seconds=0.3 if args.quick else 3.0)

    print("\n== results (median, lowest-highest)")
    print(
        f"wall time       plain {spread([p['seconds'] for p in plain], 1)} s   "
        f"cnnlab {spread([c['seconds'] for c in ours], 1)} s   plain/cnnlab {spread(wall_ratios)}"
    )
    print(
        f"peak memory     plain {spread([p['peak_mb'] for p in plain], 0)} MB   "
        f"cnnlab {spread([c['peak_mb'] for c in ours], 0)} MB   cnnlab/plain {spread(memory_ratios)}"
    )
    print(
        f"test accuracy   plain {spread([p['accuracy'] for p in plain], 4)}   "
        f"cnnlab {spread([c['accuracy'] for c in ours], 4)}"
    )
    print(
        f"GEMM peak {peak:.0f} GFLOP/s; cnnlab's last run trained at {rate:.0f} images/s = {achieved:.0f} GFLOP/s "
        f"({achieved / peak:.0%} of the peak; {macs * FLOPS_PER_MAC * PASSES / 1e6:.1f} MFLOP per example)"
    )

    print("\n== everyday commands (median, lowest-highest)", flush=True)
    for name, seconds in command_times(job["last_run"], args.rounds, env, args.quick).items():
        print(f"{name:40s} {spread(seconds)} s")


if __name__ == "__main__":
    main()
