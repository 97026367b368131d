"""Fréchet distance between two feature sets, each summarised by a Gaussian (the FID formula).

    d^2 = |mu_1 - mu_2|^2 + Tr( S_1 + S_2 - 2 (S_1 S_2)^(1/2) )     (Heusel et al. 2017, Eq. 6)

Tr((S_1 S_2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric PSD
matrix S_1^(1/2) S_2 S_1^(1/2) (same spectrum as S_1 S_2), which avoids a non-symmetric `sqrtm`.
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) features -> (mean (F,), covariance (F, F)), in float64.

    Accumulated over chunks of `chunk` rows (sums of x and x x^T around the first chunk's mean, in float64), so
    memory is O(chunk * F + F^2) whatever N: no float64 copy of the whole set. Same numbers as `np.cov` to
    round-off (tests/test_metrics.py).
    """
    f = np.asarray(features)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features: expected (N >= 2, F), received shape {f.shape}")
    n, dim = f.shape
    shift = f[:chunk].mean(axis=0, dtype="float64")  # (F,) centring against cancellation
    s1, s2 = np.zeros(dim), np.zeros((dim, dim))
    for i in range(0, n, chunk):
        x = f[i : i + chunk].astype("float64") - shift  # (chunk, F)
        s1 += x.sum(axis=0)
        s2 += x.T @ x
    d = s1 / n  # mean - shift
    return shift + d, (s2 - n * np.outer(d, d)) / (n - 1)


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
