"""The comparison report of `cnnlab compare --report DIR`: which run is better, by how much, at
what cost, and whether the difference is more than chance.

`DIR/compare.md` and a self-contained `DIR/compare.html` come from one list of blocks, the way
a run's report does: the runs table with 95 % intervals for the accuracy, accuracy against
parameters and against training time with the Pareto front, the validation curves, and the
matrix of McNemar p-values, each pair read out in words.

    >>> sorted(pareto_front({"a": (10, 0.9), "b": (20, 0.95), "c": (30, 0.93)}))
    ['a', 'b']
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.fileio import write_atomic
from cnnlab.reporting import plots
from cnnlab.reporting.compare import COLUMNS, PairTest, RunRow
from cnnlab.reporting.report import seconds, to_html, to_markdown
from cnnlab.scores import accuracy_interval, interval_text
from cnnlab.storage.folders import RunFolder

SIGNIFICANCE = 0.05
MATRIX_UP_TO = 8  # runs: a wider matrix of p-values runs off a page
PAIRS_UP_TO = 10  # pairs read out one by one; beyond, one line per winner and the ties folded


def pareto_front(points: dict[str, tuple[float, float]]) -> set[str]:
    """Labels of the points (cost, score) that no other point beats on both: nothing at most
    as costly is better, nothing at least as good is cheaper."""
    return {
        label
        for label, (cost, score) in points.items()
        if not any(
            other != label and c <= cost and s >= score and (c < cost or s > score) for other, (c, s) in points.items()
        )
    }


def reading(test: PairTest) -> str:
    """McNemar's result in words: "B beats A: p = 0.003" or "no evidence of a difference"."""
    if significant(test):
        better, worse = (test.a, test.b) if test.only_a > test.only_b else (test.b, test.a)
        return f"{better} beats {worse}: p {_p_relation(test.p_value)}"
    return f"{test.a} and {test.b}: no evidence of a difference (p = {test.p_value:.3g})"


def significant(test: PairTest) -> bool:
    return test.p_value < SIGNIFICANCE and test.only_a != test.only_b


def readings(tests: list[PairTest], order: list[str]) -> list:
    """The pairs in words as blocks: each pair on its line while there are few; beyond
    PAIRS_UP_TO, one line per run that beats others (in `order`, best first), and the pairs
    without evidence of a difference folded under one line.

    >>> tests = [PairTest("a", "b", 30, 2, 1e-7), PairTest("a", "c", 9, 7, 0.8)]
    >>> readings(tests, ["a", "b", "c"])[0][1]
    ['a beats b: p = 1e-07', 'a and c: no evidence of a difference (p = 0.8)']
    """
    if len(tests) <= PAIRS_UP_TO:
        return [("list", [reading(test) for test in tests])]
    beaten: dict[str, list[tuple[float, int, str]]] = {label: [] for label in order}
    for test in filter(significant, tests):
        better, worse = (test.a, test.b) if test.only_a > test.only_b else (test.b, test.a)
        beaten[better].append((test.p_value, order.index(worse), f"{worse} (p {_p_relation(test.p_value)})"))
    lines = [
        f"{label} beats {', '.join(said for *_, said in sorted(worse))}" for label, worse in beaten.items() if worse
    ]
    ties = [reading(test) for test in tests if not significant(test)]
    blocks = [("list", lines or ["no pair differs by more than chance"])]
    if ties:
        blocks.append(("details", (f"{len(ties)} of {len(tests)} pairs: no evidence of a difference", ties)))
    return blocks


def _p_relation(p: float) -> str:
    return "< 1e-300" if p == 0 else f"= {p:.3g}"


def accuracy_interval_text(metrics: dict) -> str:
    """The accuracy's 95 % interval as "0.9871 to 0.9913", from the counts in metrics.json."""
    found = _interval(metrics)
    return interval_text({"low": found[0], "high": found[1]}) if found else ""


def p_value_matrix(labels: list[str], tests: list[PairTest]) -> list[list]:
    """One row per run: its p-value against every other run on a shared test set ("-" on the
    diagonal, empty where the two runs were tested on different sets)."""
    found = {}
    for test in tests:
        found[test.a, test.b] = found[test.b, test.a] = test.p_value
    return [[a, *("-" if a == b else _p_text(found.get((a, b))) for b in labels)] for a in labels]


def _p_text(p: float | None) -> str:
    """p as text; an exact p below the smallest float is shown as a bound, not as 0."""
    return "" if p is None else _p_relation(p).removeprefix("= ")


def short_labels(rows: list[RunRow]) -> dict[RunFolder, str]:
    """The config name when it is unique among the runs, else name/timestamp."""
    names = [row.run.path.parent.name for row in rows]
    return {
        row.run: row.run.path.parent.name if names.count(row.run.path.parent.name) == 1 else row.label for row in rows
    }


