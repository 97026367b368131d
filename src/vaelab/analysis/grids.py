"""Latent grids for manifold pictures: evenly spaced in probability, never at +-infinity."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np


def normal_quantile_grid(n: int, lo: float = 0.05, hi: float = 0.95, std: float = 1.0) -> np.ndarray:
    """(n,) increasing latent values: the N(0, std^2) quantiles of linspace(lo, hi, n).

    Spacing in probability puts as many grid points where the prior has mass as the prior does;
    keeping `lo > 0` and `hi < 1` keeps the edges finite (the 0 and 1 quantiles are +-inf).
    """
    if n < 1:
        raise ValueError(f"n: expected at least 1 grid point, received {n}")
    if not 0 < lo < hi < 1:
        raise ValueError(f"quantile range: expected 0 < lo < hi < 1, received lo={lo}, hi={hi}")
    probs = np.linspace(lo, hi, n) if n > 1 else np.array([0.5])
    return np.array([NormalDist().inv_cdf(p) for p in probs]) * std


def manifold_latents(n: int, latent_dim: int, dims: tuple[int, int] = (0, 1), lo: float = 0.05,
                     hi: float = 0.95, std: float = 1.0) -> np.ndarray:
    """(n * n, latent_dim) codes for an n x n image grid over two chosen dims; the others stay 0.

    Row-major, top row first: row r has dims[1] = grid[n-1-r] (large values at the top, as on a
    plot's y axis), column c has dims[0] = grid[c]. With latent_dim 1 the result is one row, (n, 1).
    """
    grid = normal_quantile_grid(n, lo, hi, std)  # (n,)
    if latent_dim == 1:
        return grid[:, None].astype("float32")  # (n, 1)
    dx, dy = dims
    if dx == dy or not (0 <= dx < latent_dim and 0 <= dy < latent_dim):
        raise ValueError(f"dims: expected two different dims in [0, {latent_dim}), received {dims}")
    z = np.zeros((n, n, latent_dim), "float32")  # (rows, cols, D)
    z[:, :, dx] = grid[None, :]
    z[:, :, dy] = grid[::-1, None]
    return z.reshape(n * n, latent_dim)
