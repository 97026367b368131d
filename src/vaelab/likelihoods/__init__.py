"""Pixel likelihoods p(x | logits), one file each, registered in `LIKELIHOODS` (see base.py).

Training (losses), evaluation (ELBO, IWAE) and sampling (the decoder's output image) all go through
the same object: `LIKELIHOODS.get(cfg.model.likelihood)`.
"""

from vaelab.likelihoods.base import LIKELIHOODS, Likelihood, register, sum_pixels

from vaelab.likelihoods import bernoulli, continuous_bernoulli, gaussian  # noqa: E402,F401  isort: skip

__all__ = ["LIKELIHOODS", "Likelihood", "register", "sum_pixels"]
