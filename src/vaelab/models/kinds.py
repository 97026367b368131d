"""Model kinds (families) registered in `MODEL_KINDS`; `build_model(cfg, image_shape)` is one lookup.

Each registered object is a model class whose class attributes say what the family can do
(`strategies`, `has_posterior`, `has_likelihood_bound`, `has_prior`, `standard_normal_prior`) and whose
`model_class(strategy)` picks the concrete class (the plain VAE has one per KL strategy).

Adding a family = one file defining a registered class + an import line at the bottom of this file.
"""

from __future__ import annotations

from vaelab.config import RunConfig
from vaelab.models.autoencoder import VAE, Autoencoder, BaseAutoencoder
from vaelab.registry import Registry

MODEL_KINDS = Registry("model kind")
MODEL_KINDS.register("ae")(Autoencoder)
MODEL_KINDS.register("vae")(VAE)


def model_class(cfg: RunConfig) -> type[BaseAutoencoder]:
    """The class `build_model` would use; raises ValueError (one line) on an unknown kind or strategy, or on
    model settings the family cannot use (e.g. `model.iw_samples: 0`). Cheap: builds nothing."""
    cls = MODEL_KINDS.get(cfg.model.kind).model_class(cfg.loss.strategy)
    cls.check_config(cfg.model)
    return cls


def build_model(cfg: RunConfig, image_shape, n_train: int | None = None, label_names: list[str] | None = None,
                attributes: bool = False) -> BaseAutoencoder:
    """The model of `model.kind` (and `loss.strategy` where the family has several), built, ready to compile.

    `n_train` (the training-set size) is used by families whose objective needs it (beta-TCVAE);
    `label_names` and `attributes` (the split's labels: class names, or attribute names when they are
    0/1 vectors) by families that condition on labels (`needs_labels`).
    """
    cls = model_class(cfg)
    extra = {"label_names": label_names, "attributes": attributes} if cls.needs_labels else {}
    model = cls.from_run_config(cfg, image_shape, n_train=n_train, **extra)
    model.build((None, *model.image_shape))  # symbolic call: builds every sublayer, no data needed
    return model


import vaelab.strategies  # noqa: E402,F401  (the VAE's strategy classes)  isort: skip
from vaelab.models import cvae, hvae, iwae, tcvae, vamp, vqvae  # noqa: E402,F401  isort: skip
