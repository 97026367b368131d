"""MLP trunks (fastest; good for 2-D latent demos and tests)."""

from __future__ import annotations

import math

from keras import layers

from vaelab.config import ModelConfig
from vaelab.models.heads import ARCHITECTURES, activation


@ARCHITECTURES.register("dense")
class Dense:
    @staticmethod
    def check(cfg: ModelConfig) -> None:  # called when a config is loaded
        if not cfg.hidden_units:
            raise ValueError("model.hidden_units: expected at least one layer, received []")

    @staticmethod
    def encoder_trunk(cfg: ModelConfig, x):
        h = layers.Flatten()(x)  # (B, H*W*C)
        for units in cfg.hidden_units:
            h = activation(cfg.activation)(layers.Dense(units)(h))
            if cfg.dropout:
                h = layers.Dropout(cfg.dropout)(h)
        return h

    @staticmethod
    def decoder_trunk(cfg: ModelConfig, z, image_shape):
        h = z  # (B, D)
        for units in reversed(cfg.hidden_units):
            h = activation(cfg.activation)(layers.Dense(units)(h))
        h = layers.Dense(math.prod(image_shape), name="logits")(h)
        return layers.Reshape(tuple(image_shape))(h)  # (B, H, W, C)
