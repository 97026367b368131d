"""beta-TCVAE (Chen, Li, Grosse & Duvenaud 2018): the KL split into three terms, each with its own weight.

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                          index-code mutual information (MI)
                           + KL(q(z) || prod_j q(z_j))          total correlation (TC)
                           + sum_j KL(q(z_j) || p(z_j))         dimension-wise KL

    loss = reconstruction + alpha * MI + beta * TC + gamma * dim-wise KL

(`loss.tc_alpha`, `loss.beta`, `loss.tc_gamma`; beta is the scheduled `model.beta`). The aggregate
posterior q(z) and its marginals are estimated on the batch by minibatch-weighted sampling (MWS,
Chen et al. Eq. 6): for a batch of M images from a training set of N,

    log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log(N M)

with z_i one sample of q(z|x_i) (and the same for each marginal q(z_id)). `fit` passes N; without it
the batch stands for the data set: log q(z_i) ~= logsumexp_j log q(z_i | x_j) - log M. The three
terms telescope: per image they sum to log q(z_i|x_i) - log p(z_i), the one-sample KL estimate,
whatever N and M are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import ops

from vaelab.config import RunConfig, bounded
from vaelab.losses import log_standard_normal
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.strategies.train_step import TrainStepVAE


def log_density_matrix(z, z_mean, z_log_var):
    """log q(z_i,d | x_j) for every pair: (M, M, D) from z, z_mean, z_log_var (M, D)."""
    zi, mj, lvj = z[:, None, :], z_mean[None, :, :], z_log_var[None, :, :]
    return -0.5 * (math.log(2.0 * math.pi) + lvj + ops.square(zi - mj) * ops.exp(-lvj))


def tc_decomposition(z, z_mean, z_log_var, dataset_size: float | None = None) -> dict:
    """The MWS estimates per image (M,): "mutual_info", "total_correlation", "dimwise_kl".

    `dataset_size` N: the training-set size; None treats the batch as the data set (log M instead of log NM).
    """
    m = ops.cast(ops.shape(z)[0], z.dtype)
    log_nm = ops.log(m) if dataset_size is None else ops.log(m * float(dataset_size))
    mat = log_density_matrix(z, z_mean, z_log_var)  # (M, M, D)
    log_qz_x = ops.sum(ops.diagonal(mat, axis1=0, axis2=1), axis=0)  # (M,) log q(z_i | x_i)
    log_qz = ops.logsumexp(ops.sum(mat, axis=2), axis=1) - log_nm  # (M,)
    log_prod_qzj = ops.sum(ops.logsumexp(mat, axis=1) - log_nm, axis=1)  # (M,)
    log_pz = log_standard_normal(z)  # (M,)
    return {
        "mutual_info": log_qz_x - log_qz,
        "total_correlation": log_qz - log_prod_qzj,
        "dimwise_kl": log_prod_qzj - log_pz,
    }


@dataclass
class TCVAESettings:
    tc_alpha: float = bounded(1.0, ge=0.0)  # loss.tc_alpha: weight of the index-code MI (beta weights the TC)
    tc_gamma: float = bounded(1.0, ge=0.0)  # loss.tc_gamma: weight of the dimension-wise KL


@MODEL_KINDS.register("tcvae")
@keras.saving.register_keras_serializable(package="vaelab")
class TCVAE(TrainStepVAE):
    kind = "tcvae"
    settings = {"loss": TCVAESettings}
    reference_settings = {"loss.beta": 6.0}  # mnist_tcvae: the total correlation weighted by 6
    strategies = ("train_step",)  # the terms need the whole batch's posteriors: no per-image KL loss
    per_image_loss = False  # the minibatch-weighted estimate of q(z) depends on the batch size
    extra_terms = ("mutual_info", "total_correlation", "dimwise_kl")
    history_terms = (*TrainStepVAE.history_terms, *extra_terms)

    def __init__(self, *args, alpha: float = 1.0, gamma: float = 1.0, dataset_size: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.alpha, self.gamma = float(alpha), float(gamma)
        if dataset_size is not None and dataset_size < 1:
            raise ValueError(f"dataset_size: expected a positive training-set size, received {dataset_size}")
        self.dataset_size = dataset_size

    @classmethod
    def from_run_config(cls, cfg: RunConfig, image_shape, n_train: int | None = None, **kwargs):
        return super().from_run_config(cfg, image_shape, alpha=cfg.loss.tc_alpha, gamma=cfg.loss.tc_gamma,
                                       dataset_size=n_train, **kwargs)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma, "dataset_size": self.dataset_size}

    def terms(self, x, training) -> dict:
        z_mean, z_log_var, z = self.encode_sample(x, training=training)  # (B, D) each
        logits = self.decoder_logits(z, training=training)  # (B, H, W, C)
        rec = self.p_x.nll(x, logits)  # (B,)
        t = tc_decomposition(z, z_mean, z_log_var, self.dataset_size)  # (B,) each
        weighted = self.alpha * t["mutual_info"] + self.beta * t["total_correlation"] + self.gamma * t["dimwise_kl"]
        loss = ops.mean(rec) + ops.mean(weighted)
        kl = t["mutual_info"] + t["total_correlation"] + t["dimwise_kl"]  # = log q(z|x) - log p(z)
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl, **t}
