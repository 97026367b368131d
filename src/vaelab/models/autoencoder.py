"""The AE and VAE model classes every KL strategy builds on.

Each model takes only plain values (`model_config` dict, `image_shape`, `beta`, `seed`) and builds
its encoder/decoder itself, so `get_config` is a dict of primitives and `.keras` saving just works.
`encoder` (image -> z_mean[, z_log_var]) and `decoder` (z -> image) are functional models usable on
their own. Inference helpers (`encode`, `decode`, `reconstruct`, `sample`) take and return numpy
arrays and are deterministic (z = z_mean) unless sampling is asked for.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from vaelab.config import ModelConfig, _from_dict
from vaelab.layers import Sampling
from vaelab.losses import ReconstructionLoss, reconstruction_metric
from vaelab.models.heads import build_decoder, build_encoder


class BaseAutoencoder(keras.Model):
    """Shared construction, config and numpy inference helpers (not registered: abstract)."""

    kind = "ae"

    def __init__(self, model_config: dict | None = None, image_shape=(28, 28, 1), beta: float = 1.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.model_config = dataclasses.asdict(_from_dict(ModelConfig, dict(model_config or {}), "model"))
        self.cfg = ModelConfig(**self.model_config)
        if self.cfg.kind != self.kind:
            raise ValueError(
                f"model.kind: expected {self.kind!r} for {type(self).__name__}, received {self.cfg.kind!r}"
            )
        self.image_shape = tuple(int(s) for s in image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"image_shape: expected (H, W, C), received {image_shape!r}")
        self.initial_beta = float(beta)
        self.seed = seed
        self.encoder = self.build_encoder()
        self.decoder = build_decoder(self.cfg, self.image_shape)

    def build_encoder(self) -> keras.Model:
        return build_encoder(self.cfg, self.image_shape)

    def build(self, input_shape=None):
        # Encoder and decoder are functional models, already built in __init__; only the
        # weightless sampling layer remains.
        if getattr(self, "sampling", None) is not None and not self.sampling.built:
            self.sampling.build([(None, self.latent_dim)] * 2)
        self.built = True

    # ------------------------------------------------------------------ training interface
    @property
    def likelihood(self) -> str:
        return self.cfg.likelihood

    def targets(self, x):
        """The `y` that `fit` needs for a batch of images `x` (only multi_output differs)."""
        return x

    def compile_for_training(self, optimizer, jit_compile=False):
        self.compile(
            optimizer=optimizer,
            loss=ReconstructionLoss(self.likelihood),
            metrics=[reconstruction_metric(self.likelihood)],
            jit_compile=jit_compile,
        )

    def objective(self, x, training=True):
        """The scalar loss this model's training minimises on batch `x`, through its own mechanism.

        Default: Keras's `compute_loss` (compiled losses + every `add_loss` term); strategies that
        write their own step override it. Used to compare gradients across strategies.
        """
        y_pred = self(x, training=training)
        return self.compute_loss(x=x, y=self.targets(x), y_pred=y_pred, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "model_config": self.model_config,
            "image_shape": list(self.image_shape),
            "beta": self.initial_beta,
            "seed": self.seed,
        }

    def _multi_worker(self) -> bool:
        return isinstance(getattr(self, "_distribute_strategy", None), tf.distribute.MultiWorkerMirroredStrategy)

    def distributable_logs(self, logs: dict) -> dict:
        """Under MultiWorkerMirroredStrategy Keras 3 reduces step logs with `reduce("MEAN", v, axis=0)`,
        which fails on scalars (tensorflow/tensorflow#72388); shape (1,) values reduce to the same scalar."""
        if not self._multi_worker():
            return logs
        return {k: ops.reshape(v, (1,)) for k, v in logs.items()}

    def train_step(self, data):
        return self.distributable_logs(super().train_step(data))

    def test_step(self, data):
        return self.distributable_logs(super().test_step(data))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3.15 builds a distributed model from the first batch after `strategy.reduce(...)`,
        # which raises under MultiWorkerMirroredStrategy (it cannot convert the PerReplica batch).
        # Only shapes matter for building, so the first local replica's batch is used instead.
        strategy = getattr(self, "_distribute_strategy", None)
        if iterator is not None and self._multi_worker():
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], batch)
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # ------------------------------------------------------------------ inference helpers
    @property
    def latent_dim(self) -> int:
        return self.cfg.latent_dim

    def _batched(self, fn, x, batch_size: int):
        outs = [fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
        if not outs:
            raise ValueError("received an empty array")
        if isinstance(outs[0], (list, tuple)):
            return tuple(np.concatenate([ops.convert_to_numpy(o[j]) for o in outs]) for j in range(len(outs[0])))
        return np.concatenate([ops.convert_to_numpy(o) for o in outs])

    def encode(self, x, batch_size: int = 512):
        """images (N, H, W, C) in [0, 1] -> (z_mean, z_log_var) numpy (N, D); z_log_var is None for an AE."""
        out = self._batched(lambda b: self.encoder(b, training=False), np.asarray(x, "float32"), batch_size)
        return (out, None) if self.kind == "ae" else out

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """latents (N, D) -> images (N, H, W, C) in [0, 1]."""
        z = np.asarray(z, "float32").reshape(-1, self.latent_dim)
        return self._batched(lambda b: self.decoder(b, training=False), z, batch_size)

    def reconstruct(self, x, deterministic: bool = True, seed: int | None = None) -> np.ndarray:
        z_mean, z_log_var = self.encode(x)
        if not deterministic and z_log_var is not None:
            rng = np.random.default_rng(seed)
            z_mean = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape).astype("float32")
        return self.decode(z_mean)

    def sample(self, n: int, std: float = 1.0, seed: int | None = None) -> np.ndarray:
        """Decodes n draws from N(0, std^2 I): new images from the prior (seed part XI).
        Other priors (fitted after training): `vaelab.priors.decode_samples`."""
        from vaelab.priors.standard import StandardPrior

        return self.decode(StandardPrior(self.latent_dim).sample(n, seed=seed, std=std))


@keras.saving.register_keras_serializable(package="vaelab")
class Autoencoder(BaseAutoencoder):
    """Plain deterministic autoencoder on the same trunks as the VAE: loss = reconstruction only."""

    kind = "ae"

    def call(self, x, training=None):
        return self.decoder(self.encoder(x, training=training), training=training)


class VAE(BaseAutoencoder):
    """Base of the four KL strategies: adds the `Sampling` layer and the non-trainable `beta` weight.

    Subclasses decide only *where the KL term enters training*; all call `losses.gaussian_kl`.
    """

    kind = "vae"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sampling = Sampling(seed=self.seed, name="sampling", dtype="float32")
        if getattr(self, "beta", None) is None:
            self.beta = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(self.initial_beta),
                trainable=False,
                name="beta",
            )

    def encode_sample(self, x, training=None):
        """Symbolic helper for `call`: (z_mean, z_log_var, z), each (B, D)."""
        z_mean, z_log_var = self.encoder(x, training=training)
        z = self.sampling([z_mean, z_log_var], training=training)
        return z_mean, z_log_var, z
