"""`fit(cfg)`: data -> model -> strategy -> callbacks -> a complete run directory.

    >>> result = fit(load_config("configs/digits_vae.yaml"))
    >>> result.run_dir, result.history["loss"][-1]
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import tensorflow as tf

from vaelab import runs
from vaelab.callbacks import AtomicBackupAndRestore, AtomicCheckpoint, BetaScheduler, EpochTimer, NaNGuard
from vaelab.config import RunConfig
from vaelab.data import load_split, make_dataset
from vaelab.data.pipeline import make_epochs
from vaelab.models.kinds import build_model
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

JIT = ("auto", "on", "off")
PRECISION = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def precision_policy(name: str):
    """Builds layers under a Keras dtype policy, restoring the global policy afterwards."""
    if name not in PRECISION:
        raise ValueError(f"train.precision: expected one of {list(PRECISION)}, received {name!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class DivergenceError(RuntimeError):
    """Training produced a non-finite loss (see the message for likely causes)."""


@dataclass
class FitResult:
    run_dir: Path
    config: RunConfig
    history: dict[str, list[float]]
    model: keras.Model
    stopped_early: bool = False


def resolve_jit(setting: str) -> bool:
    """`auto`: XLA on GPU, off on CPU (measured ~2x slower for conv VAEs on this CPU, docs/speed.md)."""
    if setting not in JIT:
        raise ValueError(f"train.jit_compile: expected one of {list(JIT)}, received {setting!r}")
    if setting == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return setting == "on"


def make_optimizer(cfg: RunConfig, total_steps: int) -> keras.optimizers.Optimizer:
    lr = cfg.train.learning_rate
    if cfg.train.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(total_steps, 1), alpha=0.05)
    elif cfg.train.lr_schedule != "constant":
        raise ValueError(f"unknown train.lr_schedule {cfg.train.lr_schedule!r}; choose from ['constant', 'cosine']")
    kwargs = {"learning_rate": lr}
    if cfg.train.clipnorm:
        kwargs["clipnorm"] = cfg.train.clipnorm
    try:
        return keras.optimizers.get({"class_name": cfg.train.optimizer, "config": kwargs})
    except ValueError:
        raise ValueError(
            f"unknown train.optimizer {cfg.train.optimizer!r}; choose from ['adam', 'adamw', 'sgd', 'rmsprop', ...]"
        ) from None


def check_names(cfg: RunConfig) -> None:
    """Fails fast, before anything is written, on any unknown registered name in the config."""
    from vaelab.data import DATASETS
    from vaelab.data.pipeline import AUTOTUNE, BINARIZE
    from vaelab.likelihoods import LIKELIHOODS
    from vaelab.models import ARCHITECTURES
    from vaelab.models.heads import ACTIVATIONS
    from vaelab.models.kinds import model_class
    from vaelab.schedules import SCHEDULES

    DATASETS.get(cfg.data.name)
    ARCHITECTURES.get(cfg.model.architecture)
    LIKELIHOODS.get(cfg.model.likelihood)
    SCHEDULES.get(cfg.loss.beta_schedule)
    DISTRIBUTE.get(cfg.train.distribute)
    model_class(cfg)  # the model kind, and the KL strategy where the kind has several
    for key, value, choices in (("model.activation", cfg.model.activation, ACTIVATIONS),
                                ("data.binarize", cfg.data.binarize, list(BINARIZE)),
                                ("data.autotune", cfg.data.autotune, list(AUTOTUNE)),
                                ("train.jit_compile", cfg.train.jit_compile, list(JIT)),
                                ("train.precision", cfg.train.precision, list(PRECISION)),
                                ("train.lr_schedule", cfg.train.lr_schedule, ["constant", "cosine"])):
        if value not in choices:
            raise ValueError(f"{key}: expected one of {choices}, received {value!r}")


def _check_resume(run_dir: Path, cfg: RunConfig) -> None:
    saved = runs.read_run_config(run_dir)
    ignore = {"train": {"epochs", "verbose", "report", "overwrite"}}  # may change on resume
    diffs = []
    a, b = saved.to_dict(), cfg.to_dict()
    for section in a:
        for key in a[section]:
            if key not in ignore.get(section, ()) and a[section][key] != b[section][key]:
                diffs.append(f"{section}.{key}: run has {a[section][key]!r}, now {b[section][key]!r}")
    if diffs:
        raise ValueError(f"cannot resume {run_dir}: it was made with another config ({'; '.join(diffs)})")


def _truncate_history(path: Path, epochs_done: int) -> None:
    """Drops history rows past the last backed-up epoch (a crash can land between the two writes)."""
    if not path.is_file():
        return
    with open(path, newline="") as f:  # keep CSVLogger's \r\n line ends as they are
        lines = f.readlines()
    runs.write_atomic(path, "".join(lines[: 1 + epochs_done]), newline="")


def fit(cfg: RunConfig, resume: str | Path | None = None, argv: list[str] | None = None,
        extra_callbacks: list[keras.callbacks.Callback] | None = None) -> FitResult:
    """Trains `cfg` into a new run directory, or continues `resume` (a run directory) exactly.

    Raises:
        DivergenceError: the loss became NaN/inf (the last good checkpoint is kept).
        ValueError: bad config values, or `resume` made with another config.
    """
    check_names(cfg)  # fail fast, before creating anything
    if os.environ.get("VAELAB_LOGICAL_CPUS"):
        split_cpu(int(os.environ["VAELAB_LOGICAL_CPUS"]))
    if resume is not None:
        run_dir = Path(resume)
        _check_resume(run_dir, cfg)
    else:
        run_dir = runs.create_run_dir(cfg)
    keras.utils.set_random_seed(cfg.train.seed)

    train_split = load_split(cfg.data, "train")
    val_split = load_split(cfg.data, "test") if cfg.data.validation else None
    batch = cfg.train.batch_size
    steps = math.ceil(len(train_split) / batch)
    if cfg.train.steps_per_epoch:
        steps = min(steps, cfg.train.steps_per_epoch)

    backup_dir = run_dir / "backup"
    meta = AtomicBackupAndRestore.read_metadata(backup_dir)
    if resume is not None and meta is None and (run_dir / runs.MODEL).is_file():
        raise ValueError(f"cannot resume {run_dir}: it already finished ({runs.MODEL} exists, no backup left)")
    first_epoch = meta["epoch"] if meta else 0
    _truncate_history(run_dir / runs.HISTORY, first_epoch)

    strategy = DISTRIBUTE.get(cfg.train.distribute)()
    runs.write_run_metadata(run_dir, cfg, argv if argv is not None else sys.argv,
                            distribute=cfg.train.distribute, replicas=strategy.num_replicas_in_sync)
    with strategy.scope(), precision_policy(cfg.train.precision):
        model = build_model(cfg, train_split.image_shape, n_train=len(train_split))
        model.compile_for_training(make_optimizer(cfg, steps * cfg.train.epochs), resolve_jit(cfg.train.jit_compile))

    train_ds = make_epochs(train_split, cfg.data, batch, cfg.train.seed, first_epoch, cfg.train.epochs, steps)
    train_ds = train_ds.map(lambda x: (x, model.targets(x)))
    val_ds = None
    if val_split is not None:
        val_ds = make_dataset(val_split, cfg.data, batch, training=False, seed=cfg.train.seed)
        val_ds = val_ds.map(lambda x: (x, model.targets(x)))

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
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False),
        AtomicCheckpoint(run_dir / "checkpoints"),
        AtomicBackupAndRestore(backup_dir),  # last: saves only after everything else has logged
        *(extra_callbacks or []),
    ]
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
        raise DivergenceError(f"{run_dir}: {guard.message}")
    _save_final(model, run_dir)
    history = runs.read_history(run_dir)
    return FitResult(run_dir, cfg, history, model, stopped_early=bool(early and early.stopped_epoch))


def _save_final(model: keras.Model, run_dir: Path) -> None:
    for name, obj in ((runs.MODEL, model), ("encoder.keras", model.encoder), ("decoder.keras", model.decoder)):
        runs.save_model_atomic(obj, run_dir / name)
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
