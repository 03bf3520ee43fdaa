"""What a person sees while the API works: a line for each stage, notes dimmed, a bar or a line
per epoch, errors in red; or nothing at all (`progress=False`). With `cli/`, the only code that
writes to a terminal or a notebook; the engine below reports through `notify` and callbacks.

    >>> import io
    >>> from rich.console import Console
    >>> show = Progress(Console(file=io.StringIO(), width=80))
    >>> show.say("training x -> runs/x/1"); show.console.file.getvalue()
    'training x -> runs/x/1\\n'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cnnlab.errors import CnnlabError, Interrupted


class Progress:
    """Where the API reports: `console` for progress (default: this terminal or notebook),
    `errors` for what went wrong (default: standard error). `quiet` shows nothing at all, while
    Ctrl-C still stops training cleanly. `debug` shows a failed run's traceback. `show_error`
    shows a `CnnlabError` instead of `error` (the shell's, which names its options, such as
    `--set`, where the API names its arguments, such as `overrides`)."""

    def __init__(self, console=None, errors=None, *, quiet: bool = False, debug: bool = False, show_error=None):
        self.quiet, self.debug = quiet, debug
        self._console, self._errors = console, errors
        self._show_error = show_error

    @property
    def console(self):
        if self._console is None:
            from rich.console import Console  # rich chooses the terminal's or Jupyter's display

            self._console = Console(highlight=False, soft_wrap=True)
        return self._console

    @property
    def errors(self):
        if self._errors is None:
            from rich.console import Console

            self._errors = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._errors

    def say(self, text: str) -> None:
        """A stage begins or ends."""
        if not self.quiet:
            self.console.print(text, markup=False)

    def note(self, text: str) -> None:
        """A detail of the stage under way (where the data came from, what was copied)."""
        if not self.quiet:
            self.console.print(text, style="dim", markup=False)

    def error(self, error: BaseException) -> None:
        """A mistake or failure that the work goes on after (one run of several)."""
        if self.quiet:
            return
        if self.debug and not isinstance(error, CnnlabError):
            self.errors.print_exception()
            return
        if self._show_error and isinstance(error, CnnlabError):
            self._show_error(error, self.errors)
            return
        problems = error.problems if isinstance(error, CnnlabError) else [f"{type(error).__name__}: {error}"]
        for problem in problems:
            if isinstance(error, Interrupted):  # the user's own stop, and resumable: no error
                self.errors.print(str(problem), style="yellow", markup=False, soft_wrap=True)
            else:
                self.errors.print(f"error: {problem}", style="red", markup=False, soft_wrap=True)

    def failed(self, text: str) -> None:
        """A line about something that did not pass, on the errors' stream."""
        if not self.quiet:
            self.errors.print(text, style="red", markup=False)

    @contextlib.contextmanager
    def training(self) -> Iterator[list]:
        """The Keras callbacks of one training: the epoch display, and clean Ctrl-C and SIGTERM."""
        from cnnlab.api.display import training_callbacks  # Keras callbacks: Keras has started by now

        with training_callbacks(None if self.quiet else self.console) as callbacks:
            yield callbacks

    def finished(self, run, manifest: dict) -> None:
        """The two closing lines of a trained run: its test scores, and where its report is."""
        test, timing = manifest.get("test", {}), manifest.get("timing", {})
        scores = "  ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, float) and k != "best_epoch")
        self.say(
            f"test ({test.get('checkpoint')} from epoch {test.get('best_epoch')}, "
            f"{test.get('examples')} examples): {scores}"
        )
        if test.get("caveat") and not self.quiet:  # next to the number it is about
            self.console.print(f"note: {test['caveat']}", style="yellow", markup=False, soft_wrap=True)
        epochs = manifest.get("epochs_completed")
        self.say(
            f"trained {epochs} epoch{'' if epochs == 1 else 's'} in {timing.get('train_seconds')} s "
            f"({timing.get('images_per_second')} images/s); report: {run.path / run.REPORT_HTML}"
        )


def as_progress(progress: bool | Progress) -> Progress:
    """The API's `progress=` argument as a `Progress`: True shows it here, False shows nothing."""
    return progress if isinstance(progress, Progress) else Progress(quiet=not progress)
