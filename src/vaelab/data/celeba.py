"""CelebA aligned faces (178x218 JPEGs), streamed: centre crop 140 -> resize 64 (defaults), 40 attributes.

Layout, in each candidate directory (itself, then `celeba/`): `img_align_celeba/*.jpg`,
`list_attr_celeba.txt` and, when present, `list_eval_partition.txt`. Only the JPEGs actually present
are used; their attribute rows are joined by file name. Splits: train = official partitions 0 (train)
and 1 (valid), test = partition 2; without a partition file, a file name's MD5 decides (about 10% test),
so the split is stable as images are added. Attributes {-1, 1} become {0, 1}.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from vaelab.config import DataConfig
from vaelab.data import checksums
from vaelab.data.base import DATASETS, Split, check_split
from vaelab.data.images import center_crop_decoder, scan
from vaelab.data.sources import DataFormatError, Found, Probe

IMAGES, ATTRS, PARTITION = "img_align_celeba", "list_attr_celeba.txt", "list_eval_partition.txt"
SPLIT_PARTITIONS = {"train": (0, 1), "test": (2,)}
DEFAULT_CROP, DEFAULT_SIZE = 140, 64


def _find(d: Path) -> Found | None:
    if (d / IMAGES).is_dir() and (d / ATTRS).is_file():
        files = {"images": d / IMAGES, "attrs": d / ATTRS}
        if (d / PARTITION).is_file():
            files["partition"] = d / PARTITION
        return Found(d, "celeba", files)
    return None


def _jpegs(folder: Path) -> list[str]:
    """Sorted JPEG names in the folder (a directory listing only)."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.lower().endswith((".jpg", ".jpeg")))
    except OSError as e:
        raise DataFormatError(f"{folder}: unreadable image folder ({e.strerror or e})") from e
    if not names:
        raise DataFormatError(f"{folder}: empty image folder, expected CelebA JPEGs such as 000001.jpg")
    return names


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()  # handles the original CRLF endings
    except (OSError, UnicodeDecodeError) as e:
        raise DataFormatError(f"{path}: unreadable text file ({e})") from e


def read_attributes(path: Path) -> tuple[list[str], dict[str, int], list[str]]:
    """(attribute names, {file name: line index}, lines) without parsing values (see `attribute_rows`)."""
    lines = _read_lines(path)
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataFormatError(f"{path}: expected a row count on line 1 and 40 attribute names on line 2")
    names = lines[1].split()
    rows = {ln.split(maxsplit=1)[0]: i for i, ln in enumerate(lines[2:], start=2) if ln.strip()}
    if int(lines[0]) != len(rows):
        raise DataFormatError(f"{path}: header says {int(lines[0]):,} rows, file holds {len(rows):,} "
                              f"(truncated?)")
    return names, rows, lines


def attribute_rows(path: Path, names: list[str], lines: list[str], idx: list[int]) -> np.ndarray:
    """(N, A) uint8 {0, 1} from the given line indices, checking each row."""
    out = np.empty((len(idx), len(names)), np.uint8)
    for k, i in enumerate(idx):
        values = lines[i].split()[1:]
        if len(values) != len(names) or any(v not in ("1", "-1") for v in values):
            raise DataFormatError(f"{path}: line {i + 1}: expected {len(names)} values in {{-1, 1}}, "
                                  f"received {lines[i][:80]!r}")
        out[k] = [v == "1" for v in values]
    return out


def _partitions(found: Found, names: list[str]) -> np.ndarray:
    """Partition id (0 train, 1 valid, 2 test) of each image name."""
    path = found.files.get("partition")
    if path is None:  # deterministic: stable under adding/removing other images
        return np.array([2 if int(hashlib.md5(n.encode()).hexdigest(), 16) % 10 == 0 else 0 for n in names])
    table = {}
    for i, ln in enumerate(_read_lines(path)):
        parts = ln.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataFormatError(f"{path}: line {i + 1}: expected '<file> <0|1|2>', received {ln[:80]!r}")
        table[parts[0]] = int(parts[1])
    missing = [n for n in names if n not in table]
    if missing:
        raise DataFormatError(f"{path}: {len(missing):,} images have no partition row (first: "
                              f"{', '.join(missing[:5])}); the partition file is out of step with {IMAGES}/")
    return np.array([table[n] for n in names])


def _joined(found: Found, verify: bool) -> tuple[list[str], list[str], dict[str, int], list[str], np.ndarray]:
    """(present image names with attribute rows, attribute names, rows, lines, partition ids)."""
    for p in (found.files["attrs"], found.files.get("partition")):
        if p is not None:
            checksums.verify("celeba", p, verify)
    present = _jpegs(found.files["images"])
    attr_names, rows, lines = read_attributes(found.files["attrs"])
    orphans = [n for n in present if n not in rows]
    if len(orphans) == len(present):
        raise DataFormatError(f"{found.files['attrs']}: none of the {len(present):,} images in {IMAGES}/ "
                              f"has an attribute row (first: {', '.join(orphans[:5])}); "
                              f"attribute file out of step")
    if orphans:
        warnings.warn(f"{found.files['attrs']}: skipping {len(orphans):,} images with no attribute row "
                      f"(first: {', '.join(orphans[:5])})", stacklevel=3)
        present = [n for n in present if n in rows]
    return present, attr_names, rows, lines, _partitions(found, present)


def _counts(found: Found) -> dict[str, int]:
    names, _, _, _, part = _joined(found, verify=False)
    out = {s: int(np.isin(part, p).sum()) for s, p in SPLIT_PARTITIONS.items()}
    if "partition" in found.files:
        for i, k in enumerate(("train", "valid", "test")):
            out[f"partition_{k}"] = int((part == i).sum())
    return out


PROBE = Probe(_find, ("celeba", "CelebA"), _counts, f"{IMAGES}/*.jpg and {ATTRS} (+ optional {PARTITION})")


@DATASETS.register("celeba", resizable=True, croppable=True, image_shape=(DEFAULT_SIZE, DEFAULT_SIZE, 3),
                   description="CelebA aligned faces, centre crop 140 -> 64x64 RGB, 40 binary attributes",
                   splits={"train": 182_637, "test": 19_962}, probe=PROBE)
def load(cfg: DataConfig, split: str) -> Split:
    check_split(split)
    crop, size = cfg.crop or DEFAULT_CROP, cfg.image_size or DEFAULT_SIZE
    if crop <= 0 or size <= 0:
        raise ValueError(f"celeba: crop and image_size must be positive, received crop={crop}, "
                         f"image_size={size}")
    found = PROBE.locate("celeba", cfg.data_dir)
    names, attr_names, rows, lines, part = _joined(found, cfg.verify_checksums)
    chosen = [n for n, p in zip(names, part, strict=True) if p in SPLIT_PARTITIONS[split]]
    folder = found.files["images"]
    files = scan([str(folder / n) for n in chosen], f"celeba {split} ({folder})")
    kept = {Path(f).name for f in files}
    idx = [rows[n] for n in chosen if n in kept]
    labels = attribute_rows(found.files["attrs"], attr_names, lines, idx)
    return Split(image_shape=(size, size, 3), files=files, decode=center_crop_decoder(crop, size),
                 labels=labels, label_names=attr_names, name="celeba", source=str(found.root),
                 cache_key=f"crop{crop}")
