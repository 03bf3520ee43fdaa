"""Batch norm statistics recomputed at the end of training, against doing nothing: the test
accuracy of each run's last.keras with the moving averages training left (nothing done), and
with them recomputed for its final weights (what `cnnlab train` now does to best.keras).

    .venv/bin/python benchmarks/batch_norm.py runs/mnist_fast/20261205-* runs/mnist_best/...

Use runs without validation data (best.keras is then the last epoch, and last.keras still has
training's own statistics). Prints one row per run and the mean paired difference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders")
    runs = parser.parse_args().runs
    import keras

    from cnnlab.config import load_config
    from cnnlab.data import dataset_info, load_splits
    from cnnlab.engine.batchnorm import recompute_statistics

    differences = []
    print(f"{'run':45s} {'train acc':>9s} {'nothing':>8s} {'recomputed':>10s} {'seconds':>7s}")
    for run in runs:
        cfg = load_config(run / "config.yaml")
        splits = load_splits(cfg, dataset_info(cfg).num_classes)
        model = keras.saving.load_model(run / "last.keras")

        before = _accuracy(model, splits)
        started = time.perf_counter()
        used = recompute_statistics(model, splits.x_train)
        took = time.perf_counter() - started
        after = _accuracy(model, splits) if used else before
        differences.append(after - before)
        trained = (run / "history.csv").read_text().splitlines()
        last = dict(zip(trained[0].split(","), trained[-1].split(",")))
        print(f"{str(run)[-45:]:45s} {float(last['accuracy']):9.4f} {before:8.4f} {after:10.4f} {took:7.2f}")
    print(f"mean difference (recomputed - nothing): {statistics.mean(differences):+.4f} over {len(runs)} runs")


def _accuracy(model, splits) -> float:
    import numpy as np

    predicted = model.predict(splits.x_test, batch_size=500, verbose=0).argmax(axis=1)
    return float(np.mean(predicted == splits.labels_test))


if __name__ == "__main__":
    main()
