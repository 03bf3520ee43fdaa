"""Comparing runs: one row per run, and for each pair evaluated on the same test set an exact
McNemar test on their stored predictions, so "B beats A" can be told apart from noise.
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.errors import RunError
from cnnlab.hints import evaluate_step
from cnnlab.reporting.report import to_markdown
from cnnlab.scores import mcnemar_exact
from cnnlab.storage.folders import RunFolder
from cnnlab.storage.lookup import find_run, list_runs

COLUMNS = ("run", "parameters", "MACs", "epochs", "train s", "images/s", "test loss", "test accuracy")


@dataclass(frozen=True)
class RunRow:
    run: RunFolder
    label: str
    parameters: int | None
    macs: int | None
    epochs: int | None
    train_seconds: float | None
    images_per_second: float | None
    metrics: dict
    predictions: dict | None = None  # y_true, y_pred, probabilities of the test split

    def values(self) -> list:
        return [
            self.label,
            self.parameters,
            self.macs,
            self.epochs,
            self.train_seconds,
            self.images_per_second,
            self.metrics.get("loss"),
            self.metrics.get("accuracy"),
        ]


@dataclass(frozen=True)
class PairTest:
    a: str
    b: str
    only_a: int
    only_b: int
    p_value: float


def rows_of(targets: list[str], runs_dir: Path) -> tuple[list[RunRow], list[str]]:
    """The rows of the runs `targets` name, and a line for each run found in a folder that is
    skipped because its files are damaged (a run named on its own is refused instead)."""
    rows, skipped = [], []
    for run, listed in _targeted(targets, runs_dir):
        try:
            rows.append(run_row(run))
        except RunError as error:
            if not listed:
                raise
            skipped.append(f"skipped {run}: {error}")
    return rows, skipped


def _targeted(targets: list[str], runs_dir: Path) -> list[tuple[RunFolder, bool]]:
    """(run, whether it was found in a folder of runs rather than named)."""
    found = []
    for target in targets:
        below = [run for run in map(RunFolder, list_runs(Path(target))) if run.metrics_file().is_file()]
        found += [(run, True) for run in below] or [(RunFolder(find_run(target, runs_dir)), False)]
    return found


def run_row(run: RunFolder) -> RunRow:
    """What a run's manifest, test metrics and predictions say about it."""
    hint = f"was this run evaluated? try: {evaluate_step(run.path)}"
    manifest = run.require_manifest(hint)
    if manifest.get("status") == "failed" and not run.metrics_file().is_file():
        raise RunError(f"{run}: the run failed, so it has no test results to compare ({manifest.get('failure')})")
    metrics = run.metrics(hint=hint)
    timing = manifest.get("timing", {})
    return RunRow(
        run,
        f"{run.path.parent.name}/{run.path.name}",
        manifest.get("parameters"),
        manifest.get("macs"),
        manifest.get("epochs_completed"),
        timing.get("train_seconds"),
        timing.get("images_per_second"),
        metrics,
        run.predictions(),
    )


def sort_rows(rows: list[RunRow], metric: str) -> list[RunRow]:
    """Best first: lowest for a loss, highest otherwise; runs without the metric last."""

    def scored(row: RunRow) -> bool:
        return isinstance(row.metrics.get(metric), (int, float))

    best_first = sorted(filter(scored, rows), key=lambda row: row.metrics[metric], reverse="loss" not in metric)
    return best_first + [row for row in rows if not scored(row)]


def pair_tests(rows: list[RunRow]) -> list[PairTest]:
    """McNemar's exact test for every pair whose predictions cover the same test examples."""
    predictions = {}
    for row in rows:
        if row.predictions is not None:
            predictions[row.label] = (row.predictions["y_true"], row.predictions["y_pred"])
    tests = []
    for a, b in itertools.combinations([r.label for r in rows if r.label in predictions], 2):
        (true_a, pred_a), (true_b, pred_b) = predictions[a], predictions[b]
        if true_a.shape != true_b.shape or not np.array_equal(true_a, true_b):
            continue  # different test sets: nothing to pair
        only_a, only_b, p = mcnemar_exact(pred_a == true_a, pred_b == true_b)
        tests.append(PairTest(a, b, only_a, only_b, p))
    return tests


def as_csv(rows: list[RunRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row.values() for row in rows)
    return buffer.getvalue()


def as_markdown(rows: list[RunRow], tests: list[PairTest]) -> str:
    blocks = [("table", (list(COLUMNS), [row.values() for row in rows]))]
    if tests:
        blocks += [
            ("p", "McNemar's exact test on the shared test set (b: only A right, c: only B right):"),
            (
                "table",
                (["A", "B", "b", "c", "p"], [[t.a, t.b, t.only_a, t.only_b, t.p_value] for t in tests]),
            ),
        ]
    return to_markdown(blocks)
