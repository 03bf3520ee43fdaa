"""Training throughput of `cnnlab train` against plain Keras, same model, same data, same process.

The reference is what a notebook does: `model.fit(x, y, batch_size=32, validation_data=...)` on
NumPy arrays, no callbacks. cnnlab adds its tf.data pipeline and every callback of a run
(TensorBoard with histograms, history.csv, best/last checkpoints, BackupAndRestore, NaN guard).
Both are timed per epoch; the first epoch (graph tracing) is reported apart from the rest.
Rounds alternate (reference, cnnlab, reference, cnnlab) so drift on a shared machine shows.

    .venv/bin/python benchmarks/train_throughput.py [--examples 10000] [--epochs 3] [--rounds 3]

Prints images per second and the cnnlab / reference ratio (1.00 = as fast as plain Keras) as
medians with the spread, and the process's peak resident memory. Needs MNIST (fetched like
`cnnlab train` does).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


import quick  # noqa: E402  (benchmarks/quick.py, beside this script)

from cnnlab.runtime import backend  # noqa: E402  (after the path set-up)

backend.start()  # TensorFlow up quietly before Keras is used below
import keras  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Wall time of every epoch (the same measure as history.csv's epoch_seconds)."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def reference_epochs(cfg, splits) -> list[float]:
    """Plain Keras: compile and fit on NumPy arrays, nothing else."""
    from cnnlab.model.build import build_model

    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    timer = EpochTimer()
    model.fit(
        splits.x_train,
        splits.y_train,
        batch_size=cfg.train.batch_size,
        epochs=cfg.train.epochs,
        validation_data=None if splits.x_val is None else (splits.x_val, splits.y_val),
        verbose=0,
        callbacks=[timer],
    )
    return timer.seconds


def cnnlab_epochs(cfg) -> list[float]:
    """`cnnlab train` as the CLI runs it, minus the printing."""
    from cnnlab.engine.plan import plan
    from cnnlab.engine.training import train
    from cnnlab.storage.folders import RunFolder
    from cnnlab.storage.lookup import create_run_folder

    with tempfile.TemporaryDirectory() as runs:
        run = RunFolder(create_run_folder(Path(runs), cfg.name))
        run.save_config(cfg.to_yaml())
        train(plan(cfg), run)
        return [row["epoch_seconds"] for row in run.history]


def rate(examples: int, seconds: list[float]) -> tuple[float, float]:
    """(images/s of the first epoch, images/s of the later epochs)."""
    later = seconds[1:] or seconds
    return examples / seconds[0], examples * len(later) / sum(later)


def spread(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10000, help="training examples (data.limit)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--validation-split", type=float, default=0.1, help="held-out share, validated after every epoch by both sides"
    )
    parser.add_argument("--quick", action="store_true", help="one short round on made-up images: CI's smoke run")
    args = parser.parse_args()
    data = []
    if args.quick:  # benchmarks/quick.py
        args.rounds, args.epochs, args.examples = 1, 2, quick.TRAIN
        data = quick.overrides(quick.made_up_mnist())

    from cnnlab.config import load_config
    from cnnlab.data import dataset_info, load_arrays
    from cnnlab.data.prepare import prepare

    cfg = load_config(
        REPO / "configs" / "mnist_baseline.yaml",
        [
            f"train.epochs={args.epochs}",
            f"data.limit={args.examples}",
            f"data.validation_split={args.validation_split}",
            *data,
        ],
    )
    info = dataset_info(cfg)
    splits = prepare(
        load_arrays(cfg),
        preprocess="scale",
        validation_split=cfg.data.validation_split,
        limit=cfg.data.limit,
        loss=cfg.train.loss,
        num_classes=info.num_classes,
        seed=cfg.seed,
    )
    examples = len(splits.x_train)
    results = {"reference": [], "cnnlab": []}
    for round_ in range(args.rounds):
        for name, run in (("reference", lambda: reference_epochs(cfg, splits)), ("cnnlab", lambda: cnnlab_epochs(cfg))):
            first, later = rate(examples, run())
            results[name].append(later)
            print(
                f"round {round_ + 1}  {name:9s}  first epoch {first:7.0f} images/s   "
                f"later epochs {later:7.0f} images/s",
                flush=True,
            )
    reference, ours = statistics.median(results["reference"]), statistics.median(results["cnnlab"])
    # Each round's ratio pairs a cnnlab run with the reference run just before it.
    ratios = [b / a for a, b in zip(results["reference"], results["cnnlab"])]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = {
        "examples": examples,
        "epochs": args.epochs,
        "rounds": args.rounds,
        "reference_images_per_second": round(reference, 1),
        "cnnlab_images_per_second": round(ours, 1),
        "ratio": round(ours / reference, 3),
        "round_ratios": [round(r, 3) for r in ratios],
        "peak_rss_mb": round(peak_mb, 1),
    }
    print(
        f"later-epoch images/s, median (lowest-highest): reference {spread(results['reference'])}, "
        f"cnnlab {spread(results['cnnlab'])}\n"
        f"ratio cnnlab/reference: {ours / reference:.3f} of the medians; per round {spread(ratios, 2)}; "
        f"peak RSS {peak_mb:.0f} MB"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
