"""Comparing groups of runs (one config, several seeds each): does a difference hold across
seeds? For each pair of groups, Welch's t-test on the per-seed test scores, the difference of
the means with its 95 % interval, and beside them McNemar's exact test for each seed's pair of
runs; a table, a picture of the per-seed points and a verdict in words.

McNemar on one pair of runs measures the test set's noise: whether these two trained models
differ. Welch across seeds measures the training's: whether another seed would land elsewhere.
A config is called better only when Welch says so.

    >>> pair = GroupPair("a", "b", {"p": 0.01, "difference": 0.002, "low": 0.001, "high": 0.003, "df": 3.9},
    ...     [{"seeds": [1, 1], "only_a": 9, "only_b": 2, "p": 0.065}])
    >>> verdict(pair, "accuracy").split(", Welch")[0]
    'a beats b across seeds: mean test accuracy +0.0020 (95 % interval 0.0010 to 0.0030)'
"""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cnnlab.errors import RunError
from cnnlab.reporting import plots
from cnnlab.reporting.compare_report import SIGNIFICANCE, write_pages
from cnnlab.reporting.report import seconds
from cnnlab.scores import interval_text, mcnemar_exact, welch
from cnnlab.storage.folders import GroupFolder, RunFolder

COLUMNS = ("group", "runs", "parameters", "mean", "sd", "95 % interval", "train s (mean)")


@dataclass(frozen=True)
class GroupRow:
    """A group as the comparison sees it: its completed runs in seed order and their scores."""

    folder: GroupFolder
    label: str  # name/stamp-xN
    name: str
    seeds: list[int]  # of the completed runs, in order
    runs: list[RunFolder]
    scores: dict  # metric -> spread (mean, sd, low, high, n, values)
    train_seconds: dict
    parameters: int | None

    def values(self, metric: str) -> list:
        score = self.scores.get(metric, {})
        interval = "" if score.get("low") is None else interval_text(score)
        return [
            self.label,
            len(self.runs),
            self.parameters,
            score.get("mean"),
            score.get("sd"),
            interval,
            self.train_seconds.get("mean"),
        ]


@dataclass(frozen=True)
class GroupPair:
    a: str
    b: str
    welch: dict  # scores.welch of A's per-seed scores against B's: p, difference (A - B), low, high, df
    mcnemar: list[dict]  # per seed pair: seeds [A's, B's], only_a, only_b, p

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "p_welch": self.welch["p"],
            "difference": self.welch["difference"],
            "difference_low": self.welch["low"],
            "difference_high": self.welch["high"],
            "df": self.welch["df"],
            "p_mcnemar": [m["p"] for m in self.mcnemar],
            "mcnemar": self.mcnemar,
        }


def group_row(folder: GroupFolder) -> GroupRow:
    """What a group's `group.json` and its completed runs say about it."""
    summary = folder.summary
    folder.require_runs(summary["runs"], hint="put it back, or compare the runs that are left as single runs")
    completed = [m for m in summary["runs"] if m["status"] == "completed"]
    if not completed:
        raise RunError(f"{folder}: none of its runs completed, so it has no test results to compare")
    runs = [folder.run(m["run"]) for m in completed]
    return GroupRow(
        folder,
        f"{folder.path.parent.name}/{folder.path.name}",
        summary["name"],
        [m["seed"] for m in completed],
        runs,
        summary["test"],
        summary["train_seconds"],
        runs[0].manifest.get("parameters"),
    )


def named_by_config(rows: list[GroupRow]) -> list[GroupRow]:
    """The rows labelled by their config's name where no other group has it (else name/stamp)."""
    names = [row.name for row in rows]
    return [replace(row, label=row.name) if names.count(row.name) == 1 else row for row in rows]


def sort_groups(rows: list[GroupRow], metric: str) -> list[GroupRow]:
    """Best mean first: lowest for a loss, highest otherwise; groups without the metric last."""
    scored = [row for row in rows if row.scores.get(metric, {}).get("mean") is not None]
    best_first = sorted(scored, key=lambda row: row.scores[metric]["mean"], reverse="loss" not in metric)
    return best_first + [row for row in rows if row not in scored]


def group_pairs(rows: list[GroupRow], metric: str) -> list[GroupPair]:
    """Welch's test for every pair of groups, and McNemar for each seed's pair of runs tested on
    the same examples: runs of the same seed when both groups have it, else in seed order."""
    pairs = []
    for a, b in itertools.combinations(rows, 2):
        values = [row.scores.get(metric, {}).get("values", []) for row in (a, b)]
        pairs.append(GroupPair(a.label, b.label, welch(*values), _mcnemar_by_seed(a, b)))
    return pairs


def _mcnemar_by_seed(a: GroupRow, b: GroupRow) -> list[dict]:
    if set(a.seeds) & set(b.seeds):
        matched = [(a.runs[a.seeds.index(s)], b.runs[b.seeds.index(s)], s, s) for s in a.seeds if s in b.seeds]
    else:
        matched = list(zip(a.runs, b.runs, a.seeds, b.seeds))
    tests = []
    for run_a, run_b, seed_a, seed_b in matched:
        stored_a, stored_b = run_a.predictions(), run_b.predictions()
        if stored_a is None or stored_b is None or not np.array_equal(stored_a["y_true"], stored_b["y_true"]):
            continue  # different test sets: nothing to pair
        true = stored_a["y_true"]
        only_a, only_b, p = mcnemar_exact(stored_a["y_pred"] == true, stored_b["y_pred"] == true)
        tests.append({"seeds": [seed_a, seed_b], "only_a": only_a, "only_b": only_b, "p": p})
    return tests


