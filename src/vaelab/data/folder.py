"""Any directory of images (JPEG/PNG/BMP/GIF), streamed; class sub-folders become labels.

The folder is `data.data_dir` (else `$VAELAB_DATA_DIR`). When it holds `train/` and `test/` sub-folders
those are the splits; otherwise a file's relative path decides by MD5 (about 10% test, stable as files
are added). Within a split, immediate sub-folders holding images are classes (sorted names -> ids 0..K-1,
searched recursively); with no such sub-folders the images are unlabelled.

Mixed images are made consistent, not refused: the whole folder (both splits) is RGB when any image is
colour, else grey (1 channel); every image is converted to that. With `data.image_size` set, each image
is centre-cropped to its largest square and resized to (S, S); without it, all images must share one
size, and a folder of mixed sizes is an error naming two files that differ.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from vaelab.config import DataConfig
from vaelab.data.base import DATASETS, Split, check_split
from vaelab.data.images import EXTENSIONS, any_image_decoder, problem
from vaelab.data.sources import DataFormatError, DataNotFoundError

GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _root(cfg: DataConfig) -> Path:
    root = cfg.data_dir or os.environ.get("VAELAB_DATA_DIR")
    if not root:
        raise DataNotFoundError("folder: no directory given; set data.data_dir (--data-dir) to a folder "
                                "of images")
    path = Path(root)
    if not path.is_dir():
        raise DataNotFoundError(f"folder: {path} is not a directory; expected a folder of images")
    return path


def _images_under(d: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(d):
        dirnames.sort()
        out += [Path(dirpath) / f for f in sorted(filenames) if f.lower().endswith(EXTENSIONS)]
    return out


def _split_dirs(root: Path) -> dict[str, Path] | None:
    dirs = {s: root / s for s in ("train", "test")}
    return dirs if all(d.is_dir() for d in dirs.values()) else None


def _classes(d: Path) -> tuple[list[str], list[Path], list[int]]:
    """(class names, files, class ids); class names empty when the folder is flat."""
    subdirs = sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = {p.name: _images_under(p) for p in subdirs}
    per_class = {k: v for k, v in per_class.items() if v}
    loose = sorted(p for p in d.iterdir() if p.is_file() and p.name.lower().endswith(EXTENSIONS))
    if not per_class:
        return [], loose, []
    if loose:
        warnings.warn(f"folder {d}: ignoring {len(loose)} images outside the class sub-folders "
                      f"(first: {loose[0].name})", stacklevel=3)
    names = sorted(per_class)
    files = [f for k in names for f in per_class[k]]
    ids = [i for i, k in enumerate(names) for _ in per_class[k]]
    return names, files, ids


def _utf8(name: str) -> bool:
    """False for a name holding bytes that are not UTF-8 (legal on Linux; Python keeps them as surrogates, which
    TensorFlow's file reader, JSON and YAML cannot carry)."""
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _named_in_utf8(root: Path, split: tuple[list[str], list[Path], list[int]], skipped: list[Path]):
    """`split` without the files (and classes) whose names are not UTF-8; those go to `skipped`."""
    names, files, ids = split
    keep_class = {i for i, n in enumerate(names) if _utf8(n)}
    keep = [i for i, f in enumerate(files) if _utf8(str(f.relative_to(root))) and (not ids or ids[i] in keep_class)]
    skipped += [f for i, f in enumerate(files) if i not in set(keep)]
    if not names or len(keep_class) == len(names):
        return names, [files[i] for i in keep], [ids[i] for i in keep] if ids else []
    new_id = {old: new for new, old in enumerate(sorted(keep_class))}
    return [names[i] for i in sorted(keep_class)], [files[i] for i in keep], [new_id[ids[i]] for i in keep]


def _all_splits(root: Path) -> dict[str, tuple[list[str], list[Path], list[int]]]:
    """{split: (class names, files, class ids)}; names that are not UTF-8 are skipped with one warning."""
    skipped: list[Path] = []
    splits = {s: _named_in_utf8(root, split, skipped) for s, split in _all_splits_as_found(root).items()}
    if skipped:
        example = str(skipped[0].relative_to(root)).encode("utf-8", "surrogateescape")
        warnings.warn(f"folder {root}: skipping {len(skipped):,} images whose file or folder names are not "
                      f"UTF-8 (first: {example!r}); rename them to use them", stacklevel=4)
    return splits


def _all_splits_as_found(root: Path) -> dict[str, tuple[list[str], list[Path], list[int]]]:
    dirs = _split_dirs(root)
    if dirs is not None:
        return {s: _classes(d) for s, d in dirs.items()}
    names, files, ids = _classes(root)
    test = [int(hashlib.md5(os.fsencode(f.relative_to(root))).hexdigest(), 16) % 10 == 0 for f in files]
    pick = {s: [i for i, t in enumerate(test) if t == (s == "test")] for s in ("train", "test")}
    return {s: (names, [files[i] for i in p], [ids[i] for i in p] if ids else []) for s, p in pick.items()}


def _inspect(files: list[Path]) -> tuple[dict[Path, tuple[tuple[int, int], str]], list[tuple[Path, str]]]:
    """({file: ((H, W), mode)} of good files, [(file, why)] of bad ones), reading headers only."""
    from PIL import Image

    good, bad = {}, []
    for f in files:
        why = problem(f)
        if why is None:
            try:
                with Image.open(f) as im:
                    good[f] = ((im.height, im.width), im.mode)
                continue
            except Exception as e:  # noqa: BLE001  (PIL raises many types for bad headers)
                why = f"unreadable image ({type(e).__name__})"
        bad.append((f, why))
    return good, bad


def _layout(root: Path, image_size: int | None):
    splits = _all_splits(root)
    files = [f for _, fs, _ in splits.values() for f in fs]
    if not files:
        raise DataFormatError(f"folder {root}: empty, no images ({', '.join(EXTENSIONS)}) found")
    good, bad = _inspect(files)
    if not good:
        raise DataFormatError(f"folder {root}: all {len(files):,} images are unusable, e.g. "
                              f"{bad[0][0]}: {bad[0][1]}")
    if bad:
        first = "; ".join(f"{f.relative_to(root)}: {why}" for f, why in bad[:5])
        warnings.warn(f"folder {root}: skipping {len(bad):,} of {len(files):,} corrupt or unreadable images "
                      f"({first})", stacklevel=3)
    channels = 1 if all(mode in GREY_MODES for _, mode in good.values()) else 3
    shape = None
    if image_size is None:
        sizes = {}
        for f, (hw, _) in good.items():
            sizes.setdefault(hw, f)
        if len(sizes) > 1:
            (a, fa), (b, fb) = list(sizes.items())[:2]
            raise DataFormatError(f"folder {root}: images of mixed sizes ({fa.relative_to(root)} is "
                                  f"{a[0]}x{a[1]}, {fb.relative_to(root)} is {b[0]}x{b[1]}); "
                                  f"set data.image_size to resize all")
        shape = next(iter(sizes))
    return splits, good, channels, shape


@DATASETS.register("folder", resizable=True, image_shape=None, splits=None,
                   description="any folder of images (class sub-folders -> labels); set data.data_dir")
def load(cfg: DataConfig, split: str) -> Split:
    check_split(split)
    root = _root(cfg)
    splits, good, channels, shape = _layout(root, cfg.image_size)
    names, files, ids = splits[split]
    keep = [i for i, f in enumerate(files) if f in good]  # may be empty: load_split says so in one place
    hw = (cfg.image_size, cfg.image_size) if cfg.image_size else shape
    labels = np.array([ids[i] for i in keep], "int64") if names else None
    return Split(image_shape=(*hw, channels), files=[str(files[i]) for i in keep],
                 decode=any_image_decoder(channels, cfg.image_size, shape), labels=labels,
                 label_names=names or None, name="folder", source=str(root))
