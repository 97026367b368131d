"""`fit(cfg)`: data -> model -> strategy -> callbacks -> a complete run directory.

    >>> result = fit(load_config("configs/digits_vae.yaml"))
    >>> result.run_dir, result.history["loss"][-1]
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from vaelab import optimizers, precision, runs, tracking
from vaelab.callbacks import AtomicBackupAndRestore, AtomicCheckpoint, BetaScheduler, EpochTimer, NaNGuard, TensorBoard
from vaelab.config import RunConfig
from vaelab.data import load_split, make_dataset
from vaelab.data.pipeline import load_validation_split, make_epochs
from vaelab.models.kinds import build_model, model_class
from vaelab.registry import Registry

DISTRIBUTE = Registry("distribution strategy")
DISTRIBUTE.register("none")(lambda: tf.distribute.get_strategy())
DISTRIBUTE.register("mirrored")(lambda: tf.distribute.MirroredStrategy())  # all local GPUs (or logical CPUs)
DISTRIBUTE.register("multi_worker")(lambda: tf.distribute.MultiWorkerMirroredStrategy())  # hosts from TF_CONFIG


def split_cpu(n: int) -> None:
    """Exposes the CPU as `n` logical devices (to try `mirrored` without GPUs); call before any TF op."""
    cpus = tf.config.list_physical_devices("CPU")
    if len(tf.config.get_logical_device_configuration(cpus[0]) or []) == n:
        return
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as e:
        raise RuntimeError(f"VAELAB_LOGICAL_CPUS={n}: TensorFlow was already initialised ({e})") from None


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss (see the message for likely causes)."""


@dataclass
class FitResult:
    run_dir: Path
    config: RunConfig
    history: dict[str, list[float]]
    model: keras.Model
    stopped_early: bool = False
    tracker: tracking.Tracker | None = None  # the MLflow run (train.track), for the end-of-run hook


def resolve_jit(setting: str) -> bool:
    """`auto`: XLA on GPU, off on CPU (measured ~2x slower for conv VAEs on this CPU, docs/speed.md)."""
    if setting == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return setting == "on"


def make_optimizer(cfg: RunConfig, total_steps: int) -> keras.optimizers.Optimizer:
    lr = cfg.train.learning_rate
    if cfg.train.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1), alpha=0.05)
    kwargs = {"learning_rate": lr}
    if cfg.train.clipnorm:
        kwargs["clipnorm"] = cfg.train.clipnorm
    if cfg.train.ema:
        kwargs.update(use_ema=True, ema_momentum=cfg.train.ema)
    return optimizers.get(cfg.train.optimizer, **kwargs)


