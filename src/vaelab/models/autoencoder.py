"""The AE and VAE model classes every KL strategy and VAE family builds on.

Each model takes its `ModelConfig` (or the plain dict `get_config` wrote), `image_shape`, `beta` and
`seed`, and builds its encoder/decoder itself, so `get_config` is a dict of primitives and `.keras`
saving just works. What a family can do (a KL term, a likelihood bound, a prior to sample from, which
KL strategies) is a class attribute here, read by `build_model`, evaluation and sampling.
`encoder` (image -> z_mean[, z_log_var]) and `decoder` (z -> image) are functional models usable on
their own; `decoder_logits` (z -> logits) shares the decoder's layers and feeds the likelihood.
Calling the model returns the decoder's logits (the likelihood's parameters, like a Keras classifier
compiled with `from_logits=True`); `likelihood.mean(logits)` is the image.
Inference helpers (`encode`, `decode`, `reconstruct`, `sample`) take and return numpy
arrays and are deterministic (z = z_mean) unless sampling is asked for.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from vaelab.config import ModelConfig, RunConfig
from vaelab.layers import Sampling
from vaelab.likelihoods import LIKELIHOODS, Likelihood
from vaelab.losses import ReconstructionLoss, log_normal, log_standard_normal, reconstruction_metric
from vaelab.models.heads import build_decoders, build_encoder
from vaelab.optimizers import FUSED  # noqa: F401  (registers the optimizers a saved model's compile config names)


class BaseAutoencoder(keras.Model):
    """Shared construction, config and numpy inference helpers (not registered: abstract)."""

    kind = ""  # the MODEL_KINDS name of a registered subclass
    # ---- capabilities of the family (read by build_model, evaluation sections and sampling)
    strategies: tuple[str, ...] | None = None  # KL strategies it supports; None: no KL term, strategy unused
    has_posterior = False  # an encoder q(z|x): ELBO, latent statistics
    has_likelihood_bound = False  # an importance-weighted bound on log p(x) (IWAE NLL)
    has_prior = False  # a prior p(z) that `sample` draws from
    prior_inputs: tuple[str, ...] = ("z_mean",)  # what ex-post priors fit to (vaelab.priors: Prior.fits_to)
    prior_label = "N(0, I)"  # what `sample` draws from (an AE has no prior: it decodes N(0, I) draws anyway)
    standard_normal_prior = False  # p(z) = N(0, I): KL(q || p) in closed form, per latent dimension
    needs_labels = False  # trains on (image, label) pairs: `fit` feeds labels through `training_pair`
    uses_beta = False  # `loss.beta` (and its schedule) weights a term of the objective: shown where runs are compared
    # its loss is a mean of per-image terms: a larger validation batch changes only the noise draws, not the
    # estimate (`fit` validates in batches of up to 512 then); False where a term uses the whole batch
    per_image_loss = True
    likelihood_bound_note = ""  # why there is no IW-NLL, when the generic reason would mislead
    # The family's own settings: {section: dataclass} (config fields with `bounded` ranges), accepted in that
    # section of a config and read as `cfg.model.<name>` / `cfg.loss.<name>` (config.FAMILY_SETTINGS)
    settings: dict[str, type] = {}
    # The per-epoch terms it logs (history.csv, each with a val_ twin when the run validates): the report's curves
    # and table, the summary after training and a sweep's objective columns derive from them
    history_terms: tuple[str, ...] = ("loss", "reconstruction_loss")
    # Settings ("section.key": value) that make a tiny, fast model of this family over a tiny dense one: the
    # contract tests (tests/test_families.py) build every family from them
    tiny_settings: dict[str, object] = {}
    # What makes the family itself in a comparison of families on one shared net (benchmarks/families.py)
    reference_settings: dict[str, object] = {}

    def __init__(self, model_config: ModelConfig | dict | None = None, image_shape=(28, 28, 1), beta: float = 1.0,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(model_config, ModelConfig):
            self.cfg = model_config
        else:  # the dict from get_config (loading a .keras file)
            self.cfg = ModelConfig.from_dict(model_config)
        if self.cfg.kind != self.kind:
            raise ValueError(
                f"model.kind: expected {self.kind!r} for {type(self).__name__}, received {self.cfg.kind!r}"
            )
        self.check_config(self.cfg)
        self.image_shape = tuple(int(s) for s in image_shape)
        if len(self.image_shape) != 3:
            raise ValueError(f"image_shape: expected (H, W, C), received {image_shape!r}")
        self.initial_beta = float(beta)
        self.seed = seed
        self.encoder = self.build_encoder()
        self.decoder_logits, self.decoder = self._build_decoders()

    # ------------------------------------------------------------------ construction from a run config
    @classmethod
    def model_class(cls, strategy: str) -> type[BaseAutoencoder]:
        """The concrete class for `loss.strategy`; refuses a strategy the family does not support."""
        if cls.strategies is not None and strategy not in cls.strategies:
            raise ValueError(
                f"loss.strategy: model.kind {cls.kind!r} supports only {list(cls.strategies)} (see docs/models.md), "
                f"received {strategy!r}"
            )
        return cls

    @classmethod
    def check_config(cls, cfg: ModelConfig) -> None:
        """Raises ValueError (one line naming the field) on settings this family cannot use."""

    @classmethod
    def history_columns(cls) -> tuple[str, ...]:
        """Every history.csv column a run of this family can have: its terms, `beta` where loss.beta weights its
        objective (logged by the β schedule), their `val_` twins, and the epoch's time."""
        return (*cls.history_terms, *(("beta",) if cls.uses_beta else ()), *(f"val_{t}" for t in cls.history_terms),
                "time")

    @classmethod
    def label(cls, strategy: str, sep: str = "-") -> str:
        """A short name for runs and models: the kind, plus the strategy where the kind has several."""
        return cls.kind if cls.strategies is None or len(cls.strategies) == 1 else f"{cls.kind}{sep}{strategy}"

    @classmethod
    def from_run_config(cls, cfg: RunConfig, image_shape, n_train: int | None = None, **kwargs) -> BaseAutoencoder:
        """Builds the model for a run; families with extra settings (loss weights, `n_train`) override it."""
        # The outer model computes in float32 whatever the global policy: its own ops are the loss
        # (KL, beta weighting); encoder/decoder trunks follow `train.precision`.
        return cls(model_config=cfg.model, image_shape=tuple(image_shape), beta=cfg.loss.beta, seed=cfg.train.seed,
                   dtype="float32", name=cls.label(cfg.loss.strategy, sep="_"), **kwargs)

    def build_encoder(self) -> keras.Model:
        return build_encoder(self.cfg, self.image_shape, variational=self.has_posterior)

    def _build_decoders(self) -> tuple[keras.Model, keras.Model]:
        return build_decoders(self.cfg, self.image_shape)

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

    @property
    def p_x(self) -> Likelihood:
        """The pixel likelihood p(x | logits) (`vaelab.likelihoods`)."""
        return LIKELIHOODS.get(self.cfg.likelihood)

    @property
    def optimized_variables(self) -> list:
        """The variables `fit`'s optimizer updates, in its order: every trainable one here. A family that trains
        some weights in a separate stage (vqvae's PixelCNN prior) leaves them out, and a resumed run builds
        its optimizer from this same list, so the restored optimizer state matches the uninterrupted run's."""
        return self.trainable_variables

    def targets(self, x):
        """The `y` that `fit` needs for a batch of images `x` (only multi_output differs)."""
        return x

    def training_pair(self, x, labels=None):
        """The (inputs, targets) element `fit` trains on for images x (and labels, when `needs_labels`)."""
        return x, self.targets(x)

    def prepare_training(self, optimizer, jit_compile=False) -> None:
        """Compiles for training and builds `optimizer` over `optimized_variables` now: a first step that
        creates the optimizer's variables inside its trace is traced twice by TensorFlow (~2 s more before the
        first step of the CelebA net on 2 cores; docs/speed.md)."""
        own = {id(v) for v in self.optimized_variables}
        if getattr(optimizer, "use_ema", False) and any(id(v) not in own for v in self.trainable_variables):
            # Keras' fit swaps in the averages of *all* trainable weights at its end, which fails for weights
            # that another optimizer trains
            raise ValueError(f"train.ema: model.kind {self.cfg.kind!r} trains part of its weights with an "
                             f"optimizer of its own, so the weights cannot be averaged; remove train.ema")
        self.compile_for_training(optimizer, jit_compile)
        self.optimizer.build(self.optimized_variables)

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
            "model_config": self.cfg.to_dict(),
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

    def _batched(self, fn, x, batch_size: int, *more):
        """fn over x (and the arrays `more`, sliced alike) in batches; the outputs concatenated (a tuple of them
        when fn returns several)."""
        outs = [fn(x[i : i + batch_size], *(m[i : i + batch_size] for m in more)) for i in range(0, len(x), batch_size)]
        if not outs:
            raise ValueError("received an empty array")
        if isinstance(outs[0], (list, tuple)):
            return tuple(np.concatenate([ops.convert_to_numpy(o[j]) for o in outs]) for j in range(len(outs[0])))
        return np.concatenate([ops.convert_to_numpy(o) for o in outs])

    @functools.cached_property
    def _encode_graph(self):
        """The encoder as one traced graph for any batch size: numpy helpers pay no eager per-layer cost."""
        spec = tf.TensorSpec((None, *self.image_shape), "float32")
        return tf.function(lambda x: self.encoder(x, training=False), input_signature=[spec])

    @functools.cached_property
    def _decode_graph(self):
        spec = tf.TensorSpec((None, self.latent_dim), "float32")
        return tf.function(lambda z: self.decoder(z, training=False), input_signature=[spec])

    def encode(self, x, batch_size: int = 512):
        """images (N, H, W, C) in [0, 1] -> (z_mean, z_log_var) numpy (N, D); z_log_var is None for an AE."""
        out = self._batched(self._encode_graph, np.asarray(x, "float32"), batch_size)
        return out if self.has_posterior else (out, None)

    def decode(self, z, batch_size: int = 512) -> np.ndarray:
        """latents (N, D) -> images (N, H, W, C) in [0, 1]."""
        z = np.asarray(z, "float32").reshape(-1, self.latent_dim)
        return self._batched(self._decode_graph, z, batch_size)

    def decode_logits(self, z):
        """The likelihood's parameters (B, H, W, C) for latents z (B, D), as a tensor (evaluation)."""
        return self.decoder_logits(z, training=False)

    def reconstruct(self, x, deterministic: bool = True, seed: int | None = None) -> np.ndarray:
        z_mean, z_log_var = self.encode(x)
        if not deterministic and z_log_var is not None:
            rng = np.random.default_rng(seed)
            z_mean = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape).astype("float32")
        return self.decode(z_mean)

    def sample(self, n: int, std: float = 1.0, seed: int | None = None) -> np.ndarray:
        """Decodes n draws from the prior (N(0, std^2 I) here): new images, `decode_draws(prior_draws(...))`.

        An AE has no prior: this decodes the same Gaussian draws, which is what the "AE vs VAE"
        comparisons show. Families with another prior override `prior_draws` (and `decode_draws`).
        """
        return self.decode_draws(self.prior_draws(n, std, seed))

    def prior_draws(self, n: int, std: float = 1.0, seed: int | None = None) -> np.ndarray:
        """The latent draws `sample` decodes, one row per image (small next to the images): z ~ N(0, std^2 I)
        (n, D) here. Any slice of them decodes to the same images (`priors.sample_batches` streams them)."""
        return np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32") * std

    def decode_draws(self, draws) -> np.ndarray:
        """Images (N, H, W, C) of rows of `prior_draws`."""
        return self.decode(draws)


