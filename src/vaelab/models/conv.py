"""Convolutional trunks: Conv2D stack -> Flatten; Dense -> Reshape -> mirrored Conv2DTranspose stack."""

from __future__ import annotations

import math

from keras import layers

from vaelab.config import ModelConfig
from vaelab.models.heads import ARCHITECTURES, activation


def _check(cfg: ModelConfig) -> list[tuple[int, int, int]]:
    n = len(cfg.filters)
    if n == 0:
        raise ValueError("model.filters: expected at least one conv layer, received []")
    for key in ("kernel_sizes", "strides"):
        if len(getattr(cfg, key)) != n:
            raise ValueError(
                f"model.{key}: expected {n} entries (one per model.filters entry), "
                f"received {getattr(cfg, key)}"
            )
    return list(zip(cfg.filters, cfg.kernel_sizes, cfg.strides, strict=True))


def _block(h, conv, cfg: ModelConfig):
    h = conv(h)
    if cfg.batch_norm:
        h = layers.BatchNormalization()(h)
    h = activation(cfg.activation)(h)
    if cfg.dropout:
        h = layers.Dropout(cfg.dropout)(h)
    return h


@ARCHITECTURES.register("conv")
class Conv:
    check = staticmethod(_check)  # called when a config is loaded

    @staticmethod
    def encoder_trunk(cfg: ModelConfig, x):
        h = x  # (B, H, W, C)
        for f, k, s in _check(cfg):
            h = _block(h, layers.Conv2D(f, k, strides=s, padding="same"), cfg)
        return layers.Flatten()(h)  # (B, h*w*f_last)

    @staticmethod
    def decoder_trunk(cfg: ModelConfig, z, image_shape):
        spec = _check(cfg)
        height, width, channels = image_shape
        total_stride = math.prod(s for _, _, s in spec)
        h0, w0 = math.ceil(height / total_stride), math.ceil(width / total_stride)
        h = layers.Dense(h0 * w0 * spec[-1][0])(z)
        h = activation(cfg.activation)(h)
        h = layers.Reshape((h0, w0, spec[-1][0]))(h)  # (B, h0, w0, f_last)
        for f, k, s in reversed(spec):
            h = _block(h, layers.Conv2DTranspose(f, k, strides=s, padding="same"), cfg)
        h = layers.Conv2DTranspose(channels, 3, padding="same", name="logits")(h)  # (B, h0*S, w0*S, C)
        extra_h, extra_w = h0 * total_stride - height, w0 * total_stride - width
        if extra_h or extra_w:  # e.g. 28 px with three stride-2 layers decodes to 32 px
            h = layers.Cropping2D(((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2)))(h)
        return h  # (B, H, W, C)
