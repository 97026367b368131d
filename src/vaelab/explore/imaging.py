"""Decoded arrays -> PNG bytes (Pillow): single images, strips and grids."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [0, 1] (any shape) -> uint8 in [0, 255]."""
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype("uint8")


def grid(images: np.ndarray, cols: int, pad: int = 1) -> np.ndarray:
    """uint8 (B, H, W, C) -> one uint8 (rows*(H+pad)-pad, cols*(W+pad)-pad, C) tiled row by row."""
    b, h, w, c = images.shape
    cols = max(1, min(cols, b))
    rows = math.ceil(b / cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), 255, "uint8")
    for i, img in enumerate(images):
        r, k = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, k * (w + pad) : k * (w + pad) + w] = img
    return out


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (H, W, 1|3) -> PNG bytes (greyscale or RGB)."""
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"expected an image (H, W, 1|3), received shape {image.shape}")
    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)  # speed over a few bytes: these are tiny images
    return buf.getvalue()
