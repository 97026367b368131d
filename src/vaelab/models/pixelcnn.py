"""A small PixelCNN (van den Oord et al. 2016) over a grid of discrete codes: the VQ-VAE's learned prior.

    p(c) = prod_{i,j} p(c_ij | codes above, and left of (i, j) in raster order)

Masked convolutions keep the autoregressive order: the first layer (mask "A") does not see the current
position, later ones (mask "B") do. Input: int codes (B, h, w) in [0, K); output: logits (B, h, w, K).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="vaelab")
class MaskedConv2D(layers.Layer):
    """A "same" 2-D convolution whose kernel sees only positions before the centre (A) or up to it (B)."""

    def __init__(self, filters: int, kernel_size: int, mask_type: str, **kwargs):
        super().__init__(**kwargs)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type: expected 'A' or 'B', received {mask_type!r}")
        self.filters, self.kernel_size, self.mask_type = int(filters), int(kernel_size), mask_type

    def build(self, input_shape):
        k, c = self.kernel_size, int(input_shape[-1])
        self.kernel = self.add_weight(shape=(k, k, c, self.filters), initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
        mask = np.ones((k, k, c, self.filters), "float32")
        centre = k // 2
        mask[centre, centre + (self.mask_type == "B"):] = 0.0  # the centre row: right of (or at) the centre
        mask[centre + 1:] = 0.0  # every row below
        self.mask = mask

    def call(self, x):
        # the masked kernel in the input's (compute) dtype: under mixed precision a float32 mask would promote
        # the product back to float32, which oneDNN's bf16 convolution refuses
        kernel = ops.cast(self.kernel, x.dtype) * ops.cast(self.mask, x.dtype)
        return ops.conv(x, kernel, padding="same") + ops.cast(self.bias, x.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "mask_type": self.mask_type}


def build_pixelcnn(grid: tuple[int, int], num_codes: int, filters: int = 64, layers_b: int = 3,
                   name: str = "pixelcnn") -> keras.Model:
    """int codes (B, h, w) -> logits (B, h, w, K) of p(c_ij | c_<ij)."""
    codes = keras.Input(shape=grid, dtype="int32", name="codes")
    h = layers.Lambda(lambda c: ops.one_hot(c, num_codes), output_shape=(*grid, num_codes), name="one_hot")(codes)
    h = layers.Activation("relu")(MaskedConv2D(filters, 5, "A", name="masked_a")(h))  # (B, h, w, F)
    for i in range(layers_b):
        h = layers.Add()([h, layers.Activation("relu")(MaskedConv2D(filters, 3, "B", name=f"masked_b{i}")(h))])
    logits = layers.Conv2D(num_codes, 1, name="code_logits", dtype="float32")(h)  # (B, h, w, K): 1x1 keeps the order
    return keras.Model(codes, logits, name=name)


def sample_codes(prior: keras.Model, n: int, grid: tuple[int, int], seed: int | None = None,
                 temperature: float = 1.0, batch_size: int = 512) -> np.ndarray:
    """n code grids (n, h, w) int32 drawn position by position in raster order (h*w forward passes per batch of
    `batch_size` grids: the network never runs on all n at once). The uniforms are drawn first, position by
    position, so the codes do not depend on the batch size."""
    rng = np.random.default_rng(seed)
    u = rng.random((grid[0] * grid[1], n))  # (positions, n): the draws of each position, in raster order
    codes = np.zeros((n, *grid), "int32")
    for b in range(0, n, batch_size):
        c = codes[b : b + batch_size]  # (B, h, w) view, filled in place
        for pos in range(grid[0] * grid[1]):
            i, j = divmod(pos, grid[1])
            logits = ops.convert_to_numpy(prior(c, training=False))[:, i, j].astype("float64") / temperature
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)  # (B, K)
            c[:, i, j] = (u[pos, b : b + batch_size, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, p.shape[1] - 1)
    return codes
