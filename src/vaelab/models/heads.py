"""Shared encoder/decoder assembly around an architecture's trunks (functional API)."""

from __future__ import annotations

import keras
from keras import layers

from vaelab.config import ModelConfig
from vaelab.layers import ClipValues, LikelihoodMean
from vaelab.registry import Registry

ARCHITECTURES = Registry("architecture")

ACTIVATIONS = ["relu", "leaky_relu", "selu", "elu", "gelu", "tanh", "swish"]


def activation(name: str, label: str = "model.activation") -> layers.Layer:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} for {label}; choose from {ACTIVATIONS}")
    return layers.Activation(name)


def float32_outputs(outputs):
    """The one place where network outputs enter the loss maths (KL, likelihoods, IW bounds, VQ losses):
    every float tensor of `outputs` (a tensor or a list) leaves as float32, whatever `train.precision`.

    Under mixed precision a weightless layer after the last float32 layer (Reshape, Cropping2D) computes in
    bfloat16/float16 again; this casts it back. A tensor already float32 passes unchanged (no layer added).
    """
    def cast(t):
        if t.dtype in ("bfloat16", "float16"):
            return layers.Identity(dtype="float32")(t)
        return t

    return [cast(t) for t in outputs] if isinstance(outputs, (list, tuple)) else cast(outputs)


def build_encoder(cfg: ModelConfig, image_shape: tuple[int, int, int], name: str = "encoder",
                  variational: bool = True, condition_dim: int = 0) -> keras.Model:
    """image (B, H, W, C) -> [z_mean, z_log_var] (B, D) each; z_mean only when not `variational` (an AE).
    With `condition_dim` a second input, the condition (B, condition_dim), joins the features before the heads."""
    arch = ARCHITECTURES.get(cfg.architecture)
    x = keras.Input(shape=tuple(image_shape), name="image")
    h = arch.encoder_trunk(cfg, x)  # (B, F)
    inputs = x
    if condition_dim:
        c = keras.Input(shape=(condition_dim,), name="condition")
        h = layers.Concatenate(name="features_and_condition")([h, c])  # (B, F + condition_dim)
        inputs = [x, c]
    if cfg.extra_dense:
        # Seed part XII: a narrow Dense layer before the heads saves the two F x D head matrices.
        h = layers.Dense(cfg.extra_dense, name="extra_dense")(h)
        h = activation(cfg.activation)(h)
    # Heads and output stay float32 under mixed precision: the KL and log-likelihoods need the range.
    z_mean = layers.Dense(cfg.latent_dim, name="z_mean", dtype="float32")(h)
    if not variational:
        return keras.Model(inputs, float32_outputs(z_mean), name=name)
    z_log_var = layers.Dense(cfg.latent_dim, name="z_log_var", dtype="float32")(h)
    if cfg.z_log_var_clip:
        z_log_var = ClipValues(cfg.z_log_var_clip, name="z_log_var_clip")(z_log_var)  # float32 too
    return keras.Model(inputs, float32_outputs([z_mean, z_log_var]), name=name)


def build_decoders(cfg: ModelConfig, image_shape: tuple[int, int, int],
                   condition_dim: int = 0) -> tuple[keras.Model, keras.Model]:
    """(z -> logits, z -> image): two views of one graph, sharing every layer.

    The logits (B, H, W, C) are the likelihood's parameters (training and evaluation score them with
    `likelihood.nll`); the image is the likelihood's mean in [0, 1] (reconstructions and samples). With
    `condition_dim` both take [z, condition (B, condition_dim)], joined before the trunk.
    """
    arch = ARCHITECTURES.get(cfg.architecture)
    z = keras.Input(shape=(cfg.latent_dim,), name="z")
    inputs, h = z, z
    if condition_dim:
        c = keras.Input(shape=(condition_dim,), name="condition")
        inputs, h = [z, c], layers.Concatenate(name="z_and_condition")([z, c])  # (B, D + condition_dim)
    logits = float32_outputs(arch.decoder_trunk(cfg, h, tuple(image_shape)))  # (B, H, W, C)
    x_hat = LikelihoodMean(cfg.likelihood, name="x_hat", dtype="float32")(logits)
    return keras.Model(inputs, logits, name="decoder_logits"), keras.Model(inputs, x_hat, name="decoder")


def build_decoder(cfg: ModelConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """z (B, D) -> x_hat (B, H, W, C) in [0, 1], the likelihood's mean."""
    return build_decoders(cfg, image_shape)[1]
