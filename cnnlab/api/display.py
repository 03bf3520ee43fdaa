"""Training progress for people, as Keras callbacks: a live rich bar per epoch on a terminal (and
in Jupyter where ipywidgets can redraw it), one plain line per epoch elsewhere (logs, notebooks
without ipywidgets). Imported once Keras has started (see `progress.py`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
from collections.abc import Iterator

import keras

from cnnlab.api.stopping import stop_requests


def format_logs(logs: dict, digits: int = 4) -> str:
    """ "loss 0.0412  accuracy 0.9871" from Keras' logs (learning rate left out)."""
    return "  ".join(f"{k} {float(v):.{digits}f}" for k, v in logs.items() if k != "learning_rate")


class PlainProgress(keras.callbacks.Callback):
    """One line per epoch, for CI logs and files."""

    def __init__(self, console):
        super().__init__()
        self.console = console
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._started
        self.console.print(
            f"epoch {epoch + 1}/{self.params['epochs']}  {format_logs(logs or {})}  ({seconds:.1f} s)",
            markup=False,
            highlight=False,
        )


class LiveProgress(keras.callbacks.Callback):
    """A rich progress bar per epoch: steps, elapsed, ETA and the running metrics."""

    def __init__(self, console):
        super().__init__()
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
        )
        self.task = None

    def on_train_begin(self, logs=None):
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self.task = self.progress.add_task(
            f"epoch {epoch + 1}/{self.params['epochs']}", total=self.params.get("steps"), metrics=""
        )

    def on_train_batch_end(self, batch, logs=None):
        # With several batches per call Keras numbers the epoch's last call as if it were full.
        done = min(batch + 1, self.params.get("steps") or batch + 1)
        self.progress.update(self.task, completed=done, metrics=format_logs(logs or {}, 3))

    def on_epoch_end(self, epoch, logs=None):
        self.progress.update(self.task, metrics=format_logs(logs or {}, 3))

    def on_train_end(self, logs=None):
        self.progress.stop()


def progress_callback(console) -> keras.callbacks.Callback:
    live = console.is_terminal or (console.is_jupyter and importlib.util.find_spec("ipywidgets") is not None)
    return LiveProgress(console) if live else PlainProgress(console)


@contextlib.contextmanager
def training_callbacks(console) -> Iterator[list[keras.callbacks.Callback]]:
    """The callbacks every training gives `fit`: the progress display on `console` (none when it
    is None), and the handler that turns Ctrl-C and SIGTERM into a clean stop. The live display
    is closed however the block ends."""
    progress = None if console is None else progress_callback(console)
    try:
        with stop_requests() as requests:
            yield [requests] if progress is None else [progress, requests]
    finally:
        if isinstance(progress, LiveProgress):
            progress.progress.stop()
