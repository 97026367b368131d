"""The prior every model is trained against: p(z) = N(0, I) for a VAE (sampled as N(0, std^2 I)), or a family's
own (a VampPrior, p(z1|z2), a VQ-VAE's PixelCNN): sampled through the model, never fitted."""

from __future__ import annotations

import numpy as np

from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("standard", description="the model's own training prior (N(0, I) for a VAE); needs no fitting")
class StandardPrior(Prior):
    kind = "standard"
    fitted = False

    def sample(self, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32") * std

    def describe(self) -> str:
        return "N(0, I)"
