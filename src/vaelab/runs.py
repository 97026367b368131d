"""Run directories: everything a training run leaves behind, and loading it back.

    runs/<name>/
      config.yaml       resolved config (defaults + YAML + --set)
      command.txt       the command line
      env.json          versions and devices
      history.csv       one row per epoch: loss, reconstruction_loss, kl_loss, beta, time, val_*
      checkpoints/      best.keras, last.keras (written atomically)
      backup/           BackupAndRestore state for --resume (removed when training completes)
      tensorboard/      TensorBoard logs
      figures/          PNG figures
      model.keras       final model (encoder.keras / decoder.keras alongside)
      metrics.json      numbers from evaluate/plots
      report.html       self-contained run report
      trial.json        only for sweep trials: study, trial number, parameters, value, status
      mlflow.json       only with train.track=mlflow: the MLflow run it logs to (vaelab/tracking.py)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from vaelab.atomic import save_model_atomic, write_atomic  # noqa: F401  (the one atomic writer; re-exported)
from vaelab.config import RunConfig, dump_config
from vaelab.environment import environment


@dataclass(frozen=True)
class RunDir:
    """A run directory and its layout: every file and folder a run holds is named here, once.

    >>> RunDir(Path("runs/a")).checkpoint("best")
    PosixPath('runs/a/checkpoints/best.keras')
    """

    path: Path

    CONFIG = "config.yaml"
    COMMAND = "command.txt"
    ENV = "env.json"
    HISTORY = "history.csv"
    MODEL = "model.keras"
    ENCODER = "encoder.keras"
    DECODER = "decoder.keras"
    METRICS = "metrics.json"
    REPORT = "report.html"
    TRIAL = "trial.json"
    TRACKING = "mlflow.json"  # the MLflow run a tracked run logs to (vaelab/tracking.py)
    BACKUP = "backup"
    CHECKPOINTS = "checkpoints"
    FIGURES = "figures"
    TENSORBOARD = "tensorboard"
    EVALUATION = "evaluation"

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    config = property(lambda self: self.path / self.CONFIG)
    command = property(lambda self: self.path / self.COMMAND)
    env = property(lambda self: self.path / self.ENV)
    history = property(lambda self: self.path / self.HISTORY)
    model = property(lambda self: self.path / self.MODEL)
    metrics = property(lambda self: self.path / self.METRICS)
    report = property(lambda self: self.path / self.REPORT)
    trial = property(lambda self: self.path / self.TRIAL)
    backup = property(lambda self: self.path / self.BACKUP)
    checkpoints = property(lambda self: self.path / self.CHECKPOINTS)
    figures = property(lambda self: self.path / self.FIGURES)
    tensorboard = property(lambda self: self.path / self.TENSORBOARD)

    def checkpoint(self, name: str) -> Path:
        """checkpoints/<name>.keras: "last" (every epoch) or "best" (lowest val_loss)."""
        return self.checkpoints / f"{name}.keras"

    def prior(self, kind: str) -> tuple[Path, Path]:
        """A fitted prior's arrays and description: prior_<kind>.npz, prior_<kind>.json."""
        return self.path / f"prior_{kind}.npz", self.path / f"prior_{kind}.json"


CONFIG, ENV, HISTORY, MODEL, METRICS, TRIAL = (RunDir.CONFIG, RunDir.ENV, RunDir.HISTORY, RunDir.MODEL,
                                                RunDir.METRICS, RunDir.TRIAL)
BACKUP = RunDir.BACKUP
BACKUP_METADATA = "training_metadata.json"
FINAL = (RunDir.MODEL, RunDir.ENCODER, RunDir.DECODER)
TRACKING = RunDir.TRACKING
STATUSES = ("finished", "running-or-interrupted", "diverged", "pruned")


