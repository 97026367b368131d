"""Where the codes live: confinement statistics and 2-D projections of latent codes.

A VAE's KL term pulls `z_mean` towards the prior N(0, I); a plain AE's codes are free to spread.
`confinement_stats` turns that into numbers (per-dim mean/std, the radius holding 95% of the codes,
the bounding box); `project_2d` gives a picture for any latent size (PCA or t-SNE above 2 dims).
"""

from __future__ import annotations

import numpy as np

from vaelab.registry import Registry

PROJECTIONS = Registry("projection")
TSNE_MIN_DISTINCT = 5  # fewer distinct codes make no t-SNE picture (and too few points for any perplexity)
TSNE_EXACT_MAX = 250  # up to this many points the exact O(N^2) gradient: as fast, and no Barnes-Hut tree


class DegenerateCodes(ValueError):
    """Codes a statistic or projection cannot use (NaN, constant, collapsed); the message says why."""


def _check_codes(z) -> np.ndarray:
    z = np.asarray(z, dtype="float64")
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"latent codes: expected a non-empty (N, D) array, received shape {z.shape}")
    return z


def finite_rows(z) -> tuple[np.ndarray, str | None]:
    """(mask (N,) of the codes without NaN/inf, a note saying how many were left out, or None).

    Raises DegenerateCodes when no code is finite."""
    z = _check_codes(z)
    ok = np.isfinite(z).all(axis=1)
    if not ok.any():
        raise DegenerateCodes(f"all {len(z)} codes are NaN or infinite")
    return ok, None if ok.all() else f"{int((~ok).sum())} of {len(z)} codes are NaN or infinite and were left out"


def tsne_problem(z) -> str | None:
    """Why t-SNE cannot run on codes (N, D), or None. scikit-learn's Barnes-Hut t-SNE kills the process
    (SIGSEGV) on constant codes (a collapsed posterior, a dead VQ codebook), so this is checked first."""
    z = _check_codes(z)
    if not np.isfinite(z).all():
        return f"{int((~np.isfinite(z).all(axis=1)).sum())} of {len(z)} codes are NaN or infinite"
    if len(z) < TSNE_MIN_DISTINCT:
        return f"only {len(z)} codes (t-SNE needs {TSNE_MIN_DISTINCT})"
    spread, scale = float(z.std(axis=0).max()), float(np.abs(z).max())
    if spread == 0 or spread <= 1e-6 * scale:  # below float32 resolution: rounding noise, not structure
        return f"the {len(z)} codes are constant (largest per-dim std {spread:.3g})"
    distinct = len(np.unique(z, axis=0))
    if distinct < TSNE_MIN_DISTINCT:
        return f"only {distinct} distinct codes among {len(z)} (collapsed codes; t-SNE needs {TSNE_MIN_DISTINCT})"
    return None


def confinement_stats(z, coverage: float = 0.95) -> dict:
    """How far the codes spread: a summary meant for metrics.json.

    Args:
        z: (N, D) latent codes (usually test-set `z_mean`).
        coverage: share of points inside the reported radius (around the origin, the prior's centre).

    Returns:
        dict with `n`, `latent_dim`, per-dim lists `mean`, `std`, `min`, `max`, the scalar
        `radius_95` (norm that `coverage` of the codes stay within), `box_volume_log10` and
        `extent` (max - min per dim).
    """
    if not 0 < coverage < 1:
        raise ValueError(f"coverage: expected a value in (0, 1), received {coverage}")
    z = _check_codes(z)
    lo, hi = z.min(axis=0), z.max(axis=0)  # (D,)
    radius = float(np.quantile(np.linalg.norm(z, axis=1), coverage))
    extent = hi - lo
    return {
        "n": int(len(z)),
        "latent_dim": int(z.shape[1]),
        "mean": z.mean(axis=0).tolist(),
        "std": z.std(axis=0).tolist(),
        "min": lo.tolist(),
        "max": hi.tolist(),
        "extent": extent.tolist(),
        f"radius_{round(coverage * 100)}": radius,
        "box_volume_log10": float(np.sum(np.log10(np.maximum(extent, 1e-12)))),
    }


def subsample(n: int, max_points: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `max_points` of `n` items (all when max_points is None or >= n)."""
    if max_points is None or max_points >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def pca_basis(z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The full PCA of codes (N, D): (mean (D,), components (D, D), std (D,) along each component).

    Components are rows, by decreasing variance, each signed so that its largest entry is positive
    (scikit-learn's convention); the basis is complete even when N < D (std 0 beyond rank).
    """
    z = _check_codes(z)
    mean = z.mean(axis=0)
    # (D, D) rows even when N < D; never the (N, N) left factor when N is large
    _, s, vt = np.linalg.svd(z - mean, full_matrices=len(z) < z.shape[1])
    rows = np.arange(len(vt))
    vt *= np.sign(vt[rows, np.abs(vt).argmax(axis=1)])[:, None]
    std = np.zeros(z.shape[1])
    std[: len(s)] = s / np.sqrt(max(len(z) - 1, 1))
    return mean, vt, std


@PROJECTIONS.register("pca", title="PCA")
def pca_2d(z, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) first two principal components (D = 1 gets a zero second column)."""
    z = _check_codes(z)
    if not np.isfinite(z).all():
        raise DegenerateCodes(f"PCA: {int((~np.isfinite(z).all(axis=1)).sum())} of {len(z)} codes are NaN or "
                              "infinite")
    if z.shape[1] == 1:
        return np.concatenate([z - z.mean(), np.zeros_like(z)], axis=1)
    if z.shape[1] == 2:
        return z - z.mean(axis=0)
    mean, components, _ = pca_basis(z)
    return (z - mean) @ components[:2].T


@PROJECTIONS.register("tsne", title="t-SNE")
def tsne_2d(z, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) t-SNE embedding (cap N yourself: t-SNE is O(N log N) and slow past a few 1000).

    Raises DegenerateCodes (before scikit-learn runs) on codes it cannot embed: see `tsne_problem`."""
    z = _check_codes(z)
    problem = tsne_problem(z)
    if problem:
        raise DegenerateCodes(f"t-SNE: {problem}")
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    z = (z - z.mean(axis=0)) / z.std(axis=0).max()  # one scale for all dims: tiny magnitudes (1e-30) crash it too
    perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
    method = "exact" if len(z) <= TSNE_EXACT_MAX else "barnes_hut"
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", max_iter=500, random_state=seed, method=method)
    # One thread: on a few shared cores OpenMP's spin-waiting made it 100x slower (12 s for 64 points).
    with threadpool_limits(1):
        return tsne.fit_transform(z)


def project_2d(z, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) with a registered projection (`pca` or `tsne`)."""
    return PROJECTIONS.get(method)(z, seed=seed)
