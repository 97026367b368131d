"""The maths of the (beta-)ELBO as pure functions. Every KL strategy calls these; none has its own formula.

Per-sample values have shape (B,); the training objective is their batch mean:

    loss = mean_B[ reconstruction(x, x_hat) ] + beta * mean_B[ gaussian_kl(z_mean, z_log_var) ]

with the reconstruction summed over pixels and the KL summed over latent dimensions, so that at
beta = 1 the loss is the negative ELBO in nats per image (Kingma & Welling 2014, Eq. 10).
"""

from __future__ import annotations

import keras
from keras import ops

from vaelab.registry import Registry


def gaussian_kl(z_mean, z_log_var):
    """KL( N(z_mean, exp(z_log_var)) || N(0, I) ), summed over latent dims.

    KL = -1/2 * sum_j (1 + log s_j^2 - m_j^2 - s_j^2)   (Kingma & Welling 2014, appendix B)

    Args:
        z_mean: (B, D) posterior means.
        z_log_var: (B, D) posterior log-variances.
    Returns:
        (B,) KL divergence per sample, in nats.
    """
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def gaussian_kl_per_dim(z_mean, z_log_var):
    """Like `gaussian_kl` but not summed: (B, D)."""
    return -0.5 * (1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))


def _sum_pixels(t):
    return ops.sum(t, axis=tuple(range(1, len(t.shape))))  # (B, ...) -> (B,)


def bernoulli_nll(x, x_hat):
    """-log p(x | x_hat) under independent Bernoulli pixels, summed over pixels: (B,).

    `x` may be continuous in [0, 1] (then it is the usual binary cross-entropy). When `x_hat` is the
    output of a sigmoid, Keras's TF backend computes this from the logits, so it stays finite.
    """
    return _sum_pixels(ops.binary_crossentropy(x, x_hat))  # elementwise, (B, H, W, C)


def squared_error(x, x_hat):
    """Sum of squared errors over pixels: (B,). Equals 2*sigma^2 * Gaussian NLL up to a constant."""
    return _sum_pixels(ops.square(x - x_hat))


RECONSTRUCTION = Registry("likelihood")
RECONSTRUCTION.register("bernoulli")(bernoulli_nll)
RECONSTRUCTION.register("gaussian")(squared_error)


def reconstruction_loss(likelihood: str):
    """The per-sample reconstruction function for a likelihood name."""
    return RECONSTRUCTION.get(likelihood)


@keras.saving.register_keras_serializable(package="vaelab")
class ReconstructionLoss(keras.losses.Loss):
    """Keras Loss wrapper: batch mean of the per-sample reconstruction term."""

    def __init__(self, likelihood: str = "bernoulli", name: str = "reconstruction_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.likelihood = likelihood
        self.fn = reconstruction_loss(likelihood)

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
    """A `reconstruction_loss` metric (batch mean of the per-sample term) for `compile(metrics=...)`."""
    return keras.metrics.MeanMetricWrapper(reconstruction_loss(likelihood), name="reconstruction_loss")
