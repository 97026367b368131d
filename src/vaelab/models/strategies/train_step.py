"""Strategy 4 (seed part VIII): a custom `train_step` with `GradientTape` and `Mean` trackers.

This is the keras-io VAE example's design. The loss is written out explicitly, so it is the
easiest strategy to extend (extra terms, other divergences): the VAE families in `vaelab.models`
(IWAE, beta-TCVAE, hierarchical, VampPrior) build on it and override only `terms`. The step itself is
`vaelab.models.step.TermsStep`, shared with the families that are not VAEs.
"""

from __future__ import annotations

import keras
from keras import ops

from vaelab.losses import gaussian_kl
from vaelab.models.autoencoder import VAE
from vaelab.models.step import TermsStep
from vaelab.models.strategies.registry import STRATEGIES


@STRATEGIES.register("train_step")
@keras.saving.register_keras_serializable(package="vaelab")
class TrainStepVAE(TermsStep, VAE):
    extra_terms: tuple[str, ...] = ()  # further per-image terms a family logs each epoch (history.csv)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.extra_trackers = [keras.metrics.Mean(name=name) for name in self.extra_terms]

    @property
    def metrics(self):
        # Listed here so Keras resets them at the start of each epoch.
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker, *self.extra_trackers]

    def call(self, x, training=None):
        _, _, z = self.encode_sample(x, training=training)
        return self.decoder_logits(z, training=training)

    def terms(self, x, training) -> dict:
        """{"loss": scalar objective, "reconstruction_loss": (B,), "kl_loss": (B,), and each of `extra_terms`: (B,)}.

        The beta-ELBO with the closed-form Gaussian KL; families override this and nothing else.
        """
        z_mean, z_log_var, z = self.encode_sample(x, training=training)
        logits = self.decoder_logits(z, training=training)  # (B, H, W, C)
        rec = self.p_x.nll(x, logits)  # (B,)
        kl = gaussian_kl(z_mean, z_log_var)  # (B,)
        loss = ops.mean(rec) + self.beta * ops.mean(kl)
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "kl_loss": kl}
