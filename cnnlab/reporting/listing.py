"""Every run of a folder as one row: what `cnnlab runs` prints and what a page lists, so that
the two can never disagree.

A row says how the run stands (running, with its epoch; evaluating; completed; interrupted;
stopped: its process is gone; failed), its test accuracy with Wilson's 95 % interval, what it
cost (parameters, MACs, epochs, training seconds, images/s), its seed and when it started, and
whether it is on the Pareto front of test accuracy against parameters (nothing both smaller
and better).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from cnnlab.errors import CnnlabError

if TYPE_CHECKING:
    from cnnlab.storage.folders import GroupFolder, RunFolder

RunStatus = Literal["running", "evaluating", "completed", "interrupted", "stopped", "failed", "damaged"]
RunColumn = Literal[
    "run",
    "status",
    "epoch",
    "test_accuracy",
    "parameters",
    "macs",
    "train_seconds",
    "images_per_second",
    "seed",
    "started",
]
# every row has each, None where unknown: `kind` is "run" or "group" (of seeds, from train
# --repeat: its accuracy the mean over them, `sd` their spread, low-high its 95 % t interval);
# a run of a group names it in `group`
COLUMNS = (*get_args(RunColumn), "low", "high", "kind", "group", "sd", "seeds", "epochs", "failure", "note")


def run_rows(runs_dir: Path) -> list[dict]:
    """One row per run and per group of runs under `runs_dir`, runs oldest first then groups,
    with `pareto` marked among the runs."""
    # Here, not at the top: the command's options name this module's columns, and
    # `cnnlab --help` must not wait for pydantic and NumPy.
    from cnnlab.reporting.compare_report import pareto_front
    from cnnlab.storage.folders import GroupFolder, RunFolder
    from cnnlab.storage.lookup import list_runs

    rows = [run_row(RunFolder(path)) for path in list_runs(Path(runs_dir))]
    groups = [group_row(GroupFolder(path.parent)) for path in sorted(Path(runs_dir).glob(f"*/*/{GroupFolder.SUMMARY}"))]
    member_of = {member: group["run"] for group in groups for member in group.pop("members")}
    for row in rows:
        row["group"] = member_of.get(row["run"])
    scored = {row["run"]: (row["parameters"], row["test_accuracy"]) for row in rows if _scored(row)}
    front = pareto_front(scored)
    for row in rows:
        row["pareto"] = row["run"] in front
    return rows + [{**group, "pareto": False} for group in groups]


def _scored(row: dict) -> bool:
    return isinstance(row["parameters"], int) and isinstance(row["test_accuracy"], float)


def run_row(run: RunFolder) -> dict:
    """What the run's manifest and test metrics say, read without Keras (a damaged file gives a
    row that says so instead of stopping the listing)."""
    try:
        manifest = run.manifest
    except CnnlabError as error:
        return _row(run, status="damaged", note=str(error))
    status = manifest.get("status", "unknown")
    if status in ("running", "evaluating") and run.live_owner() is None:
        status = "stopped"  # its process is gone (killed, a power cut): --resume goes on with it
    from cnnlab.scores import accuracy_interval

    row = _row(run, status=status)
    done, total = _epochs_done(run, manifest, status), _total_epochs(run)
    row["epoch"] = f"{done + 1}/{total}" if status == "running" and total else (f"{done}/{total}" if total else done)
    row.update(epochs=done, parameters=manifest.get("parameters"), macs=manifest.get("macs"), seed=manifest.get("seed"))
    row.update(started=manifest.get("started"), failure=manifest.get("failure"))
    timing = manifest.get("timing", {})
    row.update(train_seconds=timing.get("train_seconds"), images_per_second=timing.get("images_per_second"))
    test = manifest.get("test", {}) if status == "completed" else {}
    if isinstance(test.get("accuracy"), float):
        row["test_accuracy"] = test["accuracy"]
        if isinstance(test.get("correct"), int) and isinstance(test.get("examples"), int) and test["examples"]:
            row["low"], row["high"] = accuracy_interval(test["correct"], test["examples"])
    return row


def _epochs_done(run: RunFolder, manifest: dict, status: str) -> int:
    """The epochs finished: the manifest counts them when training ends; while it trains, the
    history (written after every epoch) does."""
    if status != "running":
        return manifest.get("epochs_completed") or 0
    try:
        return max(len(run.history), manifest.get("epochs_completed") or 0)
    except CnnlabError:
        return manifest.get("epochs_completed") or 0


def group_row(group: GroupFolder) -> dict:
    """What a group's group.json says (its runs' mean test accuracy, sd and interval over the
    seeds), with the costs of its first completed run, which every run of it shares; `members`
    names its runs."""
    try:
        summary = group.summary
    except CnnlabError as error:
        return {**_row(group, status="damaged", note=str(error)), "kind": "group", "members": []}
    accuracy, seconds = summary["test"].get("accuracy") or {}, summary.get("train_seconds") or {}
    members = [member for member in summary["runs"] if member.get("run")]
    row = _row(group, status=summary["status"], kind="group", seeds=summary["seeds"])
    row.update(test_accuracy=accuracy.get("mean"), sd=accuracy.get("sd"), low=accuracy.get("low"))
    row.update(high=accuracy.get("high"), train_seconds=seconds.get("mean"))
    row["members"] = [f"{group.path.parent.name}@{member['run']}" for member in members]
    row["epoch"] = f"{summary['completed']}/{len(summary['seeds'])} runs"
    for member in members:
        try:
            manifest = group.run(member["run"]).manifest
        except CnnlabError:
            continue
        if manifest.get("status") == "completed":
            row.update(parameters=manifest.get("parameters"), macs=manifest.get("macs"))
            row.update(epochs=manifest.get("epochs_completed"), started=row["started"] or manifest.get("started"))
            break
    return row


def _row(run: RunFolder | GroupFolder, **said) -> dict:
    row = {column: None for column in COLUMNS}
    return {
        **row,
        "pareto": False,
        "kind": "run",
        "run": f"{run.path.parent.name}@{run.path.name}",
        "name": run.path.parent.name,
        "path": str(run.path),
        **said,
    }


def _total_epochs(run: RunFolder) -> int | None:
    try:
        stamp = run.config_file.stat()
    except OSError:
        return None
    return _epochs_in_config(str(run.path), stamp.st_mtime_ns, stamp.st_size)


@functools.lru_cache(maxsize=4096)
def _epochs_in_config(path: str, modified_ns: int, size: int) -> int | None:
    """A run's config.yaml read once while it stays the same file: a page polls the table
    every second or two, and YAML parsing was 98 % of a listing's time (3.6 ms a run)."""
    from cnnlab.storage.folders import RunFolder

    try:
        return RunFolder(path).load_config().train.total_epochs
    except CnnlabError:
        return None


def chosen(rows: list[dict], *, status: str | None = None, sort: str = "started") -> list[dict]:
    """The rows of one status (or all), sorted by a column: numbers highest first (accuracy,
    speed; parameters and seconds too, so the costliest lead), text and times in order; rows
    without a value last."""
    picked = [row for row in rows if status is None or row["status"] == status]
    numeric = any(isinstance(row.get(sort), (int, float)) for row in picked)
    present = [row for row in picked if row.get(sort) is not None]
    missing = [row for row in picked if row.get(sort) is None]
    return sorted(present, key=lambda row: row[sort], reverse=numeric) + missing
