"""Evaluation metrics as plain functions over arrays (the CLI driver is `vaelab.evaluate`).

    likelihood.py   log-importance weights, the IWAE bound (chunked), bits/dim
    latent.py       KL per latent dimension, active units (Burda et al. 2016)
    frechet.py      Fréchet distance between Gaussians fitted to feature sets
    standard.py     FID, KID, precision/recall over two feature sets (pure numpy)
    features.py     a small feature classifier trained on the dataset's labels (offline)
    inception.py    the standard FID InceptionV3 (optional extra `fid`), reference-feature cache
    disentanglement.py  beta-VAE, FactorVAE, MIG, SAP and DCI scores against ground-truth factors (numpy, sklearn)
"""

from vaelab.metrics.activity import active_units, kl_per_dim
from vaelab.metrics.bounds import (
    bits_per_dim,
    elbo_terms,
    iwae_bound,
    log_importance_weights,
    log_normal,
)
from vaelab.metrics.frechet import feature_statistics, frechet_distance, frechet_distance_of_features

__all__ = [
    "active_units", "bits_per_dim", "elbo_terms", "feature_statistics", "frechet_distance",
    "frechet_distance_of_features", "iwae_bound", "kl_per_dim", "log_importance_weights", "log_normal",
]
