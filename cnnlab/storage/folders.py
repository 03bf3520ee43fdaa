"""Run folders, group folders and search folders: the only code that knows their file names,
and the only writer of a run's `manifest.json`.

A `RunFolder` is opened once per command and passed down: what the command writes (the config,
the history, the manifest) it keeps in memory, so it never reads back its own files; what an
earlier command wrote it reads once, when first asked.

    >>> import tempfile
    >>> run = RunFolder(tempfile.mkdtemp())
    >>> run.update(status="running"); run.manifest["status"], run.checkpoint("best").name
    ('running', 'best.keras')
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import socket
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.config import LocatedConfig, load_config
from cnnlab.data.prepare import Preprocessing
from cnnlab.errors import Problem, RunError
from cnnlab.fileio import read_json, remove_temporaries, write_atomic, write_json
from cnnlab.hints import evaluate_step

_EDITED = "was it edited, or cut short by a full disk? Restore it from a backup of the run"
_DAMAGED = "the run's record is damaged; its other files are intact"


class _Folder:
    """What run and search folders share: a config file and a TensorBoard folder."""

    CONFIG = "config.yaml"
    TENSORBOARD = "tensorboard"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._config_text: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    @property
    def tensorboard(self) -> Path:
        return self.path / self.TENSORBOARD

    def save_config(self, text: str) -> None:
        """The resolved config, as `cnnlab train` (or `cnnlab tune`) accepts it again."""
        write_atomic(self.config_file, text)
        self._config_text = text

    @property
    def config_sha256(self) -> str:
        if self._config_text is None:
            self._config_text = self.config_file.read_text(encoding="utf-8")
        return hashlib.sha256(self._config_text.encode("utf-8")).hexdigest()

    def load_config(self, overrides: list[str] = ()) -> LocatedConfig:
        return load_config(self.config_file, overrides)

    def remove_temporaries(self) -> list[Path]:
        """What a killed writer left half-written (a SIGKILL gives no chance to clean up)."""
        return remove_temporaries(self.path)


class RunFolder(_Folder):
    """`runs/<config name>/<YYYYmmdd-HHMMSS>[-N]/` and everything in it."""

    MANIFEST = "manifest.json"
    HISTORY = "history.csv"
    BEST, LAST = "best.keras", "last.keras"  # the best epoch's model (the one evaluated), the last one's
    PREPROCESSING = "preprocessing.npz"
    REPORT_MD, REPORT_HTML = "report.md", "report.html"
    # pictures: the report's, then those `cnnlab visualize` draws
    CURVES, CONFUSION_MATRIX, MISCLASSIFIED = "curves.png", "confusion_matrix.png", "misclassified.png"
    FILTERS, FEATURE_MAPS, GRADCAM, PATTERNS = "filters.png", "feature_maps.png", "gradcam.png", "patterns.png"
    _BACKUPS = ("backup", "backup-fine-tune")  # one per phase of training: --resume starts from them

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self._manifest: dict[str, Any] | None = None
        self._history: list[dict] | None = None

    @classmethod
    def of(cls, run: RunFolder | str | os.PathLike) -> RunFolder:
        """`run` itself when it is a RunFolder (keeping what it holds in memory), else a new one."""
        return run if isinstance(run, RunFolder) else cls(run)

    # --- where each file is -------------------------------------------------------------------

    def checkpoint(self, which: str = "best") -> Path:
        """The "best" checkpoint or the "last"."""
        return self.path / {"best": self.BEST, "last": self.LAST}[which]

    def backup(self, phase: int) -> Path:
        """Keras' BackupAndRestore folder of a phase of training (0: train.epochs, 1: fine-tuning)."""
        return self.path / self._BACKUPS[phase]

    def has_backup(self) -> bool:
        """Whether an interrupted epoch's backup (Keras' BackupAndRestore) is where --resume starts."""
        return any(self.backup(0).glob("*.h5*")) if self.backup(0).is_dir() else False

    def picture(self, name: str) -> Path:
        """One of the PNGs named by the class constants (CURVES, GRADCAM, ...)."""
        return self.path / name

    def export_file(self, suffix: str) -> Path:
        """Where `cnnlab export` puts a model unless told otherwise (suffix "" is a folder)."""
        return self.path / "export" / f"model{suffix}"

    def _split_file(self, stem: str, split: str, extension: str) -> Path:
        # The test split's files are the report's (compare pairs runs on them); other
        # evaluations go beside them, named by their split or data set.
        return self.path / (f"{stem}{extension}" if split == "test" else f"{stem}_{Path(split).stem}{extension}")

    def metrics_file(self, split: str = "test") -> Path:
        return self._split_file("metrics", split, ".json")

    def predictions_file(self, split: str = "test") -> Path:
        return self._split_file("predictions", split, ".npz")

    # --- manifest -----------------------------------------------------------------------------

    @property
    def manifest(self) -> dict[str, Any]:
        """What ran, how and how it ended (empty for a run that has not started)."""
        if self._manifest is None:
            path = self.path / self.MANIFEST
            self._manifest = _an_object(path, read_json(path, hint=_DAMAGED), _DAMAGED) if path.is_file() else {}
        return self._manifest

    def require_manifest(self, hint: str) -> dict[str, Any]:
        """The manifest, or a `RunError` that says it is missing, with `hint`."""
        return self.manifest if (self.path / self.MANIFEST).is_file() else read_json(self.path / self.MANIFEST, hint)

    def update(self, **fields: Any) -> None:
        """Add `fields` to the manifest and rewrite it atomically."""
        self.manifest.update(fields)
        write_json(self.path / self.MANIFEST, self.manifest)

    # --- history ------------------------------------------------------------------------------

    @property
    def history(self) -> list[dict]:
        """Rows of history.csv, one per completed epoch (empty before the first)."""
        if self._history is None:
            self._history = read_history(self.path / self.HISTORY)
        return self._history

    def write_history(self, rows: list[dict]) -> None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_atomic(self.path / self.HISTORY, buffer.getvalue())
        self._history = [dict(row) for row in rows]

    # --- results ------------------------------------------------------------------------------

    def metrics(self, split: str = "test", hint: str = "") -> dict:
        path = self.metrics_file(split)
        return _an_object(path, read_json(path, hint), hint)

    def write_metrics(self, metrics: dict, split: str = "test") -> None:
        write_json(self.metrics_file(split), metrics)

    def predictions(self, split: str = "test") -> dict[str, np.ndarray] | None:
        """The stored per-example predictions (y_true, y_pred, probabilities), if any."""
        path = self.predictions_file(split)
        if not path.is_file():
            return None
        try:
            with np.load(path) as stored:
                found = {key: stored[key] for key in stored.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # cut short, or not ours
            raise RunError(
                f"{path}: not a whole .npz file as cnnlab writes it — {evaluate_step(self.path)} writes it again"
            ) from None
        if not {"y_true", "y_pred"} <= set(found):
            raise RunError(f"{path}: has no y_true and y_pred — {evaluate_step(self.path)} writes it again")
        return found

    def write_predictions(self, predictions: dict[str, np.ndarray], split: str = "test") -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **predictions)
        write_atomic(self.predictions_file(split), buffer.getvalue())

    def save_preprocessing(self, preprocessing: Preprocessing) -> None:
        preprocessing.save(self.path / self.PREPROCESSING)

    def load_preprocessing(self) -> Preprocessing:
        return Preprocessing.load(self.path / self.PREPROCESSING)

    def write_report(self, markdown: str, html: str) -> None:
        write_atomic(self.path / self.REPORT_MD, markdown)
        write_atomic(self.path / self.REPORT_HTML, html)

    @property
    def report(self) -> Path:
        return self.path / self.REPORT_MD

    def unreadable(self, checkpoint: str = "last") -> str | None:
        """What is wrong with a checkpoint, without loading it (missing, empty, cut short, not
        a .keras archive), else None."""
        path = self.checkpoint(checkpoint)
        if not path.is_file():
            return f"{path.name} is missing"
        try:
            with zipfile.ZipFile(path) as archive:
                broken = archive.testzip()
        except (OSError, zipfile.BadZipFile) as error:
            return f"{path.name} is not a whole .keras file ({error})"
        return f"{path.name} is damaged (its part {broken} does not match its checksum)" if broken else None

    def missing(self, checkpoint: str = "best") -> str | None:
        """The first file that a trained run must have and this one lacks, else None."""
        for needed in (self.checkpoint(checkpoint), self.path / self.PREPROCESSING):
            if not needed.is_file():
                return needed.name
        return None

    # --- who is writing -----------------------------------------------------------------------

    def live_owner(self) -> int | None:
        """The pid of the process on this machine still training or evaluating the run, else None."""
        manifest = self.manifest
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

    def ensure_not_running(self) -> None:
        """Refuse to write into a run that another live process is still writing."""
        pid = self.live_owner()
        if pid is not None:
            raise RunError(
                f"{self.path}: still running (pid {pid}) — wait for it to finish, or stop it "
                f"first (Ctrl-C in its terminal, or kill {pid}) and resume it later"
            )


