"""Strategy 3 (seed part VII): model-level `add_loss`, called inside the subclassed model's `call`.

Why not the Keras-2 recipe `vae.add_loss(kl_tensor)` on a functional model built from symbolic
tensors? In Keras 3 a functional model's `add_loss` raises `NotImplementedError`: symbolic
(KerasTensor) losses are gone, because a KerasTensor only describes shape and dtype and holds no
value to differentiate. `add_loss` must be called with a real tensor during `call`, which is what
this class does. See docs/kl-loss.md (tests/test_broken_recipes.py keeps that page true).
"""

from __future__ import annotations

import keras
from keras import ops

from vaelab.losses import gaussian_kl
from vaelab.models.autoencoder import VAE
from vaelab.models.strategies.registry import STRATEGIES


@STRATEGIES.register("model_add_loss")
@keras.saving.register_keras_serializable(package="vaelab")
class ModelAddLossVAE(VAE):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def call(self, x, training=None):
        z_mean, z_log_var, z = self.encode_sample(x, training=training)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        self.add_loss(self.beta * ops.mean(kl))
        self.kl_tracker.update_state(kl)
        return self.decoder_logits(z, training=training)  # (B, H, W, C)
