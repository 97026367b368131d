"""Conditional VAE (Sohn, Lee & Yan 2015): encoder and decoder both see the image's label y.

    q(z | x, y),  p(x | z, y),  p(z) = N(0, I):   loss = -log p(x | z, y) + beta KL(q(z | x, y) || N(0, I))

The condition vector c is the label as numbers plus one "null" flag: class ids -> one-hot (K values),
binary attribute vectors (CelebA) -> the 0/1 values (A values), then a last slot that is 1 only for the
null condition (no label). The encoder concatenates c to the trunk's flattened features, the decoder
to z. With `model.condition_dropout` p, each training image's condition is replaced by the null one with
probability p (noise from the model's seed generator, so resumed runs continue exactly), so the same
network is also an unconditional VAE: numpy helpers called without `condition` (report figures, the
explorer, `vaelab evaluate`) use the null condition, and that is what their numbers describe.

`fit` feeds labels: `needs_labels = True` makes the pipeline yield (images, labels) and `training_pair`
turns them into ((x, c), x). The label names (class or attribute names) are part of the saved model, so
`vaelab generate RUN --condition 7` / `--condition Smiling=1,Eyeglasses=1` is checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from vaelab.config import bounded
from vaelab.losses import gaussian_kl
from vaelab.models.heads import build_decoders, build_encoder
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.strategies.train_step import TrainStepVAE


@dataclass
class CVAESettings:
    condition_dropout: float = bounded(0.1, ge=0.0, le=1.0)  # model.condition_dropout: share of images given no label

@MODEL_KINDS.register("cvae")
@keras.saving.register_keras_serializable(package="vaelab")
class ConditionalVAE(TrainStepVAE):
    kind = "cvae"
    settings = {"model": CVAESettings}
    strategies = ("train_step",)  # the encoder takes (x, c): the Keras-loss strategies feed images only
    needs_labels = True
    has_likelihood_bound = False
    likelihood_bound_note = ("bounds log p(x | y), which needs each image's label; evaluate scores images "
                             "without labels (the null condition), so no IW-NLL is reported")

    def __init__(self, *args, label_names: list[str] | None = None, attributes: bool = False, **kwargs):
        if not label_names:
            raise ValueError("model.kind 'cvae' needs labelled data (label_names is empty); "
                             "train it on a dataset with labels (mnist, fashion_mnist, celeba, synthetic, ...)")
        self.label_names = [str(n) for n in label_names]
        self.attributes = bool(attributes)
        super().__init__(*args, **kwargs)

    @classmethod
    def from_run_config(cls, cfg, image_shape, n_train=None, label_names=None, attributes=False, **kwargs):
        return super().from_run_config(cfg, image_shape, label_names=label_names, attributes=attributes, **kwargs)

    def get_config(self):
        return {**super().get_config(), "label_names": self.label_names, "attributes": self.attributes}

    # ------------------------------------------------------------------ networks
    @property
    def condition_dim(self) -> int:
        return len(self.label_names) + 1  # the labels' values + the null flag

    def build_encoder(self) -> keras.Model:
        """[image (B, H, W, C), condition (B, K+1)] -> [z_mean, z_log_var] (B, D) each."""
        return build_encoder(self.cfg, self.image_shape, condition_dim=self.condition_dim)

    def _build_decoders(self):
        """[z (B, D), condition (B, K+1)] -> logits / image (B, H, W, C)."""
        return build_decoders(self.cfg, self.image_shape, condition_dim=self.condition_dim)

    # ------------------------------------------------------------------ conditions
    def conditions(self, labels):
        """Labels as the dataset gives them -> condition vectors (B, K+1) float32 (null flag 0)."""
        if self.attributes:
            c = ops.cast(labels, "float32")  # (B, A)
        else:
            c = ops.one_hot(ops.cast(ops.reshape(labels, (-1,)), "int32"), len(self.label_names))  # (B, K)
        return ops.concatenate([c, ops.zeros_like(c[:, :1])], axis=1)

    def null_conditions(self, n: int) -> np.ndarray:
        """(n, K+1): the "no label" condition."""
        c = np.zeros((n, self.condition_dim), "float32")
        c[:, -1] = 1.0
        return c

    def training_pair(self, x, labels=None):
        """The (inputs, targets) `fit` trains on: ((x, c), x)."""
        c = self.conditions(labels) if labels is not None else ops.convert_to_tensor(
            self.null_conditions(1)) * ops.ones((ops.shape(x)[0], 1))
        return (x, c), x

    def parse_condition(self, text: str) -> np.ndarray:
        """'7' / a class name, or 'Smiling=1,Eyeglasses=1' (attributes not named are 0) -> (K+1,) vector."""
        names = self.label_names
        c = np.zeros(self.condition_dim, "float32")
        text = str(text).strip()
        if not self.attributes:
            if text in names:
                c[names.index(text)] = 1.0
            elif text.isdigit() and int(text) < len(names):
                c[int(text)] = 1.0
            else:
                raise ValueError(f"--condition: expected a class id 0..{len(names) - 1} or a class name from "
                                 f"{names}, received {text!r}")
            return c
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name = name.strip()
            if not sep or name not in names or value.strip() not in ("0", "1"):
                raise ValueError(f"--condition: expected NAME=0|1[,NAME=0|1...] with NAME one of {names}, "
                                 f"received {part!r}")
            c[names.index(name)] = float(value)
        return c

    def _condition_array(self, condition, n: int) -> np.ndarray:
        """None (null), a string for `parse_condition`, a class id, a (K+1,) vector or (n, K+1) vectors."""
        if condition is None:
            return self.null_conditions(n)
        if isinstance(condition, str):
            condition = self.parse_condition(condition)
        elif isinstance(condition, (int, np.integer)):
            condition = self.parse_condition(str(int(condition)))
        c = np.asarray(condition, "float32")
        if c.shape == (self.condition_dim,):
            c = np.broadcast_to(c, (n, self.condition_dim))
        if c.shape != (n, self.condition_dim):
            raise ValueError(f"condition: expected shape ({self.condition_dim},) or ({n}, {self.condition_dim}), "
                             f"received {c.shape}")
        return np.ascontiguousarray(c)

    # ------------------------------------------------------------------ training
    def _split(self, data):
        """(x, c) from a training element ((x, c), x) / (x, c); plain images get the null condition."""
        if isinstance(data, (tuple, list)) and isinstance(data[0], (tuple, list)):
            data = data[0]  # ((x, c), x)
        if isinstance(data, (tuple, list)) and len(data[1].shape) == 2:
            return data[0], data[1]  # (x, c)
        x = data[0] if isinstance(data, (tuple, list)) else data
        return x, self.training_pair(x)[0][1]

    def call(self, inputs, training=None):
        x, c = self._split(inputs)
        z_mean, z_log_var = self.encoder([x, c], training=training)
        z = self.sampling([z_mean, z_log_var], training=training)
        return self.decoder_logits([z, c], training=training)

    def drop_conditions(self, c):
        """Each row replaced by the null condition with probability `model.condition_dropout`."""
        p = self.cfg.condition_dropout
        if p <= 0:
            return c
        u = keras.random.uniform((ops.shape(c)[0], 1), seed=self.sampling.seed_generator)  # (B, 1)
        null = ops.convert_to_tensor(self.null_conditions(1))  # (1, K+1)
        return ops.where(u < p, null, c)

    def terms(self, data, training) -> dict:
        x, c = self._split(data)
        if training:
            c = self.drop_conditions(c)
        z_mean, z_log_var = self.encoder([x, c], training=training)
        z = self.sampling([z_mean, z_log_var], training=training)
        rec = self.p_x.nll(x, self.decoder_logits([z, c], training=training))  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        loss = ops.mean(rec) + self.beta * ops.mean(kl)
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl}

    def train_step(self, data):
        return super().train_step((data,))  # the parent takes data[0]: the whole element here

    def test_step(self, data):
        return super().test_step((data,))

    def posterior_inputs(self, x):
        """The bounds of `vaelab.metrics` score log p(x) under the null condition (no label given)."""
        return [x, self._null(ops.shape(x)[0])]

    def decoder_inputs(self, z, batch: int, repeats: int):
        return [z, ops.repeat(self._null(batch), repeats, axis=0)]

    def _null(self, n):
        return ops.convert_to_tensor(self.null_conditions(1)) * ops.ones((n, 1))  # (n, K+1)

    # ------------------------------------------------------------------ numpy helpers
    def _run(self, net, a, c, batch_size):
        return self._batched(lambda a_, c_: net([a_, c_], training=False), a, batch_size, c)

    def encode(self, x, batch_size: int = 512, condition=None):
        """images (N, H, W, C) -> (z_mean, z_log_var) (N, D) of q(z | x, y); condition: see `sample`."""
        x = np.asarray(x, "float32")
        return self._run(self.encoder, x, self._condition_array(condition, len(x)), batch_size)

    def decode(self, z, batch_size: int = 512, condition=None) -> np.ndarray:
        z = np.asarray(z, "float32").reshape(-1, self.latent_dim)
        return self._run(self.decoder, z, self._condition_array(condition, len(z)), batch_size)

    def decode_logits(self, z, condition=None):
        z = np.asarray(z, "float32")
        return self.decoder_logits([z, self._condition_array(condition, len(z))], training=False)

    def reconstruct(self, x, deterministic: bool = True, seed: int | None = None, condition=None) -> np.ndarray:
        z_mean, z_log_var = self.encode(x, condition=condition)
        if not deterministic:
            rng = np.random.default_rng(seed)
            z_mean = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape).astype("float32")
        return self.decode(z_mean, condition=condition)

    def sample(self, n: int, std: float = 1.0, seed: int | None = None, condition=None) -> np.ndarray:
        """n images decoded from z ~ N(0, std^2 I) under `condition`: None (the null condition), a class id,
        '7' / 'Smiling=1,Eyeglasses=1' (checked against `label_names`), or condition vectors."""
        c = self._condition_array(condition, n)
        return self.decode(self.prior_draws(n, std, seed), condition=c)
