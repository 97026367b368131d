"""The numbers behind the pictures: closed-form checks of the analysis functions."""

from __future__ import annotations

import numpy as np
import pytest

from vaelab.analysis import (
    as_attributes,
    attribute_vectors,
    class_centroids,
    combine_vectors,
    confinement_stats,
    fit_attribute_classifier,
    interpolate,
    manifold_latents,
    normal_quantile_grid,
    path_through,
    project_2d,
    score_shift,
    slerp,
)
from vaelab.analysis.arithmetic import pixel_features


def test_confinement_stats_on_known_points():
    # 100 points on the circle of radius 2 plus the four corners of [-3, 3]^2: 95% lie within r=2.
    t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
    z = np.concatenate([2 * np.stack([np.cos(t), np.sin(t)], 1), [[-3, -3], [3, 3], [-3, 3], [3, -3]]])
    s = confinement_stats(z)
    assert s["n"] == 100 and s["latent_dim"] == 2
    np.testing.assert_allclose(s["min"], [-3, -3])
    np.testing.assert_allclose(s["max"], [3, 3])
    np.testing.assert_allclose(s["extent"], [6, 6])
    np.testing.assert_allclose(s["mean"], [0, 0], atol=1e-12)
    assert s["radius_95"] == pytest.approx(2.0, abs=1e-9)
    assert s["box_volume_log10"] == pytest.approx(np.log10(36))


def test_confinement_stats_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expected a non-empty \(N, D\) array, received shape \(3,\)"):
        confinement_stats(np.zeros(3))
    with pytest.raises(ValueError, match="coverage"):
        confinement_stats(np.zeros((3, 2)), coverage=1.5)


def test_quantile_grid_is_finite_symmetric_and_increasing():
    g = normal_quantile_grid(15)
    assert np.all(np.isfinite(g)) and np.all(np.diff(g) > 0)
    np.testing.assert_allclose(g, -g[::-1], atol=1e-12)
    assert g[0] == pytest.approx(-1.6449, abs=1e-4)  # the 5% quantile of N(0, 1)
    assert normal_quantile_grid(1) == pytest.approx([0.0])
    with pytest.raises(ValueError, match="0 < lo < hi < 1"):
        normal_quantile_grid(5, lo=0.0)


def test_manifold_latents_layout():
    z = manifold_latents(4, latent_dim=5, dims=(1, 3))
    assert z.shape == (16, 5)
    g = normal_quantile_grid(4)
    grid = z.reshape(4, 4, 5)
    np.testing.assert_allclose(grid[0, :, 1], g, rtol=1e-6)  # columns: dims[0] increasing
    np.testing.assert_allclose(grid[:, 0, 3], g[::-1], rtol=1e-6)  # rows: dims[1] decreasing (top = high)
    assert np.all(grid[..., [0, 2, 4]] == 0)
    assert manifold_latents(6, latent_dim=1).shape == (6, 1)
    with pytest.raises(ValueError, match="dims"):
        manifold_latents(4, latent_dim=2, dims=(0, 2))


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_endpoints_equal_inputs(method):
    a, b = np.array([1.0, 2.0, -1.0]), np.array([-2.0, 0.5, 3.0])
    path = interpolate(a, b, steps=7, method=method)
    assert path.shape == (7, 3)
    np.testing.assert_allclose(path[0], a, rtol=1e-6)
    np.testing.assert_allclose(path[-1], b, rtol=1e-6)


def test_slerp_keeps_the_norm_on_a_circle_and_lerp_does_not():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(np.linalg.norm(slerp(a, b, 9), axis=1), 1.0, rtol=1e-6)
    mid = interpolate(a, b, 3, "linear")[1]
    assert np.linalg.norm(mid) == pytest.approx(np.sqrt(0.5))
    np.testing.assert_allclose(slerp(a, 2 * a, 3)[1], 1.5 * a)  # parallel: falls back to linear
    with pytest.raises(ValueError, match=r"unknown interpolation 'cubic'; choose from \['linear', 'slerp'\]"):
        interpolate(a, b, 3, "cubic")


def test_class_centroids_and_path():
    z = np.array([[0, 0], [2, 0], [10, 10], [12, 10]], "float32")
    classes, c = class_centroids(z, np.array([3, 3, 7, 7]))
    assert classes.tolist() == [3, 7]
    np.testing.assert_allclose(c, [[1, 0], [11, 10]])
    path = path_through(np.array([[0, 0], [1, 0], [1, 1]]), steps_per_segment=3)
    np.testing.assert_allclose(path, [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]])


def test_projections_give_two_columns():
    z = np.random.default_rng(0).normal(size=(60, 5))
    assert project_2d(z, "pca").shape == (60, 2)
    assert project_2d(z, "tsne").shape == (60, 2)
    assert project_2d(z[:, :1], "pca").shape == (60, 2)
    with pytest.raises(ValueError, match="unknown projection 'umap'; choose from"):
        project_2d(z, "umap")


def test_attribute_vector_of_a_constructed_set_is_the_known_difference():
    attrs = np.array([[1, 0], [1, 1], [0, 1], [0, 0]] * 25)  # (100, 2)
    shift = np.array([[3.0, 0.0, 0.0], [0.0, -2.0, 0.5]])  # what each attribute adds to z
    z = attrs @ shift + np.array([0.1, 0.2, 0.3])  # (100, 3)
    v = attribute_vectors(z, attrs)
    np.testing.assert_allclose(v, shift, atol=1e-6)  # balanced design: difference of means = shift
    combined = combine_vectors(v, ["a", "b"], {"a": 1, "b": -2})
    np.testing.assert_allclose(combined, shift[0] - 2 * shift[1], atol=1e-6)
    assert np.isnan(attribute_vectors(z, np.ones((100, 1)))).all()  # nobody lacks it


def test_class_labels_become_one_hot_attributes():
    attrs, names = as_attributes(np.array([0, 2, 1]), ["a", "b", "c"])
    assert names == ["a", "b", "c"]
    np.testing.assert_array_equal(attrs, [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="label_names: expected 3 names, received 2"):
        as_attributes(np.array([0, 2, 1]), ["a", "b"])


def test_pixel_features_block_average():
    x = np.arange(4 * 4, dtype="float32").reshape(1, 4, 4, 1)
    f = pixel_features(x, max_side=2)
    np.testing.assert_allclose(f, [[2.5, 4.5, 10.5, 12.5]])


def test_classifier_scored_shift_is_positive_on_a_constructed_case():
    # Attribute "bright_left": the left half of the image is lit. Adding it must raise P(attribute).
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.3, size=(200, 8, 8, 1)).astype("float32")
    attrs = (rng.random(200) < 0.5).astype(int)[:, None]
    images[attrs[:, 0] == 1, :, :4] += 0.6
    clf = fit_attribute_classifier(images, attrs, ["bright_left"])
    assert clf.accuracy["bright_left"] > 0.9
    plain = images[attrs[:, 0] == 0][:20]
    edited = plain.copy()
    edited[:, :, :4] += 0.6
    s = score_shift(clf, plain, edited, "bright_left")
    assert s["p_before"] < 0.2 and s["p_after"] > 0.8 and s["shift"] > 0.6
    with pytest.raises(ValueError, match="unknown attribute"):
        fit_attribute_classifier(images, attrs, ["bright_left"], attributes=["Smiling"])
