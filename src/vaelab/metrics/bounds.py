"""The test-set ELBO and the importance-weighted bound (IWAE), in nats per image.

    log p(x) >= L_k = E[ log 1/k sum_i w_i ],  w_i = p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x)

(Burda, Grosse & Salakhutdinov 2016, Eq. 8). L_1 is the ELBO; L_k grows with k towards log p(x),
so -L_k at k = 1000 is the usual "test NLL" of a VAE. The three log-densities come from the model
itself (`model.log_weight_terms`), so every family is scored with its own prior, hierarchy and
likelihood. Memory stays bounded: images are processed in chunks of `image_chunk`, and the k samples
of each chunk in slices of `sample_chunk`. The noise is drawn with numpy from `seed`, so numbers repeat.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import tensorflow as tf

from vaelab.limits import human_seconds
from vaelab.losses import gaussian_kl, log_normal, log_standard_normal


def log_importance_weights(log_px_z, z, z_mean, z_log_var):
    """log w = log p(x|z) + log p(z) - log q(z|x) with p(z) = N(0, I).

    Args:
        log_px_z: (..., ) log-likelihood of x under the decoder at z.
        z: (..., D) samples; z_mean, z_log_var: broadcastable to z.
    Returns:
        (...,) log importance weights.
    """
    return log_px_z + log_standard_normal(z) - log_normal(z, z_mean, z_log_var)


def bits_per_dim(nll_nats: float, image_shape) -> float:
    """nats per image -> bits per pixel dimension: NLL / (H * W * C * ln 2)."""
    return float(nll_nats) / (math.prod(image_shape) * math.log(2.0))


class _Scorer:
    """The model's log-weight terms as one compiled graph (one trace per input shape rank)."""

    def __init__(self, model):
        self.model = model

    @tf.function(reduce_retracing=True)
    def terms(self, x, eps):
        t = self.model.log_weight_terms(x, eps, training=False)  # (B, S) each; z_mean, z_log_var (B, D)
        t["log_w"] = t["log_px_z"] + t["log_pz"] - t["log_qz"]
        return t


def _noise(rng: np.random.Generator, shape) -> tf.Tensor:
    return tf.constant(rng.standard_normal(shape).astype("float32"))


def elbo_terms(model, images: np.ndarray, seed: int = 0, batch_size: int = 500) -> dict:
    """Per-image ELBO pieces with one sampled z per image (not z_mean), in nats.

    Returns:
        dict of (N,) arrays: `reconstruction` = -log p(x|z), z ~ q(z|x); `kl` = KL(q(z|x) || p(z)),
        in closed form when the prior is N(0, I), else the one-sample estimate log q(z|x) - log p(z);
        `log_w` = the single-sample log-weight (an unbiased ELBO estimate with a sampled KL); plus
        (N, D) `z_mean`, `z_log_var` of the latent the decoder reads.
    """
    scorer, rng = _Scorer(model), np.random.default_rng(seed)
    out: dict[str, list] = {k: [] for k in ("reconstruction", "kl", "log_w", "z_mean", "z_log_var")}
    for i in range(0, len(images), batch_size):
        x = tf.constant(images[i : i + batch_size], tf.float32)  # (B, H, W, C)
        t = scorer.terms(x, _noise(rng, (x.shape[0], 1, model.noise_dim)))  # (B, 1) each
        if model.standard_normal_prior:
            kl = gaussian_kl(t["z_mean"], t["z_log_var"]).numpy()
        else:
            kl = (t["log_qz"] - t["log_pz"]).numpy()[:, 0]
        out["reconstruction"].append(-t["log_px_z"].numpy()[:, 0])
        out["kl"].append(kl)
        out["log_w"].append(t["log_w"].numpy()[:, 0])
        out["z_mean"].append(t["z_mean"].numpy())
        out["z_log_var"].append(t["z_log_var"].numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def iwae_bound(model, images: np.ndarray, k: int = 1000, seed: int = 0, image_chunk: int = 50,
               sample_chunk: int = 200, verbose: bool = False) -> np.ndarray:
    """L_k per image (nats, (N,)): log of the mean of k importance weights, computed with logsumexp.

    At most `image_chunk * sample_chunk` decoder evaluations are in memory at once, and the k log-weights
    are reduced as they come (a running logsumexp in float64), so memory is O(image_chunk * sample_chunk
    * H * W * C) whatever k. With `verbose`, a long run prints its estimated time after the first chunk and
    a progress line with ETA about every minute on stderr.
    """
    if k < 1:
        raise ValueError(f"k: expected at least 1 importance sample, received {k}")
    scorer, rng = _Scorer(model), np.random.default_rng(seed)
    bounds, t0, shown = [], time.perf_counter(), 0.0
    for i in range(0, len(images), image_chunk):
        x = tf.constant(images[i : i + image_chunk], tf.float32)  # (B, H, W, C)
        total = np.full(x.shape[0], -np.inf)  # (B,) log sum_i w_i so far
        for j in range(0, k, sample_chunk):
            s = min(sample_chunk, k - j)
            log_w = scorer.terms(x, _noise(rng, (x.shape[0], s, model.noise_dim)))["log_w"]  # (B, S)
            total = np.logaddexp(total, tf.reduce_logsumexp(log_w, axis=1).numpy().astype("float64"))
        bounds.append(total - math.log(k))
        done, elapsed = i + x.shape[0], time.perf_counter() - t0
        if verbose and done < len(images) and (i == 0 or elapsed - shown > 60):
            eta = elapsed / done * (len(images) - done)
            if i == 0 and eta > 30:
                print(f"IWAE bound: k = {k} on {len(images)} images ({k * len(images):.3g} decoder passes), "
                      f"estimated {human_seconds(elapsed + eta)} at the measured rate", file=sys.stderr, flush=True)
            elif i > 0:
                print(f"  IWAE bound: {done}/{len(images)} images, ETA {human_seconds(eta)}", file=sys.stderr,
                      flush=True)
            shown = elapsed
    return np.concatenate(bounds)
