"""Only what Keras lacks, one small class per concern.

Keras already provides CSVLogger, TensorBoard, EarlyStopping and BackupAndRestore; we add the beta
schedule, epoch timing, a NaN guard that explains itself, crash-safe (atomic) checkpoints, and a
TensorBoard without per-batch cost.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import keras

from vaelab import saving
from vaelab.atomic import copy_atomic
from vaelab.config import LossConfig
from vaelab.runs import BACKUP_METADATA, RunDir, read_backup_metadata, save_model_atomic, write_atomic
from vaelab.schedules import beta_at


class BetaScheduler(keras.callbacks.Callback):
    """Writes the scheduled beta into the model's non-trainable `beta` variable each epoch; logs `beta`."""

    def __init__(self, loss_cfg: LossConfig):
        super().__init__()
        self.loss_cfg = loss_cfg
        self.value = loss_cfg.beta

    def on_epoch_begin(self, epoch, logs=None):
        self.value = beta_at(epoch, self.loss_cfg)
        beta = getattr(self.model, "beta", None)
        if beta is not None:
            beta.assign(self.value)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and getattr(self.model, "beta", None) is not None:
            logs["beta"] = self.value


class EpochTimer(keras.callbacks.Callback):
    """Adds `time` (seconds for the epoch, validation included) to the logs."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["time"] = time.perf_counter() - self._start


def _finite(logs) -> bool:
    return all(math.isfinite(float(v)) for k, v in (logs or {}).items() if "loss" in k)


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss and keeps a message explaining likely causes.

    Unlike `TerminateOnNaN` it records where it happened; checkpoints and backups skip the bad epoch,
    so the last good state on disk is kept. `train.fit` turns `message` into a `DivergenceError`.
    """

    def __init__(self):
        super().__init__()
        self.message: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.message is None:
            self.message = (
                f"loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}; training stopped. "
                "Likely causes: a learning rate too high "
                "(try train.learning_rate smaller or train.clipnorm=1.0), or exp(z_log_var) overflowing "
                "(set model.z_log_var_clip=10), or inputs outside [0, 1] with the bernoulli likelihood."
            )
            self.model.stop_training = True


class AtomicCheckpoint(keras.callbacks.Callback):
    """Saves `last.keras` every epoch and `best.keras` on improvement, via temp file + os.replace.

    A crash while writing never leaves a half-written file under the final name. Epochs with a
    non-finite loss are never saved. On improvement the model is serialised once: `best.keras` is a
    byte copy of that epoch's `last.keras`.
    """

    def __init__(self, run_dir: RunDir, monitor: str = "val_loss"):
        super().__init__()
        self.run_dir = run_dir
        self.monitor = monitor
        self.best = math.inf
        self.saved_epoch: int | None = None  # the epoch whose state `last.keras` holds (None: none yet)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if not _finite(logs):
            return
        self.run_dir.checkpoints.mkdir(parents=True, exist_ok=True)
        save_model_atomic(self.model, self.run_dir.checkpoint("last"))
        self.saved_epoch = epoch
        value = logs.get(self.monitor, logs.get("loss"))
        if value is not None and float(value) < self.best:
            self.best = float(value)
            copy_atomic(self.run_dir.checkpoint("last"), self.run_dir.checkpoint("best"))


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard without its per-batch cost when nothing is written per batch.

    With `update_freq="epoch"` Keras 3 still calls `summary.scalar` for every log of every training
    batch (no writer is active, so nothing is written): ~1 ms a step on a 2-core CPU. Skipped here;
    the files written are the same.
    """

    def on_train_batch_end(self, batch, logs=None):
        if (self.update_freq == "epoch" and not self._should_trace and not self.write_steps_per_second
                and not getattr(self, "_should_write_train_graph", False)):
            return
        super().on_train_batch_end(batch, logs)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose state is crash-consistent.

    Keras writes `latest.weights.h5` and then `training_metadata.json` in place: a kill between the
    two leaves weights of epoch k+1 labelled epoch k. Here each epoch's weights go to a new file
    (temp name + rename) and the metadata, renamed into place last, names that file: it is the
    commit point. Epochs with a non-finite loss are not backed up. The backup is not deleted when
    training ends: `runs.save_final` removes it only once the final model is safely on disk, so a
    crash during the final save still resumes from the last epoch.

    The state is a whole `.keras` file (weights and optimizer slots, what `save_weights` writes, plus the
    config). Given the run's `AtomicCheckpoint`, which ran earlier in the same epoch end, the backup is that
    epoch's `last.keras` under a second name (a hard link: the backup is vaelab's own, removed at the end),
    so the model is serialised once an epoch, not twice.
    """

    METADATA = BACKUP_METADATA

    def __init__(self, backup_dir: str | Path, checkpoint: AtomicCheckpoint | None = None):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.checkpoint = checkpoint

    @staticmethod
    def read_metadata(backup_dir: str | Path) -> dict | None:
        return read_backup_metadata(backup_dir)

    def on_train_begin(self, logs=None):
        meta = self.read_metadata(self.backup_dir)
        if meta is None:
            return
        # The backup's optimizer state is restored slot by slot into the optimizer that `prepare_training` built
        # over `optimized_variables` before `fit`, the variables the uninterrupted run's steps update.
        saving.load_weights(self.model, os.path.join(self.backup_dir, meta["weights"]))
        self.model._initial_epoch = meta["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        if _finite(logs):
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{self._current_epoch:05d}.keras"
        path = os.path.join(self.backup_dir, name)
        ckpt = self.checkpoint
        if ckpt is not None and ckpt.saved_epoch == self._current_epoch - 1:  # this epoch's last.keras
            copy_atomic(ckpt.run_dir.checkpoint("last"), path, link=True)
        else:
            save_model_atomic(self.model, path)
        meta = {"epoch": self._current_epoch, "batch": 0, "weights": name}
        write_atomic(os.path.join(self.backup_dir, self.METADATA), json.dumps(meta))
        for old in Path(self.backup_dir).glob("epoch-*"):  # also an earlier version's .weights.h5
            if old.name != name:
                old.unlink(missing_ok=True)
