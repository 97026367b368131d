"""A model's decoder and encoder as small functional models with named inputs and outputs, ready to export.

    decoder   z (B, D) [, condition (B, K+1)]  -> image (B, H, W, C), the likelihood's mean in [0, 1]
    encoder   image (B, H, W, C) [, condition] -> z_mean, z_log_var (B, D)  (an AE: z_mean only)
    codes     (a discrete-code model) decoder codes (B, h, w) int32 code indices -> image;  encoder image -> codes

Which inputs a family has follows its capabilities (`needs_labels`: a condition; "codes" among its
`prior_inputs`: a grid of discrete codes), never its name. Build them under the float32 policy for float32 graphs.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers


@dataclass
class Part:
    net: keras.Model  # functional: named inputs, a dict of named outputs
    inputs: list[dict]  # {"name", "shape", "dtype", "meaning"} in the artifact's order
    outputs: list[dict]  # the same, in the order every runtime lists them (sorted by name)
    main: str  # the output most callers want (image, z_mean, codes)


def nearest_code(z_e, book):
    """z_e (B, h, w, D), book (K, D) -> indices (B, h, w) int32 of the nearest codes, as `VQVAE.vector_quantize`.
    tf.math.argmin converts to every format; keras.ops.argmin bit-casts floats (for -0.0), which ONNX,
    OpenVINO and LiteRT's built-in ops cannot express."""
    d2 = (tf.reduce_sum(tf.square(z_e), -1, keepdims=True) - 2.0 * tf.einsum("bhwd,kd->bhwk", z_e, book)
          + tf.reduce_sum(tf.square(book), -1))  # (B, h, w, K)
    return tf.math.argmin(d2, axis=-1, output_type=tf.int32)


class NearestCode(layers.Layer):
    """z_e (B, h, w, D) -> code indices (B, h, w) int32, with its own copy of the codebook (K, D)."""

    def __init__(self, codebook: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.codebook = self.add_weight(shape=codebook.shape, trainable=False, name="codebook",
                                        initializer=keras.initializers.Constant(codebook))

    def call(self, z_e):
        return nearest_code(z_e, self.codebook)

    def compute_output_spec(self, z_e):
        return keras.KerasTensor(z_e.shape[:-1], dtype="int32")


def _io(t, name: str, meaning: str) -> dict:
    return {"name": name, "shape": [None if d is None else int(d) for d in t.shape], "dtype": str(t.dtype),
            "meaning": meaning}


def _outputs(net: keras.Model, meanings: dict) -> list[dict]:
    """The outputs in the order every runtime lists them (TensorFlow flattens a dict by sorted key)."""
    return [_io(net.output[k], k, meanings[k]) for k in sorted(net.output)]


def _condition_meaning(model) -> str:
    what = "the 0/1 attribute values" if model.attributes else "a one-hot class"
    return (f"{what} ({len(model.label_names)} values, in the order of label_names) then a null flag; "
            "[0, ..., 0, 1] is the null condition (no label)")


def build_parts(model) -> dict[str, Part]:
    """{"decoder": Part, "encoder": Part} of a trained vaelab model (its layers, shared, not copied)."""
    h, w, c = model.image_shape
    image = keras.Input(model.image_shape, name="image")
    extra, extra_spec = [], []
    if model.needs_labels:  # the condition: a second input of both parts
        cond = keras.Input((model.condition_dim,), name="condition")
        extra, extra_spec = [cond], [_io(cond, "condition", _condition_meaning(model))]
    if "codes" in model.prior_inputs:  # a grid of discrete codes: the parts take and give code indices
        book = np.asarray(keras.ops.convert_to_numpy(model.codebook), "float32")  # (K, D)
        codes = keras.Input(model.grid, dtype="int32", name="codes")
        codes_meaning = (f"int32 code indices in 0..{len(book) - 1} on the {model.grid[0]}x{model.grid[1]} code "
                         "grid (the encoder's output, or a prior's samples)")
        z_q = layers.Embedding(*book.shape, embeddings_initializer=keras.initializers.Constant(book),
                               trainable=False, name="codebook")(codes)  # (B, h, w, D)
        decoder = keras.Model(codes, {"image": model.decoder(layers.Reshape((model.latent_dim,))(z_q))})
        encoder = keras.Model(image, {"codes": NearestCode(book, name="nearest_code")(model.encoder(image))})
        dec_in, enc_out = [_io(codes, "codes", codes_meaning)], {"codes": codes_meaning}
    else:
        z = keras.Input((model.latent_dim,), name="z")
        decoder = keras.Model([z, *extra] if extra else z, {"image": model.decoder([z, *extra] if extra else z)})
        enc = model.encoder([image, *extra] if extra else image)
        enc = enc if isinstance(enc, (list, tuple)) else [enc]  # an AE has z_mean only
        names = ("z_mean", "z_log_var")[:len(enc)]
        encoder = keras.Model([image, *extra] if extra else image, dict(zip(names, enc, strict=True)))
        dec_in = [_io(z, "z", f"latent vectors ({model.latent_dim} values each)"), *extra_spec]
        enc_out = {"z_mean": "the mean of q(z | x): the image's latent vector", "z_log_var": "log variance of q(z | x)"}
    dec_out = {"image": f"the likelihood's mean E[x | z] ({model.likelihood}): pixel values in [0, 1]"}
    enc_in = [_io(image, "image", f"images ({h}x{w}x{c}) with pixel values in [0, 1]"), *extra_spec]
    return {"decoder": Part(decoder, dec_in, _outputs(decoder, dec_out), "image"),
            "encoder": Part(encoder, enc_in, _outputs(encoder, enc_out), next(iter(enc_out)))}
