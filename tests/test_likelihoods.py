"""Pixel likelihoods against closed forms: one object per likelihood, used by training, evaluation and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from keras import ops

from vaelab.likelihoods import LIKELIHOODS
from vaelab.likelihoods.continuous_bernoulli import log_normalizer


def np_(t):
    return ops.convert_to_numpy(t)


def test_bernoulli_nll_sums_over_pixels_from_logits():
    x = np.array([[[[1.0], [0.0]]]], "float32")  # (1, 1, 2, 1)
    p = np.array([0.8, 0.3])
    logits = np.log(p / (1 - p)).astype("float32").reshape(1, 1, 2, 1)
    expected = -(math.log(0.8) + math.log(0.7))
    assert np_(LIKELIHOODS.get("bernoulli").nll(x, logits))[0] == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(np_(LIKELIHOODS.get("bernoulli").mean(logits)).ravel(), p, rtol=1e-6)


def test_bernoulli_stays_finite_for_saturated_logits():
    x = np.array([[[[1.0], [0.0]]]], "float32")
    logits = np.array([[[[-200.0], [200.0]]]], "float32")  # both pixels maximally wrong
    assert np_(LIKELIHOODS.get("bernoulli").nll(x, logits))[0] == pytest.approx(400.0, rel=1e-6)


def test_gaussian_nll_is_squared_error_plus_the_variance_half_constant():
    x = np.zeros((2, 2, 2, 1), "float32")
    logits = np.zeros((2, 2, 2, 1), "float32")  # mean 1/2 everywhere: SSE = 4 values * 1/4 = 1 per image
    nll = np_(LIKELIHOODS.get("gaussian").nll(x, logits))
    # -log N(x; mu, 1/2) = (x - mu)^2 + 1/2 log(pi) per value
    np.testing.assert_allclose(nll, [1.0 + 4 * 0.5 * math.log(math.pi)] * 2, rtol=1e-6)


@pytest.mark.parametrize("logit", [0.0, 1e-4, 0.05, -0.099, 0.1, 0.5, -3.0, 15.0, -60.0])
def test_continuous_bernoulli_normaliser_closed_form(logit):
    """C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam) (C = 2 at lam = 1/2), Loaiza-Ganem & Cunningham 2019 Eq. 7."""
    lam = 1.0 / (1.0 + math.exp(-logit))
    if abs(logit) > 30:  # lam rounds to 0 or 1 in float64: C -> |l| (plus exponentially small terms)
        expected = abs(logit)
    else:
        expected = 2.0 if abs(1 - 2 * lam) < 1e-12 else 2 * math.atanh(1 - 2 * lam) / (1 - 2 * lam)
    got = float(np_(log_normalizer(np.array([logit], "float32")))[0])
    assert got == pytest.approx(math.log(expected), abs=2e-6)


@pytest.mark.parametrize("logit", [-8.0, -1.0, 0.0, 0.03, 2.5])
def test_continuous_bernoulli_integrates_to_one_and_has_its_mean(logit):
    """int_0^1 p(x | l) dx = 1 and int_0^1 x p(x | l) dx = mean(l), by the trapezoid rule on 20k points."""
    lik = LIKELIHOODS.get("continuous_bernoulli")
    x = np.linspace(0.0, 1.0, 20001, dtype="float32").reshape(-1, 1, 1, 1)  # each x one "image"
    logits = np.full_like(x, logit)
    density = np.exp(-np_(lik.nll(x, logits)).astype("float64"))  # (N,)
    xs = x.ravel().astype("float64")
    assert np.trapezoid(density, xs) == pytest.approx(1.0, abs=1e-5)
    mean = float(np_(lik.mean(np.array([[[[logit]]]], "float32"))).ravel()[0])
    assert mean == pytest.approx(np.trapezoid(xs * density, xs), abs=1e-5)


def test_continuous_bernoulli_gradients_are_finite_at_zero_logits():
    import tensorflow as tf

    logits = tf.Variable(np.array([[[[0.0], [1e-3], [5.0]]]], "float32"))
    x = tf.constant([[[[0.2], [0.9], [0.5]]]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(LIKELIHOODS.get("continuous_bernoulli").nll(x, logits))
    assert np.all(np.isfinite(tape.gradient(loss, logits).numpy()))


def test_protocol_labels_proper_nll_only_for_binarised_bernoulli():
    assert LIKELIHOODS.get("bernoulli").protocol(binarized=True)[0] is True
    for name in LIKELIHOODS.names():
        proper, label = LIKELIHOODS.get(name).protocol(binarized=False)
        assert not proper and "NOT a proper discrete NLL" in label
    assert "continuous density" in LIKELIHOODS.get("continuous_bernoulli").protocol(False)[1]


def test_unknown_likelihood_lists_choices():
    with pytest.raises(ValueError, match=r"unknown likelihood 'poisson'; choose from \['bernoulli', "
                                         r"'continuous_bernoulli', 'gaussian'\]"):
        LIKELIHOODS.get("poisson")
