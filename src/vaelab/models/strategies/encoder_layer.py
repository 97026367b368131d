"""Strategy 1 (seed part V): a layer inside the encoder adds the KL term with `add_loss`."""

from __future__ import annotations

import keras

from vaelab.layers import KLDivergenceLayer
from vaelab.models.autoencoder import VAE
from vaelab.models.heads import build_encoder
from vaelab.models.strategies.registry import STRATEGIES


@STRATEGIES.register("encoder_layer")
@keras.saving.register_keras_serializable(package="vaelab")
class EncoderLayerVAE(VAE):
    """encoder = trunk -> heads -> KLDivergenceLayer; the compiled loss is the reconstruction only.

    Keras adds every `add_loss` term of nested layers (`Model.losses`) to the compiled loss, so the
    total is reconstruction + beta * KL. `kl_loss` is logged by the layer's own tracker.
    """

    def build_encoder(self) -> keras.Model:
        trunk = build_encoder(self.cfg, self.image_shape, name="encoder_trunk", variational=True)
        self.kl_layer = KLDivergenceLayer(self.initial_beta, name="kl_divergence", dtype="float32")
        x = keras.Input(shape=self.image_shape, name="image")
        z_mean, z_log_var = self.kl_layer(trunk(x))
        return keras.Model(x, [z_mean, z_log_var], name="encoder")

    @property
    def beta(self):
        return self.kl_layer.beta

    def call(self, x, training=None):
        _, _, z = self.encode_sample(x, training=training)
        return self.decoder_logits(z, training=training)  # (B, H, W, C)
