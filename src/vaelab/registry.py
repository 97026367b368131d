"""A tiny name -> object registry, one per extensible family (Keras's `get()` idiom).

Adding a model, KL strategy, dataset or beta schedule is one new file plus one
`@REGISTRY.register("name")` line; `get` refuses unknown names and lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any


class Registry:
    """Maps names to objects for one family (e.g. "KL strategy")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Any] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **info: Any) -> Callable[[Any], Any]:
        """Decorator: `@STRATEGIES.register("train_step")`. `info` is kept as metadata."""

        def decorator(obj: Any) -> Any:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            self._info[name] = info
            return obj

        return decorator

    def get(self, name: str) -> Any:
        if name not in self._items:
            raise ValueError(f"unknown {self.kind} {name!r}; choose from {self.names()}")
        return self._items[name]

    def info(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._info[name])

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
