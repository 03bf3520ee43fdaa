"""Seconds of training until the test accuracy first reaches a target (99.0 % by default):
cnnlab training a config against the plain-Keras script of the classic exercise, seeds 1-3,
the two sides alternating (A B A B ...) in one process.

    python benchmarks/time_to_accuracy.py [--config configs/mnist_fast.yaml] [--seeds 1 2 3]
        [--target 0.99] [--every 100] [--plain-limit 120] [--no-plain] [--set KEY=VALUE ...]

The weights are copied every `--every` optimizer steps and at each epoch's end, with the time
trained so far, and scored on the test split after training: only training counts (cnnlab's
checkpoints and history at each epoch's end included, as a user waits for them). A side that has
not reached the target after its epochs (or, for the plain script, after `--plain-limit` seconds)
reports the best accuracy it reached instead.
Needs MNIST in Keras' cache (`cnnlab data fetch mnist`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def clock(every: int, limit: float):
    """A Keras callback that times training and keeps a copy of the weights every `every` steps
    and at each epoch's end, with the time trained so far; it stops training after `limit`
    seconds. The copies are scored after training (`first_reaching`): scoring in between slowed
    the training steps after it (2x for mnist_fast with 18 scorings), though its own time was
    left out. Made here, not at import: cnnlab starts Keras with its own settings."""
    import keras

    class Clock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.trained, self.snapshots = 0.0, []
            self.steps = self.epoch_start = self.kept_at = 0

        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = self.steps

        def on_train_batch_end(self, batch, logs=None):
            self.steps = self.epoch_start + batch + 1  # batch: the last of the steps run in this call
            if self.steps - self.kept_at >= every:
                self._keep()

        def on_epoch_end(self, epoch, logs=None):
            if self.steps != self.kept_at:  # cnnlab's checkpoints and history came first: counted
                self._keep()

        def _keep(self):
            self.trained += time.perf_counter() - self.started
            self.snapshots.append((self.trained, self.steps, self.model.get_weights()))
            self.kept_at = self.steps
            if self.trained > limit:
                self.model.stop_training = True
            self.started = time.perf_counter()

    return Clock()


def first_reaching(model, snapshots, x_test, y_test, target: float) -> tuple[float | None, float, float]:
    """(seconds trained when the test accuracy first reached `target` or None, the best
    accuracy of any copy, the seconds trained in all)."""
    best = 0.0
    for seconds, _, weights in snapshots:
        model.set_weights(weights)
        accuracy = float(np.mean(model.predict(x_test, batch_size=1000, verbose=0).argmax(-1) == y_test))
        best = max(best, accuracy)
        if accuracy >= target:
            return seconds, best, snapshots[-1][0]
    return None, best, snapshots[-1][0] if snapshots else 0.0


def cnnlab_side(
    config: str, overrides: list[str], seed: int, target: float, every: int
) -> tuple[float | None, float, float]:
    """(seconds to target or None, best accuracy, seconds trained) of cnnlab training `config`."""
    from cnnlab.config import load_config
    from cnnlab.runtime.startup import start_keras

    cfg = load_config(config, [*overrides, f"seed={seed}"])
    start_keras(cfg)
    import keras

    from cnnlab.data import load_splits
    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.storage.folders import RunFolder

    keras.backend.clear_session()
    planned = plan(cfg)
    splits = load_splits(cfg, planned.info.num_classes)
    timer = clock(every, float("inf"))
    with tempfile.TemporaryDirectory() as folder:
        train(planned, RunFolder(folder), callbacks=[timer])
    return first_reaching(planned.model, timer.snapshots, splits.x_test, splits.labels_test, target)


def plain_side(folder: Path, seed: int, target: float, every: int, limit: float) -> tuple[float | None, float, float]:
    """The same for benchmarks/plain_mnist.py's model and data, up to `limit` seconds."""
    import keras
    from plain_mnist import exercise_model, idx

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x_train = idx(folder / "train-images-idx3-ubyte")[..., None] / 255.0
    y_train = keras.utils.to_categorical(idx(folder / "train-labels-idx1-ubyte"), 10)
    x_test = idx(folder / "t10k-images-idx3-ubyte")[..., None] / 255.0
    y_test = idx(folder / "t10k-labels-idx1-ubyte")
    model = exercise_model()
    timer = clock(every, limit)
    model.fit(x_train, y_train, batch_size=32, epochs=12, verbose=0, callbacks=[timer])
    return first_reaching(model, timer.snapshots, x_test, y_test, target)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s ({min(values):.1f}-{max(values):.1f})" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/mnist_fast.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--every", type=int, default=100, help="score the test split every N optimizer steps")
    parser.add_argument("--plain-limit", type=float, default=120.0, help="seconds of training the plain side gets")
    parser.add_argument("--no-plain", action="store_true", help="time cnnlab only")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE for the config")
    parser.add_argument("--quick", action="store_true", help="one short round on made-up images: CI's smoke run")
    args = parser.parse_args()
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    mnist = keras_home / "datasets" / "mnist"
    if args.quick:  # benchmarks/quick.py: both sides on the made-up files, one seed, a few seconds
        import quick

        mnist = quick.made_up_mnist()
        args.seeds, args.plain_limit, args.overrides = [1], 5.0, [*args.overrides, *quick.overrides(mnist)]

    results: dict[str, list[tuple[int, float | None, float, float]]] = {"cnnlab": [], "plain": []}
    for seed in args.seeds:  # A B, A B, ...: a drift of the shared machine falls on both sides
        reached, best, trained = cnnlab_side(args.config, args.overrides, seed, args.target, args.every)
        results["cnnlab"].append((seed, reached, best, trained))
        print(f"cnnlab {args.config} seed {seed}: {_said(reached, best, trained, args.target)}", flush=True)
        if not args.no_plain:
            reached, best, trained = plain_side(mnist, seed, args.target, args.every, args.plain_limit)
            results["plain"].append((seed, reached, best, trained))
            print(f"plain script seed {seed}: {_said(reached, best, trained, args.target)}", flush=True)

    print(f"\nseconds of training to {args.target:.1%} test accuracy, median (lowest-highest):")
    for side, rows in results.items():
        if rows:
            times = [r for _, r, _, _ in rows if r is not None]
            print(f"  {side:7} {spread(times)}; {len(times)} of {len(rows)} seeds reached it")
    cnnlab_times = [r for _, r, _, _ in results["cnnlab"] if r is not None]
    plain_rows = results["plain"]
    if cnnlab_times and plain_rows:
        plain_times = [r if r is not None else t for _, r, _, t in plain_rows]
        bound = "" if all(r is not None for _, r, _, _ in plain_rows) else " at least (the plain side ran out of time)"
        ratio = statistics.median(plain_times) / statistics.median(cnnlab_times)
        print(f"  plain/cnnlab {ratio:.1f}{bound}")


def _said(reached: float | None, best: float, trained: float, target: float) -> str:
    if reached is not None:
        return f"{target:.1%} after {reached:.1f} s of training"
    return f"not reached after {trained:.1f} s of training (best {best:.4f})"


if __name__ == "__main__":
    main()
