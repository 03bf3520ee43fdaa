"""One family of errors that the CLI turns into one located message and an exit code.

A user mistake is a `CnnlabError`; anything else is a bug and keeps its traceback.

    >>> str(ConfigError.at("train.epochs", "must be positive", file="x.yaml", line=7))
    'x.yaml:7 train.epochs: must be positive'
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One located mistake: where it is, what is wrong, and what to try."""

    message: str
    key: str = ""
    file: str | None = None
    line: int | None = None
    hint: str = ""

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.key:
            head = f"{where} {self.key}:" if where else f"{self.key}:"
        else:  # "file: message", or "file:line: message", as compilers write it
            head = f"{where}:" if where else ""
        text = f"{head} {self.message}" if head else self.message
        return f"{text} — {self.hint}" if self.hint else text


class CnnlabError(Exception):
    """Base of every error meant for the user rather than for a traceback. `run` is the run
    folder it concerns, when there is one."""

    exit_code = 1

    def __init__(self, problems: Problem | str | Iterable[Problem], *, run: Path | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.run = run
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, key: str, message: str, *, file=None, line=None, hint: str = ""):
        return cls(Problem(message, key=key, file=file, line=line, hint=hint))

    def keyed(self, old: str, new: str) -> CnnlabError:
        """The same error with its problems at key `old` put at `new`: where a caller names an
        argument otherwise than the layer below (`Run.gradcam`'s `cls` is `visualize`'s `target`).

        >>> str(ConfigError.at("target", "no such class").keyed("target", "cls"))
        'cls: no such class'
        """
        return type(self)([replace(p, key=new) if p.key == old else p for p in self.problems], run=self.run)


class ConfigError(CnnlabError):
    """A config file, an override or a command-line argument is wrong (exit 2)."""

    exit_code = 2


class DataError(CnnlabError):
    """A data set cannot be found, fetched, verified or read (exit 1)."""


class RunError(CnnlabError):
    """A run failed or a run folder is missing or unusable (exit 1)."""


class RunFailed(RunError):
    """A run that had started failed (its manifest says why); `run` is its folder (exit 1)."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return a "did you mean X?" hint for the closest choice, or "" when nothing is close.

    >>> did_you_mean("kernel_sise", ["kernel_size", "strides"])
    'did you mean kernel_size?'
    """
    choices = list(choices)
    by_lower = {c.lower(): c for c in choices}
    if word.lower() in by_lower:
        return f"did you mean {by_lower[word.lower()]}?"
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        return ""
    # Offer the runners-up only when they are about as close as the best match.
    best = difflib.SequenceMatcher(None, word.lower(), close[0]).ratio()
    close = [c for c in close if difflib.SequenceMatcher(None, word.lower(), c).ratio() >= best - 0.1]
    return "did you mean " + " or ".join(by_lower[c] for c in close) + "?"


class Interrupted(CnnlabError):
    """Ctrl-C or SIGTERM stopped a run cleanly; it can be resumed (exit 130)."""

    exit_code = 130


@contextlib.contextmanager
def ctrl_c_as_itself():
    """Ctrl-C raises KeyboardInterrupt wherever the program is (`api/stopping.py`). A library
    that calls our code and wraps what it raises (pydantic, around a serializer) would turn the
    stop into its own error, and a resumable stop into a crash: it is given back as itself.

    >>> with ctrl_c_as_itself():  # doctest: +SKIP
    ...     cfg.to_yaml()  # a PydanticSerializationError caused by Ctrl-C leaves as KeyboardInterrupt
    """
    try:
        yield
    except Exception as error:
        if _caused_by_ctrl_c(error):
            raise KeyboardInterrupt from error
        raise


def _caused_by_ctrl_c(error: BaseException) -> bool:
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False