def build_blocks(rows: list[RunRow], tests: list[PairTest], metric: str, pictures: list[tuple[str, str]]) -> list:
    """The report's content as (kind, payload) blocks, rows already sorted by `metric`."""
    labels = short_labels(rows)
    table = []
    for row in rows:
        _, parameters, macs, epochs, _, per_second, loss, accuracy = row.values()
        table.append(
            [labels[row.run], parameters, macs, epochs, seconds(row.train_seconds), per_second, loss, accuracy]
            + [accuracy_interval_text(row.metrics)]
        )
    best = rows[0]
    blocks = [
        ("h1", f"Comparison of {len(rows)} runs"),
        (
            "p",
            f"Sorted by test {metric}, best first: {labels[best.run]} "
            f"({metric} {best.metrics.get(metric, float('nan')):.4f}). "
            "The interval is Wilson's 95 % interval for the test accuracy.",
        ),
        ("table", (["run", *COLUMNS[1:], "accuracy 95 % interval"], table)),
    ]
    if tests:
        short = [labels[row.run] for row in rows]
        by_label = {row.label: labels[row.run] for row in rows}
        named = [PairTest(by_label[t.a], by_label[t.b], t.only_a, t.only_b, t.p_value) for t in tests]
        blocks += [
            ("h2", "Is the difference more than chance?"),
            (
                "p",
                "McNemar's exact test on the test examples the runs share: p is the chance of a split "
                f"at least this uneven between two equally accurate models. Below {SIGNIFICANCE} the "
                "more accurate run is called better.",
            ),
        ]
        if len(short) <= MATRIX_UP_TO:
            blocks.append(("table", (["p-value", *short], p_value_matrix(short, named))))
        blocks += readings(named, short)
    else:
        blocks.append(("p", "No two runs share a test set, so no pair could be tested."))
    if pictures:  # after the verdicts, so that nobody judges a gap on a zoomed axis first
        blocks += [("h2", "What each costs, and how it learned"), *(("image", picture) for picture in pictures)]
    return blocks


def compare_page(rows: list[RunRow], tests: list[PairTest], metric: str, folder: Path) -> tuple[list, dict]:
    """The comparison's blocks, and its pictures (drawn into `folder`) by name."""
    folder = Path(folder)
    labels = short_labels(rows)
    pictures: dict[str, bytes] = {}
    described = []
    scored = [row for row in rows if isinstance(row.metrics.get("accuracy"), (int, float))]
    intervals = {labels[row.run]: _interval(row.metrics) for row in scored if _interval(row.metrics)}
    numbered = " (numbered best first, named in the key beside it)" if len(scored) > plots.NAMED_UP_TO else ""
    for name, cost, axis in (
        ("accuracy_vs_parameters.png", lambda row: row.parameters, "parameters"),
        ("accuracy_vs_time.png", lambda row: row.train_seconds, "training seconds"),
    ):
        points = {labels[row.run]: (cost(row), row.metrics["accuracy"]) for row in scored if cost(row)}
        if points:
            front = pareto_front(points)
            pictures[name] = plots.tradeoff(
                points, front, folder / name, xlabel=axis, ylabel="test accuracy", intervals=intervals
            )
            described.append(
                (name, f"test accuracy against {axis}{numbered}, with 95 % intervals; the Pareto front in red")
            )
    curves = {labels[row.run]: row.run.history for row in rows if row.run.history}
    if any(f"val_{metric}" in history[0] for history in curves.values()):
        pictures["validation_curves.png"] = plots.compared_curves(curves, metric, folder / "validation_curves.png")
        described.append(("validation_curves.png", f"validation {metric} per epoch"))
    return build_blocks(rows, tests, metric, described), pictures


def _interval(metrics: dict) -> tuple[float, float] | None:
    if not isinstance(metrics.get("correct"), int) or not isinstance(metrics.get("examples"), int):
        return None
    return accuracy_interval(metrics["correct"], metrics["examples"])


def write_compare_report(rows: list[RunRow], tests: list[PairTest], metric: str, folder: Path) -> tuple[Path, Path]:
    """compare.md, compare.html and their pictures in `folder`; returns the two pages' paths."""
    return write_pages(*compare_page(rows, tests, metric, folder), Path(folder), "cnnlab comparison")


def write_pages(blocks: list, pictures: dict, folder: Path, title: str) -> tuple[Path, Path]:
    """A comparison's blocks as `folder`/compare.md and a self-contained compare.html (runs or
    groups of runs alike); returns the two pages' paths."""
    pages = folder / "compare.md", folder / "compare.html"
    write_atomic(pages[0], to_markdown(blocks))
    write_atomic(pages[1], to_html(blocks, pictures, title=title))
    return pages
