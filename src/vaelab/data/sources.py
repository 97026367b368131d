"""Finding a dataset's files: local directories first, then a download, then a clear error.

Each file-based dataset gives a `find(dir) -> Found | None` probe (cheap: no decoding) and,
optionally, a downloader in `DOWNLOADERS` (Keras's own `load_data`, which fills ~/.keras/datasets).
`locate` tries `candidate_dirs(...)` in order, then the downloader, then raises `DataNotFoundError`
listing every directory it looked in and the files it expected. Tests replace `DOWNLOADERS[name]`
(or set `VAELAB_NO_DOWNLOAD=1`) so nothing touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vaelab.data.base import candidate_dirs


class DataNotFoundError(FileNotFoundError):
    """No local copy of a dataset was found, and downloading it failed or was disabled."""


class DataFormatError(ValueError):
    """A dataset file exists but is corrupt, truncated or inconsistent with its companions."""


@dataclass
class Found:
    """Where a dataset's files are and in which layout (e.g. "idx", "npz", "batches", "tar")."""

    root: Path
    layout: str
    files: dict[str, Path] = field(default_factory=dict)  # role -> path
    missing: list[str] = field(default_factory=list)  # expected files absent: a partial copy, not usable


Finder = Callable[[Path], "Found | None"]


@dataclass(frozen=True)
class Probe:
    """How to find a dataset on disk and count it without decoding: kept as registry info `probe`."""

    find: Finder  # one directory -> Found | None
    subdirs: tuple[str, ...]  # sub-folders of each root also searched
    counts: Callable[[Found], dict[str, int]]  # split -> number of examples (cheap)
    expects: str  # the files expected, for error messages

    def locate(self, name: str, data_dir: str | None) -> Found:
        return locate(name, data_dir, self.find, self.subdirs, self.expects)


def _keras_download(module: str) -> Callable[[], None]:
    def download() -> None:
        import importlib

        importlib.import_module(f"keras.datasets.{module}").load_data()  # caches under ~/.keras/datasets

    return download


# dataset name -> callable that fetches the files into the Keras cache (raises on failure)
DOWNLOADERS: dict[str, Callable[[], None]] = {
    "mnist": _keras_download("mnist"),
    "fashion_mnist": _keras_download("fashion_mnist"),
    "cifar10": _keras_download("cifar10"),
}


# Well-known system locations, searched after --data-dir, $VAELAB_DATA_DIR and the Keras cache.
SYSTEM_DIRS: dict[str, tuple[str, ...]] = {
    "fashion_mnist": ("/usr/share/datasets/fashion-mnist",),  # Debian's dataset-fashion-mnist package
}


def search(name: str, data_dir: str | None, find: Finder,
           subdirs: tuple[str, ...]) -> tuple[Found | None, list[Path]]:
    """(the first complete local copy, else the first partial one (`missing` set), else None; the
    directories looked in), without downloading."""
    looked = candidate_dirs(data_dir, *subdirs) + [Path(p) for p in SYSTEM_DIRS.get(name, ())]
    partial = None
    for d in looked:
        if d.is_dir():
            found = find(d)
            if found is not None and not found.missing:
                return found, looked
            partial = partial or found
    return partial, looked


def partial_copy_error(name: str, found: Found) -> DataNotFoundError:
    have = ", ".join(sorted(p.name for p in found.files.values()))
    return DataNotFoundError(f"{name}: incomplete copy in {found.root}: missing {', '.join(found.missing)} "
                             f"(found {have}); add the missing file(s) there")


def locate(name: str, data_dir: str | None, find: Finder, subdirs: tuple[str, ...], expects: str) -> Found:
    """The dataset's files: local directories, else a download, else `DataNotFoundError`.

    Args:
        name: registry name (keys `DOWNLOADERS`).
        data_dir: `DataConfig.data_dir` (may be None).
        find: probe for one directory.
        subdirs: sub-folders of each root also searched (e.g. "mnist").
        expects: human description of the expected files, used in the error.
    """
    found, looked = search(name, data_dir, find, subdirs)
    if found is not None and found.missing:
        raise partial_copy_error(name, found)
    if found is not None:
        return found
    download = DOWNLOADERS.get(name)
    why = "no downloader for this dataset"
    if download is not None and os.environ.get("VAELAB_NO_DOWNLOAD"):
        why = "download disabled by VAELAB_NO_DOWNLOAD"
    elif download is not None:
        try:
            download()
        except Exception as e:  # noqa: BLE001  (any failure: no network, HTTP error, bad archive)
            why = f"download failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        else:
            found, looked = search(name, data_dir, find, subdirs)
            if found is not None and not found.missing:
                return found
            why = "download finished but the expected files are still missing"
    places = ", ".join(str(p) for p in looked)
    raise DataNotFoundError(f"{name}: no local files found ({why}); looked in: {places}; expected {expects}; "
                            f"pass data.data_dir (--data-dir) or set VAELAB_DATA_DIR")
