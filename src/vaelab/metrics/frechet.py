"""Fréchet distance between two feature sets, each summarised by a Gaussian (the FID formula).

    d^2 = |mu_1 - mu_2|^2 + Tr( S_1 + S_2 - 2 (S_1 S_2)^(1/2) )     (Heusel et al. 2017, Eq. 6)

Tr((S_1 S_2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric PSD
matrix S_1^(1/2) S_2 S_1^(1/2) (same spectrum as S_1 S_2), which avoids a non-symmetric `sqrtm`.
"""

from __future__ import annotations

import numpy as np


class Moments:
    """Running float64 mean and covariance of (N, F) rows given in batches of any size.

    Rows are summed `chunk` at a time (sums of x and x x^T around the mean of the first chunk, against
    cancellation), so memory is O(chunk * F + F^2) whatever N: at most one chunk of rows is held. The same rows
    in any batching give the same numbers, those of `np.cov` to round-off (tests/test_metrics.py).
    """

    def __init__(self, chunk: int = 2048):
        self.chunk, self.n = chunk, 0
        self.shift = self.s1 = self.s2 = None
        self._pending: list[np.ndarray] = []  # fewer than `chunk` rows waiting for the rest of their chunk

    @property
    def pending_rows(self) -> int:
        return sum(len(p) for p in self._pending)

    def update(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows)
        if rows.ndim != 2:
            raise ValueError(f"features: expected (N, F), received shape {rows.shape}")
        if self._pending:  # complete the waiting chunk first
            need = self.chunk - self.pending_rows
            self._pending.append(rows[:need])
            rows = rows[need:]
            if self.pending_rows < self.chunk:
                self._pending[-1] = self._pending[-1].copy()  # not a view: it would keep the caller's array alive
                return
            self._add(np.concatenate(self._pending))
            self._pending = []
        while len(rows) >= self.chunk:
            self._add(rows[: self.chunk])
            rows = rows[self.chunk :]
        if len(rows):
            self._pending.append(rows.copy())

    def _add(self, rows: np.ndarray) -> None:
        if self.shift is None:
            self.shift = rows.mean(axis=0, dtype="float64")  # (F,) centring against cancellation
            self.s1, self.s2 = np.zeros(rows.shape[1]), np.zeros((rows.shape[1],) * 2)
        x = rows.astype("float64") - self.shift  # (chunk, F)
        self.s1 += x.sum(axis=0)
        self.s2 += x.T @ x
        self.n += len(rows)

    def statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean (F,), covariance (F, F)) in float64 of every row given so far (at least 2)."""
        if self._pending:
            self._add(np.concatenate(self._pending))
            self._pending = []
        if self.n < 2:
            raise ValueError(f"features: expected (N >= 2, F), received {self.n} rows")
        d = self.s1 / self.n  # mean - shift
        return self.shift + d, (self.s2 - self.n * np.outer(d, d)) / (self.n - 1)


def feature_statistics(features: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) features -> (mean (F,), covariance (F, F)), in float64, through `Moments`: no float64 copy of
    the whole set."""
    f = np.asarray(features)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features: expected (N >= 2, F), received shape {f.shape}")
    moments = Moments(chunk)
    moments.update(f)
    return moments.statistics()


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, "float64")), np.atleast_1d(np.asarray(mu2, "float64"))
    sigma1 = np.atleast_2d(np.asarray(sigma1, "float64"))
    sigma2 = np.atleast_2d(np.asarray(sigma2, "float64"))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"expected means (F,) and covariances (F, F) of equal F, received {mu1.shape}, {sigma1.shape}, "
            f"{mu2.shape}, {sigma2.shape}"
        )
    root1 = _sqrt_psd(sigma1)
    cross = np.linalg.eigvalsh(root1 @ sigma2 @ root1)  # spectrum of S1 S2
    tr_sqrt = float(np.sum(np.sqrt(np.clip(cross, 0, None))))
    d2 = float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)
    return max(d2, 0.0)  # round-off can make identical sets very slightly negative


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, F) and b (M, F)."""
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))
