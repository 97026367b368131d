"""Where the KL term enters training: four registered strategies (seed parts V-VIII).

Each file holds one `VAE` subclass registered in `STRATEGIES`; they differ only in the mechanism
that brings `beta * KL` into the optimised loss, never in the maths (`losses.gaussian_kl`). All
log `loss`, `reconstruction_loss` and `kl_loss` (plus `val_` versions).

Adding a strategy = one file with `@STRATEGIES.register("name")` + an import line below.
Models are built by `vaelab.models.kinds.build_model` (re-exported here for existing imports).
"""

from __future__ import annotations

from vaelab.models.autoencoder import VAE
from vaelab.strategies.registry import STRATEGIES

from vaelab.strategies import encoder_layer, model_add_loss, multi_output, train_step  # noqa: E402,F401  isort: skip

VAE.strategies = tuple(STRATEGIES.names())


def __getattr__(name: str):
    # `from vaelab.strategies import build_model` keeps working; imported lazily because the model
    # kinds (vaelab.models.kinds) build on the strategy classes defined here.
    if name == "build_model":
        from vaelab.models.kinds import build_model

        return build_model
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["STRATEGIES", "build_model"]
