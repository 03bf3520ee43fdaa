"""A lever against no lever for a config trained by cnnlab, alternating (A B, B A, A B ...) in
one process: later-epoch images/s and test accuracy of each side.

    python benchmarks/precision.py [--lever bfloat16|xla|set] [--config CONFIG] [--rounds 3] [--set ...]

`bfloat16` (the default): float32 against `runtime.mixed_precision: true`, which on a CPU means
mixed_bfloat16 and needs AVX512_BF16 or AMX (`grep -o 'avx512_bf16\\|amx_bf16' /proc/cpuinfo`);
the output layer stays float32. `xla`: float32 with and without XLA (`jit_compile=True` on the
compiled model; Keras leaves it off on a machine without a GPU). `set`: the config against the
config with the `--with KEY=VALUE` overrides (a batch size, steps per execution, ...).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_run(config: str, overrides: list[str], policy: str, xla: bool = False, more=()) -> tuple[float, float]:
    """(images/s of the epochs after the first, test accuracy) of one cnnlab training."""
    from cnnlab.config import load_config
    from cnnlab.runtime.startup import start_keras

    cfg = load_config(config, [*overrides, *more, f"runtime.mixed_precision={policy != 'float32'}"])
    start_keras(cfg)
    import keras

    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.storage.folders import RunFolder

    keras.backend.clear_session()
    try:
        planned = plan(cfg)
        assert planned.device["dtype_policy"] == policy, planned.device
        if xla:
            planned.model.jit_compile = True  # read when fit builds its training step
        with tempfile.TemporaryDirectory() as folder:
            run = RunFolder(folder)
            manifest = train(planned, run)
            later = run.history[1:] or run.history
            examples = manifest["data"]["train_examples"]
            rate = examples * len(later) / sum(row["epoch_seconds"] for row in later)
            return rate, run.metrics()["accuracy"]
    finally:
        keras.config.set_dtype_policy("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lever", choices=["bfloat16", "xla", "set"], default="bfloat16")
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--config", default="configs/mnist_fast.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    sides = {"as configured" if args.lever == "set" else "float32": ("float32", False, [])}
    sides |= {
        "xla": {"XLA": ("float32", True, [])},
        "set": {" ".join(args.with_): ("float32", False, args.with_)},
    }.get(args.lever, {"mixed_bfloat16": ("mixed_bfloat16", False, [])})
    results: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    for round_ in range(args.rounds):
        for side in list(results)[:: 1 if round_ % 2 == 0 else -1]:  # A B, B A, A B: no side always second
            rate, accuracy = one_run(args.config, args.overrides, *sides[side])
            results[side].append((rate, accuracy))
            print(f"round {round_ + 1} {side}: {rate:,.0f} images/s, test accuracy {accuracy:.4f}", flush=True)
    print(f"\n{args.config} {' '.join(args.overrides)}: later-epoch images/s, median (lowest-highest)")
    for side, rows in results.items():
        rates = [r for r, _ in rows]
        accuracies = ", ".join(f"{a:.4f}" for _, a in rows)
        median, low, high = statistics.median(rates), min(rates), max(rates)
        print(f"  {side:15} {median:,.0f} ({low:,.0f}-{high:,.0f}); accuracy {accuracies}")
    base, lever = results.values()
    ratio = [b[0] / f[0] for f, b in zip(base, lever)]
    spread = f"median {statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f})"
    print(f"  {list(results)[1]} / {list(results)[0]} per round: {spread}")


if __name__ == "__main__":
    main()