def _an_object(path: Path, value: Any, hint: str) -> dict:
    """`value`, read from the JSON file `path`, if it is an object as cnnlab writes it."""
    if not isinstance(value, dict):
        raise RunError(
            f"{path}: a JSON {type(value).__name__}, not the object cnnlab writes" + (f" — {hint}" if hint else "")
        )
    return value


def owner() -> dict:
    """Who is writing a run: recorded in the manifest so others can tell a live run from one
    whose process was killed (a killed run still says "running")."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def read_history(path: Path) -> list[dict]:
    """Rows of a `history.csv` as dicts of floats (empty if there is none yet)."""
    if not Path(path).is_file():
        return []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RunError(f"{path}: not UTF-8 text, as cnnlab writes it — {_EDITED}") from None
    if text and not text.endswith("\n"):  # written whole, with its last line's end, or not at all
        raise RunError(f"{path}:{text.count(chr(10)) + 1}: not a history row (the line is cut short) — {_EDITED}")
    rows = []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            rows.append({k: float(v) for k, v in row.items() if v != ""})
            rows[-1]["epoch"] = int(rows[-1]["epoch"])
    except (ValueError, TypeError, KeyError) as error:  # a row edited by hand
        raise RunError(f"{path}:{reader.line_num}: not a history row ({error})") from None
    return rows


class SearchFolder(_Folder):
    """`runs/<config name>/tune-<YYYYmmdd-HHMMSS>[-N]/` of `cnnlab tune`: the search's config,
    Keras Tuner's state, a TensorBoard folder per trial, and the tables rewritten after each."""

    TRIALS_CSV, TRIALS_MD, BEST = "trials.csv", "trials.md", "best.yaml"
    PREFIX, WORKER_PREFIX = "tune-", "worker-"  # a search's folder; a worker's, on its own machine
    WORKERS = "workers"  # the log of each worker process that `tune --workers N` started here
    _TIMES = "trial_times"  # one file per trial: the workers of a search each write their own
    _OLD_TIMES = "trial_times.json"  # one file for all, before searches were spread over processes
    _RAN_BY = "ran_by.json"  # written by the chief only

    @property
    def of_a_worker(self) -> bool:
        """A worker's own folder (its trials' logs), not a search: the chief holds the search."""
        return self.path.name.startswith(self.WORKER_PREFIX)

    @property
    def tuner(self) -> Path:
        """Keras Tuner's project folder: its oracle and every trial."""
        return self.path / "tuner"

    def file(self, name: str) -> Path:
        """One of TRIALS_CSV, TRIALS_MD, BEST."""
        return self.path / name

    @property
    def times(self) -> dict:
        """Epochs and seconds of each finished trial, by trial id (read afresh: in a search spread
        over processes, other processes add to them)."""
        old = self.path / self._OLD_TIMES
        times = read_json(old) if old.is_file() else {}
        folder = self.path / self._TIMES
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            times[path.stem] = read_json(path)
        return times

    def record_time(self, trial_id: str, epochs: int, seconds: float, scores: list | None = None) -> None:
        """A finished trial's epochs and seconds (all its trainings), and each training's score."""
        record = {"epochs": epochs, "seconds": seconds, "scores": scores or []}
        (self.path / self._TIMES).mkdir(parents=True, exist_ok=True)
        write_json(self.path / self._TIMES / f"{trial_id}.json", record)

    def remove_temporaries(self) -> list[Path]:
        return [*super().remove_temporaries(), *remove_temporaries(self.path / self._TIMES)]

    @property
    def ran_by(self) -> dict[str, dict]:
        """Which worker ran each trial of a search spread over processes, and in how many
        seconds as the chief saw it, by trial id."""
        path = self.path / self._RAN_BY
        return read_json(path) if path.is_file() else {}

    def record_ran_by(self, trial_id: str, worker: str, seconds: float | None) -> None:
        """`worker` runs (seconds None) or ran the trial; "local" when a search spread over
        workers was resumed in one process."""
        write_json(self.path / self._RAN_BY, {**self.ran_by, trial_id: {"worker": worker, "seconds": seconds}})

    def worker_log(self, worker: str) -> Path:
        return self.path / self.WORKERS / f"{worker}.log"

    def write_trials(self, csv_text: str, markdown: str) -> None:
        write_atomic(self.file(self.TRIALS_CSV), csv_text)
        write_atomic(self.file(self.TRIALS_MD), markdown)

    def write_best(self, yaml_text: str) -> None:
        write_atomic(self.file(self.BEST), yaml_text)


