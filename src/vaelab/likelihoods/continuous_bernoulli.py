"""The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): a proper density for x in [0, 1].

    p(x | l) = C(l) * lam^x * (1 - lam)^(1 - x),  lam = sigmoid(l)
    C(l) = 2 atanh(1 - 2 lam) / (1 - 2 lam) = l / tanh(l / 2)      (C(0) = 2)

so -log p = BCE(x, l) - log C(l): the binary cross-entropy that VAEs on continuous pixels train on,
corrected by the normaliser the BCE lacks. Its mean is not lam but
E[x] = 1 / (1 - exp(-l)) - 1 / l  (1/2 at l = 0).
"""

from __future__ import annotations

import math

from keras import ops

from vaelab.likelihoods.base import LIKELIHOODS, Likelihood, register, sum_pixels

_SMALL = 0.1  # |l| below this: Taylor series (the closed forms cancel catastrophically near l = 0)


def log_normalizer(logits):
    """log C(l) elementwise, stable for every l (Taylor series near 0, log-space elsewhere)."""
    a = ops.abs(logits)
    safe = ops.maximum(a, _SMALL)  # keeps the unused branch (and its gradient) finite
    # log(l / tanh(l/2)) = log|l| - log(1 - e^-|l|) + log(1 + e^-|l|)
    far = ops.log(safe) - ops.log(-ops.expm1(-safe)) + ops.log1p(ops.exp(-safe))
    a2 = ops.square(a)
    near = math.log(2.0) + a2 / 12.0 - 7.0 * ops.square(a2) / 1440.0
    return ops.where(a < _SMALL, near, far)


@register("continuous_bernoulli")
class ContinuousBernoulli(Likelihood):
    is_discrete = False
    what = "continuous Bernoulli density (normalised on [0, 1])"

    def nll(self, x, logits):
        logits = ops.cast(logits, "float32")
        return LIKELIHOODS.get("bernoulli").nll(x, logits) - sum_pixels(log_normalizer(logits))

    def mean(self, logits):
        logits = ops.cast(logits, "float32")
        safe = ops.where(ops.abs(logits) < _SMALL, _SMALL, logits)
        far = -1.0 / ops.expm1(-safe) - 1.0 / safe
        near = 0.5 + logits / 12.0 - ops.power(logits, 3) / 720.0
        return ops.where(ops.abs(logits) < _SMALL, near, far)
