"""Sample-quality scores over two feature sets (generated, reference): FID, KID, precision and recall.

Pure numpy; the features come from `vaelab.metrics.inception` (the standard FID network) or any other
extractor. The Fréchet maths lives in `frechet.py` and is used from there.

    FID  Heusel et al. 2017: Fréchet distance between Gaussians fitted to the two sets.
    KID  Bińkowski et al. 2018: unbiased MMD^2 with the kernel k(x, y) = (x.y / F + 1)^3, averaged over
         random subsets (mean and std over subsets reported). Unbiased: ~0 for equal distributions,
         can be slightly negative.
    precision / recall  Kynkäänniemi et al. 2019: a sample is "inside" a set's manifold when it lies
         within the k-NN radius (k = 3) of at least one member; precision = share of generated samples
         inside the reference manifold, recall = share of reference samples inside the generated one.
"""

from __future__ import annotations

import numpy as np

from vaelab.metrics.frechet import frechet_distance_of_features


def _check(a: np.ndarray, b: np.ndarray, min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < min_n:
        raise ValueError(f"features: expected two (N >= {min_n}, F) arrays of equal F, received shapes "
                         f"{a.shape} and {b.shape}")
    return a, b


def kid(generated: np.ndarray, reference: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """(mean, std) over `subsets` random subsets of the unbiased MMD^2 (cubic polynomial kernel).

    Each subset draws m = min(N, M, subset_size) samples without replacement from each set; with m equal
    to both set sizes the estimate is the exact unbiased MMD^2 of the two sets.
    """
    x_all, y_all = _check(generated, reference)
    f, rng = x_all.shape[1], np.random.default_rng(seed)
    m = min(len(x_all), len(y_all), subset_size)
    values = []
    for _ in range(subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]  # (m, F)
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / f + 1) ** 3, ((y @ y.T) / f + 1) ** 3, ((x @ y.T) / f + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(within - 2.0 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _sq_norms(a: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, a)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, F), (M, F) -> (N, M) Euclidean distances."""
    d2 = _sq_norms(a)[:, None] + _sq_norms(b)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.clip(d2, 0.0, None))


BLOCK = 2**22  # entries of one (rows, N) distance block: 32 MiB in float64, whatever N


def _rows(n_members: int, batch: int | None) -> int:
    """Rows per distance block: `batch`, else as many as keep a block within BLOCK entries (memory flat in N)."""
    return batch or max(1, min(1000, BLOCK // max(n_members, 1)))


def knn_radii(features: np.ndarray, k: int = 3, batch: int | None = None) -> np.ndarray:
    """(N,) distance of each sample to its k-th nearest neighbour in the same set (itself excluded)."""
    f = np.asarray(features, "float64")
    if not 1 <= k < len(f):
        raise ValueError(f"k: expected 1 <= k < N = {len(f)}, received {k}")
    batch = _rows(len(f), batch)
    # the k+1-th smallest distance per row: the sample itself is the smallest (0); copied, as a view would keep
    # every (batch, N) block alive: N^2 floats in all
    return np.concatenate([np.partition(_distances(f[i : i + batch], f), k, axis=1)[:, k].copy()
                           for i in range(0, len(f), batch)])


def _inside(points: np.ndarray, members: np.ndarray, radii: np.ndarray, batch: int | None = None) -> np.ndarray:
    """(N,) bool: point within radii[j] of some member j."""
    batch = _rows(len(members), batch)
    return np.concatenate([np.any(_distances(points[i : i + batch], members) <= radii[None, :], axis=1)
                           for i in range(0, len(points), batch)])


def precision_recall(generated: np.ndarray, reference: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN radii, k = 3 as in the paper."""
    gen, ref = _check(generated, reference, min_n=k + 1)
    precision = float(np.mean(_inside(gen, ref, knn_radii(ref, k))))
    recall = float(np.mean(_inside(ref, gen, knn_radii(gen, k))))
    return precision, recall


def scores(generated: np.ndarray, reference: np.ndarray, seed: int = 0) -> dict:
    """FID, KID (mean, std) and precision/recall of `generated` against `reference` features."""
    fid = frechet_distance_of_features(generated, reference)  # streamed: before the float64 copies below
    generated, reference = _check(generated, reference)  # one float64 copy of each set, shared by KID and P/R
    k_mean, k_std = kid(generated, reference, seed=seed)
    precision, recall = precision_recall(generated, reference)
    return {"fid": fid, "kid": k_mean, "kid_std": k_std,
            "precision": precision, "recall": recall, "kid_subsets": 100,
            "kid_subset_size": min(len(generated), len(reference), 1000), "pr_k": 3}
