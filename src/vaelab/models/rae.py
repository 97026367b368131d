"""RAE-L2: a regularised deterministic autoencoder (Ghosh et al. 2020, "From Variational to Deterministic
Autoencoders").

A plain autoencoder whose codes are kept near the origin by an explicit penalty instead of a KL term, and whose
decoder is kept smooth by weight decay:

    loss = -log p(x | z) + embedding_weight * 1/2 ||z||^2 + decoder_l2 * sum ||W_dec||^2,   z = encoder(x)

It has no prior to sample from during training: samples come from an ex-post density fitted to the codes
(`vaelab fit-prior RUN --kind gmm`), the paper's recipe. The demonstration that a family is one file plus one
registration (docs/architecture.md): its settings, history terms and test settings are declared here.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

from vaelab.config import bounded
from vaelab.models.autoencoder import Autoencoder
from vaelab.models.registry import MODEL_KINDS
from vaelab.models.step import TermsStep


@dataclass
class RAESettings:
    embedding_weight: float = bounded(1.0, ge=0.0)  # loss.embedding_weight: weight of 1/2 ||z||^2 per image
    decoder_l2: float = bounded(1e-4, ge=0.0)  # loss.decoder_l2: weight of the decoder kernels' squared L2 norm


@MODEL_KINDS.register("rae")
@keras.saving.register_keras_serializable(package="vaelab")
class RAE(TermsStep, Autoencoder):
    kind = "rae"
    prior_label = "N(0, I) (fit an ex-post prior: vaelab fit-prior RUN --kind gmm)"
    posterior_note = "a deterministic encoder"
    settings = {"loss": RAESettings}
    history_terms = ("loss", "reconstruction_loss", "embedding_loss", "decoder_l2")

    def __init__(self, *args, embedding_weight: float = 1.0, decoder_l2: float = 1e-4, **kwargs):
        super().__init__(*args, **kwargs)
        self.embedding_weight, self.decoder_l2 = float(embedding_weight), float(decoder_l2)
        self.trackers = [keras.metrics.Mean(name=name) for name in self.history_terms]

    @classmethod
    def from_run_config(cls, cfg, image_shape, n_train=None, **kwargs):
        return super().from_run_config(cfg, image_shape, embedding_weight=cfg.loss.embedding_weight,
                                       decoder_l2=cfg.loss.decoder_l2, **kwargs)

    def get_config(self):
        return {**super().get_config(), "embedding_weight": self.embedding_weight, "decoder_l2": self.decoder_l2}

    @property
    def metrics(self):
        return self.trackers

    def terms(self, x, training) -> dict:
        z = self.encoder(x, training=training)  # (B, D)
        logits = self.decoder_logits(z, training=training)  # (B, H, W, C)
        rec = self.p_x.nll(x, logits)  # (B,)
        embedding = 0.5 * ops.sum(ops.square(ops.cast(z, "float32")), axis=-1)  # (B,)
        kernels = [w for w in self.decoder_logits.trainable_weights if w.path.endswith("kernel")]
        l2 = ops.sum(ops.stack([ops.sum(ops.square(ops.cast(w, "float32"))) for w in kernels]))  # ()
        loss = ops.mean(rec) + self.embedding_weight * ops.mean(embedding) + self.decoder_l2 * l2
        return {"loss": self.with_regularizers(loss), "reconstruction_loss": rec, "embedding_loss": embedding,
                "decoder_l2": l2}
