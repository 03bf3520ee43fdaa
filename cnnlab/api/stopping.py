"""Ctrl-C and SIGTERM during training: a clean, resumable stop that is never lost."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

import keras


class StopRequests(keras.callbacks.Callback):
    """Ctrl-C and SIGTERM stop training cleanly (resumable) by raising KeyboardInterrupt where
    the signal lands. When it lands inside a destructor (TensorFlow frees tensors in `__del__`
    all the time), Python prints the exception and carries on: the request would be lost. So
    the request is also remembered, and raised again at the next batch the model finishes."""

    def __init__(self):
        super().__init__()
        self.requested = False

    def handle(self, signum, frame):
        self.requested = True
        raise KeyboardInterrupt

    def unraisable(self, unraisable) -> None:
        """For `sys.unraisablehook`: the swallowed KeyboardInterrupt is remembered above, so
        its "Exception ignored in ..." traceback would only alarm; anything else is shown."""
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            sys.__unraisablehook__(unraisable)

    def _raise_if_requested(self, *args, **kwargs):
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_epoch_end = on_predict_batch_end = on_test_batch_end = _raise_if_requested


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequests]:
    """Route Ctrl-C and SIGTERM to a `StopRequests` for the block; give it to `fit` as a callback.
    Off the main thread, where Python cannot take signals, Ctrl-C is Python's own."""
    requests = StopRequests()
    if threading.current_thread() is not threading.main_thread():
        yield requests
        return
    previous = {sig: signal.signal(sig, requests.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, requests.unraisable
    try:
        yield requests
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_hook
