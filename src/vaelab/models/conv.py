"""Convolutional trunks: Conv2D stack (`feature_map`) -> Flatten; Dense -> Reshape -> the mirrored
Conv2DTranspose stack (`upsample`). Families with a spatial latent (vqvae) use the two stacks directly."""

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


def feature_map(cfg: ModelConfig, x):
    """The Conv2D stack without Flatten: (B, H, W, C) -> (B, h, w, f_last), h = ceil(H / prod(strides))."""
    h = x
    for f, k, s in _check(cfg):
        h = _block(h, layers.Conv2D(f, k, strides=s, padding="same"), cfg)
    return h


def upsample(cfg: ModelConfig, h, image_shape, logits_dtype: str | None = None):
    """The mirrored Conv2DTranspose stack from a map (B, h0, w0, F) to logits (B, H, W, C), cropped to the image
    where the strides overshoot (28 px with three stride-2 layers decodes to 32 px)."""
    height, width, channels = image_shape
    for f, k, s in reversed(_check(cfg)):
        h = _block(h, layers.Conv2DTranspose(f, k, strides=s, padding="same"), cfg)
    h = layers.Conv2DTranspose(channels, 3, padding="same", name="logits", dtype=logits_dtype)(h)
    extra_h, extra_w = int(h.shape[1]) - height, int(h.shape[2]) - width
    if extra_h or extra_w:
        h = layers.Cropping2D(((extra_h // 2, extra_h - extra_h // 2), (extra_w // 2, extra_w - extra_w // 2)))(h)
    return h  # (B, H, W, C)


@ARCHITECTURES.register("conv")
class Conv:
    check = staticmethod(_check)  # called when a config is loaded

    @staticmethod
    def encoder_trunk(cfg: ModelConfig, x):
        return layers.Flatten()(feature_map(cfg, x))  # (B, h*w*f_last)

    @staticmethod
    def decoder_trunk(cfg: ModelConfig, z, image_shape):
        spec = _check(cfg)
        total_stride = math.prod(s for _, _, s in spec)
        h0, w0 = math.ceil(image_shape[0] / total_stride), math.ceil(image_shape[1] / total_stride)
        h = layers.Dense(h0 * w0 * spec[-1][0])(z)
        h = activation(cfg.activation)(h)
        h = layers.Reshape((h0, w0, spec[-1][0]))(h)  # (B, h0, w0, f_last)
        return upsample(cfg, h, image_shape)  # (B, H, W, C)
