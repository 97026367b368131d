"""Factor grids: datasets that hold every combination of K discrete ground-truth factors exactly once.

Example i of a grid is the factor combination `np.unravel_index(i, sizes)`: the last factor varies fastest,
as in DeepMind's dSprites and 3D Shapes files. A grid's splits:

* train = the whole grid (as disentanglement studies train), in a fixed seeded order, so that
  `data.train_limit` takes a uniform subset rather than the first corner of the grid;
* test = the first `TEST_SIZE` examples of that order: a fixed, uniform subset, the same on every machine.
  It is part of the training grid, so test ELBOs on a grid dataset are not held-out numbers.

The disentanglement scores never read the splits' images: they draw factor combinations uniformly
(`vaelab.metrics.disentanglement`) and observe them through the split's `observe` (factor classes -> images).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vaelab.data.base import Split, check_split

TEST_SIZE = 10_000
ORDER_SEED = 0  # the fixed order of a grid's examples (independent of train.seed)


@dataclass(frozen=True)
class FactorGrid:
    """K named factors with `sizes[k]` classes each; example i is `classes(i)`."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.sizes)

    def classes(self, index: np.ndarray) -> np.ndarray:
        """(N,) grid indices -> (N, K) int64 factor classes."""
        return np.stack(np.unravel_index(np.asarray(index, "int64"), self.sizes), axis=1).astype("int64")

    def index(self, classes: np.ndarray) -> np.ndarray:
        """(N, K) factor classes -> (N,) int64 grid indices; ValueError for a class out of range."""
        classes = np.asarray(classes)
        if classes.ndim != 2 or classes.shape[1] != len(self.sizes):
            raise ValueError(f"factor classes: expected shape (N, {len(self.sizes)}), received {classes.shape}")
        bad = (classes < 0) | (classes >= np.array(self.sizes))
        if bad.any():
            k = int(np.argwhere(bad)[0, 1])
            raise ValueError(f"factor {self.names[k]!r}: expected classes in 0..{self.sizes[k] - 1}, received "
                             f"{classes[bad.any(axis=1)][0, k]}")
        return np.ravel_multi_index(tuple(classes.T), self.sizes).astype("int64")

    def order(self) -> np.ndarray:
        """All grid indices in the fixed seeded order of the splits."""
        return np.random.default_rng(ORDER_SEED).permutation(self.size).astype("int64")

    def split_indices(self, split: str) -> np.ndarray:
        """The grid indices of `split`, in order (see the module docstring)."""
        order = self.order()
        return order if check_split(split) == "train" else order[: min(TEST_SIZE, self.size)]

    def check_table(self, table: np.ndarray, where: str) -> None:
        """DataFormatError unless `table` (N, K) lists the grid in its canonical order (row i = classes(i))."""
        from vaelab.data.sources import DataFormatError

        if table.shape != (self.size, len(self.sizes)):
            raise DataFormatError(f"{where}: expected a factor table of shape ({self.size}, {len(self.sizes)}), "
                                  f"received {table.shape}")
        expected = self.classes(np.arange(self.size))
        wrong = np.flatnonzero((table != expected).any(axis=1))
        if len(wrong):
            i = int(wrong[0])
            raise DataFormatError(f"{where}: row {i} lists factors {table[i].tolist()}, expected "
                                  f"{expected[i].tolist()} (images are not in the grid order "
                                  f"{', '.join(self.names)}, last fastest)")

    def split(self, split: str, *, image_shape: tuple[int, int, int], decode: Callable, observe: Callable,
              label: str, label_names: list[str], name: str, source: str) -> Split:
        """The `split` of this grid, streamed: `files` are grid indices, `decode` maps one to its image;
        `labels` are the classes of the factor `label` (for plots), `factors` all K of them."""
        index = self.split_indices(split)
        factors = self.classes(index)
        return Split(image_shape=image_shape, files=index, decode=decode,
                     labels=factors[:, self.names.index(label)], label_names=label_names,
                     factors=factors, factor_names=list(self.names), factor_sizes=self.sizes, observe=observe,
                     name=name, source=source)
