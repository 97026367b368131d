"""`describe_datasets`: what each registered dataset is and whether its files are on this machine.

Cheap by design (for `vaelab datasets`): it reads IDX headers, pickle sizes, directory listings and
the CelebA text files, never decodes images, never downloads and never verifies checksums.
"""

from __future__ import annotations

from typing import Any

from vaelab.data.base import DATASETS
from vaelab.data.sources import DataFormatError, Probe, partial_copy_error, search

BUILTIN = {"digits": "bundled with scikit-learn", "synthetic": "generated"}


def describe_datasets(data_dir: str | None = None) -> list[dict[str, Any]]:
    """One dict per registered dataset.

    Keys: name, image_shape, description, splits (split -> count: found locally, else the published
    size), found (bool), path (where the files are, or None), looked_in (directories searched),
    error (a problem with the files found, or None), note.

    Example:
        >>> [d["name"] for d in describe_datasets("/data") if d["found"]]
    """
    out = []
    for name in DATASETS.names():
        info = DATASETS.info(name)
        row: dict[str, Any] = {"name": name, "image_shape": info.get("image_shape"),
                               "description": info.get("description", ""), "splits": info.get("splits"),
                               "found": False, "path": None, "looked_in": [], "error": None, "note": ""}
        probe: Probe | None = info.get("probe")
        if name in BUILTIN:
            row.update(found=True, path=BUILTIN[name])
        elif probe is None:
            row["note"] = "reads the folder given as --data-dir; not probed"
        else:
            found, looked = search(name, data_dir, probe.find, probe.subdirs)
            row["looked_in"] = [str(p) for p in looked]
            if found is None and info.get("fallback"):  # usable without its files (dsprites: rendered)
                row.update(found=True, path=info["fallback"], note=f"{probe.expects} not found")
            elif found is None:
                row["note"] = f"absent; expected {probe.expects}"
            elif found.missing:
                row["error"] = str(partial_copy_error(name, found))
            else:
                row.update(found=True, path=str(found.root))
                try:
                    row["splits"] = probe.counts(found)
                except (DataFormatError, OSError) as e:
                    row["error"] = str(e)
                empty = [split for split, n in row["splits"].items() if n == 0] if not row["error"] else []
                if empty:
                    row["error"] = (f"the {' and '.join(empty)} split is empty (0 images); train with "
                                    "data.validation=false and evaluate with --split train, or add images")
        out.append(row)
    return out


def format_datasets(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of `describe_datasets` rows, for `vaelab datasets`."""
    lines = []
    for r in rows:
        shape = "x".join(map(str, r["image_shape"])) if r["image_shape"] else "any"
        splits = ", ".join(f"{k} {v:,}" for k, v in (r["splits"] or {}).items()) or "-"
        if not r["found"] and r["looked_in"]:
            splits += " (published sizes)"
        lines.append(f"{r['name']:<14} {shape:<9} {splits}")
        lines.append(f"{'':<14} {r['description']}")
        if r["found"]:
            lines.append(f"{'':<14} found: {r['path']}")
        if r["error"]:
            lines.append(f"{'':<14} ERROR: {r['error']}")
        if r["note"]:
            lines.append(f"{'':<14} {r['note']}")
    return "\n".join(lines)


__all__ = ["describe_datasets", "format_datasets"]
