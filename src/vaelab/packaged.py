"""YAML files shipped inside the package (presets, sweep specs), found by name from any folder.

A file is `NAME.yaml` in the package's folder or a sub-folder (`experiments/mnist_z2_vae`); its first
comment line is its one-line description.

    >>> PRESETS = PackagedYaml("vaelab.presets", "preset", "vaelab config list")
    >>> PRESETS.resolve("mnist_vae")        # a path that exists, else the packaged file, else ValueError
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SUFFIX = ".yaml"


class PackagedYaml:
    def __init__(self, package: str, what: str, how_to_list: str):
        self.package, self.what, self.how_to_list = package, what, how_to_list

    def root(self) -> Path:
        return Path(str(resources.files(self.package)))

    def names(self) -> list[str]:
        root = self.root()
        return sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob(f"*{SUFFIX}"))

    def path(self, name: str) -> Path | None:
        """The packaged file of `name` (with or without `.yaml`), or None if there is none."""
        name = name.removesuffix(SUFFIX)
        return self.root() / f"{name}{SUFFIX}" if name in self.names() else None

    def describe(self, name: str) -> str:
        """The file's first comment line (without '#')."""
        for line in self.path(name).read_text().splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
        return ""

    def resolve(self, name_or_path: str | Path, error: type[Exception] = ValueError) -> Path:
        """`name_or_path` if it is a file, else the packaged file of that name, else `error` naming the choices."""
        p = Path(name_or_path)
        if p.is_file():
            return p
        found = self.path(str(name_or_path))
        if found is not None:
            return found
        raise error(f"{self.what} {name_or_path}: no such file and no shipped {self.what} of that name; "
                    f"shipped: {self.names()} ({self.how_to_list})")
