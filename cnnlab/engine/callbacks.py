"""Small Keras callbacks, one job each, composed by the fit loop (`loop.py`) beside Keras' own.

They differ from `CSVLogger` and `ModelCheckpoint` in one way: every file is replaced
atomically, so an interrupted run never leaves a half-written history or checkpoint, and a
resumed run carries on with the rows and the best score it already had.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import keras

from cnnlab.errors import RunError
from cnnlab.fileio import replacing, signals_held
from cnnlab.runtime.strategies import locally
from cnnlab.storage.folders import RunFolder


class HistoryCSV(keras.callbacks.Callback):
    """`history.csv`: one row per completed epoch (1-based), with the epoch's wall time."""

    def __init__(self, run: RunFolder):
        super().__init__()
        self.run = run
        self.rows: dict[int, dict] = {}
        self._started = 0.0

    def on_train_begin(self, logs=None):
        self.rows = {int(row["epoch"]): row for row in self.run.history}

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()
        # Rows past a restored epoch belong to a backup that was not kept: drop them.
        self.rows = {e: row for e, row in self.rows.items() if e <= epoch}

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["epoch_seconds"] = time.perf_counter() - self._started
        self.rows[epoch + 1] = row
        self.run.write_history([self.rows[e] for e in sorted(self.rows)])


