"""Writers of tiny dataset files in the real on-disk formats, and an isolation fixture (no tests here).

Nothing here touches the shared real datasets or the network: every file is written into pytest's
tmp dirs, HOME is redirected so ~/.keras/datasets is empty, and the downloaders are replaced.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

MNIST_STEMS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


class DownloadBlocked(RuntimeError):
    pass


@pytest.fixture(name="isolated")
def isolated_fixture(tmp_path, monkeypatch):
    """Empty HOME and cache dirs, no $VAELAB_DATA_DIR, downloads replaced by a failing stub."""
    from vaelab.data import checksums, sources

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("VAELAB_DATA_DIR", raising=False)
    monkeypatch.delenv("VAELAB_NO_DOWNLOAD", raising=False)
    monkeypatch.setenv("VAELAB_CACHE_DIR", str(tmp_path / "vaelab-cache"))
    monkeypatch.setattr(checksums, "_VERIFIED", set())
    monkeypatch.setattr(checksums, "_WARNED", set())

    def blocked():
        raise DownloadBlocked("network disabled in tests")

    monkeypatch.setattr(sources, "DOWNLOADERS", {k: blocked for k in sources.DOWNLOADERS})
    return home


def cfg(name: str, data_dir=None, **kw):
    from vaelab.config import DataConfig

    return DataConfig(name=name, data_dir=None if data_dir is None else str(data_dir),
                      verify_checksums=kw.pop("verify_checksums", False), **kw)


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, np.uint8)
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.tobytes()


def write_idx(path: Path, arr: np.ndarray, gz: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_arrays(n_train=7, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    return {s: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8))
            for s, n in (("train", n_train), ("test", n_test))}


def write_mnist(d: Path, seed=0, gz=True, **kw) -> dict:
    arrays = mnist_arrays(seed=seed, **kw)
    for split, (images, labels) in arrays.items():
        img_stem, lab_stem = MNIST_STEMS[split]
        write_idx(d / (img_stem + (".gz" if gz else "")), images, gz)
        write_idx(d / (lab_stem + (".gz" if gz else "")), labels, gz)
    return arrays


def write_mnist_npz(path: Path, seed=0) -> dict:
    arrays = mnist_arrays(seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=arrays["train"][0], y_train=arrays["train"][1], x_test=arrays["test"][0],
             y_test=arrays["test"][1])
    return arrays


def cifar_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A pickled batch as in the real files (bytes keys, (N, 3072) uint8 rows of R, G, B planes)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    batch = {b"batch_label": b"testing batch", b"labels": labels, b"data": data,
             b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    return pickle.dumps(batch, protocol=2), data, np.array(labels)


def write_cifar(folder: Path, n=3) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """cifar-10-batches-py files in `folder`; returns name -> (data rows, labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        raw, data, labels = cifar_batch(n, seed=i)
        (folder / name).write_bytes(raw)
        out[name] = (data, labels)
    meta = {b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
                             b"ship", b"truck"], b"num_cases_per_batch": n, b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return out


def tar_folder(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return archive


def face(seed: int, size=(218, 178)) -> np.ndarray:
    """A smooth RGB image (H, W, 3) uint8 (JPEG-friendly, so decode differences stay small)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]] / max(size)
    img = np.stack([np.sin(xx * (3 + c + rng.random()) + yy * (2 + rng.random()) + c) for c in range(3)], -1)
    return ((img * 0.5 + 0.5) * 255).astype(np.uint8)


def jpeg_bytes(img: np.ndarray, quality=95) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


ATTRS = [f"Attr_{i}" for i in range(40)]


def write_celeba(d: Path, n=12, extra_rows=5, partition=True, seed=0) -> dict:
    """img_align_celeba/ with n JPEGs, the attribute file (CRLF, n + extra_rows rows as in a subset) and
    the partition file. Image k is named f"{2k+1:06d}.jpg"; partition = k % 3 (0 train, 1 valid, 2 test)."""
    rng = np.random.default_rng(seed)
    (d / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    names = [f"{2 * k + 1:06d}.jpg" for k in range(n + extra_rows)]
    attrs = rng.choice([-1, 1], (len(names), 40))
    for k in range(n):
        (d / "img_align_celeba" / names[k]).write_bytes(jpeg_bytes(face(seed + k)))
    rows = [f"{len(names)}", " ".join(ATTRS)]
    rows += [f"{nm} " + " ".join(f"{v:2d}" for v in a) for nm, a in zip(names, attrs, strict=True)]
    (d / "list_attr_celeba.txt").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    if partition:
        part = "\r\n".join(f"{nm} {k % 3}" for k, nm in enumerate(names)) + "\r\n"
        (d / "list_eval_partition.txt").write_bytes(part.encode())
    return {"names": names[:n], "attrs": (attrs[:n] > 0).astype(np.uint8),
            "partition": [k % 3 for k in range(n)]}


def write_png(path: Path, img: np.ndarray, mode: str | None = None) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(img)
    (im.convert(mode) if mode else im).save(path)
    return path
