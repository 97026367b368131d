"""The test-set ELBO and the importance-weighted bound (IWAE), in nats per image.

    log p(x) >= L_k = E[ log 1/k sum_i w_i ],  w_i = p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x)

(Burda, Grosse & Salakhutdinov 2016, Eq. 8). L_1 is the ELBO; L_k grows with k towards log p(x),
so -L_k at k = 1000 is the usual "test NLL" of a VAE. Memory stays bounded: images are processed
in chunks of `image_chunk`, and the k samples of each chunk in slices of `sample_chunk`.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from vaelab.likelihoods import LIKELIHOODS
from vaelab.losses import gaussian_kl

LOG_2PI = math.log(2.0 * math.pi)


def log_normal(z, mean, log_var):
    """log N(z; mean, diag(exp(log_var))), summed over the last axis: (...,)."""
    return -0.5 * tf.reduce_sum(LOG_2PI + log_var + tf.square(z - mean) * tf.exp(-log_var), axis=-1)


def log_importance_weights(log_px_z, z, z_mean, z_log_var):
    """log w = log p(x|z) + log p(z) - log q(z|x) with p(z) = N(0, I).

    Args:
        log_px_z: (..., ) log-likelihood of x under the decoder at z.
        z: (..., D) samples; z_mean, z_log_var: broadcastable to z.
    Returns:
        (...,) log importance weights.
    """
    zeros = tf.zeros_like(z)
    return log_px_z + log_normal(z, zeros, zeros) - log_normal(z, z_mean, z_log_var)


def bits_per_dim(nll_nats: float, image_shape) -> float:
    """nats per image -> bits per pixel dimension: NLL / (H * W * C * ln 2)."""
    return float(nll_nats) / (math.prod(image_shape) * math.log(2.0))


class _Scorer:
    """Compiled (graph) pieces shared by the ELBO and IWAE loops; one trace per input shape rank."""

    def __init__(self, model, likelihood: str | None = None):
        self.encoder = model.encoder
        self.logits = model.decoder_logits
        self.log_px_z = LIKELIHOODS.get(likelihood or model.likelihood).log_prob

    @tf.function(reduce_retracing=True)
    def encode(self, x):
        z_mean, z_log_var = self.encoder(x, training=False)
        return z_mean, z_log_var  # (B, D) each

    @tf.function(reduce_retracing=True)
    def log_weights(self, x, z_mean, z_log_var, eps):
        b, s, d = tf.shape(eps)[0], tf.shape(eps)[1], tf.shape(eps)[2]
        z = z_mean[:, None] + tf.exp(0.5 * z_log_var)[:, None] * eps  # (B, S, D)
        logits = self.logits(tf.reshape(z, (b * s, d)), training=False)  # (B*S, H, W, C)
        x_rep = tf.repeat(x, s, axis=0)  # (B*S, H, W, C), image-major like z
        log_px_z = tf.reshape(self.log_px_z(x_rep, logits), (b, s))  # (B, S)
        return log_importance_weights(log_px_z, z, z_mean[:, None], z_log_var[:, None]), log_px_z


def _noise(rng: np.random.Generator, shape) -> tf.Tensor:
    return tf.constant(rng.standard_normal(shape).astype("float32"))


def elbo_terms(model, images: np.ndarray, likelihood: str | None = None, seed: int = 0, batch_size: int = 500) -> dict:
    """Per-image ELBO pieces with one sampled z per image (not z_mean), in nats.

    Returns:
        dict of (N,) arrays: `reconstruction` = -log p(x|z), z ~ q(z|x); `kl` = KL(q(z|x) || p(z))
        (closed form); `log_w` = the single-sample log-weight (an unbiased ELBO estimate with a
        sampled KL); plus (N, D) `z_mean`, `z_log_var`.
    """
    scorer, rng = _Scorer(model, likelihood), np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("reconstruction", "kl", "log_w", "z_mean", "z_log_var")}
    for i in range(0, len(images), batch_size):
        x = tf.constant(images[i : i + batch_size], tf.float32)  # (B, H, W, C)
        z_mean, z_log_var = scorer.encode(x)
        eps = _noise(rng, (x.shape[0], 1, model.latent_dim))  # (B, 1, D)
        log_w, log_px_z = scorer.log_weights(x, z_mean, z_log_var, eps)
        out["reconstruction"].append(-log_px_z.numpy()[:, 0])
        out["kl"].append(gaussian_kl(z_mean, z_log_var).numpy())
        out["log_w"].append(log_w.numpy()[:, 0])
        out["z_mean"].append(z_mean.numpy())
        out["z_log_var"].append(z_log_var.numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def iwae_bound(model, images: np.ndarray, likelihood: str | None = None, k: int = 1000, seed: int = 0,
               image_chunk: int = 50, sample_chunk: int = 200) -> np.ndarray:
    """L_k per image (nats, (N,)): log of the mean of k importance weights, computed with logsumexp.

    At most `image_chunk * sample_chunk` decoder evaluations are in memory at once; the (chunk, k)
    log-weights are kept, so memory is O(image_chunk * (k + sample_chunk * H * W * C)).
    """
    if k < 1:
        raise ValueError(f"k: expected at least 1 importance sample, received {k}")
    scorer, rng = _Scorer(model, likelihood), np.random.default_rng(seed)
    bounds = []
    for i in range(0, len(images), image_chunk):
        x = tf.constant(images[i : i + image_chunk], tf.float32)  # (B, H, W, C)
        z_mean, z_log_var = scorer.encode(x)
        log_w = []
        for j in range(0, k, sample_chunk):
            s = min(sample_chunk, k - j)
            eps = _noise(rng, (x.shape[0], s, model.latent_dim))  # (B, S, D)
            log_w.append(scorer.log_weights(x, z_mean, z_log_var, eps)[0])
        log_w = tf.concat(log_w, axis=1)  # (B, k)
        bounds.append((tf.reduce_logsumexp(log_w, axis=1) - math.log(k)).numpy())
    return np.concatenate(bounds)