class Checkpoints(keras.callbacks.Callback):
    """`last.keras` after every epoch and `best.keras` whenever `monitor` improves (every
    epoch when `monitor` is None: then the last epoch is the best one); the manifest names the
    best epoch."""

    def __init__(self, run: RunFolder | Path, monitor: str | None):
        super().__init__()
        self.run, self.monitor = RunFolder.of(run), monitor
        self.lower_is_better = monitor is not None and "loss" in monitor
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_train_begin(self, logs=None):
        # A resumed run keeps its best score; a second phase (fine-tuning) goes on with this one's.
        if self.best_epoch is None and self.run.checkpoint("best").is_file():
            for row in self.run.history:
                self._consider(row.get(self.monitor) if self.monitor else None, int(row["epoch"]))
            self.run.update(best_epoch=self.best_epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not math.isfinite(float(logs.get("loss", 0.0))):
            return  # never overwrite a good checkpoint with NaN weights
        self._save("last")
        if self._consider(logs.get(self.monitor) if self.monitor else None, epoch + 1):
            self._copy_last_to_best()
            self.run.update(best_epoch=self.best_epoch)

    def _consider(self, value, epoch: int) -> bool:
        if self.monitor is None:
            self.best_epoch = epoch
            return True
        if value is None or not math.isfinite(float(value)):
            return False
        value = float(value)
        better = self.best is None or (value < self.best if self.lower_is_better else value > self.best)
        if better:
            self.best, self.best_epoch = value, epoch
        return better

    def _save(self, which: str) -> None:
        with replacing(self.run.checkpoint(which)) as temporary, locally():
            self.model.save(temporary)

    def _copy_last_to_best(self) -> None:
        # The same weights were just saved as last.keras: a copy costs a file's bytes where a
        # second save would serialize the model again (0.1 s an epoch for the baseline's).
        with replacing(self.run.checkpoint("best")) as temporary:
            shutil.copyfile(self.run.checkpoint("last"), temporary)


class Backup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, kept when `fit` ends: a run with a fine-tuning phase resumes
    from the first phase's backup, and any run stopped between the end of `fit` and the
    manifest's `training_finished` must still find its last epoch.

    Keras writes the backup in place. So Ctrl-C and SIGTERM are held while it writes (they stop
    the run right after), and a backup that a SIGKILL cut short is passed over for the one
    before it, as Keras does for a file it cannot open.

    A run stopped after an epoch's `history.csv` row but before its backup (the backup is
    written last, and takes the longest) goes on from `last.keras`, written first: the backup
    is an epoch behind, and that finished epoch is not trained again.

    `read_only` is for the processes of a data_parallel run other than process 0: they restore
    from process 0's files, as it does, but never write a backup."""

    def __init__(self, run: RunFolder, phase: int, first_epoch: int = 0, read_only: bool = False):
        super().__init__(str(run.backup(phase)), double_checkpoint=True, delete_checkpoint=False)
        self.run, self.first_epoch, self.read_only = run, first_epoch, read_only

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        restored = self.model._initial_epoch or self.first_epoch  # the backup's epoch, or fit's
        finished = len(self.run.history)
        # A damaged last.keras (not cnnlab's doing: it is replaced atomically) leaves the backup in charge.
        if restored < finished <= self.params["epochs"] and not self.run.unreadable("last"):
            if not self.model.optimizer.built:  # a phase without a backup yet: build it, as Keras does
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(self.run.checkpoint("last"))  # the optimizer's state too
            self.model._initial_epoch = finished

    def on_epoch_end(self, epoch, logs=None):
        if not self.read_only:
            with locally(), signals_held():
                super().on_epoch_end(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if not self.read_only:
            with locally(), signals_held():
                super().on_train_batch_end(batch, logs)

    def _load_model(self):
        # Keras (3.x) restores from the previous backup when the latest raises OSError; a weights
        # file cut short raises ValueError ("objects could not be loaded"), or JSONDecodeError
        # for the epoch's metadata. Both mean the same: this backup is not whole.
        try:
            super()._load_model()
        except ValueError as error:
            raise OSError(f"{self.backup_dir}: the latest backup is not whole ({error})") from error


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite, and names that batch.

    Keras hands the logs to callbacks once per `steps_per_execution` batches, and its `loss` is
    the epoch's running mean: it turns non-finite at the first bad batch and stays so. Reading it
    every batch would force a host sync per step, so the guard reads it when Keras hands it over
    and counts inside the compiled step instead: `train_step` is wrapped (on this model object
    only; the saved model is plain Keras) to record the first batch whose running loss is not
    finite. Nothing after that chunk of batches runs, and the message names the exact batch.

    It raises rather than setting `stop_training`: Keras would still end the epoch, and the
    callbacks after it would record a NaN history row and back up NaN weights for --resume to
    start from. Raising ends `fit` before any of them sees the broken epoch."""

    def __init__(self):
        super().__init__()
        self._epoch = 0
        self._steps = self._first_bad = None

    def on_train_begin(self, logs=None):
        # JAX's train_step is stateless (it takes and returns the variables): no counting
        # inside it there, and the message names the batch where the logs showed the NaN.
        if self._steps is None and keras.backend.backend() == "tensorflow":
            self._steps = keras.Variable(0, dtype="int64", trainable=False, name="nan_guard_steps")
            self._first_bad = keras.Variable(0, dtype="int64", trainable=False, name="nan_guard_first_bad")
            self.model.train_step = _counting_first_nonfinite(self.model.train_step, self._steps, self._first_bad)
            self.model.make_train_function(force=True)  # trace the wrapped step, not a cached one

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._steps is not None:
            self._steps.assign(0)
            self._first_bad.assign(0)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            counted = self._first_bad is not None and int(keras.ops.convert_to_numpy(self._first_bad))
            first = counted or batch + 1
            raise RunError(
                f"the loss became NaN or infinite at epoch {self._epoch + 1}, batch {first} — "
                "try a lower learning rate, another preprocess, or check the data for NaNs"
            )


def _counting_first_nonfinite(train_step, steps, first_bad):
    """`train_step` that also counts the epoch's batches into `steps` and keeps in `first_bad`
    the 1-based number of the first batch whose running loss is not finite (0: none yet)."""

    def step(data):
        logs = train_step(data)
        steps.assign_add(1)
        newly_bad = keras.ops.logical_and(
            keras.ops.equal(first_bad, 0), keras.ops.logical_not(keras.ops.isfinite(logs["loss"]))
        )
        first_bad.assign(keras.ops.where(newly_bad, steps, first_bad))
        return logs

    return step
