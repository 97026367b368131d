"""Images in [0, 1] -> PNG bytes (Pillow), singly or tiled with `vaelab.plots.tile_images`."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vaelab.plots import tile_images


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float images in [0, 1] (any shape) -> uint8 in [0, 255]."""
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype("uint8")


def png_bytes(image: np.ndarray) -> bytes:
    """One float image (H, W, 1|3) in [0, 1] -> PNG bytes (greyscale or RGB)."""
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"expected an image (H, W, 1|3), received shape {image.shape}")
    pixels = to_uint8(image)
    pil = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)  # speed over a few bytes: these are tiny images
    return buf.getvalue()


def grid_png(images: np.ndarray, cols: int) -> bytes:
    """float images (B, H, W, C) in [0, 1] -> one PNG, `cols` per row (fewer if B is smaller), 1 px white gaps."""
    return png_bytes(tile_images(images, ncols=max(1, min(cols, len(images)))))
