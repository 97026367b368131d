"""Where the KL term enters training: four registered strategies (seed parts V-VIII).

Each file holds one `VAE` subclass registered in `STRATEGIES`; they differ only in the mechanism
that brings `beta * KL` into the optimised loss, never in the maths (`losses.gaussian_kl`). All
log `loss`, `reconstruction_loss` and `kl_loss` (plus `val_` versions).

Adding a strategy = one file with `@STRATEGIES.register("name")` + an import line below.
Models are built by `vaelab.models.kinds.build_model`.
"""

from __future__ import annotations

from vaelab.models.autoencoder import VAE
from vaelab.models.strategies.registry import STRATEGIES

from vaelab.models.strategies import encoder_layer, model_add_loss, multi_output, train_step  # noqa: E402,F401  isort: skip

VAE.strategies = tuple(STRATEGIES.names())

__all__ = ["STRATEGIES"]
