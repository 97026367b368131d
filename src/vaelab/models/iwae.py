"""IWAE (Burda, Grosse & Salakhutdinov 2016): training on the k-sample importance-weighted bound.

    L_k = E[ log 1/k sum_i w_i ],  w_i = p(x|z_i) p(z_i)^beta / q(z_i|x)^beta,  z_i ~ q(z|x), i = 1..k

`model.iw_samples` is k. L_k >= L_1 = the ELBO, and it tightens as k grows; its gradient weights each
sample by its normalised importance weight. At k = 1 the model trains exactly as the plain VAE
(`train_step`): the same reconstruction and closed-form KL, the same noise, the same numbers.

The hierarchical and VampPrior families build on this class: they change `log_weight_terms` (which
densities make up w) and keep the bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import ops

from vaelab.config import bounded
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.strategies.train_step import TrainStepVAE


@dataclass
class IWAESettings:
    iw_samples: int = bounded(1, ge=1)  # model.iw_samples: importance samples k of the training bound (k = 1: ELBO)

@MODEL_KINDS.register("iwae")
@keras.saving.register_keras_serializable(package="vaelab")
class IWAE(TrainStepVAE):
    kind = "iwae"
    settings = {"model": IWAESettings}
    reference_settings = {"model.iw_samples": 5}  # mnist_iwae: the k = 5 bound
    strategies = ("train_step",)  # the bound mixes reconstruction and KL per sample: no separate KL loss

    @property
    def iw_samples(self) -> int:
        return self.cfg.iw_samples

    def terms(self, x, training) -> dict:
        k = self.iw_samples
        if k == 1 and self.standard_normal_prior:
            return super().terms(x, training)  # the plain VAE, closed-form KL: L_1 with less variance
        eps = self.sampling.noise((ops.shape(x)[0], k, self.noise_dim))  # (B, k, noise_dim)
        t = self.log_weight_terms(x, eps, training=training)  # (B, k) each
        kl = t["log_qz"] - t["log_pz"]  # (B, k): one-sample KL estimates
        log_w = t["log_px_z"] - self.beta * kl  # (B, k)
        bound = ops.logsumexp(log_w, axis=1) - math.log(k)  # (B,)
        return {
            "loss": self.with_regularizers(-ops.mean(bound)),
            "reconstruction_loss": -ops.mean(t["log_px_z"], axis=1),  # (B,), averaged over the k samples
            "kl_loss": ops.mean(kl, axis=1),
        }
