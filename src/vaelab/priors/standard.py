"""The prior every VAE is trained against: p(z) = N(0, I) (sampled as N(0, std^2 I))."""

from __future__ import annotations

import numpy as np

from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("standard", description="N(0, I), the training prior; needs no fitting")
class StandardPrior(Prior):
    kind = "standard"

    def sample(self, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32") * std

    def describe(self) -> str:
        return "N(0, I)"
