"""Strategy 4 (seed part VIII): a custom `train_step` with `GradientTape` and `Mean` trackers.

This is the keras-io VAE example's design. The loss is written out explicitly, so it is the
easiest strategy to extend (extra terms, other divergences). Under `tf.distribute` the per-replica
loss is divided by the number of replicas, because gradients are summed across replicas.
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
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        # Listed here so Keras resets them at the start of each epoch.
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x, training=None):
        _, _, z = self.encode_sample(x, training=training)
        return self.decoder_logits(z, training=training)

    def compile_for_training(self, optimizer, jit_compile=False):
        self.compile(optimizer=optimizer, jit_compile=jit_compile)

    def _elbo_terms(self, x, training):
        z_mean, z_log_var, z = self.encode_sample(x, training=training)
        logits = self.decoder_logits(z, training=training)  # (B, H, W, C)
        rec = self.p_x.nll(x, logits)  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        loss = ops.mean(rec) + self.beta * ops.mean(kl)
        if self.losses:  # e.g. kernel regularizers
            loss = loss + ops.sum(self.losses)
        return loss, rec, kl

    def objective(self, x, training=True):
        return self._elbo_terms(x, training)[0]

    def _track(self, loss, rec, kl):
        self.loss_tracker.update_state(loss, sample_weight=ops.shape(rec)[0])
        self.reconstruction_tracker.update_state(rec)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        with tf.GradientTape() as tape:
            loss, rec, kl = self._elbo_terms(x, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss / replicas)  # loss scaling under mixed_float16
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self.distributable_logs(self._track(loss, rec, kl))

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self.distributable_logs(self._track(*self._elbo_terms(x, training=False)))