def default_run_name(cfg: RunConfig) -> str:
    from vaelab.models.kinds import model_class

    kind = model_class(cfg).label(cfg.loss.strategy)
    return f"{cfg.data.name}-{kind}-z{cfg.model.latent_dim}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(cfg: RunConfig) -> Path:
    """A fresh run directory; never reuses a non-empty one unless `train.overwrite` is set."""
    out = Path(cfg.train.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"train.output_dir {out}: cannot create it ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise PermissionError(f"train.output_dir {out}: not writable")
    name = cfg.train.run_name or default_run_name(cfg)
    path = out / name
    if path.exists() and any(path.iterdir()) and not cfg.train.overwrite:
        if cfg.train.run_name:
            raise FileExistsError(
                f"run directory {path} already exists; resume it with --resume {path}, "
                "pick another train.run_name, or set train.overwrite=true"
            )
        i = 2
        while (out / f"{name}-{i}").exists():
            i += 1
        path = out / f"{name}-{i}"
    if path.exists() and cfg.train.overwrite:
        clear_run_dir(path)
    path.mkdir(parents=True, exist_ok=True)
    for sub in (RunDir.CHECKPOINTS, RunDir.FIGURES, RunDir.TENSORBOARD):
        (path / sub).mkdir(exist_ok=True)
    return path


# what a run directory holds, inputs and results alike: `train.overwrite` removes these (and nothing else)
RUN_FILES = (CONFIG, RunDir.COMMAND, ENV, HISTORY, *FINAL, METRICS, RunDir.REPORT, TRIAL, TRACKING)
RUN_FOLDERS = (RunDir.CHECKPOINTS, BACKUP, RunDir.TENSORBOARD, RunDir.FIGURES, RunDir.EVALUATION)
RUN_GLOBS = ("prior_*.npz", "prior_*.json", ".*.tmp", ".*.tmp.keras")


def clear_run_dir(path: Path) -> None:
    """Removes a run's files (model, history, metrics.json, prior_*, report.html, evaluation/, figures/,
    ...) so that an overwritten run shows no number of the model it replaces; other files stay."""
    if not path.is_dir():
        raise ValueError(f"train.run_name: {path} exists and is not a folder; choose another train.run_name")
    try:
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        for pattern in RUN_GLOBS:
            for f in path.glob(pattern):
                f.unlink(missing_ok=True)
        for name in RUN_FOLDERS:
            if (path / name).is_dir():
                shutil.rmtree(path / name)
    except OSError as e:
        raise OSError(e.errno, f"train.overwrite: cannot clear {e.filename or path} ({e.strerror}); "
                               "remove the run directory by hand or choose another train.run_name") from None


def save_final(model, run_dir: Path) -> None:
    """model/encoder/decoder `.keras`, each atomically; the resume state goes only after all three are saved."""
    for name, obj in zip(FINAL, (model, model.encoder, model.decoder), strict=True):
        save_model_atomic(obj, run_dir / name)
    shutil.rmtree(run_dir / BACKUP, ignore_errors=True)


def read_backup_metadata(backup_dir: str | Path) -> dict | None:
    """The resume state's commit record {"epoch", "weights"} (None when there is none)."""
    f = Path(backup_dir) / BACKUP_METADATA
    if not f.is_file():
        return None
    try:
        meta = json.loads(f.read_text())
        return {"epoch": int(meta["epoch"]), "batch": int(meta.get("batch", 0)), "weights": str(meta["weights"])}
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{f}: the resume state is damaged (expected JSON with epoch and weights); "
                         f"start a new run, or load checkpoints/last.keras") from None


def has_finished_epoch(run_dir: Path) -> bool:
    """Whether the run has anything worth keeping (a finished epoch's checkpoint or resume state)."""
    return RunDir(run_dir).checkpoint("last").is_file() or read_backup_metadata(run_dir / BACKUP) is not None


