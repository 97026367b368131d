"""Shipped sweep specs: YAML files inside the package, found by name from any folder (`vaelab sweep NAME`).

A spec is `NAME.yaml` in this folder; its first comment line is its description (`vaelab sweep --list`).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _root() -> Path:
    return Path(str(resources.files(__name__)))


def names() -> list[str]:
    return sorted(p.stem for p in _root().glob("*.yaml"))


def path(name: str) -> Path | None:
    """The packaged file of spec `name` (with or without `.yaml`), or None."""
    name = name.removesuffix(".yaml")
    return _root() / f"{name}.yaml" if name in names() else None


def describe(name: str) -> str:
    """The spec's first comment line (without '#')."""
    for line in path(name).read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""
