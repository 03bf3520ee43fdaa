"""`cnnlab compare --report DIR`: numbers that match each run's metrics.json, McNemar against a
case worked by hand, the Pareto front, and a page that needs nothing beside it."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from cnnlab.reporting.compare import PairTest
from cnnlab.reporting.compare_report import pareto_front, reading
from cnnlab.scores import accuracy_interval


def evaluated_run(root, name: str, correct: np.ndarray, *, parameters: int, seconds: float):
    """A run folder as evaluate leaves it: manifest, metrics.json with counts, predictions."""
    run = root / name / "20261122-101500"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(f"name: {name}\n")
    manifest = {"parameters": parameters, "epochs_completed": 2, "timing": {"train_seconds": seconds}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    metrics = {"accuracy": float(correct.mean()), "loss": 1.0 - float(correct.mean()), "correct": int(correct.sum())}
    (run / "metrics.json").write_text(json.dumps({**metrics, "examples": len(correct)}))
    y_true = np.arange(len(correct)) % 3
    np.savez(run / "predictions.npz", y_true=y_true, y_pred=np.where(correct, y_true, (y_true + 1) % 3))
    return run


def _row(markdown: str, label: str) -> list[str]:
    line = next(line for line in markdown.splitlines() if line.startswith(f"| {label} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_report_holds_each_runs_numbers_and_a_hand_worked_mcnemar(run_cli, tmp_path):
    # 40 shared test examples. "big" gets 10 right that "small" misses, and none the other way:
    # b = 10, c = 0, so the exact two-sided p is 2 * (1/2)^10 = 0.001953.
    big = np.array([True] * 28 + [True] * 10 + [False] * 2)
    small = np.array([True] * 28 + [False] * 10 + [False] * 2)
    evaluated_run(tmp_path / "runs", "big", big, parameters=100_000, seconds=30.0)
    evaluated_run(tmp_path / "runs", "small", small, parameters=5_000, seconds=10.0)
    report = tmp_path / "report"
    result = run_cli("compare", tmp_path / "runs", "--report", report)  # a folder holding runs
    assert result.exit_code == 0, result.output
    markdown = (report / "compare.md").read_text()
    header = _row(markdown, "run")
    for label, correct in (("big", 38), ("small", 28)):
        row = dict(zip(header, _row(markdown, label)))
        assert row["test accuracy"] == f"{correct / 40:.4f}"
        assert row["parameters"] == f"{100_000 if label == 'big' else 5_000:,}"
    # Wilson's interval for 38 of 40, worked by hand: 0.8350 to 0.9862.
    assert dict(zip(header, _row(markdown, "big")))["accuracy 95 % interval"] == "0.8350 to 0.9862"
    matrix = markdown[markdown.index("| p-value |") :]
    assert dict(zip(_row(matrix, "p-value"), _row(matrix, "small")))["big"] == "0.00195"
    assert "- big beats small: p = 0.00195" in markdown
    assert markdown.index("| big |") < markdown.index("| small |")  # sorted by accuracy
    assert "Sorted by test accuracy, best first: big (accuracy 0.9500)." in markdown
    assert re.findall(r"^#+ .*", markdown, re.M) == [
        "# Comparison of 2 runs",
        "## Is the difference more than chance?",
        "## What each costs, and how it learned",
    ]


def test_runs_of_other_test_sets_are_not_paired_and_a_metric_none_has_reads_nan(tmp_path):
    """The page says why no pair was tested (the bug: the sentence lost or changed), and a
    metric none of the runs logged is shown as nan, not a crash."""
    import cnnlab

    a = evaluated_run(tmp_path / "runs", "a", np.array([True] * 30 + [False] * 10), parameters=10, seconds=1.0)
    b = evaluated_run(tmp_path / "runs", "b", np.array([True] * 20 + [False] * 20 + [True]), parameters=20, seconds=2.0)
    cnnlab.compare([a, b]).write(tmp_path / "report")
    markdown = (tmp_path / "report" / "compare.md").read_text()
    assert "No two runs share a test set, so no pair could be tested." in markdown
    cnnlab.compare([a, b], metric="top_5_accuracy").write(tmp_path / "other")
    assert "best first: a (top_5_accuracy nan)." in (tmp_path / "other" / "compare.md").read_text()


@pytest.mark.trains
def test_the_html_page_is_self_contained_and_shows_the_trade_offs(run_cli, trained, tmp_path):
    run, _, _ = trained
    result = run_cli("compare", run, run, "--report", tmp_path / "new" / "folder")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "new" / "folder" / "compare.html").read_text()
    assert re.findall(r"<title>(.*?)</title>", page) == ["cnnlab comparison"]  # the tab's name, not a report's
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert all(alt in page for alt in ("against parameters", "against training seconds", "validation accuracy"))
    assert "no evidence of a difference (p = 1)" in page  # a run against itself
    assert not re.findall(r'(?:href|src)="(?!data:)', page) and "<link" not in page


def test_pareto_front_keeps_what_nothing_beats_on_both():
    points = {"cheap": (1, 0.90), "mid": (5, 0.97), "dominated": (6, 0.95), "tie": (5, 0.97), "best": (50, 0.99)}
    assert pareto_front(points) == {"cheap", "mid", "tie", "best"}


def test_reading_says_which_run_wins_only_below_the_threshold():
    assert reading(PairTest("a", "b", 2, 12, 0.0129)) == "b beats a: p = 0.0129"
    assert reading(PairTest("a", "b", 8, 2, 0.109)) == "a and b: no evidence of a difference (p = 0.109)"
    # an exact p below the smallest double is 0.0: shown as the bound it is, never as "p = 0"
    assert reading(PairTest("a", "b", 3000, 0, 0.0)) == "a beats b: p < 1e-300"


def test_accuracy_interval_stays_inside_zero_and_one():
    low, high = accuracy_interval(1000, 1000)
    assert high == 1.0 and 0.995 < low < 1.0
    assert accuracy_interval(0, 50)[0] == 0.0


@pytest.mark.parametrize("metric", ["accuracy", "top_3_accuracy", "loss", "val_loss"])
def test_the_verdict_across_seeds_names_the_group_with_the_better_mean(metric):
    """Higher is better for an accuracy, lower for a loss: the group a significant verdict says
    beats the other is the one whose mean is better. Made-up scores, A 0.70-0.72 and B 0.80-0.82
    over three seeds, which SciPy's Welch test calls different."""
    from scipy import stats

    from cnnlab.reporting.compare_groups import GroupPair, verdict
    from cnnlab.scores import welch

    a, b = [0.70, 0.71, 0.72], [0.80, 0.81, 0.82]
    assert stats.ttest_ind(a, b, equal_var=False).pvalue < 0.05
    better, worse = ("A", "B") if "loss" in metric else ("B", "A")
    said = verdict(GroupPair("A", "B", welch(a, b), []), metric)
    assert said.startswith(f"{better} beats {worse} across seeds"), said


