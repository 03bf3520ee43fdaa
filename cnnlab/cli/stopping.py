"""Ctrl-C and SIGTERM during training: a clean, resumable stop that is never lost."""

from __future__ import annotations

import sys

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
