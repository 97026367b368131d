"""Where the KL term enters training: four registered strategies (seed parts V-VIII).

Each file holds one `VAE` subclass registered in `STRATEGIES`; they differ only in the mechanism
that brings `beta * KL` into the optimised loss, never in the maths (`losses.gaussian_kl`). All
log `loss`, `reconstruction_loss` and `kl_loss` (plus `val_` versions).

Adding a strategy = one file with `@STRATEGIES.register("name")` + an import line below.
"""

from __future__ import annotations

import dataclasses

from vaelab.config import RunConfig
from vaelab.models.autoencoder import Autoencoder, BaseAutoencoder
from vaelab.strategies.registry import STRATEGIES

from vaelab.strategies import encoder_layer, model_add_loss, multi_output, train_step  # noqa: E402,F401  isort: skip


def build_model(cfg: RunConfig, image_shape) -> BaseAutoencoder:
    """An AE (`model.kind: ae`, strategy unused) or a VAE using `loss.strategy`."""
    kwargs = dict(
        # The outer model computes in float32 whatever the global policy: its own ops are the loss
        # (KL, beta weighting); encoder/decoder trunks follow `train.precision`.
        dtype="float32",
        model_config=dataclasses.asdict(cfg.model),
        image_shape=tuple(image_shape),
        beta=cfg.loss.beta,
        seed=cfg.train.seed,
    )
    if cfg.model.kind == "ae":
        model = Autoencoder(**kwargs, name="ae")
    elif cfg.model.kind == "vae":
        model = STRATEGIES.get(cfg.loss.strategy)(**kwargs, name=f"vae_{cfg.loss.strategy}")
    else:
        raise ValueError(f"unknown model.kind {cfg.model.kind!r}; choose from ['ae', 'vae']")
    model.build((None, *model.image_shape))  # symbolic call: builds every sublayer, no data needed
    return model


__all__ = ["STRATEGIES", "build_model"]
