"""Gaussian pixels with fixed variance 1/2: p(x | l) = N(x; sigmoid(l), 1/2 I)."""

from __future__ import annotations

import math

from keras import ops

from vaelab.likelihoods.base import Likelihood, register, sum_pixels


@register("gaussian")
class Gaussian(Likelihood):
    """-log p = sum of squared errors + D/2 log(pi), with D the number of pixel values.

    The variance 1/2 makes the data term exactly the summed squared error (the usual "MSE VAE"), plus
    a constant that keeps the number a true negative log-density. A density, not a probability.
    """

    is_discrete = False
    what = "Gaussian density (variance 1/2, the squared-error loss)"

    def nll(self, x, logits):
        logits = ops.cast(logits, "float32")
        d = ops.cast(x, "float32") - ops.sigmoid(logits)  # (B, H, W, C)
        return sum_pixels(ops.square(d) + 0.5 * math.log(math.pi))

    def mean(self, logits):
        return ops.sigmoid(logits)
