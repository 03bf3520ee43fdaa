"""Run folders: `runs/<config name>/<YYYYmmdd-HHMMSS>[-N]/`, found by path, name or recency.

>>> run_sort_key(Path("runs/a/20261122-101500-2"))
('20261122-101500', 2)
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import socket
from pathlib import Path
from typing import Any

from cnnlab.errors import ConfigError, Problem, RunError, did_you_mean
from cnnlab.fileio import read_json, write_atomic, write_json

RUN_CONFIG = "config.yaml"
MANIFEST = "manifest.json"
_STAMP = re.compile(r"^(\d{8}-\d{6})(?:-(\d+))?$")


def run_sort_key(folder: Path) -> tuple[str, int]:
    """Order runs by their timestamp, then by the -N suffix of runs started in the same second."""
    match = _STAMP.match(folder.name)
    return (match.group(1), int(match.group(2) or 0)) if match else ("", 0)


def list_runs(runs_dir: Path) -> list[Path]:
    """Every run folder under `runs_dir`, oldest first."""
    runs = [p.parent for p in Path(runs_dir).glob(f"*/*/{RUN_CONFIG}") if _STAMP.match(p.parent.name)]
    return sorted(runs, key=run_sort_key)


def find_run(target: str | None, runs_dir: Path, holding: str | None = None) -> Path:
    """A run folder from a path, a config name (its newest run) or nothing (the newest run).

    With `holding` (a file name such as "best.keras"), "newest" means the newest run that has
    that file, so a run that failed before its first checkpoint is passed over; a run named by
    its folder is returned as it is."""
    runs_dir = Path(runs_dir)

    def newest(runs: list[Path]) -> Path | None:
        usable = [r for r in runs if holding is None or (r / holding).is_file()]
        return (usable or runs or [None])[-1]

    if target is None:
        runs = list_runs(runs_dir)
        if not runs:
            raise ConfigError(f"no runs in {runs_dir}/ yet — train one first: cnnlab train configs/mnist_baseline.yaml")
        return newest(runs)
    path = Path(target)
    if (path / RUN_CONFIG).is_file():
        return path
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


def load_trained_run(run: Path, checkpoint: str = "best", cfg=None):
    """(config, model, preprocessing, data set info) of a trained run, or a `RunError` that
    says which file is missing or unreadable. `cfg` saves reading config.yaml again."""
    import keras

    from cnnlab.config import load_config
    from cnnlab.data import dataset_info
    from cnnlab.data.prepare import Preprocessing

    run = Path(run)
    cfg = cfg or load_config(run / RUN_CONFIG)
    model_path = run / f"{checkpoint}.keras"
    for needed in (model_path, run / "preprocessing.npz"):
        if not needed.is_file():
            manifest = Manifest(run).data
            why = (
                f"the run failed before its first checkpoint: {manifest.get('failure')}"
                if manifest.get("status") == "failed"
                else "the run did not finish an epoch, or the file was removed"
            )
            raise RunError(f"{run}: {needed.name} is missing — {why}")
    try:
        model = keras.saving.load_model(model_path)
    except Exception as error:  # a truncated or foreign file: say which, not a traceback
        raise RunError(f"{model_path}: cannot be loaded as a Keras model ({error})") from None
    return cfg, model, Preprocessing.load(run / "preprocessing.npz"), dataset_info(cfg)


def create_run_folder(runs_dir: Path, name: str, now: dt.datetime | None = None, prefix: str = "") -> Path:
    """Make `runs_dir/name/<prefix><YYYYmmdd-HHMMSS>[-N]` with an atomic mkdir: two runs started
    in the same second get different folders, never the same one (no check-then-create race)."""
    stamp = prefix + (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
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
                key="--runs-dir",
                hint="give a folder that can be created and written",
            )
        ) from None
    raise RunError(f"{parent}: could not create a run folder for {stamp}")


class Manifest:
    """`manifest.json`: what ran, how and how it ended; rewritten atomically on every update."""

    def __init__(self, run: Path):
        self.path = Path(run) / MANIFEST
        self.data: dict[str, Any] = (
            read_json(self.path, hint="the run's record is damaged; its other files are intact")
            if self.path.is_file()
            else {}
        )

    def update(self, **fields: Any) -> None:
        self.data.update(fields)
        write_json(self.path, self.data)


def owner() -> dict:
    """Who is writing a run: recorded in the manifest so others can tell a live run from one
    whose process was killed (a killed run still says "running")."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def live_owner(manifest: dict) -> int | None:
    """The pid of the process on this machine still training or evaluating the run, else None."""
    pid = manifest.get("pid")
    if manifest.get("status") not in ("running", "evaluating") or not isinstance(pid, int):
        return None
    if manifest.get("host") != socket.gethostname():
        return None  # another machine's process cannot be asked; its run is not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, but another user's
        return pid
    return pid


def ensure_not_running(run: Path) -> None:
    """Refuse to write into a run that another live process is still writing."""
    pid = live_owner(Manifest(run).data)
    if pid is not None:
        raise RunError(
            f"{run}: still running (pid {pid}) — wait for it to finish, or stop it "
            f"first (Ctrl-C in its terminal, or kill {pid}) and resume it later"
        )


def save_config(run: Path, yaml_text: str) -> None:
    write_atomic(Path(run) / RUN_CONFIG, yaml_text)


def read_history(path: Path) -> list[dict]:
    """Rows of a `history.csv` as dicts of floats (empty if there is none yet)."""
    if not Path(path).is_file():
        return []
    rows = []
    with open(path, newline="") as stream:
        reader = csv.DictReader(stream)
        for row in reader:
            try:
                rows.append({k: float(v) for k, v in row.items() if v != ""})
                rows[-1]["epoch"] = int(rows[-1]["epoch"])
            except (ValueError, TypeError, KeyError) as error:  # a row cut short, or edited by hand
                raise RunError(f"{path}:{reader.line_num}: not a history row ({error})") from None
    return rows
