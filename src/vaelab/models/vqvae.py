"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017): a grid of discrete codes from a learned codebook.

    z_e = encoder(x)  (B, h, w, D);  k_ij = argmin_k |z_e,ij - e_k|;  z_q,ij = e_k_ij
    loss = -log p(x | z_q) + sum |sg[z_e] - z_q|^2 (codebook) + beta sum |z_e - sg[z_q]|^2 (commitment)

The decoder gets z_e + sg[z_q - z_e] (straight-through estimator: the forward pass uses z_q, the gradient
of the reconstruction flows to the encoder as if quantisation were the identity). `model.codebook_size`
is K, `model.latent_dim` is D (the size of one code vector), `loss.commitment_beta` is beta. EMA codebook
updates are not implemented (the codebook loss trains it). Per epoch, history.csv gets the codebook
`perplexity` (exp of the entropy of code usage; K when all codes are used equally) and `dead_codes`
(codes no position of any training image used that epoch).

New images come from a PixelCNN prior over the code grid (`models/pixelcnn.py`), trained as a second
stage on the training set's codes: `model.fit_prior(codes, epochs)` / `vaelab fit-prior RUN --kind
pixelcnn`; it is part of the model (saved in model.keras). `sample` draws codes from it (an unfitted
prior is a random network: `sample` warns). The numpy `encode` returns the quantised grid flattened,
(N, h*w*D), so figures that work on latent vectors (scatter, interpolation) work on it.

Needs `model.architecture: conv` (a spatial grid: the conv trunk without its Flatten, then a 1x1 conv
to D). There is no importance-weighted likelihood bound (see `likelihood_bound_note`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from vaelab.config import ModelConfig, RunConfig, bounded
from vaelab.layers import LikelihoodMean
from vaelab.models.autoencoder import BaseAutoencoder
from vaelab.models.conv import feature_map, upsample
from vaelab.models.heads import float32_outputs
from vaelab.models.pixelcnn import build_pixelcnn, sample_codes
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.step import TermsStep
from vaelab.optimizers import FusedAdam

USAGE = ("perplexity", "dead_codes")  # the codebook's use over an epoch (CodeUsage), logged beside the losses


@keras.saving.register_keras_serializable(package="vaelab")
class CodeUsage(keras.metrics.Metric):
    """Counts of each code over an epoch; result: the perplexity exp(H(usage)) or the number of unused codes."""

    def __init__(self, num_codes: int, what: str = "perplexity", **kwargs):
        super().__init__(name=kwargs.pop("name", what), **kwargs)
        self.num_codes, self.what = int(num_codes), what
        self.counts = self.add_variable(shape=(self.num_codes,), initializer="zeros", name="counts")

    def update_state(self, indices, sample_weight=None):
        flat = ops.reshape(ops.cast(indices, "int32"), (-1,))
        self.counts.assign_add(ops.sum(ops.one_hot(flat, self.num_codes), axis=0))

    def result(self):
        if self.what == "dead_codes":
            return ops.sum(ops.cast(ops.equal(self.counts, 0.0), "float32"))
        p = self.counts / ops.maximum(ops.sum(self.counts), 1.0)
        return ops.exp(-ops.sum(p * ops.log(ops.maximum(p, 1e-12))))

    def reset_state(self):
        self.counts.assign(ops.zeros((self.num_codes,)))

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "what": self.what}


@dataclass
class VQVAEModelSettings:
    codebook_size: int = bounded(512, ge=2)  # model.codebook_size: K codebook vectors (each of size latent_dim)
    prior_filters: int = bounded(64, ge=1)  # model.prior_filters: channels of the PixelCNN prior over the code grid


@dataclass
class VQVAELossSettings:
    commitment_beta: float = bounded(0.25, ge=0.0)  # loss.commitment_beta: weight of |z_e - sg[z_q]|^2

@MODEL_KINDS.register("vqvae")
@keras.saving.register_keras_serializable(package="vaelab")
class VQVAE(TermsStep, BaseAutoencoder):
    kind = "vqvae"
    settings = {"model": VQVAEModelSettings, "loss": VQVAELossSettings}
    history_terms = ("loss", "reconstruction_loss", "codebook_loss", "commitment_loss", *USAGE)
    tiny_settings = {"model.architecture": "conv", "model.filters": [32], "model.kernel_sizes": [3],  # a spatial grid
                     "model.strides": [2], "model.codebook_size": 16, "model.prior_filters": 8}
    prior_label = "a PixelCNN over the code grid"
    strategies = None  # no KL term: loss.strategy is unused
    has_posterior = False
    per_image_loss = False  # kept conservative: its codebook statistics are taken over the batch
    has_likelihood_bound = False
    has_prior = True  # the PixelCNN over codes (after `vaelab fit-prior --kind pixelcnn`)
    prior_inputs = ("codes",)  # its latent is a grid of discrete codes: priors over z_mean do not apply
    posterior_note = "a deterministic encoder to codebook entries, no Gaussian q(z|x)"
    likelihood_bound_note = (
        "has no importance-weighted likelihood bound: q(z|x) is a deterministic one-hot over codes, so there "
        "is nothing to importance-sample; an IW-NLL computed as for a Gaussian posterior would be wrong")

    def __init__(self, *args, commitment_beta: float = 0.25, **kwargs):
        self.commitment_beta = float(commitment_beta)
        super().__init__(*args, **kwargs)
        k, d = self.cfg.codebook_size, self.cfg.latent_dim
        self.codebook = self.add_weight(shape=(k, d), name="codebook",
                                        initializer=keras.initializers.RandomUniform(-1.0 / k, 1.0 / k, seed=self.seed))
        self.prior = build_pixelcnn(self.grid, k, filters=self.cfg.prior_filters)
        self.prior_epochs = self.add_weight(shape=(), initializer="zeros", trainable=False, name="prior_epochs")
        self.trackers = [keras.metrics.Mean(name=n) for n in self.history_terms if n not in USAGE]
        self.usage = [CodeUsage(k, what) for what in USAGE]

    @classmethod
    def check_config(cls, cfg: ModelConfig) -> None:
        if cfg.architecture != "conv":
            raise ValueError(f"model.architecture: model.kind 'vqvae' needs 'conv' (a spatial grid of codes), "
                             f"received {cfg.architecture!r}")

    @classmethod
    def from_run_config(cls, cfg: RunConfig, image_shape, n_train=None, **kwargs):
        return super().from_run_config(cfg, image_shape, commitment_beta=cfg.loss.commitment_beta, **kwargs)

    def get_config(self):
        return {**super().get_config(), "commitment_beta": self.commitment_beta}

    # ------------------------------------------------------------------ networks
    @property
    def grid(self) -> tuple[int, int]:
        """(h, w) of the code grid: the image size over the conv strides ("same" padding)."""
        stride = math.prod(self.cfg.strides)
        return math.ceil(self.image_shape[0] / stride), math.ceil(self.image_shape[1] / stride)

    @property
    def embedding_dim(self) -> int:
        return self.cfg.latent_dim

    @property
    def latent_dim(self) -> int:
        """Size of the flattened quantised grid h*w*D that `encode` returns and `decode` takes."""
        return self.grid[0] * self.grid[1] * self.cfg.latent_dim

    def build_encoder(self) -> keras.Model:
        """image (B, H, W, C) -> z_e (B, h, w, D)."""
        cfg = self.cfg
        x = keras.Input(shape=self.image_shape, name="image")
        h = feature_map(cfg, x)  # (B, h, w, f_last)
        z_e = layers.Conv2D(cfg.latent_dim, 1, name="z_e", dtype="float32")(h)  # (B, h, w, D)
        return keras.Model(x, float32_outputs(z_e), name="encoder")

    def _build_decoders(self):
        """z_q flattened (B, h*w*D) -> logits / image (B, H, W, C)."""
        cfg, (gh, gw) = self.cfg, self.grid
        z = keras.Input(shape=(gh * gw * cfg.latent_dim,), name="z")
        h = layers.Reshape((gh, gw, cfg.latent_dim))(z)  # (B, h, w, D)
        # a Cropping2D after the float32 conv computes under the policy: float32_outputs casts it back
        logits = float32_outputs(upsample(cfg, h, self.image_shape, logits_dtype="float32"))
        x_hat = LikelihoodMean(cfg.likelihood, name="x_hat", dtype="float32")(logits)
        return keras.Model(z, logits, name="decoder_logits"), keras.Model(z, x_hat, name="decoder")

    # ------------------------------------------------------------------ quantisation
    def vector_quantize(self, z_e):
        """z_e (B, h, w, D) -> (indices (B, h, w) int32, z_q (B, h, w, D)) of the nearest codebook entries."""
        flat = ops.reshape(z_e, (-1, self.embedding_dim))  # (N, D)
        book = ops.convert_to_tensor(self.codebook)  # (K, D)
        d2 = (ops.sum(ops.square(flat), axis=1, keepdims=True) - 2.0 * ops.matmul(flat, ops.transpose(book))
              + ops.sum(ops.square(book), axis=1)[None, :])  # (N, K)
        idx = ops.cast(ops.argmin(d2, axis=1), "int32")
        z_q = ops.reshape(ops.take(self.codebook, idx, axis=0), ops.shape(z_e))
        return ops.reshape(idx, ops.shape(z_e)[:-1]), z_q

    def embed(self, codes):
        """int codes (B, h, w) -> z_q flattened (B, h*w*D)."""
        z_q = ops.take(self.codebook, ops.reshape(ops.cast(codes, "int32"), (-1,)), axis=0)
        return ops.reshape(z_q, (-1, self.latent_dim))

    def terms(self, x, training=False) -> dict:
        z_e = self.encoder(x, training=training)  # (B, h, w, D)
        idx, z_q = self.vector_quantize(z_e)
        z_st = z_e + ops.stop_gradient(z_q - z_e)  # straight-through: forward z_q, gradient to z_e
        logits = self.decoder_logits(ops.reshape(z_st, (-1, self.latent_dim)), training=training)
        b = ops.shape(x)[0]
        sq = lambda a: ops.sum(ops.reshape(ops.square(a), (b, -1)), axis=1)  # noqa: E731  (B,)
        rec = self.p_x.nll(x, logits)  # (B,)
        codebook = sq(ops.stop_gradient(z_e) - z_q)
        commitment = sq(z_e - ops.stop_gradient(z_q))
        loss = ops.mean(rec + codebook + self.commitment_beta * commitment)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return {"loss": loss, "reconstruction_loss": rec, "codebook_loss": codebook, "commitment_loss": commitment,
                "indices": idx}

    def call(self, x, training=None):
        return self.terms(x, training=training)["indices"]

    # ------------------------------------------------------------------ training
    @property
    def metrics(self):
        return [*self.trackers, *self.usage]

    @property
    def term_trackers(self):
        return self.trackers

    def _track(self, t):
        for u in self.usage:
            u.update_state(t["indices"])
        return super()._track(t)

    @property
    def optimized_variables(self) -> list:
        """Encoder, decoder and codebook: the PixelCNN prior is trained later by `fit_prior`, with its own optimizer."""
        return [w for w in self.trainable_variables if not any(w is p for p in self.prior.trainable_variables)]

    # ------------------------------------------------------------------ the PixelCNN prior (second stage)
    def encode_codes(self, x, batch_size: int = 512) -> np.ndarray:
        """images (N, H, W, C) -> code indices (N, h, w) int32."""
        x = np.asarray(x, "float32")
        return self._batched(lambda b: self.vector_quantize(self.encoder(b, training=False))[0], x, batch_size)

    def fit_prior(self, codes, epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3,
                  verbose: int = 0) -> dict:
        """Trains the PixelCNN prior on code grids (N, h, w) (maximum likelihood); the encoder stays fixed.

        Returns {"nll": per-epoch mean -log p(codes) in nats per grid, ...}."""
        codes = np.asarray(codes, "int32")
        if codes.ndim != 3 or codes.shape[1:] != self.grid:
            raise ValueError(f"codes: expected (N, {self.grid[0]}, {self.grid[1]}) code indices, "
                             f"received {codes.shape}")
        self.prior.compile(optimizer=FusedAdam(learning_rate),
                           loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        hist = self.prior.fit(codes, codes, batch_size=batch_size, epochs=epochs, verbose=verbose, shuffle=True)
        self.prior_epochs.assign(self.prior_epochs + epochs)
        positions = self.grid[0] * self.grid[1]
        return {"nll": [float(v) * positions for v in hist.history["loss"]], "epochs": int(self.prior_epochs.numpy()),
                "codes": int(len(codes))}

    # ------------------------------------------------------------------ numpy helpers
    def encode(self, x, batch_size: int = 512):
        """images -> (z_q flattened (N, h*w*D), None): the quantised grid, deterministic."""
        codes = self.encode_codes(x, batch_size)
        return ops.convert_to_numpy(self.embed(codes)), None

    def prior_draws(self, n: int, std: float = 1.0, seed: int | None = None) -> np.ndarray:
        """Code grids (n, h, w) drawn from the PixelCNN prior (`std` is the sampling temperature)."""
        if float(self.prior_epochs.numpy()) == 0:
            warnings.warn("vqvae: the PixelCNN prior has not been fitted, so samples are from a random prior; "
                          "fit it with `vaelab fit-prior RUN_DIR --kind pixelcnn`", stacklevel=3)
        return sample_codes(self.prior, n, self.grid, seed=seed, temperature=std)

    def decode_draws(self, codes) -> np.ndarray:
        """Images of code grids (N, h, w)."""
        return self.decode(ops.convert_to_numpy(self.embed(codes)))
