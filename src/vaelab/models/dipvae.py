"""DIP-VAE (Kumar, Sattigeri & Balakrishnan 2018): the VAE plus a penalty that moves the covariance of the
aggregate posterior q(z) towards the identity (a factorised code).

    loss = -log p(x|z) + beta KL + lambda_od sum_{i != j} Cov[i, j]^2 + lambda_d sum_i (Cov[i, i] - 1)^2

with Cov estimated on the batch: DIP-VAE-I takes Cov_x[z_mean]; DIP-VAE-II adds E_x[diag(exp(z_log_var))]
(the covariance of z itself). `loss.dip_type` picks the variant; `loss.dip_lambda_d` defaults, as in
disentanglement_lib, to 10 x lambda_od for I and to lambda_od for II.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import keras
from keras import ops

from vaelab.config import bounded
from vaelab.losses import gaussian_kl
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.strategies.train_step import TrainStepVAE


@dataclass
class DIPSettings:
    dip_type: Literal["i", "ii"] = "i"  # loss.dip_type: DIP-VAE-I (Cov of z_mean) or -II (Cov of z)
    dip_lambda_od: float = bounded(10.0, ge=0.0)  # loss.dip_lambda_od: weight of the off-diagonal entries
    dip_lambda_d: float | None = bounded(None, ge=0.0)  # loss.dip_lambda_d: of the diagonal (None: the default)


def dip_regulariser(z_mean, z_log_var, dip_type: str, lambda_od: float, lambda_d: float):
    """The DIP penalty of a batch: () from z_mean, z_log_var (B, D)."""
    centred = z_mean - ops.mean(z_mean, axis=0, keepdims=True)  # (B, D)
    cov = ops.matmul(ops.transpose(centred), centred) / ops.cast(ops.shape(z_mean)[0], "float32")  # (D, D)
    if dip_type == "ii":
        cov = cov + ops.diag(ops.mean(ops.exp(z_log_var), axis=0))
    diag = ops.diagonal(cov)  # (D,)
    off = cov - ops.diag(diag)
    return lambda_od * ops.sum(ops.square(off)) + lambda_d * ops.sum(ops.square(diag - 1.0))


@MODEL_KINDS.register("dipvae")
@keras.saving.register_keras_serializable(package="vaelab")
class DIPVAE(TrainStepVAE):
    kind = "dipvae"
    settings = {"loss": DIPSettings}
    strategies = ("train_step",)
    per_image_loss = False  # the covariance is a batch statistic
    extra_terms = ("dip_regulariser",)
    history_terms = (*TrainStepVAE.history_terms, *extra_terms)

    def __init__(self, *args, dip_type: str = "i", lambda_od: float = 10.0, lambda_d: float | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        if dip_type not in ("i", "ii"):
            raise ValueError(f"loss.dip_type: expected one of ['i', 'ii'], received {dip_type!r}")
        self.dip_type, self.lambda_od = dip_type, float(lambda_od)
        self.lambda_d = float(lambda_d) if lambda_d is not None else self.lambda_od * (10.0 if dip_type == "i" else 1.0)

    @classmethod
    def from_run_config(cls, cfg, image_shape, n_train=None, **kwargs):
        return super().from_run_config(cfg, image_shape, dip_type=cfg.loss.dip_type, lambda_od=cfg.loss.dip_lambda_od,
                                       lambda_d=cfg.loss.dip_lambda_d, **kwargs)

    def get_config(self):
        return {**super().get_config(), "dip_type": self.dip_type, "lambda_od": self.lambda_od,
                "lambda_d": self.lambda_d}

    def terms(self, x, training) -> dict:
        z_mean, z_log_var, z = self.encode_sample(x, training=training)  # (B, D) each
        rec = self.p_x.nll(x, self.decoder_logits(z, training=training))  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        reg = dip_regulariser(z_mean, z_log_var, self.dip_type, self.lambda_od, self.lambda_d)  # ()
        loss = ops.mean(rec) + self.beta * ops.mean(kl) + reg
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl,
                "dip_regulariser": reg * ops.ones_like(kl)}
