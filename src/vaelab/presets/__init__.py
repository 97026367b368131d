"""Shipped configuration presets: YAML files inside the package, found by name from any folder.

A preset is `NAME.yaml` in this folder (or a sub-folder: `experiments/mnist_z2_vae`). Its first comment
line is its one-line description (`vaelab config list`).

    >>> resolve("mnist_vae")          # -> path of the packaged mnist_vae.yaml
    >>> load_config("mnist_vae")      # vaelab.config accepts a preset name wherever it takes a file
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SUFFIX = ".yaml"


def _root() -> Path:
    return Path(str(resources.files(__name__)))


def names() -> list[str]:
    """Every shipped preset, e.g. ['celeba_vae', ..., 'experiments/mnist_z2_vae']."""
    root = _root()
    return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob(f"*{SUFFIX}"))


def path(name: str) -> Path | None:
    """The packaged file of preset `name` (with or without `.yaml`), or None if there is none."""
    name = name.removesuffix(SUFFIX)
    if name not in names():
        return None
    return _root() / f"{name}{SUFFIX}"


def describe(name: str) -> str:
    """The preset's first comment line (without '#')."""
    for line in path(name).read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""