def test_nine_runs_fold_into_one_line_per_winner_with_the_ties_folded(run_cli, tmp_path):
    """At 20 runs the page had a 20x20 matrix of p-values and 190 verdict lines. Nine runs (36
    pairs) on 200 shared examples: pairs of equal runs (b = c = 0, p = 1) and 30 pairs 30 or
    more examples apart. Each winner gets one line naming whom it beats (SciPy's p), smallest p
    first; the six ties are folded under one line; no matrix; the terminal lists the 30."""
    from tests.conftest import mcnemar_by_scipy

    counts = {"r0": 100, "r1": 100, "r2": 100, "r3": 130, "r4": 130, "r5": 160, "r6": 160, "r7": 190, "r8": 190}
    right = {name: np.arange(200) < correct for name, correct in counts.items()}
    for name, correct in right.items():
        evaluated_run(tmp_path / "runs", name, correct, parameters=1000 * (1 + int(name[1])), seconds=10.0)
    result = run_cli("compare", tmp_path / "runs", "--report", tmp_path / "report")
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report" / "compare.md").read_text()
    assert "| p-value |" not in markdown
    section = markdown[markdown.index("## Is the difference more than chance?") :]
    lines = [line[2:] for line in section[: section.index("<details>")].splitlines() if line.startswith("- ")]
    order = [
        line.split(" | ")[0][2:] for line in markdown.splitlines() if line[2:4] in counts and line.startswith("| r")
    ]
    assert sorted(order) == sorted(counts) and [counts[name] for name in order] == sorted(counts.values())[::-1]
    expected = []
    for winner in order:  # best first, as the table; whom each beats, smallest p first
        beaten = [(mcnemar_by_scipy(right[winner], right[other])[2], order.index(other), other) for other in order]
        said = [f"{other} (p = {p:.3g})" for p, _, other in sorted(beaten) if counts[other] < counts[winner]]
        if said:
            expected.append(f"{winner} beats " + ", ".join(said))
    assert lines == expected and len(lines) == 6  # r3..r8 beat someone
    folded = section[section.index("<details>") : section.index("</details>")]
    assert "<summary>6 of 36 pairs: no evidence of a difference</summary>" in folded
    assert folded.count("no evidence of a difference (p = 1)") == 6
    page = (tmp_path / "report" / "compare.html").read_text()
    assert "<details><summary>6 of 36 pairs: no evidence of a difference</summary>" in page
    said = result.output[result.output.index("McNemar's exact test, 36 pairs") :].splitlines()
    winners = [line.strip() for line in said[1:] if line.startswith("  ")]
    assert [line.split(" beats ")[0].split("/")[0] for line in winners] == [line.split(" beats ")[0] for line in lines]
    assert said[len(winners) + 1].startswith("6 of 36 pairs: no evidence of a difference")
