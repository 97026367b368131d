"""A VAE with two stochastic layers (Burda et al. 2016, section 5; Rezende et al. 2014): x <-> z1 <-> z2.

    generative:  z2 ~ N(0, I),  z1 ~ p(z1|z2) = N(mu(z2), sigma(z2)^2),  x ~ p(x|z1)
    inference:   z1 ~ q(z1|x),  z2 ~ q(z2|z1)

    log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1)

Trained on the importance-weighted bound with `model.iw_samples` = k (k = 1: the ELBO, with sampled
KL terms). `latent_dim` is z1 (what `encode`/`decode` and the latent plots use; `decoder` maps z1 to
images); `top_latent_dim` is z2; `top_hidden_units` are the MLP layers of q(z2|z1) and p(z1|z2).
`sample` draws ancestrally: z2 from the prior, z1 from p(z1|z2), then the decoder's mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers, ops

from vaelab.config import bounded
from vaelab.layers import ClipValues
from vaelab.losses import log_normal, log_standard_normal
from vaelab.models.heads import activation, float32_outputs
from vaelab.models.iwae import IWAE, IWAESettings
from vaelab.models.registry import MODEL_KINDS


def gaussian_mlp(cfg, n_in: int, n_out: int, name: str) -> keras.Model:
    """(B, n_in) -> [mean, log_var] (B, n_out) each, through `cfg.top_hidden_units` (heads in float32)."""
    z = keras.Input(shape=(n_in,), name=f"{name}_in")
    h = z
    for units in cfg.top_hidden_units:
        h = activation(cfg.activation)(layers.Dense(units)(h))
    mean = layers.Dense(n_out, name=f"{name}_mean", dtype="float32")(h)
    log_var = layers.Dense(n_out, name=f"{name}_log_var", dtype="float32")(h)
    if cfg.z_log_var_clip:
        log_var = ClipValues(cfg.z_log_var_clip, name=f"{name}_log_var_clip")(log_var)
    return keras.Model(z, float32_outputs([mean, log_var]), name=name)


@dataclass
class HVAESettings(IWAESettings):
    top_latent_dim: int = bounded(2, ge=1)  # model.top_latent_dim: size of z2 (z1: latent_dim)
    top_hidden_units: list[int] = field(default_factory=lambda: [64], metadata={"ge": 1})  # model.top_hidden_units

@MODEL_KINDS.register("hvae")
@keras.saving.register_keras_serializable(package="vaelab")
class HVAE(IWAE):
    kind = "hvae"
    settings = {"model": HVAESettings}
    tiny_settings = {"model.top_latent_dim": 2, "model.top_hidden_units": [8]}
    reference_settings = {"model.iw_samples": 2, "model.top_latent_dim": 8, "model.top_hidden_units": [128]}  # z2 = 8
    prior_label = "p(z2) = N(0, I), p(z1 | z2)"
    strategies = ("train_step",)  # the KL of z1 is against p(z1|z2), not N(0, I): no closed-form KL loss
    standard_normal_prior = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        d1, d2 = self.cfg.latent_dim, self.cfg.top_latent_dim
        self.encoder_top = gaussian_mlp(self.cfg, d1, d2, "q_z2")  # q(z2 | z1)
        self.prior_top = gaussian_mlp(self.cfg, d2, d1, "p_z1")  # p(z1 | z2)

    @property
    def noise_dim(self) -> int:
        return self.cfg.latent_dim + self.cfg.top_latent_dim

    def log_weight_terms(self, x, eps, training=False) -> dict:
        d1, d2 = self.cfg.latent_dim, self.cfg.top_latent_dim
        b, s = ops.shape(eps)[0], ops.shape(eps)[1]
        eps1, eps2 = ops.reshape(eps[..., :d1], (b * s, d1)), ops.reshape(eps[..., d1:], (b * s, d2))
        m1, lv1 = self.encoder(x, training=training)  # (B, d1) each
        m1_rep, lv1_rep = ops.repeat(m1, s, axis=0), ops.repeat(lv1, s, axis=0)  # (B*S, d1), image-major
        z1 = m1_rep + ops.exp(0.5 * lv1_rep) * eps1  # (B*S, d1)
        m2, lv2 = self.encoder_top(z1, training=training)  # (B*S, d2) each
        z2 = m2 + ops.exp(0.5 * lv2) * eps2
        pm1, plv1 = self.prior_top(z2, training=training)  # (B*S, d1) each
        logits = self.decoder_logits(z1, training=training)  # (B*S, H, W, C)
        log_px_z = self.p_x.log_prob(ops.repeat(x, s, axis=0), logits)  # (B*S,)
        log_pz = log_normal(z1, pm1, plv1) + log_standard_normal(z2)
        log_qz = log_normal(z1, m1_rep, lv1_rep) + log_normal(z2, m2, lv2)
        return {
            "log_px_z": ops.reshape(log_px_z, (b, s)),
            "log_pz": ops.reshape(log_pz, (b, s)),
            "log_qz": ops.reshape(log_qz, (b, s)),
            "z_mean": m1,
            "z_log_var": lv1,
        }

    def prior_draws(self, n: int, std: float = 1.0, seed: int | None = None) -> np.ndarray:
        """Ancestral draws z1 (n, d1): z2 ~ N(0, std^2 I), z1 ~ p(z1 | z2) (its noise scaled by std)."""
        rng = np.random.default_rng(seed)
        z2 = rng.standard_normal((n, self.cfg.top_latent_dim)).astype("float32") * std
        pm1, plv1 = self._batched(lambda b: self.prior_top(b, training=False), z2, 512)
        return pm1 + np.exp(0.5 * plv1) * rng.standard_normal(pm1.shape).astype("float32") * std
