"""Capacity-annealed VAE (Burgess et al. 2018, "Understanding disentangling in beta-VAE").

The KL is pulled towards a target capacity C that grows linearly from 0 to `capacity_max` nats over
`capacity_steps` training steps, with weight gamma:

    loss = -log p(x|z) + gamma * | KL(q(z|x) || N(0, I)) - C(step) |,   C(step) = C_max * min(1, step / steps)

Early on the code may carry little information; as C grows, factors enter the code one at a time, the most
reconstruction-relevant first. The defaults are disentanglement_lib's (gamma 1000, C_max 25, 100,000 steps).
C follows the optimizer's step count, so a resumed run continues the schedule exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from vaelab.config import bounded
from vaelab.losses import gaussian_kl
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.strategies.train_step import TrainStepVAE


@dataclass
class AnnealedSettings:
    capacity_max: float = bounded(25.0, ge=0.0)  # loss.capacity_max: the final target KL C_max (nats per image)
    capacity_steps: int = bounded(100_000, ge=1)  # loss.capacity_steps: training steps over which C grows
    capacity_gamma: float = bounded(1000.0, ge=0.0)  # loss.capacity_gamma: weight of |KL - C|


@MODEL_KINDS.register("annealed_vae")
@keras.saving.register_keras_serializable(package="vaelab")
class AnnealedVAE(TrainStepVAE):
    kind = "annealed_vae"
    settings = {"loss": AnnealedSettings}
    strategies = ("train_step",)
    uses_beta = False  # the KL is held at the capacity instead
    per_image_loss = False  # |mean KL - C| over the batch
    extra_terms = ("capacity",)
    history_terms = (*TrainStepVAE.history_terms, *extra_terms)
    tiny_settings = {"loss.capacity_steps": 10, "loss.capacity_max": 5.0, "loss.capacity_gamma": 10.0}
    reference_settings = {"loss.capacity_steps": 2000}  # the schedule over a short comparison run

    def __init__(self, *args, capacity_max: float = 25.0, capacity_steps: int = 100_000,
                 capacity_gamma: float = 1000.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.capacity_max, self.capacity_steps = float(capacity_max), int(capacity_steps)
        self.capacity_gamma = float(capacity_gamma)

    @classmethod
    def from_run_config(cls, cfg, image_shape, n_train=None, **kwargs):
        return super().from_run_config(cfg, image_shape, capacity_max=cfg.loss.capacity_max,
                                       capacity_steps=cfg.loss.capacity_steps,
                                       capacity_gamma=cfg.loss.capacity_gamma, **kwargs)

    def get_config(self):
        return {**super().get_config(), "capacity_max": self.capacity_max, "capacity_steps": self.capacity_steps,
                "capacity_gamma": self.capacity_gamma}

    def capacity(self):
        """C at the optimizer's current step (C_max before any training: evaluation scores the final target)."""
        if self.optimizer is None:
            return ops.convert_to_tensor(self.capacity_max)
        step = ops.cast(self.optimizer.iterations, "float32")
        return self.capacity_max * ops.minimum(1.0, step / float(self.capacity_steps))

    def terms(self, x, training) -> dict:
        z_mean, z_log_var, z = self.encode_sample(x, training=training)  # (B, D) each
        rec = self.p_x.nll(x, self.decoder_logits(z, training=training))  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        c = self.capacity()
        loss = ops.mean(rec) + self.capacity_gamma * ops.abs(ops.mean(kl) - c)
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl,
                "capacity": c * ops.ones_like(kl)}
