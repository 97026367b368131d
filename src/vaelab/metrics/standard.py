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

from vaelab.metrics.frechet import frechet_distance
from vaelab.metrics.store import FeatureSet, as_features


def _check(a, b, min_n: int = 2) -> tuple[FeatureSet, FeatureSet]:
    a, b = as_features(a), as_features(b)
    if a.dim != b.dim or min(len(a), len(b)) < min_n:
        raise ValueError(f"features: expected two (N >= {min_n}, F) arrays of equal F, received shapes "
                         f"{(len(a), a.dim)} and {(len(b), b.dim)}")
    return a, b


def kid(generated, reference, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """(mean, std) over `subsets` random subsets of the unbiased MMD^2 (cubic polynomial kernel).

    Each subset draws m = min(N, M, subset_size) samples without replacement from each set; with m equal
    to both set sizes the estimate is the exact unbiased MMD^2 of the two sets. The sets are (N, F) arrays or
    `FeatureSet`s (only the 2 m drawn rows are read per subset).
    """
    x_all, y_all = _check(generated, reference)
    f, rng = x_all.dim, np.random.default_rng(seed)
    m = min(len(x_all), len(y_all), subset_size)
    values = []
    for _ in range(subsets):
        x = x_all.take(rng.choice(len(x_all), m, replace=False))  # (m, F)
        y = y_all.take(rng.choice(len(y_all), m, replace=False))
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


BLOCK = 2**20  # entries of one (rows, members) distance block: 8 MiB in float64, whatever N
ROWS = 1024  # rows of a block (its members: BLOCK // rows)


def _block(n_points: int, n_members: int, batch: int | None) -> tuple[int, int]:
    """(rows, members) of one distance block: `batch` rows (else ROWS), and as many members as keep the block
    within BLOCK entries; so memory is flat in N: two blocks of features and one of distances."""
    rows = max(1, min(batch or ROWS, n_points))
    return rows, max(1, min(n_members, BLOCK // rows))


def knn_radii(features, k: int = 3, batch: int | None = None) -> np.ndarray:
    """(N,) distance of each sample to its k-th nearest neighbour in the same set (itself excluded)."""
    f = as_features(features)
    if not 1 <= k < len(f):
        raise ValueError(f"k: expected 1 <= k < N = {len(f)}, received {k}")
    rows, cols = _block(len(f), len(f), batch)
    radii = np.empty(len(f))
    for i, a in f.blocks(rows):
        nearest = np.empty((len(a), 0))  # (rows, <= k + 1) smallest distances so far, the sample itself (0) among them
        for _, b in f.blocks(cols):
            d = np.concatenate([nearest, _distances(a, b)], axis=1)
            # copied: a view would keep the whole block alive
            nearest = np.partition(d, k, axis=1)[:, : k + 1].copy() if d.shape[1] > k + 1 else d
        radii[i : i + len(a)] = np.partition(nearest, k, axis=1)[:, k]  # the k+1-th smallest
    return radii


def _inside(points, members, radii: np.ndarray, batch: int | None = None) -> np.ndarray:
    """(N,) bool: point within radii[j] of some member j."""
    rows, cols = _block(len(points), len(members), batch)
    inside = np.zeros(len(points), bool)
    for i, a in points.blocks(rows):
        for j, b in members.blocks(cols):
            inside[i : i + len(a)] |= np.any(_distances(a, b) <= radii[None, j : j + len(b)], axis=1)
    return inside


def precision_recall(generated, reference, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN radii, k = 3 as in the paper."""
    gen, ref = _check(generated, reference, min_n=k + 1)
    precision = float(np.mean(_inside(gen, ref, knn_radii(ref, k))))
    recall = float(np.mean(_inside(ref, gen, knn_radii(gen, k))))
    return precision, recall


def scores(generated, reference, seed: int = 0) -> dict:
    """FID, KID (mean, std) and precision/recall of `generated` against `reference` features: (N, F) arrays or
    `FeatureSet`s (a `FeatureStore` keeps memory flat in N: its moments were summed as it filled, and the rest
    reads it in blocks)."""
    generated, reference = _check(generated, reference)
    fid = frechet_distance(*generated.statistics(), *reference.statistics())
    k_mean, k_std = kid(generated, reference, seed=seed)
    precision, recall = precision_recall(generated, reference)
    return {"fid": fid, "kid": k_mean, "kid_std": k_std,
            "precision": precision, "recall": recall, "kid_subsets": 100,
            "kid_subset_size": min(len(generated), len(reference), 1000), "pr_k": 3}
