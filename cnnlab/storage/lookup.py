"""Run folders under `--runs-dir`: made with an atomic mkdir, found by path, name or recency.

>>> run_sort_key(Path("runs/a/20261122-101500-2"))
('20261122-101500', 2)
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from cnnlab.errors import ConfigError, Problem, RunError, did_you_mean
from cnnlab.hints import next_step
from cnnlab.storage.folders import GroupFolder, RunFolder

_STAMP = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?$")


def run_sort_key(folder: Path) -> tuple[str, int]:
    """Order runs by their timestamp, then by the -N suffix of runs started in the same second."""
    match = _STAMP.match(folder.name)
    return (match.group(1), int(match.group(2) or 0)) if match else ("", 0)


def list_runs(runs_dir: Path) -> list[Path]:
    """Every run folder under `runs_dir`, oldest first."""
    runs = [p.parent for p in Path(runs_dir).glob(f"*/*/{RunFolder.CONFIG}") if _STAMP.match(p.parent.name)]
    return sorted(runs, key=run_sort_key)


def find_run(target: str | None, runs_dir: Path, checkpoint: str | None = None) -> Path:
    """A run folder from a path, a config name (its newest run) or nothing (the newest run).

    With `checkpoint` ("best" or "last"), "newest" means the newest run that has that
    checkpoint, so a run that failed before its first epoch is passed over; a run named by its
    folder is returned as it is."""
    runs_dir = Path(runs_dir)

    def newest(runs: list[Path]) -> Path | None:
        usable = [r for r in runs if checkpoint is None or RunFolder(r).checkpoint(checkpoint).is_file()]
        return (usable or runs or [None])[-1]

    if target is None:
        runs = list_runs(runs_dir)
        if not runs:
            first = next_step("cnnlab train configs/mnist_baseline.yaml", "cnnlab.train('configs/mnist_baseline.yaml')")
            raise ConfigError(f"no runs in {runs_dir}/ yet — train one first: {first}")
        return newest(runs)
    path = Path(target)
    if RunFolder(path).config_file.is_file():
        return path
    if GroupFolder.holds_group(path):
        members = [str(path.parent / m["run"]) for m in GroupFolder(path).summary["runs"] if m["run"]]
        raise ConfigError(
            Problem(
                f"{target} is a group of runs (train --repeat), not one run",
                hint="give one of its runs" + (f": {', '.join(members)}" if members else ""),
            )
        )
    if path.is_dir() and (inside := [r for r in list_runs(path.parent) if r.parent == path]):
        return newest(inside)  # a config name's folder: its newest run
    runs = list_runs(runs_dir)
    named = [r for r in runs if r.parent.name == target]
    if named:
        return newest(named)
    names = sorted({r.parent.name for r in runs})
    hint = did_you_mean(target, names) or (
        f"runs in {runs_dir}/: " + ", ".join(names) if names else f"there are no runs in {runs_dir}/ yet"
    )
    raise ConfigError(f"no run folder or run name {target!r} — {hint}")


def create_run_folder(
    runs_dir: Path, name: str, now: dt.datetime | None = None, prefix: str = "", suffix: str = ""
) -> Path:
    """Make `runs_dir/name/<prefix><YYYYmmdd-HHMMSS><suffix>[-N]` with an atomic mkdir: two runs
    started in the same second get different folders, never the same one (no check-then-create
    race). Search folders have the prefix `tune-`, groups of runs the suffix `-x<runs>`."""
    stamp = prefix + (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S") + suffix
    parent = Path(runs_dir) / name
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(10_000):
            folder = parent / (stamp if attempt == 0 else f"{stamp}-{attempt}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            return folder
    except OSError as error:
        blocking = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocking} is a file, not a folder" if blocking else error.strerror or str(error)
        raise ConfigError(
            Problem(
                f"cannot create run folders in {runs_dir}: {reason}",
                key="runs_dir",
                hint="give a folder that can be created and written",
            )
        ) from None
    raise RunError(f"{parent}: could not create a run folder for {stamp}")