def resume_point(run_dir: str | Path, cfg: RunConfig) -> int:
    """The epoch a resumed run starts from; refuses runs that cannot be resumed, saying why."""
    run_dir = Path(run_dir)
    saved = read_run_config(run_dir)
    ignore = {"train": {"epochs", "verbose", "report", "overwrite", "track", "tracking_uri"}}  # may change
    a, b = saved.to_dict(), cfg.to_dict()
    diffs = [f"{section}.{key}: run has {a[section][key]!r}, now {b[section][key]!r}"
             for section in a for key in a[section]
             if key not in ignore.get(section, ()) and a[section][key] != b[section][key]]
    if diffs:
        raise ValueError(f"cannot resume {run_dir}: it was made with another config ({'; '.join(diffs)})")
    meta = read_backup_metadata(run_dir / BACKUP)
    if meta is None and (run_dir / MODEL).is_file():
        raise ValueError(f"cannot resume {run_dir}: it already finished ({MODEL} exists, no resume state left); "
                         "to train longer, start a new run")
    return meta["epoch"] if meta else 0  # killed during its first epoch: start it again


def truncate_history(run_dir: Path, epochs_done: int) -> None:
    """Drops history rows past the last backed-up epoch (a crash can land between the two writes)."""
    path = run_dir / HISTORY
    if not path.is_file():
        return
    with open(path, newline="") as f:  # keep CSVLogger's \r\n line ends as they are
        lines = f.readlines()
    write_atomic(path, "".join(lines[: 1 + epochs_done]), newline="")


def write_run_metadata(path: Path, cfg: RunConfig, argv: list[str] | None = None, **extra) -> None:
    write_atomic(path / CONFIG, dump_config(cfg))
    write_atomic(path / RunDir.COMMAND, " ".join(argv if argv is not None else sys.argv) + "\n")
    write_atomic(path / ENV, json.dumps({**environment(), **extra}, indent=2))


def read_environment(path: str | Path) -> dict:
    """A run's env.json as written by `write_run_metadata` ({} when it is missing or unreadable)."""
    try:
        data = json.loads((Path(path) / ENV).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_run_config(path: str | Path) -> RunConfig:
    """A run directory's resolved config (checked like any loaded config)."""
    from vaelab.config import read_yaml

    path = Path(path)
    f = path / CONFIG
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} not found")
    if not f.is_file():
        raise FileNotFoundError(f"{path} is not a vaelab run directory: {CONFIG} not found")
    return RunConfig.from_dict(read_yaml(f), where=str(f))


def read_history(run_dir: str | Path) -> dict[str, list[float]]:
    """history.csv as {column: values}; empty when the file is missing. Cells that are not numbers
    (CSVLogger's "NA" for keys missing in an epoch, e.g. val_* without validation) are skipped."""
    import csv

    f = Path(run_dir) / HISTORY
    if not f.is_file():
        return {}
    out: dict[str, list[float]] = {}
    try:
        with open(f, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for k, v in row.items():
                    try:
                        value = float(v)
                    except (TypeError, ValueError):
                        continue
                    out.setdefault(k, []).append(value)
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{f}: not a text CSV file ({' '.join(str(e).split())[:120]}); the training history "
                         "is damaged") from None
    return out


MODEL_HASH = "model_sha256"  # the key under which every derived file records the model it was computed from
_HASHES: dict[tuple, str] = {}


