"""A group of runs: one config trained with several seeds (`cnnlab train --repeat N`). What
`group.json` says about it, built from its runs' manifests: each test score and the training
time over the seeds, as a mean, a standard deviation and a 95 % interval.

    >>> members = [{"seed": s, "run": f"r{s}", "status": "completed"} for s in (1, 2)]
    >>> manifests = {"r1": {"test": {"accuracy": 0.9}, "timing": {"train_seconds": 10}},
    ...              "r2": {"test": {"accuracy": 0.8}, "timing": {"train_seconds": 12}}}
    >>> summary = group_summary("tiny", "t.yaml", members, manifests, "completed")
    >>> round(summary["test"]["accuracy"]["mean"], 2), summary["train_seconds"]["mean"]
    (0.85, 11.0)
"""

from __future__ import annotations

from math import inf

from cnnlab.reporting.report import to_markdown
from cnnlab.scores import interval_text, spread

# Counts that a run's test record holds beside its scores: not scores to average.
_NOT_SCORES = ("best_epoch", "examples", "correct")


def group_summary(name: str, config: str, members: list[dict], manifests: dict[str, dict], status: str) -> dict:
    """`group.json`: the group's runs (`members`: seed, run folder name, status) and, over the
    completed ones, every numeric test score and the training time (`scores.spread`).
    `manifests` holds each completed run's manifest, by its folder name."""
    completed = [manifests[m["run"]] for m in members if m["status"] == "completed"]
    metrics = [
        key
        for key, value in (completed[0]["test"] if completed else {}).items()
        if isinstance(value, (int, float)) and key not in _NOT_SCORES
    ]
    return {
        "name": name,
        "config": config,
        "status": status,
        "seeds": [m["seed"] for m in members],
        "runs": members,
        "completed": len(completed),
        "test": {key: spread([m["test"][key] for m in completed], bounds=score_range(key)) for key in metrics},
        "train_seconds": spread([m["timing"]["train_seconds"] for m in completed], bounds=(0.0, inf)),
    }


def in_words(summary: dict, metric: str = "accuracy") -> str:
    """One line: a score's mean, spread and interval over the seeds.

    >>> in_words({"completed": 2, "seeds": [1, 2], "test": {"accuracy": {"mean": 0.85, "sd": 0.07,
    ...     "low": 0.21, "high": 1.0, "n": 2}}})
    'test accuracy 0.8500 ± 0.0700 (95 % interval 0.2100 to 1.0000; 2 of 2 seeds: 1, 2)'
    """
    seeds = f"{summary['completed']} of {len(summary['seeds'])} seeds: {', '.join(map(str, summary['seeds']))}"
    score = summary["test"].get(metric)
    if not score or score["mean"] is None:
        return f"no completed run ({seeds})"
    if score["sd"] is None:
        return f"test {metric} {score['mean']:.4f} (one run; {seeds})"
    return f"test {metric} {score['mean']:.4f} ± {score['sd']:.4f} (95 % interval {interval_text(score)}; {seeds})"


def group_markdown(summary: dict, manifests: dict[str, dict]) -> str:
    """`group.md`: a row per seed, then the mean ± sd and the 95 % interval of each column."""
    metrics = list(summary["test"])
    header = ["seed", "run", "status", *(f"test {m}" for m in metrics), "train s"]
    rows = []
    for member in summary["runs"]:
        manifest = manifests.get(member["run"]) or {}
        test = manifest.get("test", {})
        rows.append(
            [
                member["seed"],
                member["run"] or "-",
                member["status"],
                *(test.get(m) for m in metrics),
                _seconds(manifest.get("timing", {}).get("train_seconds")),
            ]
        )
    columns = [*((summary["test"][m], 4) for m in metrics), (summary["train_seconds"], 1)]
    rows.append(["mean ± sd", "", "", *(_mean_sd(c, digits) for c, digits in columns)])
    rows.append(["95 % interval", "", "", *(_interval(c, digits) for c, digits in columns)])
    blocks = [
        ("h1", f"{summary['name']}: {len(summary['seeds'])} seeds"),
        ("p", f"`{summary['config']}`, {summary['status']}: {in_words(summary)}"),
        ("table", (header, rows)),
        ("p", "sd: the standard deviation over the seeds (n - 1); the interval is the mean's (Student's t)."),
    ]
    return to_markdown(blocks)


def _mean_sd(score: dict, digits: int) -> str:
    if score["mean"] is None:
        return "-"
    mean = f"{score['mean']:.{digits}f}"
    return mean if score["sd"] is None else f"{mean} ± {score['sd']:.{digits}f}"


def _interval(score: dict, digits: int) -> str:
    return interval_text(score, digits)


def score_range(metric: str) -> tuple[float, float]:
    """What a test score can be: a loss is 0 or more, every other score (accuracy, top-k, AUC,
    precision, recall) is a share, 0 to 1."""
    return (0.0, inf) if "loss" in metric else (0.0, 1.0)


def _seconds(value) -> str:
    return f"{value:.1f}" if isinstance(value, (int, float)) else "-"
