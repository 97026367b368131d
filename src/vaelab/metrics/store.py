"""Feature sets for the sample-quality scores, in memory or spilled to disk, behind one reading interface.

`FeatureStore` takes (B, F) float32 rows as they are computed and writes them to an unlinked temporary file
(gone when closed, or when the process ends however it ends), summing their mean and covariance on the way in
(`frechet.Moments`: what FID needs). KID and precision/recall read the rows back in bounded blocks with plain
reads, so the process holds one block at a time whatever N (mapped pages would count in its resident memory).
`ArrayFeatures` gives an in-memory (N, F) array the same interface; `as_features` picks.

    with FeatureStore(2048, folder) as store:
        for batch in batches:
            store.append(features(batch))       # (B, 2048)
        mean, cov = store.statistics()
        block = store.read(0, 1000)             # (1000, 2048) float64
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vaelab.metrics.frechet import Moments, feature_statistics


class FeatureSet:
    """(N, F) features read in blocks: `len`, `dim`, `read(start, stop)`, `take(index)`, `statistics()`."""

    dim: int

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, start: int, stop: int, dtype="float64") -> np.ndarray:
        """Rows start..stop as a new (stop - start, F) array."""
        raise NotImplementedError

    def take(self, index: np.ndarray) -> np.ndarray:
        """(len(index), F) float64 rows in the order of `index`."""
        raise NotImplementedError

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean (F,), covariance (F, F)) in float64."""
        raise NotImplementedError

    def blocks(self, rows: int, dtype="float64") -> Iterator[tuple[int, np.ndarray]]:
        """(start, (<= rows, F) block) over the whole set, in order."""
        for i in range(0, len(self), rows):
            yield i, self.read(i, min(i + rows, len(self)), dtype)


class ArrayFeatures(FeatureSet):
    """An (N, F) array of features in memory."""

    def __init__(self, features: np.ndarray):
        self.features = np.asarray(features)
        if self.features.ndim != 2:
            raise ValueError(f"features: expected (N, F), received shape {self.features.shape}")

    def __len__(self) -> int:
        return len(self.features)

    @property
    def dim(self) -> int:
        return self.features.shape[1]

    def read(self, start: int, stop: int, dtype="float64") -> np.ndarray:
        return self.features[start:stop].astype(dtype)

    def take(self, index: np.ndarray) -> np.ndarray:
        return self.features[index].astype("float64")

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        return feature_statistics(self.features)


class FeatureStore(FeatureSet):
    """(N, F) float32 features appended in batches to an unlinked temporary file in `folder` (default: the
    system's temporary folder), with their running moments; read back in blocks. Use it as a context manager
    (or `close()`): the file's space is freed then."""

    def __init__(self, dim: int, folder: str | Path | None = None):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
        self._dim, self.n = int(dim), 0
        self._file = tempfile.TemporaryFile(prefix="vaelab-features-", dir=folder)
        self.moments = Moments()
        self._row = self._dim * 4  # bytes per float32 row

    def __len__(self) -> int:
        return self.n

    @property
    def dim(self) -> int:
        return self._dim

    def append(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, "float32")
        if rows.ndim != 2 or rows.shape[1] != self._dim:
            raise ValueError(f"features: expected (B, {self._dim}), received shape {rows.shape}")
        self._file.seek(self.n * self._row)
        self._file.write(rows.data)
        self.moments.update(rows)
        self.n += len(rows)

    def read(self, start: int, stop: int, dtype="float64") -> np.ndarray:
        """Rows start..stop as a new (stop - start, F) array (one plain read; nothing stays mapped)."""
        start, stop = max(0, start), min(stop, self.n)
        out = np.empty((max(stop - start, 0), self._dim), "float32")
        self._file.seek(start * self._row)
        if self._file.readinto(memoryview(out).cast("B")) != out.nbytes:
            raise OSError(f"feature store: short read of rows {start}..{stop}")
        return out if np.dtype(dtype) == out.dtype else out.astype(dtype)

    def take(self, index: np.ndarray) -> np.ndarray:
        """(len(index), F) float64 rows in the order of `index` (a subset: one read per row, or one read of the
        whole set when it is most of it)."""
        index = np.asarray(index)
        if 2 * len(index) >= self.n:
            return self.read(0, self.n)[index]
        out = np.empty((len(index), self._dim))
        for j, i in enumerate(index):
            out[j] = self.read(int(i), int(i) + 1)[0]
        return out

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        return self.moments.statistics()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def as_features(x) -> FeatureSet:
    """A `FeatureSet` as is; an (N, F) array wrapped in `ArrayFeatures`."""
    return x if isinstance(x, FeatureSet) else ArrayFeatures(x)
