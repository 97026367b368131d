"""Ex-post Gaussian mixture on the encoder's z_mean (Ghosh et al. 2020, "From Variational to
Deterministic Autoencoders", Sec. 4: fit a GMM with 10 components to the training codes, sample from it)."""

from __future__ import annotations

import numpy as np

from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("gmm", description="Gaussian mixture (full covariances) fitted to the training z_mean")
class GMMPrior(Prior):
    kind = "gmm"

    def __init__(self, weights, means, covariances, info: dict | None = None):
        self.weights = np.asarray(weights, "float64")  # (K,)
        self.means = np.asarray(means, "float64")  # (K, D)
        self.covariances = np.asarray(covariances, "float64")  # (K, D, D)
        super().__init__(self.means.shape[1], info)
        self._chol = np.linalg.cholesky(self.covariances)  # (K, D, D)

    @classmethod
    def fit(cls, z: np.ndarray, seed: int = 0, components: int = 10) -> GMMPrior:
        from sklearn.mixture import GaussianMixture

        z = np.asarray(z, "float64")
        if components < 1 or len(z) < components:
            raise ValueError(f"--components: expected 1 <= K <= {len(z)} (the codes fitted), received {components}")
        g = GaussianMixture(components, covariance_type="full", random_state=seed, max_iter=500).fit(z)
        info = {"components": components, "converged": bool(g.converged_), "iterations": int(g.n_iter_),
                "avg_log_likelihood": float(g.score(z))}
        return cls(g.weights_, g.means_, g.covariances_, info)

    def sample(self, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
        """Component k ~ weights, then z = mean_k + std * L_k eps with L_k L_k^T = covariance_k."""
        rng = np.random.default_rng(seed)
        k = rng.choice(len(self.weights), size=n, p=self.weights / self.weights.sum())  # (n,)
        eps = rng.standard_normal((n, self.latent_dim))  # (n, D)
        z = self.means[k] + std * np.einsum("nij,nj->ni", self._chol[k], eps)
        return z.astype("float32")

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights, "means": self.means, "covariances": self.covariances}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], info: dict) -> GMMPrior:
        return cls(arrays["weights"], arrays["means"], arrays["covariances"], info)

    def describe(self) -> str:
        return f"GMM({len(self.weights)}) on z_mean"
