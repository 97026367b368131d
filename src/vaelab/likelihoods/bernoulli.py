"""Independent Bernoulli pixels: p(x | l) = sigmoid(l)^x (1 - sigmoid(l))^(1 - x)."""

from __future__ import annotations

import tensorflow as tf
from keras import ops

from vaelab.likelihoods.base import Likelihood, register, sum_pixels


@register("bernoulli")
class Bernoulli(Likelihood):
    """Binary cross-entropy from the logits, so it stays finite for saturated pixels.

    A probability when x is binary (`data.binarize`: static/dynamic). For x in (0, 1) it is the
    binary cross-entropy, which is not a normalised density (see `continuous_bernoulli`).
    """

    is_discrete = True
    what = "Bernoulli likelihood"  # on continuous pixels: the BCE, not normalised

    def nll(self, x, logits):
        logits = ops.cast(logits, "float32")
        # max(l, 0) - l*x + log(1 + exp(-|l|)): the same op Keras's binary_crossentropy uses on logits
        t = tf.nn.sigmoid_cross_entropy_with_logits(labels=ops.cast(x, logits.dtype), logits=logits)
        return sum_pixels(t)  # (B, H, W, C) -> (B,)

    def mean(self, logits):
        return ops.sigmoid(logits)
