"""Latent priors to sample from: the training prior N(0, I) and ex-post densities fitted after training.

A VAE is trained against p(z) = N(0, I), but its aggregate posterior q(z) = E_x q(z|x) rarely fills that
Gaussian, so decoded N(0, I) samples include codes no image maps to. Fitting a density to the encoder's
z_mean of the training set after training ("ex-post density estimation", Ghosh et al. 2020) and sampling
from it instead gives better samples without retraining.

    standard.py   the model's own training prior (N(0, std^2 I) for a VAE), needs no fitting
    pixelcnn.py   a PixelCNN over a VQ-VAE's code grid (fits to codes, trained into model.keras)
    gmm.py        a Gaussian mixture on z_mean (sklearn GaussianMixture, full covariances)
    vae2.py       a second-stage VAE on z_mean (Dai & Wipf 2019)

Adding one = one file with a class registered in `PRIORS` (see base.py for the interface).
"""

from vaelab.priors import gmm, pixelcnn, standard, vae2  # noqa: F401  (registration)
from vaelab.priors.base import (
    PRIORS,
    Prior,
    decode_samples,
    fit_prior,
    fittable,
    fitted_priors,
    label,
    load_prior,
    own_prior,
    resolve,
    sample_batches,
    save_prior,
)

__all__ = ["PRIORS", "Prior", "decode_samples", "fit_prior", "fittable", "fitted_priors", "label", "load_prior",
           "own_prior", "resolve", "sample_batches", "save_prior"]
