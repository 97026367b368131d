"""Custom layers: reparameterised sampling, the encoder-side KL layer, a log-variance clamp, the likelihood mean."""

from __future__ import annotations

import keras
from keras import layers, ops

from vaelab.likelihoods import LIKELIHOODS
from vaelab.losses import gaussian_kl


@keras.saving.register_keras_serializable(package="vaelab")
class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, I)  (the reparameterisation trick).

    Samples only when `training=True`; at inference it returns `z_mean` (the posterior mode),
    so reconstructions and latent plots are deterministic. Owns a `SeedGenerator`, so two
    layers built with the same seed draw the same noise sequence.
    """

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        z_mean, z_log_var = inputs  # (B, D) each
        if not training:
            return z_mean
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps  # (B, D)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def noise(self, shape, dtype="float32"):
        """Standard-normal draws of `shape` from this layer's generator (importance samples, hierarchies)."""
        return keras.random.normal(shape, dtype=dtype, seed=self.seed_generator)

    # The RNG state is saved with the weights, so a resumed run continues the same noise sequence
    # (Keras saves a SeedGenerator's state only when it is an ordinary layer weight).
    def save_own_variables(self, store):
        store["seed_state"] = ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        if "seed_state" in store:
            self.seed_generator.state.assign(store["seed_state"])

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="vaelab")
class ClipValues(layers.Layer):
    """Clamps a tensor to [-limit, limit] (guards `exp(z_log_var)` against overflow).

    A head layer: it computes in float32 whatever `train.precision` (its output enters the KL and the
    log-densities), unless a dtype is given.
    """

    def __init__(self, limit: float, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.limit = float(limit)

    def call(self, x):
        return ops.clip(x, -self.limit, self.limit)

    def get_config(self):
        return {**super().get_config(), "limit": self.limit}


@keras.saving.register_keras_serializable(package="vaelab")
class KLDivergenceLayer(layers.Layer):
    """Identity on (z_mean, z_log_var) that adds beta * mean_B KL to the model's losses (strategy 1).

    It sits inside the encoder, where both tensors are available as real inputs, so the KL term
    reaches `Model.losses` through `add_loss` in every execution mode. It also owns the `kl_loss`
    tracker (Keras collects metrics of nested layers) and the non-trainable `beta` variable.
    """

    def __init__(self, beta: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_beta = float(beta)
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    def build(self, input_shape):
        self.beta = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_beta),
            trainable=False,
            name="beta",
        )

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        self.add_loss(self.beta * ops.mean(kl))
        self.kl_tracker.update_state(kl)
        return z_mean, z_log_var

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "beta": self.initial_beta}


@keras.saving.register_keras_serializable(package="vaelab")
class LikelihoodMean(layers.Layer):
    """logits (B, H, W, C) -> E[x | logits] under a registered likelihood: the decoder's output image."""

    def __init__(self, likelihood: str = "bernoulli", **kwargs):
        super().__init__(**kwargs)
        self.likelihood = likelihood
        self.fn = LIKELIHOODS.get(likelihood).mean

    def call(self, logits):
        return self.fn(logits)

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood}
