"""A lever against no lever for a config trained by cnnlab, alternating (A B, B A, A B ...) in
one process: later-epoch images/s and test accuracy of each side.

    python benchmarks/precision.py [--lever bfloat16|xla|set|config|cached-input|gather-input] [--config CONFIG]
        [--rounds 3] [--set ...]

`bfloat16` (the default): float32 against `runtime.mixed_precision: true`, which on a CPU means
mixed_bfloat16 and needs AVX512_BF16 or AMX (`grep -o 'avx512_bf16\\|amx_bf16' /proc/cpuinfo`);
the output layer stays float32. `xla`: float32 with and without XLA (`jit_compile=True` on the
compiled model; Keras leaves it off on a machine without a GPU). `set`: the config against the
config with the `--with KEY=VALUE` overrides (a batch size, steps per execution, ...).
`config`: the config against `--against OTHER.yaml` (a structure against another), both with the
`--set` overrides. `cached-input`: cnnlab's input pipeline (from_tensor_slices, shuffle, batch, prefetch) against
the same batches cached after the first epoch, so that later epochs take them from memory with no
input work at all: the most any input pipeline could give. `gather-input`: the pipeline against
one that shuffles the indices and gathers each batch from the arrays in one op.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_run(
    config: str, overrides: list[str], policy: str, xla: bool = False, more=(), cached: bool | str = False
) -> tuple[float, float]:
    """(images/s of the epochs after the first, test accuracy) of one cnnlab training."""
    from cnnlab.config import load_config
    from cnnlab.runtime.startup import start_keras

    cfg = load_config(config, [*overrides, *more, f"runtime.mixed_precision={policy != 'float32'}"])
    start_keras(cfg)
    import keras

    import cnnlab.engine.loop as loop

    prepare = sys.modules["cnnlab.data.prepare"]  # `cnnlab.data.prepare` the attribute is a function
    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.storage.folders import RunFolder

    keras.backend.clear_session()
    fit_datasets, to_dataset = loop.fit_datasets, prepare.to_dataset
    if cached == "gather":
        prepare.to_dataset = gathered
    elif cached:  # the first epoch's batches, in its order, kept in memory for the later ones

        def cached_datasets(*args, **kwargs):
            data = fit_datasets(*args, **kwargs)
            data.train = data.train.cache()
            return data

        loop.fit_datasets = cached_datasets
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
        loop.fit_datasets, prepare.to_dataset = fit_datasets, to_dataset


def gathered(x, y, batch_size: int, *, shuffle: bool, seed: int, whole: bool = False):
    """`data.prepare.to_dataset` by shuffled indices: one gather per batch."""
    import tensorflow as tf

    xs, ys = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    batches = order.batch(batch_size, drop_remainder=whole)
    return batches.map(lambda i: (tf.gather(xs, i), tf.gather(ys, i)), num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lever", choices=["bfloat16", "xla", "set", "config", "cached-input", "gather-input"], default="bfloat16"
    )
    parser.add_argument("--with", dest="with_", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--config", default="configs/mnist_fast.yaml")
    parser.add_argument("--against", metavar="OTHER.yaml", help="the other side of --lever config")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--quick", action="store_true", help="one short round on made-up images: CI's smoke run")
    args = parser.parse_args()
    if args.quick:  # benchmarks/quick.py
        import quick

        args.rounds, args.overrides = 1, [*args.overrides, *quick.overrides(quick.made_up_mnist())]
    if args.lever == "config" and not args.against:
        parser.error("--lever config needs --against OTHER.yaml")
    # each side: (config, dtype policy, XLA, more overrides, cached input)
    first = "float32" if args.lever in ("bfloat16", "xla") else args.config
    sides = {first: (args.config, "float32", False, [], False)}
    sides |= {
        "xla": {"XLA": (args.config, "float32", True, [], False)},
        "set": {" ".join(args.with_): (args.config, "float32", False, args.with_, False)},
        "config": {args.against: (args.against, "float32", False, [], False)},
        "cached-input": {"cached input": (args.config, "float32", False, [], True)},
        "gather-input": {"gathered input": (args.config, "float32", False, [], "gather")},
    }.get(args.lever, {"mixed_bfloat16": (args.config, "mixed_bfloat16", False, [], False)})
    results: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
    for round_ in range(args.rounds):
        for side in list(results)[:: 1 if round_ % 2 == 0 else -1]:  # A B, B A, A B: no side always second
            config, policy, xla, more, cached = sides[side]
            rate, accuracy = one_run(config, args.overrides, policy, xla, more, cached)
            results[side].append((rate, accuracy))
            print(f"round {round_ + 1} {side}: {rate:,.0f} images/s, test accuracy {accuracy:.4f}", flush=True)
    print(f"\n{' '.join(args.overrides)}: later-epoch images/s, median (lowest-highest)")
    for side, rows in results.items():
        rates = [r for r, _ in rows]
        accuracies = ", ".join(f"{a:.4f}" for _, a in rows)
        median, low, high = statistics.median(rates), min(rates), max(rates)
        print(f"  {side:30} {median:,.0f} ({low:,.0f}-{high:,.0f}); accuracy {accuracies}")
    base, lever = results.values()
    ratio = [b[0] / f[0] for f, b in zip(base, lever)]
    spread = f"median {statistics.median(ratio):.2f} ({min(ratio):.2f}-{max(ratio):.2f})"
    print(f"  {list(results)[1]} / {list(results)[0]} per round: {spread}")


if __name__ == "__main__":
    main()
