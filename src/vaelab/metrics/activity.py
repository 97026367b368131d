"""How the latent space is used: KL per dimension and active units."""

from __future__ import annotations

import numpy as np
from keras import ops

from vaelab.losses import gaussian_kl_per_dim


def kl_per_dim(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """Mean over images of KL(q(z_u|x) || N(0, 1)) for each latent unit u: (N, D) -> (D,) nats (in float64)."""
    z_mean, z_log_var = np.asarray(z_mean, "float64"), np.asarray(z_log_var, "float64")
    return np.mean(ops.convert_to_numpy(gaussian_kl_per_dim(z_mean, z_log_var)), axis=0)


def active_units(z_mean: np.ndarray, threshold: float = 0.01) -> tuple[int, np.ndarray]:
    """Units whose posterior mean varies with the input (Burda et al. 2016, Sec. 5.2).

    A_u = Cov_x( E_{q(z|x)}[z_u] ) > threshold; an inactive unit's posterior ignores x (it has collapsed
    onto the prior, and its KL is ~0).

    Args:
        z_mean: (N, D) posterior means E_q[z] over a data set.
        threshold: activity threshold (0.01 in the paper).
    Returns:
        (number of active units, (D,) per-unit variances A_u).
    """
    z_mean = np.asarray(z_mean, "float64")
    if z_mean.ndim != 2 or len(z_mean) < 2:
        raise ValueError(f"z_mean: expected (N >= 2, D) posterior means, received shape {z_mean.shape}")
    variances = np.var(z_mean, axis=0)  # (D,)
    return int(np.sum(variances > threshold)), variances
