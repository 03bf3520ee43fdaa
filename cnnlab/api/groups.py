"""A group of runs from Python: one config trained with several seeds (`cnnlab.train(config,
repeat=3)`, `cnnlab train CONFIG --repeat 3`), its runs and what their scores are across seeds.

    >>> import cnnlab
    >>> group = cnnlab.train("configs/mnist_fast.yaml", repeat=3)  # doctest: +SKIP
    >>> group.score("accuracy")["mean"], group.score("accuracy")["sd"]  # doctest: +SKIP
    (0.991..., 0.000...)
"""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.api.arguments import checked
from cnnlab.api.progress import as_progress
from cnnlab.api.repeating import resume_group
from cnnlab.api.runs import Run
from cnnlab.errors import RunError
from cnnlab.storage.folders import GroupFolder


class Group:
    """`runs/<name>/<YYYYmmdd-HHMMSS>-x<N>/`: the group's `group.json`, read afresh each time."""

    @checked
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not GroupFolder.holds_group(self.path):
            raise RunError(
                f"{self.path}: not a group of runs (no {GroupFolder.SUMMARY}) — "
                "cnnlab train CONFIG --repeat N makes one"
            )

    def __repr__(self) -> str:
        return f"Group({str(self.path)!r}, seeds={self.seeds}, status={self.status!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Group) and other.path.resolve() == self.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def summary(self) -> dict:
        """`group.json`: the seeds, the runs, and each test score's mean, sd and interval."""
        return GroupFolder(self.path).summary

    @property
    def status(self) -> str:
        """running, completed (every run did), incomplete (one failed) or interrupted."""
        return self.summary["status"]

    @property
    def seeds(self) -> list[int]:
        return self.summary["seeds"]

    @property
    def runs(self) -> list[Run]:
        """The group's runs that have a folder, in the order of their seeds."""
        folder = GroupFolder(self.path)
        return [Run(folder.run(member["run"]).path) for member in self.summary["runs"] if member["run"]]

    @checked
    def score(self, metric: str = "accuracy") -> dict:
        """A test score across the completed runs: mean, sd, low and high (95 %), n, values."""
        scores = self.summary["test"]
        if metric not in scores:
            raise RunError(f"{self.path}: no test {metric!r} in this group — it has: {', '.join(scores) or 'none'}")
        return scores[metric]

    @checked
    def resume(self, *, progress=True) -> Group:
        """Finish this group if it was stopped: stopped runs resume, seeds not started train."""
        return Group(resume_group(self.path, self.path.parent.parent, as_progress(progress)))

    def _repr_markdown_(self) -> str:
        return (self.path / GroupFolder.REPORT_MD).read_text(encoding="utf-8")
