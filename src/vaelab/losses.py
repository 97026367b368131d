"""The maths of the (beta-)ELBO as pure functions. Every KL strategy calls these; none has its own formula.

Per-sample values have shape (B,); the training objective is their batch mean:

    loss = mean_B[ likelihood.nll(x, logits) ] + beta * mean_B[ gaussian_kl(z_mean, z_log_var) ]

with the reconstruction summed over pixels (`vaelab.likelihoods`) and the KL summed over latent
dimensions, so that at beta = 1 the loss is the negative ELBO in nats per image (Kingma & Welling
2014, Eq. 10).
"""

from __future__ import annotations

import math

import keras
from keras import ops

from vaelab.likelihoods import LIKELIHOODS


def gaussian_kl(z_mean, z_log_var):
    """KL( N(z_mean, exp(z_log_var)) || N(0, I) ), summed over latent dims.

    KL = -1/2 * sum_j (1 + log s_j^2 - m_j^2 - s_j^2)   (Kingma & Welling 2014, appendix B)

    Args:
        z_mean: (B, D) posterior means.
        z_log_var: (B, D) posterior log-variances.
    Returns:
        (B,) KL divergence per sample, in nats.
    """
    return ops.sum(gaussian_kl_per_dim(z_mean, z_log_var), axis=-1)


def gaussian_kl_per_dim(z_mean, z_log_var):
    """Like `gaussian_kl` but not summed: (B, D). The one KL formula of the package."""
    return -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))


def log_normal(z, mean, log_var):
    """log N(z; mean, diag(exp(log_var))), summed over the last axis: (...,). Arguments broadcast."""
    return -0.5 * ops.sum(math.log(2.0 * math.pi) + log_var + ops.square(z - mean) * ops.exp(-log_var), axis=-1)


def log_standard_normal(z):
    """log N(z; 0, I), summed over the last axis: (...,)."""
    return -0.5 * ops.sum(math.log(2.0 * math.pi) + ops.square(z), axis=-1)


@keras.saving.register_keras_serializable(package="vaelab")
class ReconstructionLoss(keras.losses.Loss):
    """Keras Loss wrapper: batch mean of `likelihood.nll(images, logits)`; `y_pred` are the decoder's logits."""

    def __init__(self, likelihood: str = "bernoulli", name: str = "reconstruction_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.likelihood = likelihood
        self.fn = LIKELIHOODS.get(likelihood).nll

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood}


@keras.saving.register_keras_serializable(package="vaelab")
class GaussianKLLoss(keras.losses.Loss):
    """Keras Loss on a (B, 2*D) output holding [z_mean, z_log_var]; the target is ignored.

    Used by the `multi_output` strategy, where the encoder's statistics are a model output.
    """

    def __init__(self, name: str = "kl_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        z_mean, z_log_var = ops.split(y_pred, 2, axis=-1)  # (B, D) each
        return gaussian_kl(z_mean, z_log_var)


def reconstruction_metric(likelihood: str):
    """A `reconstruction_loss` metric (batch mean of `nll(images, logits)`) for `compile(metrics=...)`."""
    return keras.metrics.MeanMetricWrapper(LIKELIHOODS.get(likelihood).nll, name="reconstruction_loss")
