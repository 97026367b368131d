"""FactorVAE (Kim & Mnih 2018): the VAE plus gamma x the total correlation of q(z), estimated by a
discriminator that tells codes z ~ q(z) from codes whose dimensions were shuffled independently across the
batch (samples of prod_j q(z_j)):

    loss = -log p(x|z) + beta KL(q(z|x) || N(0, I)) + gamma * TC,   TC ~= E[log D(z) / (1 - D(z))]

The discriminator (an MLP, 6 x 1000 LeakyReLU units in the paper and disentanglement_lib) trains after each
step of the model (`after_step`) with its own Adam (lr 1e-4, betas 0.5 / 0.9), on the same batch's codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import tensorflow as tf
from keras import layers, ops

from vaelab.config import bounded
from vaelab.losses import gaussian_kl
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.strategies.train_step import TrainStepVAE
from vaelab.optimizers import FusedAdam


@dataclass
class FactorModelSettings:
    discriminator_units: list[int] = field(default_factory=lambda: [1000] * 6, metadata={"ge": 1})  # model.*


@dataclass
class FactorLossSettings:
    factor_gamma: float = bounded(10.0, ge=0.0)  # loss.factor_gamma: weight of the total correlation
    discriminator_lr: float = bounded(1e-4, gt=0.0)  # loss.discriminator_lr: the discriminator's Adam


def permute_dims(z, seed_generator):
    """Each column of z (B, D) shuffled independently across the batch: a sample of prod_j q(z_j)."""
    keys = keras.random.uniform(ops.shape(z), seed=seed_generator)  # (B, D)
    return ops.take_along_axis(z, ops.argsort(keys, axis=0), axis=0)


def build_discriminator(latent_dim: int, units: list[int]) -> keras.Model:
    """z (B, D) -> logits (B, 2): [from q(z), from prod_j q(z_j)]; float32 under any policy."""
    z = keras.Input(shape=(latent_dim,), name="z")
    h = z
    for i, n in enumerate(units):
        h = layers.LeakyReLU(0.2, dtype="float32")(layers.Dense(n, name=f"d{i}", dtype="float32")(h))
    return keras.Model(z, layers.Dense(2, name="d_logits", dtype="float32")(h), name="discriminator")


@MODEL_KINDS.register("factorvae")
@keras.saving.register_keras_serializable(package="vaelab")
class FactorVAE(TrainStepVAE):
    kind = "factorvae"
    settings = {"model": FactorModelSettings, "loss": FactorLossSettings}
    strategies = ("train_step",)
    per_image_loss = False  # the permuted codes come from the whole batch
    extra_terms = ("total_correlation",)
    history_terms = (*TrainStepVAE.history_terms, *extra_terms, "discriminator_loss")
    tiny_settings = {"model.discriminator_units": [16, 16]}
    reference_settings = {"loss.factor_gamma": 10.0}

    def __init__(self, *args, gamma: float = 10.0, discriminator_lr: float = 1e-4, **kwargs):
        super().__init__(*args, **kwargs)
        self.gamma, self.discriminator_lr = float(gamma), float(discriminator_lr)
        self.discriminator = build_discriminator(self.latent_dim, self.cfg.discriminator_units)
        self.discriminator_optimizer = FusedAdam(self.discriminator_lr, beta_1=0.5, beta_2=0.9)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)  # restorable before a step
        self.discriminator_tracker = keras.metrics.Mean(name="discriminator_loss")

    @classmethod
    def from_run_config(cls, cfg, image_shape, n_train=None, **kwargs):
        return super().from_run_config(cfg, image_shape, gamma=cfg.loss.factor_gamma,
                                       discriminator_lr=cfg.loss.discriminator_lr, **kwargs)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "discriminator_lr": self.discriminator_lr}

    @property
    def metrics(self):
        return [*super().metrics, self.discriminator_tracker]

    @property
    def term_trackers(self):
        return super().metrics

    @property
    def optimized_variables(self) -> list:
        """The VAE's variables: the discriminator has its own optimizer."""
        disc = self.discriminator.trainable_variables
        return [w for w in self.trainable_variables if not any(w is d for d in disc)]

    def terms(self, x, training) -> dict:
        z_mean, z_log_var, z = self.encode_sample(x, training=training)  # (B, D) each
        rec = self.p_x.nll(x, self.decoder_logits(z, training=training))  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        logits = self.discriminator(z, training=False)  # (B, 2)
        tc = logits[:, 0] - logits[:, 1]  # (B,) log D(z) / (1 - D(z))
        loss = ops.mean(rec) + self.beta * ops.mean(kl) + self.gamma * ops.mean(tc)
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl,
                "total_correlation": tc, "z": z}

    def after_step(self, x, t: dict) -> None:
        z = ops.stop_gradient(t["z"])  # (B, D)
        shuffled = permute_dims(z, self.sampling.seed_generator)
        labels = ops.concatenate([ops.zeros_like(z[:, 0]), ops.ones_like(z[:, 0])])  # 0: q(z), 1: prod q(z_j)
        weights = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.discriminator(ops.concatenate([z, shuffled], axis=0), training=True)  # (2B, 2)
            loss = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        self.discriminator_optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        self.discriminator_tracker.update_state(loss)
