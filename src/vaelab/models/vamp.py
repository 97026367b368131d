"""VampPrior (Tomczak & Welling 2018): the prior is the encoder's posterior mixed over K learned pseudo-inputs.

    p(z) = 1/K sum_k q(z | u_k),   u_k learned images (K = `model.pseudo_inputs`), clipped to [0, 1]

The prior follows the encoder, so the KL term is no longer against N(0, I); it is estimated with the
sampled z (log q(z|x) - log p(z)), and the model trains on the importance-weighted bound with
`model.iw_samples` = k (k = 1: the ELBO). Sampling picks a pseudo-input and draws from its posterior;
the IW-NLL scores with this prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from vaelab.config import bounded
from vaelab.models.iwae import IWAE, IWAESettings
from vaelab.models.registry import MODEL_KINDS


def log_mixture_of_gaussians(z, means, log_vars):
    """log 1/K sum_k N(z; means_k, exp(log_vars_k)) for z (..., D) and K components (K, D): (...,).

    Expanded into matrix products, so memory is O(N K), not O(N K D):
        sum_d (z_d - m_kd)^2 / v_kd = z^2 . (1/v_k) - 2 z . (m_k/v_k) + sum_d m_kd^2 / v_kd
    """
    d = ops.shape(z)[-1]
    flat = ops.reshape(z, (-1, d))  # (N, D)
    inv_var = ops.exp(-log_vars)  # (K, D)
    quad = (ops.matmul(ops.square(flat), ops.transpose(inv_var))
            - 2.0 * ops.matmul(flat, ops.transpose(means * inv_var))
            + ops.sum(ops.square(means) * inv_var, axis=-1)[None, :])  # (N, K)
    log_comp = -0.5 * (ops.cast(d, z.dtype) * math.log(2.0 * math.pi) + ops.sum(log_vars, axis=-1)[None, :] + quad)
    k = ops.cast(ops.shape(means)[0], z.dtype)
    out = ops.logsumexp(log_comp, axis=-1) - ops.log(k)  # (N,)
    return ops.reshape(out, ops.shape(z)[:-1])


@dataclass
class VampSettings(IWAESettings):
    pseudo_inputs: int = bounded(100, ge=1)  # model.pseudo_inputs: number K of learned pseudo-inputs of the VampPrior

@MODEL_KINDS.register("vamp")
@keras.saving.register_keras_serializable(package="vaelab")
class VampVAE(IWAE):
    kind = "vamp"
    settings = {"model": VampSettings}
    tiny_settings = {"model.pseudo_inputs": 4}
    reference_settings = {"model.pseudo_inputs": 500}  # mnist_vamp: K = 500 pseudo-inputs
    prior_label = "the VampPrior (a mixture of posteriors at pseudo-inputs)"
    strategies = ("train_step",)  # the KL against a mixture has no closed form for a separate KL loss
    standard_normal_prior = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        k = self.cfg.pseudo_inputs
        # Tomczak & Welling initialise pseudo-inputs near the data range; small noise around 1/2 here.
        self.pseudo = self.add_weight(
            shape=(k, *self.image_shape),
            initializer=keras.initializers.RandomNormal(mean=0.5, stddev=0.05, seed=self.seed),
            name="pseudo_inputs",
        )

    def pseudo_posteriors(self, training=False):
        """(means, log_vars) (K, D) of q(z | u_k) for the pseudo-inputs u_k in [0, 1]."""
        return self.encoder(ops.clip(self.pseudo, 0.0, 1.0), training=training)

    def log_prior(self, z, training=False):
        means, log_vars = self.pseudo_posteriors(training=training)
        return log_mixture_of_gaussians(z, means, log_vars)

    def prior_draws(self, n: int, std: float = 1.0, seed: int | None = None) -> np.ndarray:
        """z ~ q(z | u_k) (n, D) with k uniform over the pseudo-inputs (noise scaled by std)."""
        rng = np.random.default_rng(seed)
        means, log_vars = (ops.convert_to_numpy(t) for t in self.pseudo_posteriors())
        idx = rng.integers(0, len(means), n)
        eps = rng.standard_normal((n, self.latent_dim)).astype("float32") * std
        return means[idx] + np.exp(0.5 * log_vars[idx]) * eps
