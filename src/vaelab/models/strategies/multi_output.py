"""Strategy 2 (seed part VI): z_mean/z_log_var routed to a model output with its own compiled loss.

The model returns {"reconstruction": logits, "kl": [z_mean, z_log_var]} and is compiled with one
Keras loss per output; `beta` enters as the KL output's loss weight (a variable, so schedules
reach the compiled graph). The KL target is a dummy: `targets` supplies zeros of the right shape.
"""

from __future__ import annotations

import keras
from keras import ops

from vaelab.losses import GaussianKLLoss, ReconstructionLoss
from vaelab.models.autoencoder import VAE
from vaelab.models.strategies.registry import STRATEGIES


@STRATEGIES.register("multi_output")
@keras.saving.register_keras_serializable(package="vaelab")
class MultiOutputVAE(VAE):
    def call(self, x, training=None):
        z_mean, z_log_var, z = self.encode_sample(x, training=training)
        logits = self.decoder_logits(z, training=training)  # (B, H, W, C)
        return {"reconstruction": logits, "kl": ops.concatenate([z_mean, z_log_var], axis=-1)}  # kl: (B, 2D)

    def targets(self, x):
        dummy = ops.zeros((ops.shape(x)[0], 2 * self.latent_dim), dtype=x.dtype)
        return {"reconstruction": x, "kl": dummy}

    def compile_for_training(self, optimizer, jit_compile=False):
        self.compile(
            optimizer=optimizer,
            loss={"reconstruction": ReconstructionLoss(self.likelihood), "kl": GaussianKLLoss()},
            loss_weights={"reconstruction": 1.0, "kl": self.beta},
            jit_compile=jit_compile,
        )
