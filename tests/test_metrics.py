"""Pure metric maths against closed forms: Fréchet distance, active units, KL per dim, log-densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from vaelab import metrics


def test_frechet_distance_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    f = np.random.default_rng(0).normal(size=(500, 8))
    assert metrics.frechet_distance_of_features(f, f) == pytest.approx(0.0, abs=1e-6)
    d = [metrics.frechet_distance_of_features(f, f + s) for s in (0.1, 0.5, 1.0)]
    # a pure shift moves only the means: d = |shift|^2 * F
    np.testing.assert_allclose(d, [0.01 * 8, 0.25 * 8, 1.0 * 8], rtol=1e-6)


def test_frechet_distance_diagonal_gaussians_closed_form():
    # commuting covariances: d = |mu1 - mu2|^2 + sum_i (s1_i - s2_i)^2 with s the standard deviations
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 1.5])
    expected = 1.0 + 0.0 + 4.0 + (4.0 + 0.0 + 1.0)
    assert metrics.frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected)


def test_frechet_distance_general_covariances_matches_the_sqrtm_formula():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    covmean = linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert metrics.frechet_distance(0.0, 4.0, 0.0, 1.0) == pytest.approx(1.0)  # 1-D: (2 - 1)^2


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"expected means \(F,\) and covariances \(F, F\)"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_active_units_on_constructed_encodings():
    rng = np.random.default_rng(0)
    n = 4000
    z_mean = np.stack(
        [rng.normal(0, 1.0, n), rng.normal(0, 0.05, n), rng.normal(3, 0.5, n), np.full(n, 2.0)], axis=1
    )  # variances 1, 0.0025, 0.25, 0
    count, variances = metrics.active_units(z_mean)
    assert count == 2
    np.testing.assert_allclose(variances, [1.0, 0.0025, 0.25, 0.0], rtol=0.1, atol=1e-12)
    assert metrics.active_units(z_mean, threshold=0.001)[0] == 3


def test_active_units_rejects_a_single_encoding():
    with pytest.raises(ValueError, match=r"expected \(N >= 2, D\)"):
        metrics.active_units(np.zeros((1, 3)))


def test_kl_per_dim_closed_form():
    z_mean = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 2.0]])
    z_log_var = np.array([[0.0, 0.0, 0.0], [0.0, math.log(2.0), 0.0]])
    # KL(N(m, s^2) || N(0, 1)) = (s^2 + m^2 - 1 - log s^2) / 2
    expected = [0.5, (0.0 + (1.0 - math.log(2.0)) / 2) / 2, (0.0 + 2.0) / 2]
    np.testing.assert_allclose(metrics.kl_per_dim(z_mean, z_log_var), expected)


def test_log_normal_and_importance_weights_closed_form():
    z = tf.constant([[0.0, 0.0], [1.0, -1.0]])
    zeros = tf.zeros_like(z)
    np.testing.assert_allclose(
        metrics.log_normal(z, zeros, zeros).numpy(),
        [-math.log(2 * math.pi), -math.log(2 * math.pi) - 1.0],
        rtol=1e-6,
    )
    # q(z|x) = p(z) => log w = log p(x|z)
    log_px_z = tf.constant([-3.0, -5.0])
    np.testing.assert_allclose(
        metrics.log_importance_weights(log_px_z, z, zeros, zeros).numpy(), [-3.0, -5.0]
    )
    # q = N(1, e^2) at z = 1: log p(z) - log q(z) = (-1/2 - 1/2 log 2pi) - (-1 - 1/2 log 2pi) = 1/2 per dim
    one, two = tf.ones((1, 2)), 2.0 * tf.ones((1, 2))
    np.testing.assert_allclose(
        metrics.log_importance_weights(tf.zeros(1), one, one, two).numpy(), [1.0], rtol=1e-6
    )


def test_bits_per_dim():
    assert metrics.bits_per_dim(784 * math.log(2.0), (28, 28, 1)) == pytest.approx(1.0)


def test_a_damaged_feature_classifier_cache_is_trained_again_with_one_warning(tmp_path):
    from vaelab.metrics.features import CLASSIFIER_FILE, ClassifierFeatures

    rng = np.random.default_rng(0)
    images = rng.random((64, 8, 8, 1), dtype=np.float32)
    labels = rng.integers(0, 3, 64)
    (tmp_path / CLASSIFIER_FILE).write_bytes(b"PK\x03\x04 not a keras archive")
    with pytest.warns(UserWarning, match=rf"{CLASSIFIER_FILE}: damaged or out-of-date feature classifier cache"):
        features = ClassifierFeatures.load_or_train(tmp_path, images, labels)
    assert features(images[:4]).shape == (4, 128)
    cached = ClassifierFeatures.load_or_train(tmp_path, images, labels)  # the rewritten cache loads as it is
    np.testing.assert_allclose(cached(images[:4]), features(images[:4]), rtol=1e-5)
    with pytest.warns(UserWarning, match=r"made for images of shape \(8, 8, 1\), not \(16, 16, 1\)"):
        ClassifierFeatures.load_or_train(tmp_path, rng.random((64, 16, 16, 1), dtype=np.float32), labels)
    assert not list(tmp_path.glob("*.tmp*"))