_GROUP_DAMAGED = "the group's record is damaged; its runs are intact: compare them as single runs"


def _group_record_problem(summary: Any) -> str | None:
    if not isinstance(summary, dict):
        return f"a {type(summary).__name__}, not an object"
    lacking = [key for key in ("name", "status", "seeds", "runs", "test", "train_seconds") if key not in summary]
    if lacking:
        return "no " + ", ".join(lacking)
    members = summary["runs"]
    fields = ("seed", "run", "status")
    if not isinstance(members, list) or not all(isinstance(m, dict) and all(f in m for f in fields) for m in members):
        return "its runs are not listed as seed, run and status"
    return None


class GroupFolder:
    """`runs/<config name>/<YYYYmmdd-HHMMSS>-x<N>[-M]/` of `cnnlab train --repeat N`: one config
    trained with N seeds. Its runs are ordinary run folders beside it; `group.json` names them
    and summarises their scores, `group.md` shows the same for people."""

    SUMMARY, REPORT_MD, CONFIG = "group.json", "group.md", "group.yaml"  # not config.yaml: it is no run

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def config_file(self) -> Path:
        """The config every run of the group trains, before its seed is set."""
        return self.path / self.CONFIG

    def save_config(self, text: str) -> None:
        write_atomic(self.config_file, text)

    def __repr__(self) -> str:
        return f"GroupFolder({str(self.path)!r})"

    def __str__(self) -> str:
        return str(self.path)

    @classmethod
    def holds_group(cls, path: str | os.PathLike) -> bool:
        return (Path(path) / cls.SUMMARY).is_file()

    def run(self, folder_name: str) -> RunFolder:
        """A run of the group, by the name `group.json` gives it (its folder, a sibling)."""
        return RunFolder(self.path.parent / folder_name)

    @property
    def summary(self) -> dict:
        """group.json, checked to be what cnnlab writes: a damaged record is named, not misread."""
        path = self.path / self.SUMMARY
        summary = read_json(path, hint=_GROUP_DAMAGED)
        wrong = _group_record_problem(summary)
        if wrong:
            raise RunError(f"{path}: not a group record as cnnlab writes it ({wrong}) — {_GROUP_DAMAGED}")
        return summary

    def missing_runs(self, members: list[dict]) -> list[dict]:
        """The `members` (group.json's runs) whose run folder is gone (deleted or moved since)."""
        return [m for m in members if m["run"] and not self.run(m["run"]).config_file.is_file()]

    def require_runs(self, members: list[dict], hint: str) -> None:
        """Refuse (`RunError`, with `hint`) a group whose record names runs that are gone."""
        gone = self.missing_runs(members)
        if gone:
            names = ", ".join(f"{m['run']} (seed {m['seed']})" for m in gone)
            one = len(gone) == 1
            raise RunError(
                Problem(
                    f"{self}: {'its run' if one else 'its runs'} {names} {'is' if one else 'are'} missing "
                    f"from {self.path.parent}",
                    hint=hint,
                )
            )

    def write(self, summary: dict, markdown: str) -> None:
        write_json(self.path / self.SUMMARY, summary)
        write_atomic(self.path / self.REPORT_MD, markdown)
