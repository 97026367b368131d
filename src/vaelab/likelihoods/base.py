"""The `Likelihood` interface p(x | logits) and its registry `LIKELIHOODS`.

A likelihood turns the decoder's logits (B, H, W, C) into a per-image negative log-likelihood for
training and evaluation, and into the image it predicts (its mean) for reconstructions and samples.
Objects are stateless; one instance per name is registered:

    >>> lik = LIKELIHOODS.get("bernoulli")
    >>> lik.nll(x, logits)  # (B,) nats, summed over pixels
    >>> lik.mean(logits)    # (B, H, W, C) in [0, 1]

Adding a likelihood = one file with `@register("name")` on a `Likelihood` subclass + an import line in
`likelihoods/__init__.py`.
"""

from __future__ import annotations

from keras import ops

from vaelab.registry import Registry

LIKELIHOODS = Registry("likelihood")


def register(name: str):
    """Class decorator: registers one instance of the class under `name`."""

    def decorator(cls):
        cls.name = name
        LIKELIHOODS.register(name)(cls())
        return cls

    return decorator


def sum_pixels(t):
    """(B, ...) -> (B,): sums every axis but the batch axis."""
    return ops.sum(t, axis=tuple(range(1, len(t.shape))))


class Likelihood:
    """p(x | logits) for independent pixels x in [0, 1], parameterised by the decoder's logits."""

    name = "?"
    is_discrete = False  # True: nll is a probability of discrete (binarised) pixels, not a density
    what = ""  # one line for evaluation labels: what the number is

    def nll(self, x, logits):
        """-log p(x | logits), summed over pixels: (B,) nats. `x` and `logits` are (B, H, W, C)."""
        raise NotImplementedError

    def log_prob(self, x, logits):
        return -self.nll(x, logits)

    def mean(self, logits):
        """E[x | logits]: the image the decoder predicts, (B, H, W, C) in [0, 1]."""
        raise NotImplementedError

    def protocol(self, binarized: bool) -> tuple[bool, str]:
        """(is -log p a proper discrete NLL on these pixels?, the label saying what it is)."""
        if self.is_discrete:
            if binarized:
                return True, f"{self.what} on binarised pixels: a proper discrete NLL"
            return False, f"{self.what} on continuous pixels: not a normalised likelihood, NOT a proper discrete NLL"
        pixels = "binarised" if binarized else "continuous"
        return False, f"{self.what} on {pixels} pixels: a continuous density, NOT a proper discrete NLL"
