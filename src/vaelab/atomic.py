"""Atomic file output: every file vaelab writes (JSON, YAML, CSV, HTML, PNG, NPZ, .keras) goes through here.

A file is written to a temp file in the same folder, flushed to disk (fsync), then renamed over its
target, so a reader sees the old file or the new one, never half of one. The temp file is removed on
any error; an OSError (a full disk, a read-only folder) becomes one sentence naming the path and saying
whether the old file is intact.

    >>> write_atomic("runs/a/metrics.json", json.dumps(data))
    >>> write_atomic("grid.png", lambda f: imsave(f, image, format="png"))   # a writer of a binary file
    >>> out = check_output("compare.html", (".html",), "-o")                   # refuses folders, other kinds
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# the files of a run directory that are its inputs or its model: no output may be written over them
RUN_INPUTS = ("config.yaml", "command.txt", "env.json", "history.csv", "model.keras", "encoder.keras",
              "decoder.keras", "trial.json")


def _failure(path: Path, e: OSError, existed: bool) -> OSError:
    previous = "the old file is intact" if existed else "no file was left there"
    return OSError(e.errno, f"writing {path} failed ({e.strerror or e}); {previous}. Free disk space or "
                            "choose another output path, then run the command again")


def write_atomic(path: str | Path, data: str | bytes | Callable[[BinaryIO], None],
                 newline: str | None = None) -> Path:
    """Writes `data` (text as UTF-8, bytes, or a function writing to a binary file object) to `path`
    via a temp file in the same folder + fsync + rename; returns `path`. The folder must exist."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, f"{path} is a folder; give a file name")
    existed = path.is_file()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _failure(path, e, existed) from None
    try:
        if isinstance(data, str):
            with open(fd, "w", encoding="utf-8", newline=newline) as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        else:
            with open(fd, "wb") as f:
                data(f) if callable(data) else f.write(data)
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _failure(path, e, existed) from None
        raise
    return path


def save_model_atomic(model, path: str | Path) -> None:
    """`model.save(path)` via a temp file + rename: a crash never leaves a half-written file at `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")  # Keras needs the .keras suffix
    existed = path.is_file()
    from vaelab import saving  # Keras, imported only by the callers that save a model

    try:
        saving.save(model, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            previous = "its previous version is intact" if existed else "no earlier version of it exists"
            raise OSError(e.errno, f"writing {path} failed ({e.strerror or e}); {previous}. Free disk space "
                                   "(or raise the file size limit) and resume the run") from None
        raise


def _hard_link(source: str | Path, path: Path) -> bool:
    """Links `path` to `source`; False where the file system has no hard links (some network and FAT ones)."""
    try:
        os.link(source, path)
    except OSError:
        return False
    return True


def copy_atomic(source: str | Path, path: str | Path, link: bool = False) -> None:
    """`source`'s bytes at `path` via a temp name + rename (a checkpoint written once, kept twice).

    `link`: a hard link where the file system has them (no bytes copied), for vaelab's own files only (the resume
    state): safe because no vaelab writer changes a file in place, each replaces it by rename, so the other name
    keeps the old bytes; a user's `cp` onto one name would change both, so files users handle are copies."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    existed = path.is_file()
    try:
        tmp.unlink(missing_ok=True)  # a temp file left by a killed process of the same pid
        if not (link and _hard_link(source, tmp)):
            shutil.copyfile(source, tmp)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _failure(path, e, existed) from None
        raise


def savefig(fig, path: str | Path, **kwargs) -> Path:
    """A matplotlib figure as a PNG file, atomically."""
    return write_atomic(path, lambda f: fig.savefig(f, format="png", **kwargs))


def check_output(path: str | Path, suffixes: tuple[str, ...], option: str = "output") -> Path:
    """`path` if it can take an output file of that kind, else a ValueError saying what to pass:
    a folder, another file kind (the suffix) and a run directory's own input files are refused."""
    path = Path(path)
    kind = " or ".join(suffixes)
    if path.is_dir():
        raise ValueError(f"{option}: {path} is a folder; give a file name ending in {kind}")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{option}: expected a file name ending in {kind}, received {str(path)!r}")
    if path.name in RUN_INPUTS and (path.parent / "config.yaml").is_file():
        raise ValueError(f"{option}: {path} is a run directory's own file; choose another output name")
    return path
