"""Run folders: `runs/<config name>/<YYYYmmdd-HHMMSS>[-N]/`, found by path, name or recency.

    >>> run_sort_key(Path("runs/a/20261122-101500-2"))
    ('20261122-101500', 2)
"""

from __future__ import annotations

import re
from pathlib import Path

from cnnlab.errors import ConfigError, did_you_mean

RUN_CONFIG = "config.yaml"
_STAMP = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?$")


def run_sort_key(folder: Path) -> tuple[str, int]:
    """Order runs by their timestamp, then by the -N suffix of runs started in the same second."""
    match = _STAMP.match(folder.name)
    return (match.group(1), int(match.group(2) or 0)) if match else ("", 0)


def list_runs(runs_dir: Path) -> list[Path]:
    """Every run folder under `runs_dir`, oldest first."""
    runs = [p.parent for p in Path(runs_dir).glob(f"*/*/{RUN_CONFIG}") if _STAMP.match(p.parent.name)]
    return sorted(runs, key=run_sort_key)


def find_run(target: str | None, runs_dir: Path) -> Path:
    """A run folder from a path, a config name (its newest run) or nothing (the newest run)."""
    runs_dir = Path(runs_dir)
    if target is None:
        runs = list_runs(runs_dir)
        if not runs:
            raise ConfigError(f"no runs in {runs_dir}/ yet — train one first: "
                           "cnnlab train configs/mnist_baseline.yaml")
        return runs[-1]
    path = Path(target)
    if (path / RUN_CONFIG).is_file():
        return path
    if path.is_dir() and (runs := list_runs(path.parent)) and any(r.parent == path for r in runs):
        return [r for r in runs if r.parent == path][-1]
    named = [r for r in list_runs(runs_dir) if r.parent.name == target]
    if named:
        return named[-1]
    names = sorted({r.parent.name for r in list_runs(runs_dir)})
    hint = did_you_mean(target, names) or (f"runs in {runs_dir}/: " + ", ".join(names) if names
                                           else f"there are no runs in {runs_dir}/ yet")
    raise ConfigError(f"no run folder or run name {target!r} — {hint}")