@keras.saving.register_keras_serializable(package="vaelab")
class Autoencoder(BaseAutoencoder):
    """Plain deterministic autoencoder on the same trunks as the VAE: loss = reconstruction only."""

    kind = "ae"

    def call(self, x, training=None):
        return self.decoder_logits(self.encoder(x, training=training), training=training)


class VAE(BaseAutoencoder):
    """Base of the four KL strategies: adds the `Sampling` layer and the non-trainable `beta` weight.

    Subclasses decide only *where the KL term enters training*; all call `losses.gaussian_kl`.
    """

    kind = "vae"
    strategies = ()  # every registered KL strategy: set by vaelab.models.strategies once they are imported
    has_posterior = True
    has_likelihood_bound = True
    has_prior = True
    standard_normal_prior = True
    uses_beta = True  # the KL weight (beta-TCVAE: the total correlation's)
    history_terms = ("loss", "reconstruction_loss", "kl_loss")

    @classmethod
    def model_class(cls, strategy: str) -> type[BaseAutoencoder]:
        if cls.kind != VAE.kind:  # a family built on a strategy class: its own `strategies` decide
            return super().model_class(strategy)
        from vaelab.models.strategies.registry import STRATEGIES  # filled by models.strategies (kinds imports it)

        return STRATEGIES.get(strategy)

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

    # ------------------------------------------------------------------ the family's densities
    @property
    def noise_dim(self) -> int:
        """Standard-normal numbers one importance sample needs (all stochastic layers together)."""
        return self.latent_dim

    def posterior_inputs(self, x):
        """What the encoder takes for images x (B, H, W, C) in the bounds: x (a conditional family adds its null
        condition)."""
        return x

    def decoder_inputs(self, z, batch: int, repeats: int):
        """What the decoder takes for z (B*S, D), S = `repeats` draws per image: z (a conditional family adds
        each image's condition, repeated)."""
        return z

    def log_prior(self, z, training=False):
        """log p(z) for z (..., D): N(0, I) here; other priors override it."""
        return log_standard_normal(z)

    def log_weight_terms(self, x, eps, training=False) -> dict:
        """The pieces of log w = log p(x|z) + log p(z) - log q(z|x) at z = z_mean + sigma * eps.

        Args:
            x: (B, H, W, C) images; eps: (B, S, noise_dim) standard-normal noise, S samples per image.
        Returns:
            {"log_px_z", "log_pz", "log_qz"}: (B, S) each; "z_mean", "z_log_var": (B, D) of q(z|x).
        """
        z_mean, z_log_var = self.encoder(self.posterior_inputs(x), training=training)  # (B, D) each
        b, s = ops.shape(eps)[0], ops.shape(eps)[1]
        z = z_mean[:, None] + ops.exp(0.5 * z_log_var)[:, None] * eps  # (B, S, D)
        z_flat = ops.reshape(z, (b * s, self.latent_dim))  # image-major
        logits = self.decoder_logits(self.decoder_inputs(z_flat, b, s), training=training)  # (B*S, H, W, C)
        log_px_z = ops.reshape(self.p_x.log_prob(ops.repeat(x, s, axis=0), logits), (b, s))  # image-major like z
        return {
            "log_px_z": log_px_z,
            "log_pz": self.log_prior(z, training=training),
            "log_qz": log_normal(z, z_mean[:, None], z_log_var[:, None]),
            "z_mean": z_mean,
            "z_log_var": z_log_var,
        }
