"""MODEL_KINDS, the registry of model families (the plain AE and VAE registered here; each family's file
registers itself). Look families up through `vaelab.models.kinds`, which imports them all."""

from __future__ import annotations

from vaelab.models.autoencoder import VAE, Autoencoder
from vaelab.registry import Registry

MODEL_KINDS = Registry("model kind")
MODEL_KINDS.register("ae")(Autoencoder)
MODEL_KINDS.register("vae")(VAE)
