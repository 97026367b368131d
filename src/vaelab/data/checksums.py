"""MD5 verification of the known original dataset files, done once per file and remembered.

Policy: a file is verified only when its name AND its size match a known original (the table below,
from the dataset authors and torchvision's resource lists). Files with a known name but another size
(tiny test files, trimmed attribute lists) are used unverified, with one warning per file. A mismatch
on an original-sized file is an error naming the file and both MD5s. A successful check is remembered
in-process and in `$VAELAB_CACHE_DIR/verified.json` (default `~/.cache/vaelab/`), keyed by absolute
path, size and mtime, so later runs skip the hashing. `DataConfig.verify_checksums=False` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from vaelab.atomic import write_atomic

# name -> (size in bytes, md5); FULL_BATCH: any size of a whole 10,000-image CIFAR batch
FULL_BATCH = -1
_FULL_BATCH_RANGE = (30_000_000, 32_000_000)  # the originals are about 31.0 MB each
KNOWN: dict[str, dict[str, tuple[int, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": (9_912_422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        "train-labels-idx1-ubyte.gz": (28_881, "d53e105ee54ea40749a09fcbcd1e9432"),
        "t10k-images-idx3-ubyte.gz": (1_648_877, "9fb629c4189551a2d022fa330f9573f3"),
        "t10k-labels-idx1-ubyte.gz": (4_542, "ec29112dd5afa0611ce80d1b7f02629c"),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": (26_421_880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": (29_515, "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": (4_422_102, "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": (5_148, "bb300cfdad3c16e7a12a480ee83cd310"),
    },
    "cifar10": {
        "cifar-10-python.tar.gz": (170_498_071, "c58f30108f718f92721af3b95e74349a"),
        "data_batch_1": (FULL_BATCH, "c99cafc152244af753f735de768cd75f"),
        "data_batch_2": (FULL_BATCH, "d4bba439e000b95fd0a9bffe97cbabec"),
        "data_batch_3": (FULL_BATCH, "54ebc095f3ab1f0389bbae665268c751"),
        "data_batch_4": (FULL_BATCH, "634d18415352ddfa80567beed471001a"),
        "data_batch_5": (FULL_BATCH, "482c414d41f54cd18b22e5b47cb7c3cb"),
        "test_batch": (FULL_BATCH, "40351d587109b95175f43aff81a1287e"),
        "batches.meta": (158, "5ff9c542aee3614f3951f8cda6e48888"),
    },
    "celeba": {
        "list_attr_celeba.txt": (26_721_026, "75e246fa4810816ffd6ee81facbd244c"),
        "list_eval_partition.txt": (2_836_386, "d32c9cbf5e040fd4025c592c306e6668"),
    },
}

_VERIFIED: set[tuple[str, int, int]] = set()  # (abs path, size, mtime_ns) checked in this process
_WARNED: set[str] = set()


class ChecksumError(ValueError):
    """A known original file whose MD5 differs from the published one."""


def md5(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _marker_path() -> Path:
    from vaelab.cache import cache_root

    return cache_root() / "verified.json"


def _load_markers() -> dict:
    try:
        return json.loads(_marker_path().read_text())
    except (OSError, ValueError):
        return {}


def _save_marker(key: str, value: list) -> None:
    try:
        markers = _load_markers()
        markers[key] = value
        p = _marker_path()
        p.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(p, json.dumps(markers, indent=0))
    except OSError:
        pass  # a read-only home only costs a re-check next run


def verify(dataset: str, path: str | Path, enabled: bool = True) -> bool:
    """Checks `path` against the known MD5 of its file name; returns True when it was verified.

    Raises:
        ChecksumError: the file has an original's name and size but not its MD5.
    """
    path = Path(path)
    known = KNOWN.get(dataset, {}).get(path.name)
    if not enabled or known is None:
        return False
    st = path.stat()
    size, expected = known
    original_size = (_FULL_BATCH_RANGE[0] <= st.st_size <= _FULL_BATCH_RANGE[1]) if size == FULL_BATCH \
        else st.st_size == size
    if not original_size:
        if str(path) not in _WARNED:
            _WARNED.add(str(path))
            warnings.warn(f"{path}: {st.st_size:,} bytes, not the original's size; using it without "
                          f"MD5 verification", stacklevel=3)
        return False
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _VERIFIED or _load_markers().get(key[0]) == [st.st_size, st.st_mtime_ns, expected]:
        _VERIFIED.add(key)
        return True
    received = md5(path)
    if received != expected:
        raise ChecksumError(f"{path}: MD5 mismatch, expected {expected}, received {received} "
                            f"(corrupt or altered file; re-download it or set data.verify_checksums=false)")
    _VERIFIED.add(key)
    _save_marker(key[0], [st.st_size, st.st_mtime_ns, expected])
    return True
