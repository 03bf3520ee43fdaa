"""A completed run given more epochs (`train --resume RUN --epochs N`) trains in a copy of
itself, `<config name>/.extending/<stamp>/`, which takes the run's place only once it has
completed. Until then the run is as it was, whatever stops the extension: Ctrl-C, a failure,
a full disk or SIGKILL leave the completed run, never a mix of the two. An extension stopped
by Ctrl-C or a kill keeps its finished epochs in the copy, and the next
`--resume RUN --epochs N` goes on from them.

The copy has the run's own folder name, so its report and manifest read as the run's. It is
not listed as a run (`lookup.list_runs` looks one level up).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import CnnlabError, RunError
from cnnlab.fileio import exchange
from cnnlab.storage.folders import RunFolder

EXTENDING = ".extending"
_UNCOPIED = ("export", ".*.tmp*")  # exports are of the old model; temporaries of nobody


@dataclass(frozen=True)
class Extension:
    """The completed `run`, and the `copy` that trains its further epochs."""

    run: RunFolder
    copy: RunFolder

    def finish(self) -> RunFolder:
        """Put the completed copy in the run's place, at once, and delete the old run."""
        exchange(self.run.path, self.copy.path)
        shutil.rmtree(self.copy.path)  # the old run now: a kill here leaves it for `begin` to remove
        with contextlib.suppress(OSError):
            self.copy.path.parent.rmdir()
        return RunFolder(self.run.path)

    def abandon(self) -> None:
        """Delete the copy of an extension that failed: the run is as it was."""
        shutil.rmtree(self.copy.path, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.copy.path.parent.rmdir()


def copy_path(run: RunFolder) -> Path:
    return run.path.parent / EXTENDING / run.path.name


def begin(run: RunFolder, epochs: int, notify: Callable[[str], None] = lambda _: None) -> Extension:
    """The extension of the completed `run` to `epochs`: an earlier extension stopped short of
    `epochs` (its finished epochs kept), else a fresh copy of the run. Refused (`RunError`)
    while another process is extending the run."""
    target = copy_path(run)
    if target.is_dir():
        earlier = RunFolder(target)
        if _readable(earlier):  # a damaged copy has no writer to wait for (records are written whole)
            earlier.ensure_not_running()
        done = _finished_epochs(earlier)
        if done is not None and done <= epochs:
            notify(f"going on with the extension stopped after epoch {done}: {target}")
            return Extension(run, earlier)
        shutil.rmtree(target)
    partial = target.with_name(f"{target.name}.copying")  # a kill while copying leaves no half copy as the copy
    shutil.rmtree(partial, ignore_errors=True)
    try:
        shutil.copytree(run.path, partial, ignore=shutil.ignore_patterns(*_UNCOPIED))
        partial.replace(target)
    except OSError as error:  # a full disk, or something not cnnlab's where the copy goes
        shutil.rmtree(partial, ignore_errors=True)
        raise RunError(
            f"{target}: cannot copy the run to extend it ({error.strerror or error}); the run is unchanged",
            run=run.path,
        ) from None
    return Extension(run, RunFolder(target))


def _readable(copy: RunFolder) -> bool:
    try:
        return isinstance(copy.manifest, dict)
    except CnnlabError:
        return False


def _finished_epochs(copy: RunFolder) -> int | None:
    """The epochs an earlier extension finished, if it stopped and can go on from them (Ctrl-C,
    or killed while training or evaluating); None for one that failed, completed, or is damaged."""
    try:
        status, rows = copy.manifest.get("status"), len(copy.history)
    except CnnlabError:
        return None
    usable = copy.config_file.is_file() and copy.checkpoint("last").is_file()
    return rows if usable and status in ("interrupted", "running", "evaluating") else None