def file_hash(f: str | Path) -> str:
    """sha256 of a model file's bytes, computed once per version of the file (keyed on inode, size, mtime)."""
    import hashlib

    f = Path(f)
    st = f.stat()
    key = (str(f.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        try:
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except PermissionError:
            raise PermissionError(13, f"{f}: cannot read (permission denied); give yourself read access "
                                      f"(chmod u+r {f})") from None
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def model_file(run_dir: str | Path) -> Path | None:
    """The run's current model: model.keras once finished, else checkpoints/last.keras, else None."""
    for f in (RunDir(run_dir).model, RunDir(run_dir).checkpoint("last")):
        if f.is_file():
            return f
    return None


def model_hash(run_dir: str | Path) -> str | None:
    """The hash of the run's current model (`model_file`), None when it has none."""
    f = model_file(run_dir)
    return file_hash(f) if f is not None else None


def is_current(values, current: str | None) -> bool:
    """Whether a derived result (a metrics.json section, a prior's info) belongs to the model hashed `current`.
    Results written before hashes were recorded (no hash) are taken as current."""
    recorded = values.get(MODEL_HASH) if isinstance(values, dict) else None
    return recorded is None or recorded == current


def _read_metrics_file(f: Path) -> dict:
    """metrics.json as a dict ({} when missing); a ValueError naming the file when it is damaged."""
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{f} is damaged (not JSON: {' '.join(str(e).split())[:80]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{f} is damaged (expected a JSON object, received {type(data).__name__})")
    return data


def update_metrics(path: str | Path, section: str, values: dict, model_hash: str | None = None,
                   damaged: str = "raise") -> dict:
    """Merges `values` under `section` into the run's metrics.json (atomically) and returns the whole.

    `model_hash` (of the model the values come from) is recorded in the section; sections recorded from
    another model are dropped. A damaged metrics.json raises a ValueError naming it, or with
    `damaged="replace"` is replaced with a warning (the caller recomputes what it held)."""
    import warnings

    f = Path(path) / METRICS
    try:
        data = _read_metrics_file(f)
    except ValueError as e:
        if damaged != "replace":
            raise ValueError(f"{e}; regenerate it with `vaelab evaluate {path}` (which rewrites it), "
                             "or delete it") from None
        warnings.warn(f"{e}; writing a new one (its other sections are lost: rerun `vaelab report {path}` "
                      "for them)", stacklevel=2)
        data = {}
    if model_hash is not None:
        data = {k: v for k, v in data.items() if is_current(v, model_hash)}
        values = {**values, MODEL_HASH: model_hash}
    data[section] = values
    write_atomic(f, json.dumps(data, indent=2, default=float))
    return data


def read_json(f: str | Path) -> dict:
    """A JSON object file as a dict; empty when missing or unreadable."""
    try:
        data = json.loads(Path(f).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_metrics(run_dir: str | Path, strict: bool = False) -> dict:
    """metrics.json's sections computed from the run's current model (`model_hash`); sections recorded
    from another model (an earlier checkpoint, the run an overwrite replaced) are left out. Empty when
    missing; a damaged file is empty too, or with `strict` a ValueError naming it."""
    f = Path(run_dir) / METRICS
    try:
        data = _read_metrics_file(f)
    except (ValueError, OSError):
        if strict:
            raise
        return {}
    if not data:
        return data
    current = model_hash(run_dir)
    return {k: v for k, v in data.items() if is_current(v, current)}


def metric_value(metrics: dict, key: str):
    """A dotted metrics.json path ("evaluation.iwae.nll"); sections of `vaelab evaluate` may omit
    "evaluation." ("iwae.nll"). None when absent."""
    for path in (key, f"evaluation.{key}"):
        node = metrics
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def read_trial(run_dir: str | Path) -> dict:
    """trial.json of a sweep trial (empty for a plain run)."""
    return read_json(Path(run_dir) / TRIAL)


def write_trial(run_dir: str | Path, **info) -> dict:
    """Merges `info` into the run's trial.json (atomically) and returns the whole."""
    data = {**read_trial(run_dir), **info}
    write_atomic(Path(run_dir) / TRIAL, json.dumps(data, indent=2, default=str))
    return data


def run_status(run_dir: str | Path, history: dict[str, list[float]] | None = None) -> str:
    """One of STATUSES: pruned/diverged as marked by a sweep, diverged on a non-finite logged loss,
    finished once model.keras exists, else running-or-interrupted (`vaelab train --resume` continues it)."""
    import math

    run_dir = Path(run_dir)
    marked = read_trial(run_dir).get("status")
    if marked in ("pruned", "diverged"):
        return marked
    history = read_history(run_dir) if history is None else history
    if any(not math.isfinite(v) for k, vs in history.items() if k.endswith("loss") for v in vs):
        return "diverged"
    return "finished" if (run_dir / MODEL).is_file() else "running-or-interrupted"


def find_run_dirs(root: str | Path) -> list[Path]:
    """Every run directory (a folder with config.yaml) under `root`, itself included, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    return sorted(f.parent for f in root.rglob(CONFIG) if (f.parent / "command.txt").is_file()
                  or (f.parent / HISTORY).is_file())


@dataclass
class Run:
    path: Path
    config: RunConfig
    model: object  # a vaelab BaseAutoencoder
    model_file: Path | None = None  # the file the model was loaded from
    model_hash: str | None = None  # its sha256 (`file_hash`): derived results record it

    @property
    def dir(self) -> RunDir:
        return RunDir(self.path)

    @property
    def figures(self) -> Path:
        self.dir.figures.mkdir(exist_ok=True)
        return self.dir.figures

    def check_images(self, images) -> None:
        """A ValueError in one line when the config's data no longer fits the model (edited config.yaml)."""
        shape = tuple(int(s) for s in images.shape[1:])
        if shape != tuple(self.model.image_shape):
            raise ValueError(f"{self.path / CONFIG} no longer matches its model {self.model_file}: the config's "
                             f"data ({self.config.data.name}) gives images of shape {shape}, the model takes "
                             f"{tuple(self.model.image_shape)}; restore the run's config.yaml")


CHECKPOINTS = ("last", "best")  # --checkpoint names: checkpoints/<name>.keras


def _check_matches(path: Path, cfg: RunConfig, model, f: Path) -> None:
    """The saved config against the loaded model: one line when config.yaml was edited after training."""
    saved = getattr(model, "cfg", None)  # the ModelConfig the model was built from (stored in the .keras file)
    keys = ("kind", "architecture", "latent_dim", "filters", "kernel_sizes", "strides", "hidden_units", "likelihood")
    diffs = [f"model.{k}: config {getattr(cfg.model, k)!r}, model {getattr(saved, k)!r}" for k in keys
             if saved is not None and hasattr(saved, k) and getattr(saved, k) != getattr(cfg.model, k)]
    if diffs:
        raise ValueError(f"{path / CONFIG} no longer matches its model {f} ({'; '.join(diffs)}); "
                         "restore the run's config.yaml")


def load_run(path: str | Path, checkpoint: str | None = None, require_final: bool = False) -> Run:
    """Loads a run's config and model: `model.keras`, else checkpoints/last.keras; `checkpoint` ("last",
    "best" or a .keras path) picks one. With `require_final`, an unfinished run (no model.keras) is refused
    unless a checkpoint is named: results of an earlier checkpoint must be asked for."""
    import vaelab.models.kinds  # noqa: F401  (registers the serializable classes)
    from vaelab import saving

    path = Path(path)
    cfg = read_run_config(path)
    last = RunDir(path).checkpoint("last")
    if checkpoint in CHECKPOINTS:
        candidates = [RunDir(path).checkpoint(checkpoint)]
    elif checkpoint:
        candidates = [Path(checkpoint)]
    else:
        candidates = [path / MODEL, last]
        if require_final and not (path / MODEL).is_file() and last.is_file():
            raise ValueError(f"{path} has not finished training (no {MODEL}); finish it with `vaelab train "
                             f"--resume {path}`, or use its latest checkpoint with --checkpoint last")
    for f in candidates:
        if not f.is_file():
            continue
        digest = file_hash(f)  # an unreadable file: "cannot read (permission denied)", never "damaged"
        try:
            model = saving.load_model(f, compile=False)
        except Exception as e:  # Keras raises many kinds for a damaged zip
            hint = (f"; the checkpoint {last} is intact: `cp {last} {f}` restores the model from it"
                    if f != last and last.is_file() else "")
            raise ValueError(f"{f}: cannot load the model, the file is damaged "
                             f"({type(e).__name__}: {' '.join(str(e).split())[:160]}){hint}") from None
        _check_matches(path, cfg, model, f)
        return Run(path=path, config=cfg, model=model, model_file=f, model_hash=digest)
    raise FileNotFoundError(f"{path}: no trained model found (looked for {[str(c) for c in candidates]}); "
                            "train one with `vaelab train` or resume this run with `vaelab train --resume`")