def fit(cfg: RunConfig, resume: str | Path | None = None, argv: list[str] | None = None,
        extra_callbacks: list[keras.callbacks.Callback] | None = None, tracking_parent: str | None = None) -> FitResult:
    """Trains `cfg` into a new run directory, or continues `resume` (a run directory) exactly.

    With `train.track: mlflow` the run is logged to an MLflow run (nested under `tracking_parent`, a run id,
    when given; see vaelab/tracking.py).

    Nothing is written before the config and the data have been checked. A new run that fails before
    its first epoch is finished leaves no run directory behind; a run that fails later keeps its last
    good checkpoint and its resume state (`vaelab train --resume RUN_DIR`).

    Raises:
        DivergenceError: the loss became NaN/inf.
        ValueError: bad config values or data, or `resume` made with another config.
    """
    cfg = cfg.validated()
    tracking.check(cfg)
    if os.environ.get("VAELAB_LOGICAL_CPUS"):
        split_cpu(int(os.environ["VAELAB_LOGICAL_CPUS"]))
    first_epoch = runs.resume_point(resume, cfg) if resume is not None else 0
    keras.utils.set_random_seed(cfg.train.seed)
    train_split = load_split(cfg.data, "train")
    if model_class(cfg).needs_labels and train_split.labels is None:
        raise ValueError(f"model.kind: {cfg.model.kind!r} trains on labelled images, but data.name "
                         f"{cfg.data.name!r} ({train_split.source or cfg.data.data_dir}) has no labels; "
                         "choose a labelled dataset (or class sub-folders for `folder`)")
    val_split = load_validation_split(cfg.data) if cfg.data.validation else None
    verdict = _precision(cfg, resume, train_split)
    run_dir = Path(resume) if resume is not None else runs.create_run_dir(cfg)
    tracker = tracking.start(cfg, run_dir, first_epoch, parent=tracking_parent)
    try:
        return _fit(cfg, run_dir, first_epoch, train_split, val_split, argv, extra_callbacks, verdict, tracker)
    except BaseException as e:
        tracker.fail(e)
        if resume is None and not runs.has_finished_epoch(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing finished: leave nothing half-made behind
            if isinstance(e, (DivergenceError, OSError)):
                raise type(e)(f"{e} (no epoch finished, so the run directory {run_dir} was removed)") from None
        raise


def _precision(cfg: RunConfig, resume, train_split) -> precision.Verdict:
    """`train.precision`, with `auto` decided for this machine (measured once, then cached); a resumed run
    keeps the precision it started in (its env.json)."""
    if resume is not None and cfg.train.precision == "auto":
        started = runs.read_environment(resume).get("precision")
        if started:
            return precision.Verdict(started, "resumed", note=f"the precision {resume} started in")
    verdict = precision.resolve(cfg, train_split.image_shape, label_names=train_split.label_names,
                                attributes=train_split.is_attributes, n_train=len(train_split),
                                jit_compile=resolve_jit(cfg.train.jit_compile))
    if verdict.source == "measured" and cfg.train.verbose:
        print(f"train.precision=auto: {verdict.describe()}; cached in {precision.cache_path()}", flush=True)
    return verdict


def validation_batch(batch: int, model) -> int:
    """The validation batch size: up to 4x the training batch (at most 512, never below `batch`) for a loss of
    per-image terms. Forward passes only, so memory stays near a training step's; per-step overhead is paid
    4x less often (validation ~1.1x faster on the recipe's net on 2 CPU cores, benchmarks/README.md)."""
    if not getattr(model, "per_image_loss", False):
        return batch
    return max(batch, min(4 * batch, 512))


def _fit(cfg: RunConfig, run_dir: Path, first_epoch: int, train_split, val_split, argv,
         extra_callbacks, verdict: precision.Verdict, tracker: tracking.Tracker) -> FitResult:
    batch = cfg.train.batch_size
    steps = math.ceil(len(train_split) / batch)
    if cfg.train.steps_per_epoch:
        steps = min(steps, cfg.train.steps_per_epoch)
    runs.truncate_history(run_dir, first_epoch)

    strategy = DISTRIBUTE.get(cfg.train.distribute)()
    runs.write_run_metadata(run_dir, cfg, argv if argv is not None else sys.argv,
                            distribute=cfg.train.distribute, replicas=strategy.num_replicas_in_sync,
                            precision=verdict.precision, precision_decision=verdict.describe())
    with strategy.scope(), precision.policy(verdict.precision):
        model = build_model(cfg, train_split.image_shape, n_train=len(train_split),
                            label_names=train_split.label_names, attributes=train_split.is_attributes)
        model.prepare_training(make_optimizer(cfg, steps * cfg.train.epochs), resolve_jit(cfg.train.jit_compile))

    labels = model.needs_labels  # elements (images, labels), turned into ((x, c), x) by the model
    train_ds = make_epochs(train_split, cfg.data, batch, cfg.train.seed, first_epoch, cfg.train.epochs, steps,
                           with_labels=labels)
    train_ds = train_ds.map(model.training_pair)
    val_ds = None
    if val_split is not None:
        val_ds = make_dataset(val_split, cfg.data, validation_batch(batch, model), training=False,
                              seed=cfg.train.seed, with_labels=labels)
        val_ds = val_ds.map(model.training_pair)

    guard = NaNGuard()
    early = None
    callbacks = [BetaScheduler(cfg.loss), EpochTimer(), guard]  # these add to `logs` before the loggers
    if cfg.train.early_stopping_patience is not None:
        monitor = "val_loss" if val_ds is not None else "loss"
        early = keras.callbacks.EarlyStopping(monitor, patience=cfg.train.early_stopping_patience,
                                              restore_best_weights=True)
        callbacks.append(early)
    callbacks += [
        keras.callbacks.CSVLogger(str(run_dir / runs.HISTORY), append=first_epoch > 0),
        TensorBoard(str(runs.RunDir(run_dir).tensorboard), write_graph=False),
        checkpoint := AtomicCheckpoint(runs.RunDir(run_dir)),
        tracker,  # MLflow (train.track): each epoch's row, before the backup commits the epoch
        AtomicBackupAndRestore(run_dir / runs.BACKUP, checkpoint),  # last: commits after everything else logged
        *(extra_callbacks or []),
    ]
    with warnings.catch_warnings():
        # A streamed validation split has no known length (unreadable files are skipped), so Keras reads
        # it to its end once and warns that the input "ran out of data": expected there, not a problem.
        # Training never runs out: every epoch repeats its batches up to steps_per_epoch.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(
            train_ds,
            epochs=cfg.train.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            validation_data=val_ds,
            callbacks=callbacks,
            verbose=cfg.train.verbose,
            shuffle=False,  # the pipeline shuffles, seeded per epoch
        )
    if guard.message:
        last = runs.RunDir(run_dir).checkpoint("last")
        kept = (f"the last good checkpoint is {last}" if last.is_file()
                else "no epoch had finished with a finite loss, so there is no checkpoint")
        raise DivergenceError(f"{run_dir}: {guard.message}; {kept}")
    runs.save_final(model, run_dir)
    tracker.finish(run_dir)
    history = runs.read_history(run_dir)
    return FitResult(run_dir, cfg, history, model, stopped_early=bool(early and early.stopped_epoch), tracker=tracker)
