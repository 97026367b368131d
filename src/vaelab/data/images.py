"""Image files for streamed datasets: a cheap up-front check, and the TF decoders used inside tf.data.

Corrupt files are handled in two layers. `scan` reads only each file's first and last bytes (no
decoding) and drops empty, unreadable, non-image and truncated files (JPEG without its end marker,
PNG without IEND) with one warning giving the count and the first names. Anything subtler that only
fails when decoded is dropped by `ignore_errors` in the pipeline, so an epoch never crashes midway.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import tensorflow as tf

from vaelab.data.sources import DataFormatError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_SIGNATURES = {b"\xff\xd8\xff": "jpeg", b"\x89PNG\r\n\x1a\n": "png", b"BM": "bmp", b"GIF8": "gif"}
_TAIL = 1024


def problem(path: str | Path) -> str | None:
    """Why `path` cannot be a whole image (reads at most ~1 KB), or None when it looks fine."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if not head:
                return "empty file"
            kind = next((k for sig, k in _SIGNATURES.items() if head.startswith(sig)), None)
            if kind is None:
                return "not a JPEG/PNG/BMP/GIF image (unknown header)"
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - _TAIL))
            tail = f.read()
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    if kind == "jpeg" and b"\xff\xd9" not in tail:
        return "truncated JPEG (no end-of-image marker)"
    if kind == "png" and b"IEND" not in tail:
        return "truncated PNG (no IEND chunk)"
    return None


def scan(files: list[str], what: str) -> list[str]:
    """The files that pass `problem`; warns once with the count and first names of those dropped.

    Raises:
        DataFormatError: every file failed (nothing left to train on).
    """
    bad = [(f, why) for f in files if (why := problem(f)) is not None]
    if not bad:
        return files
    if len(bad) == len(files):
        raise DataFormatError(f"{what}: all {len(files):,} image files are unusable, e.g. "
                              f"{bad[0][0]}: {bad[0][1]}")
    first = "; ".join(f"{Path(f).name}: {why}" for f, why in bad[:5])
    warnings.warn(f"{what}: skipping {len(bad):,} of {len(files):,} corrupt or unreadable images ({first}"
                  f"{'; ...' if len(bad) > 5 else ''})", stacklevel=2)
    dropped = {f for f, _ in bad}
    return [f for f in files if f not in dropped]


def _to_uint8(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def center_crop_decoder(crop: int, size: int):
    """JPEG path -> uint8 (size, size, 3): centre `crop` x `crop` square (clamped to the image), resized.

    Only the crop window is decoded (`decode_and_crop_jpeg`), then resized with antialiasing.
    """

    def decode(path: tf.Tensor) -> tf.Tensor:
        data = tf.io.read_file(path)
        shape = tf.image.extract_jpeg_shape(data)  # (H, W, C) from the header only
        side = tf.minimum(tf.minimum(shape[0], shape[1]), crop)
        window = tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])
        img = tf.io.decode_and_crop_jpeg(data, window, channels=3)  # (side, side, 3)
        img = tf.image.resize(img, (size, size), antialias=True)
        return tf.ensure_shape(_to_uint8(img), (size, size, 3))

    return decode


def any_image_decoder(channels: int, size: int | None, shape: tuple[int, int] | None = None):
    """Image path (JPEG/PNG/BMP/GIF) -> uint8 (H, W, channels), converting colour mode to `channels`.

    With `size`, the largest centred square is cropped and resized to (size, size); otherwise every
    image must already be `shape` = (H, W).
    """

    def decode(path: tf.Tensor) -> tf.Tensor:
        img = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        if size is None:
            return tf.ensure_shape(img, (*shape, channels))
        h, w = tf.shape(img)[0], tf.shape(img)[1]
        side = tf.minimum(h, w)
        img = tf.image.crop_to_bounding_box(img, (h - side) // 2, (w - side) // 2, side, side)
        img = tf.image.resize(img, (size, size), antialias=True)
        return tf.ensure_shape(_to_uint8(img), (size, size, channels))

    return decode
