"""The one training step of the families that write their loss out: a GradientTape over `terms(x, training)`.

A model mixing in `TermsStep` defines `terms(x, training) -> {"loss": scalar objective, name: (B,) per-image
term, ...}` and lists its Mean trackers in `metrics` (or `term_trackers`, when it has other metrics), the loss
first (weighted by the batch size), each other named after a term; `train_step`, `test_step`, `objective` and
`compile_for_training` come from here. Under
`tf.distribute` the per-replica loss is divided by the number of replicas, because gradients are summed across
replicas; `optimizer.scale_loss` applies loss scaling under mixed_float16.
"""

from __future__ import annotations

import tensorflow as tf
from keras import ops


class TermsStep:
    def compile_for_training(self, optimizer, jit_compile=False):
        self.compile(optimizer=optimizer, jit_compile=jit_compile)

    def terms(self, x, training) -> dict:
        raise NotImplementedError

    def with_regularizers(self, loss):
        if self.losses:  # e.g. kernel regularizers
            loss = loss + ops.sum(self.losses)
        return loss

    def objective(self, x, training=True):
        return self.terms(x, training)["loss"]

    @property
    def term_trackers(self) -> list:
        """The Mean trackers of the terms, the loss first (default: every metric)."""
        return self.metrics

    def _track(self, t: dict) -> dict:
        """Updates the trackers from a batch's terms; returns the logs (every metric)."""
        loss_tracker, *others = self.term_trackers
        loss_tracker.update_state(t["loss"], sample_weight=ops.shape(t["reconstruction_loss"])[0])
        for tracker in others:
            tracker.update_state(t[tracker.name])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        trainable = self.optimized_variables
        with tf.GradientTape() as tape:
            t = self.terms(x, training=True)
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = self.optimizer.scale_loss(t["loss"] / replicas)
        grads = tape.gradient(scaled, trainable)
        self.optimizer.apply_gradients(zip(grads, trainable, strict=True))
        self.after_step(x, t)
        return self.distributable_logs(self._track(t))

    def after_step(self, x, t: dict) -> None:
        """A second update after the model's (FactorVAE's discriminator); `t` holds the step's terms."""

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        return self.distributable_logs(self._track(self.terms(x, training=False)))