def verdict(pair: GroupPair, metric: str) -> str:
    """Whether the difference holds across seeds (Welch), with the seed pairs' McNemar beside it."""
    test = pair.welch
    significant = sum(m["p"] < SIGNIFICANCE for m in pair.mcnemar)
    seeds = (
        f"McNemar p < {SIGNIFICANCE} in {significant} of {len(pair.mcnemar)} seed pairs"
        if pair.mcnemar
        else "no seed pair shares a test set, so no McNemar"
    )
    if test["p"] is None:
        return f"{pair.a} and {pair.b}: too few seeds for Welch's test (2 each at least); {seeds}"
    interval = f"(95 % interval {test['low']:.4f} to {test['high']:.4f})"
    if test["p"] < SIGNIFICANCE:
        better, worse = (pair.a, pair.b) if test["difference"] > 0 else (pair.b, pair.a)
        if "loss" in metric:
            better, worse = worse, better
        return (
            f"{better} beats {worse} across seeds: mean test {metric} {test['difference']:+.4f} {interval}, "
            f"Welch p = {test['p']:.3g}; {seeds}"
        )
    held = " — a single seed's verdict would not hold across seeds" if significant else ""
    return (
        f"{pair.a} and {pair.b}: no evidence of a difference across seeds (mean test {metric} "
        f"{test['difference']:+.4f} {interval}, Welch p = {test['p']:.3g}); {seeds}{held}"
    )


def as_dict(rows: list[GroupRow], pairs: list[GroupPair], metric: str) -> dict:
    """What `cnnlab compare GROUPS... --json` prints."""
    return {
        "metric": metric,
        "groups": [
            {
                "group": row.label,
                "path": str(row.folder.path),
                "seeds": row.seeds,
                "runs": [str(run.path) for run in row.runs],
                "parameters": row.parameters,
                "test": row.scores,
                "train_seconds": row.train_seconds,
            }
            for row in rows
        ],
        "pairs": [pair.to_dict() for pair in pairs],
    }


def as_csv(rows: list[GroupRow], metric: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(metric))
    writer.writerows(row.values(metric) for row in rows)
    return buffer.getvalue()


def header(metric: str) -> list[str]:
    """The groups table's columns, the mean and sd named by their metric."""
    return [c if c not in ("mean", "sd") else f"test {metric} {c}" for c in COLUMNS]


def _with_seconds(values: list) -> list:
    """A row as the page shows it: its last column, the mean training seconds, to the hundredth."""
    return [*values[:-1], seconds(values[-1])]


def group_blocks(rows: list[GroupRow], pairs: list[GroupPair], metric: str, pictures: list) -> list:
    """The comparison as (kind, payload) blocks, for compare.md and compare.html."""
    seeds = sorted({len(row.runs) for row in rows})
    blocks = [
        ("h1", f"Comparison of {len(rows)} groups of runs ({'/'.join(map(str, seeds))} seeds each)"),
        (
            "p",
            f"Each group is one config trained with several seeds. Sorted by mean test {metric}, best first; "
            "sd is the standard deviation over the seeds, the interval the mean's (Student's t).",
        ),
        ("table", (header(metric), [_with_seconds(row.values(metric)) for row in rows])),
    ]
    blocks += [("image", picture) for picture in pictures]
    if pairs:
        blocks += [
            ("h2", "Does the difference hold across seeds?"),
            (
                "p",
                "Welch's t-test on the per-seed test scores asks whether another seed would change the answer; "
                f"below {SIGNIFICANCE} the config with the better mean is called better. McNemar's exact test "
                "on each seed's pair of runs asks only whether those two trained models differ on this test set.",
            ),
            (
                "table",
                (
                    ["A", "B", "difference (A - B)", "95 % interval", "Welch p", "McNemar p per seed pair"],
                    [
                        [
                            p.a,
                            p.b,
                            p.welch["difference"],
                            "" if p.welch["low"] is None else f"{p.welch['low']:.4f} to {p.welch['high']:.4f}",
                            p.welch["p"],
                            ", ".join(f"{m['p']:.3g}" for m in p.mcnemar),
                        ]
                        for p in pairs
                    ],
                ),
            ),
            ("list", [verdict(pair, metric) for pair in pairs]),
        ]
    return blocks


def group_page(rows: list[GroupRow], pairs: list[GroupPair], metric: str, folder: Path) -> tuple[list, dict]:
    """The blocks and the picture of the per-seed scores (drawn into `folder`), by name."""
    name = "seeds.png"
    points = {row.label: row.scores[metric] for row in rows if row.scores.get(metric, {}).get("mean") is not None}
    pictures = {name: plots.seed_spread(points, Path(folder) / name, f"test {metric}")} if points else {}
    described = [(name, f"test {metric} of each seed's run, with each group's mean and 95 % interval")]
    return group_blocks(rows, pairs, metric, described if pictures else []), pictures


def write_group_report(rows: list[GroupRow], pairs: list[GroupPair], metric: str, folder: Path) -> tuple[Path, Path]:
    """compare.md, compare.html and the picture in `folder`; returns the two pages' paths."""
    return write_pages(*group_page(rows, pairs, metric, folder), Path(folder), "cnnlab comparison of groups")
