"""Strategy 4 (seed part VIII): a custom `train_step` with `GradientTape` and `Mean` trackers.

This is the keras-io VAE example's design. The loss is written out explicitly, so it is the
easiest strategy to extend (extra terms, other divergences): the VAE families in `vaelab.models`
(IWAE, beta-TCVAE, hierarchical, VampPrior) build on it and override only `terms`. Under
`tf.distribute` the per-replica loss is divided by the number of replicas, because gradients are
summed across replicas.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from vaelab.losses import gaussian_kl
from vaelab.models.autoencoder import VAE
from vaelab.strategies.registry import STRATEGIES


@STRATEGIES.register("train_step")
@keras.saving.register_keras_serializable(package="vaelab")
class TrainStepVAE(VAE):
    extra_terms: tuple[str, ...] = ()  # further per-image terms a family logs each epoch (history.csv)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.extra_trackers = [keras.metrics.Mean(name=name) for name in self.extra_terms]

    @property
    def metrics(self):
        # Listed here so Keras resets them at the start of each epoch.
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, *self.extra_trackers]

    def call(self, x, training=None):
        _, _, z = self.encode_sample(x, training=training)
        return self.decoder_logits(z, training=training)

    def compile_for_training(self, optimizer, jit_compile=False):
        self.compile(optimizer=optimizer, jit_compile=jit_compile)

    def terms(self, x, training) -> dict:
        """{"loss": scalar objective, "reconstruction_loss": (B,), "kl_loss": (B,), and each of `extra_terms`: (B,)}.

        The beta-ELBO with the closed-form Gaussian KL; families override this and nothing else.
        """
        z_mean, z_log_var, z = self.encode_sample(x, training=training)
        logits = self.decoder_logits(z, training=training)  # (B, H, W, C)
        rec = self.p_x.nll(x, logits)  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        loss = ops.mean(rec) + self.beta * ops.mean(kl)
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl}

    def with_regularizers(self, loss):
        if self.losses:  # e.g. kernel regularizers
            loss = loss + ops.sum(self.losses)
        return loss

    def objective(self, x, training=True):
        return self.terms(x, training)["loss"]

    def _track(self, t: dict):
        batch = ops.shape(t["reconstruction_loss"])[0]
        self.loss_tracker.update_state(t["loss"], sample_weight=batch)
        for tracker in self.metrics[1:]:
            tracker.update_state(t[tracker.name])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            t = self.terms(x, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(t["loss"] / replicas)  # loss scaling under mixed_float16
        grads = tape.gradient(scaled, self.optimized_variables)
        self.optimizer.apply_gradients(zip(grads, self.optimized_variables, strict=True))
        return self.distributable_logs(self._track(t))

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self.distributable_logs(self._track(self.terms(x, training=False)))
