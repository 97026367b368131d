"""Second-stage VAE on the encoder's z_mean (Dai & Wipf 2019, "Diagnosing and Enhancing VAE Models").

Stage 1 (the trained model) maps images to codes u = z_mean whose distribution is not N(0, I). Stage 2 is a
small VAE on u with its own latent v ~ N(0, I) of the same size and a Gaussian decoder whose variance gamma^2
is learned (their Sec. 4: a learned gamma lets stage 2 fit u closely, so q(v) approaches N(0, I)):

    loss(u) = |u - mu(v)|^2 / (2 gamma^2) + D log gamma + KL(q(v|u) || N(0, I)),  v ~ q(v|u)

Sampling: v ~ N(0, std^2 I) -> u = mu(v) -> (the stage-1 decoder turns u into an image).
Stored as plain arrays (the weights, in layer order) plus the layer sizes in the JSON.
"""

from __future__ import annotations

import numpy as np

from vaelab.priors.base import PRIORS, Prior


def _mlp(sizes: list[int], d_in: int, d_out: int, name: str):
    import keras

    x = keras.Input((d_in,))
    h = x
    for i, units in enumerate(sizes):
        h = keras.layers.Dense(units, activation="relu", name=f"{name}_{i}")(h)
    return keras.Model(x, keras.layers.Dense(d_out, name=f"{name}_out")(h), name=name)


@PRIORS.register("vae2", description="second-stage VAE on z_mean with a learned decoder variance (Dai & Wipf)")
class SecondStageVAE(Prior):
    kind = "vae2"

    def __init__(self, latent_dim: int, hidden: list[int], weights: list[np.ndarray] | None = None,
                 info: dict | None = None):
        import keras

        super().__init__(latent_dim, info)
        self.hidden = [int(h) for h in hidden]
        d = self.latent_dim
        self.encoder = _mlp(self.hidden, d, 2 * d, "vae2_encoder")  # u -> [mean, log_var] of v
        self.decoder = _mlp(self.hidden[::-1], d, d, "vae2_decoder")  # v -> mu(v)
        self.log_gamma = keras.Variable(0.0, name="log_gamma")
        if weights is not None:
            self.set_weights(weights)

    def variables(self) -> list:
        return [*self.encoder.weights, *self.decoder.weights, self.log_gamma]

    def get_weights(self) -> list[np.ndarray]:
        return [np.asarray(v.numpy()) for v in self.variables()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        variables = self.variables()
        if len(weights) != len(variables):
            raise ValueError(f"vae2 weights: expected {len(variables)} arrays, received {len(weights)}")
        for v, w in zip(variables, weights, strict=True):
            v.assign(w)

    def loss(self, u, eps):
        """Mean over the batch of the stage-2 negative ELBO above; u, eps (B, D)."""
        import tensorflow as tf

        stats = self.encoder(u)
        mean, log_var = stats[:, : self.latent_dim], stats[:, self.latent_dim :]  # (B, D) each
        v = mean + tf.exp(0.5 * log_var) * eps
        sq = tf.reduce_sum(tf.square(u - self.decoder(v)), axis=1)  # (B,)
        gamma2 = tf.exp(2.0 * self.log_gamma)
        kl = -0.5 * tf.reduce_sum(1.0 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
        return tf.reduce_mean(sq / (2.0 * gamma2) + self.latent_dim * self.log_gamma + kl)

    @classmethod
    def fit(cls, z: np.ndarray, seed: int = 0, hidden: tuple[int, ...] = (512, 512), epochs: int = 100,
            batch_size: int = 256, learning_rate: float = 1e-3) -> SecondStageVAE:
        import keras
        import tensorflow as tf

        from vaelab.optimizers import FusedAdam

        z = np.asarray(z, "float32")
        keras.utils.set_random_seed(seed)
        prior = cls(z.shape[1], list(hidden))
        variables = [*prior.encoder.trainable_weights, *prior.decoder.trainable_weights, prior.log_gamma]
        opt = FusedAdam(keras.optimizers.schedules.CosineDecay(
            learning_rate, epochs * int(np.ceil(len(z) / batch_size))))

        @tf.function
        def step(u, eps):
            with tf.GradientTape() as tape:
                loss = prior.loss(u, eps)
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            return loss

        rng, losses = np.random.default_rng(seed), []
        for _ in range(epochs):
            order = rng.permutation(len(z))
            for i in range(0, len(z), batch_size):
                u = z[order[i : i + batch_size]]
                losses.append(float(step(tf.constant(u), tf.constant(rng.standard_normal(u.shape), tf.float32))))
        prior.info.update({"hidden": prior.hidden, "epochs": epochs, "batch_size": batch_size,
                           "final_loss": float(np.mean(losses[-50:])), "gamma": float(np.exp(prior.log_gamma.numpy()))})
        return prior

    def sample(self, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
        v = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32") * std
        return np.asarray(self.decoder.predict(v, batch_size=2048, verbose=0), "float32")

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"w{i:03d}": w for i, w in enumerate(self.get_weights())}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], info: dict) -> SecondStageVAE:
        return cls(info["latent_dim"], info["hidden"], [arrays[k] for k in sorted(arrays)], info)

    def describe(self) -> str:
        return f"2nd-stage VAE ({'-'.join(map(str, self.hidden))}) on z_mean"
