"""Reading (gzipped) IDX files, the format of MNIST and Fashion-MNIST, with clear errors.

IDX: a 4-byte magic 0x00 0x00 <dtype 0x08 = uint8> <ndim>, then ndim big-endian uint32 sizes,
then the data. Images are magic 0x803 (N, 28, 28), labels 0x801 (N,).
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from vaelab.data.sources import DataFormatError

IMAGES_MAGIC = 0x803
LABELS_MAGIC = 0x801


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def read_header(path: str | Path) -> tuple[int, tuple[int, ...]]:
    """(magic, dims) from the first bytes only: cheap, used for counting."""
    path = Path(path)
    try:
        with _open(path) as f:
            head = f.read(4)
            if len(head) < 4:
                raise DataFormatError(f"{path}: truncated IDX file (no 4-byte magic number)")
            magic = int.from_bytes(head, "big")
            ndim = head[3]
            raw = f.read(4 * ndim)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: unreadable or corrupt gzip ({e})") from e
    if head[:3] != b"\x00\x00\x08" or ndim not in (1, 3):
        raise DataFormatError(f"{path}: wrong IDX magic, expected 0x{IMAGES_MAGIC:08x} (images) or "
                              f"0x{LABELS_MAGIC:08x} (labels), received 0x{magic:08x}")
    if len(raw) < 4 * ndim:
        raise DataFormatError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 * i : 4 * i + 4], "big") for i in range(ndim))
    _check_size(path, 4 + 4 * ndim + int(np.prod(dims)), dims)
    return magic, dims


def _check_size(path: Path, expected: int, dims: tuple[int, ...]) -> None:
    """Cheap completeness check: the file size (or, for gzip, the uncompressed size stored in its last 4
    bytes, modulo 2**32) must match what the header announces. Catches truncated and padded files."""
    if path.name.endswith(".gz"):
        with open(path, "rb") as f:
            f.seek(-4, 2)
            size = int.from_bytes(f.read(4), "little")
        if size != expected % 2**32:
            raise DataFormatError(f"{path}: incomplete or damaged gzip: the header announces {dims} "
                                  f"({expected:,} bytes) but the gzip trailer does not match; download it again")
    elif path.stat().st_size != expected:
        raise DataFormatError(f"{path}: incomplete or damaged: the header announces {dims} ({expected:,} bytes), "
                              f"the file holds {path.stat().st_size:,}; download it again")


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """The uint8 array stored in an IDX file, checking magic number and length.

    Raises:
        DataFormatError: corrupt/truncated gzip, wrong magic, or data shorter/longer than the header says.
    """
    path = Path(path)
    got, dims = read_header(path)
    if got != magic:
        raise DataFormatError(f"{path}: wrong IDX magic, expected 0x{magic:08x}, received 0x{got:08x}")
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(f"{path}: truncated or corrupt gzip ({type(e).__name__}: {e})") from e
    offset = 4 + 4 * len(dims)
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise DataFormatError(f"{path}: header says {dims} = {expected:,} bytes of data, "
                              f"file holds {len(data) - offset:,}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def read_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W, 1) uint8, labels (N,) int64), checking the counts agree."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataFormatError(f"{images_path}: {len(images):,} images but {labels_path.name} has "
                              f"{len(labels):,} labels")
    return images[..., None], labels.astype("int64")
