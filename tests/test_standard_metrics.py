"""FID / KID / precision-recall maths on small random features (no torch, no weights), and the extra's
loading path (tiny images through the real network), which runs wherever the `fid` extra is installed."""

from __future__ import annotations

import os

import numpy as np
import pytest

from vaelab.metrics import frechet, inception, standard
from vaelab.metrics.frechet import frechet_distance_of_features
from vaelab.metrics.store import FeatureStore


def test_fid_of_a_set_with_itself_is_zero():
    f = np.random.default_rng(0).normal(size=(300, 16))
    assert standard.scores(f, f)["fid"] == pytest.approx(0.0, abs=1e-8)


def test_fid_of_shifted_gaussians_approaches_the_analytic_value():
    # N(mu1, diag(s1^2)) vs N(mu2, diag(s2^2)): d^2 = |mu1 - mu2|^2 + sum (s1 - s2)^2
    rng = np.random.default_rng(1)
    mu1, mu2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([1.0, 1.0, 0.5, 0.0])
    s1, s2 = np.array([1.0, 0.5, 2.0, 1.0]), np.array([1.0, 1.5, 1.0, 0.5])
    a, b = mu1 + s1 * rng.normal(size=(200_000, 4)), mu2 + s2 * rng.normal(size=(200_000, 4))
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)  # 7.25 + 2.25
    assert standard.scores(a[:2000], b[:2000])["fid"] == pytest.approx(frechet_distance_of_features(a[:2000],
                                                                                                 b[:2000]))
    assert frechet_distance_of_features(a, b) == pytest.approx(expected, rel=0.01)


def _mmd2_brute_force(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / F + 1)^3, written as the double sums of Bińkowski et al."""
    f, m, n = x.shape[1], len(x), len(y)
    k = lambda a, b: (a @ b / f + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_with_one_full_subset_is_the_unbiased_mmd2():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(7, 3))
    mean, std = standard.kid(x, y, subsets=3, subset_size=7)  # every subset = the whole (permuted) sets
    assert mean == pytest.approx(_mmd2_brute_force(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_about_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    same, same_std = standard.kid(a, b, subsets=20, subset_size=500)
    near = standard.kid(a, b + 0.2, subsets=20, subset_size=500)[0]
    far = standard.kid(a, b + 1.0, subsets=20, subset_size=500)[0]
    assert abs(same) < 3 * same_std + 1e-3
    assert same < near < far and near > 3 * same_std


def test_precision_and_recall_of_a_set_against_itself_are_one():
    f = np.random.default_rng(4).normal(size=(400, 10))
    assert standard.precision_recall(f, f) == (1.0, 1.0)


def test_precision_and_recall_see_missing_modes_and_far_samples():
    rng = np.random.default_rng(5)
    mode_a, mode_b = rng.normal(0, 0.1, (500, 2)), rng.normal(10, 0.1, (500, 2))
    reference = np.concatenate([mode_a, mode_b])
    only_a = rng.normal(0, 0.1, (500, 2))  # covers one mode: precise, half the recall
    precision, recall = standard.precision_recall(only_a, reference)
    assert precision > 0.95 and recall == pytest.approx(0.5, abs=0.03)
    assert standard.precision_recall(rng.normal(50, 0.1, (200, 2)), reference) == (0.0, 0.0)


def test_knn_radii_on_points_on_a_line():
    f = np.arange(6, dtype=float)[:, None] ** 2  # 0, 1, 4, 9, 16, 25
    np.testing.assert_allclose(standard.knn_radii(f, k=1), [1, 1, 3, 5, 7, 9])
    np.testing.assert_allclose(standard.knn_radii(f, k=3), [9, 8, 5, 8, 12, 21])
    with pytest.raises(ValueError, match="k: expected"):
        standard.knn_radii(f, k=6)


def test_feature_statistics_stream_to_the_same_mean_and_covariance():
    from vaelab.metrics.frechet import feature_statistics

    f = np.random.default_rng(0).normal(50.0, 0.1, (1001, 6)).astype("float32")  # far from 0: cancellation-prone
    mean, cov = feature_statistics(f, chunk=7)  # 143 chunks
    np.testing.assert_allclose(mean, f.astype("float64").mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(f.astype("float64"), rowvar=False), rtol=1e-7, atol=1e-12)


def _in_memory_kid(g: np.ndarray, r: np.ndarray, subsets: int, size: int, seed: int) -> tuple[float, float]:
    rng, f, m, values = np.random.default_rng(seed), g.shape[1], min(len(g), len(r), size), []
    for _ in range(subsets):
        x, y = g[rng.choice(len(g), m, replace=False)], r[rng.choice(len(r), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / f + 1) ** 3, ((y @ y.T) / f + 1) ** 3, ((x @ y.T) / f + 1) ** 3
        values.append((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def _in_memory_scores(g: np.ndarray, r: np.ndarray, seed: int = 0, k: int = 3) -> dict:
    """The formulas on whole float64 arrays, as the scores were computed before they streamed: np.cov, every
    KID subset gathered from the arrays, full (N, M) distance matrices."""
    from vaelab.metrics.frechet import frechet_distance

    g, r = g.astype("float64"), r.astype("float64")
    fid = frechet_distance(g.mean(0), np.cov(g, rowvar=False), r.mean(0), np.cov(r, rowvar=False))
    kid, kid_std = _in_memory_kid(g, r, 100, 1000, seed)
    dist = lambda a, b: np.array([np.sqrt(((b - p) ** 2).sum(1)) for p in a])  # noqa: E731  (N, M)
    radius = lambda a: np.sort(dist(a, a), axis=1)[:, k]  # noqa: E731  the k-th neighbour, itself excluded
    inside = lambda a, b: np.any(dist(a, b) <= radius(b)[None, :], axis=1)  # noqa: E731
    return {"fid": fid, "kid": kid, "kid_std": kid_std,
            "precision": np.mean(inside(g, r)), "recall": np.mean(inside(r, g))}


def _store(features: np.ndarray, folder, rng) -> FeatureStore:
    """`features` appended to a FeatureStore in batches of random sizes (1..97 rows)."""
    store, i = FeatureStore(features.shape[1], folder), 0
    while i < len(features):
        b = int(rng.integers(1, 98))
        store.append(features[i : i + b])
        i += b
    return store


def _sets(n_gen: int, n_ref: int, dim: int = 12, seed: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g = rng.normal(0.2, 1.0, (n_gen, dim)).astype("float32")
    return g, (rng.normal(size=(n_ref, dim)) * np.linspace(0.5, 1.5, dim)).astype("float32")


def test_streamed_scores_equal_the_in_memory_formulas(tmp_path, monkeypatch):
    """Features spilled to disk in odd batches, FID from running sums, KID and precision/recall read back in small
    blocks: the numbers of the in-memory formulas to float round-off (the k-NN flags exactly)."""
    monkeypatch.setattr(standard, "ROWS", 37)
    monkeypatch.setattr(standard, "BLOCK", 37 * 53)  # 37 x 53 distance blocks: many blocks both ways
    monkeypatch.setattr(frechet.Moments.__init__, "__defaults__", (64,))  # chunks of 64 rows for the sums
    g, r = _sets(260, 300)
    expected = _in_memory_scores(g, r, seed=3)
    rng = np.random.default_rng(0)
    with _store(g, tmp_path, rng) as gen, _store(r, tmp_path, rng) as ref:
        assert (len(gen), len(ref)) == (260, 300) and not list(tmp_path.iterdir())  # unlinked files
        streamed = standard.scores(gen, ref, seed=3)
    in_memory = standard.scores(g, r, seed=3)
    for got in (streamed, in_memory):
        assert got["fid"] == pytest.approx(expected["fid"], rel=1e-9)
        assert got["kid"] == pytest.approx(expected["kid"], rel=1e-9)
        assert got["kid_std"] == pytest.approx(expected["kid_std"], rel=1e-7)
        assert (got["precision"], got["recall"]) == (expected["precision"], expected["recall"])
        assert got["kid_subset_size"] == 260
    assert 0 < expected["precision"] < 1 and 0 < expected["recall"] < 1  # the flags are not trivially all equal


def test_kid_subsets_read_from_a_store_equal_the_in_memory_subsets(tmp_path):
    """Subsets much smaller than the sets are gathered row by row from the file: the same rows, the same KID."""
    g, r = _sets(1300, 1100)
    rng = np.random.default_rng(1)
    with _store(g, tmp_path, rng) as gen, _store(r, tmp_path, rng) as ref:
        np.testing.assert_array_equal(gen.take(np.array([1299, 0, 7, 7])), g[[1299, 0, 7, 7]].astype("float64"))
        got = standard.kid(gen, ref, subsets=10, subset_size=100, seed=4)
    expected = _in_memory_kid(g.astype("float64"), r.astype("float64"), 10, 100, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_the_feature_path_holds_a_chunk_not_the_set(tmp_path, monkeypatch):
    """Memory is flat in N: filling a store holds at most one chunk of rows (plus the F x F sums), and scoring two
    stores of 8x the rows peaks at about the same traced memory; the in-memory path grows with N (control)."""
    import tracemalloc

    monkeypatch.setattr(standard, "ROWS", 64)
    monkeypatch.setattr(standard, "BLOCK", 64 * 64)
    monkeypatch.setattr(standard.kid, "__defaults__", (5, 200, 0))  # 5 subsets of 200 (bounded, not N)
    dim, chunk = 96, 256
    monkeypatch.setattr(frechet.Moments.__init__, "__defaults__", (chunk,))  # (the default 2048 > the small N)

    def held(store):  # bytes of every array the store and its moments keep
        arrays = [v for o in (store, store.moments) for v in vars(o).values() if isinstance(v, np.ndarray)]
        return sum(a.nbytes for a in arrays + list(store.moments._pending))

    peaks, rng = {}, np.random.default_rng(9)
    for n in (1000, 5000):
        tracemalloc.start()
        with FeatureStore(dim, tmp_path) as gen, FeatureStore(dim, tmp_path) as ref:
            for _ in range(0, n, 100):
                gen.append(rng.normal(size=(100, dim)))
                ref.append(rng.normal(0.1, 1.0, (100, dim)))
                assert gen.moments.pending_rows < chunk
                assert held(gen) <= (chunk + dim + 1) * dim * 8  # one chunk (as float64 at most) and the sums
            got = standard.scores(gen, ref)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert 0 < got["precision"] <= 1 and got["fid"] > 0
    one_copy = 5000 * dim * 4  # one float32 copy of one 5000-row set: 1.9 MB
    assert peaks[5000] < peaks[1000] + one_copy / 4, peaks
    tracemalloc.start()
    standard.scores(rng.normal(size=(5000, dim)), rng.normal(size=(5000, dim)))  # control: the arrays themselves
    assert tracemalloc.get_traced_memory()[1] > peaks[1000] + 2 * one_copy
    tracemalloc.stop()


def test_moments_of_any_batching_are_the_same_numbers():
    f = np.random.default_rng(10).normal(3.0, 0.5, (700, 5)).astype("float32")
    whole, parts = frechet.Moments(chunk=64), frechet.Moments(chunk=64)
    whole.update(f)
    for b in np.array_split(f, 37):
        parts.update(b)
        assert parts.pending_rows < 64
    for a, b in zip(whole.statistics(), parts.statistics(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expected"):
        frechet.Moments().statistics()


def test_scores_reject_mismatched_features():
    with pytest.raises(ValueError, match=r"expected two \(N >= 2, F\) arrays of equal F"):
        standard.kid(np.zeros((5, 3)), np.zeros((5, 4)))


def test_quantise_replicates_grey_and_rounds_like_a_png():
    x = np.array([0.0, 0.5, 1.0, 1.2, 0.001]).reshape(1, 1, 5, 1)
    u8 = inception.quantise(x)
    assert u8.dtype == np.uint8 and u8.shape == (1, 1, 5, 3)
    np.testing.assert_array_equal(u8[0, 0, :, 0], [0, 128, 255, 255, 0])
    assert np.all(u8[..., 0] == u8[..., 2])
    with pytest.raises(ValueError, match=r"expected \(N, H, W, 1 or 3\)"):
        inception.quantise(np.zeros((2, 4, 4, 2)))


def test_reference_cache_reuses_matching_images_and_extends(tmp_path, monkeypatch):
    monkeypatch.setenv("VAELAB_CACHE_DIR", str(tmp_path))
    calls = []

    def fake_network(u8):  # stands in for the network: records what it computes
        calls.append(len(u8))
        return np.repeat(u8.reshape(len(u8), -1)[:, :1].astype("float32"), inception.FEATURES, axis=1)

    monkeypatch.setattr(inception, "_batch_function", lambda name: fake_network)
    images = np.random.default_rng(6).random((10, 4, 4, 1))
    first = inception.cached_features(images[:6], "toy-test-4x4x1")
    again = inception.cached_features(images[:4], "toy-test-4x4x1")
    more = inception.cached_features(images, "toy-test-4x4x1")
    np.testing.assert_array_equal(again, first[:4])
    np.testing.assert_array_equal(more[:6], first)
    changed = images.copy()
    changed[2] = 1.0 - changed[2]
    inception.cached_features(changed, "toy-test-4x4x1")
    assert calls == [6, 4, 8]  # nothing for the prefix, only the 4 new ones, then from the changed image on
    assert (tmp_path / "fid" / f"toy-test-4x4x1-{inception.PROTOCOL_ID}.npz").is_file()


def test_extra_network_gives_2048_features_for_tiny_images():
    if not inception.available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"the fid extra must be installed under CI: {inception.INSTALL}")
        pytest.skip(inception.MISSING)
    images = np.random.default_rng(7).random((2, 8, 8, 1)).astype("float32")
    f = inception.features(images)
    assert f.shape == (2, 2048) and f.dtype == np.float32 and np.all(np.isfinite(f))
    np.testing.assert_allclose(inception.features(images[:1]), f[:1], rtol=1e-4, atol=1e-5)  # batch-independent
    assert np.all(f >= 0) and np.abs(f[0] - f[1]).max() > 1e-3  # pool3 after ReLU; different inputs differ


def _require_extra(module: str = "torch") -> None:
    import importlib.util

    if inception.available() and importlib.util.find_spec(module) is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the fid extra (with {module}) must be installed under CI: {inception.INSTALL}")
    pytest.skip(inception.MISSING)


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (32, 32), (64, 48)])
def test_the_matrix_resize_is_the_torch_resize(shape):
    _require_extra()
    import torch

    u8 = np.random.default_rng(1).integers(0, 256, (3, *shape, 3), dtype=np.uint8)
    reference = (inception.resize_299(torch.from_numpy(u8).permute(0, 3, 1, 2).float()) - 128.0) / 128.0
    np.testing.assert_allclose(inception.prepare(u8), reference.numpy(), rtol=0, atol=2e-5)


# Each check runs in a process of its own, and no compiled OpenVINO model is ever destroyed inside one (no cache
# reset): destroying one hung for good in ~CPUStreamsExecutor (std::thread::join), seen twice with one TF/OMP
# thread per process (pytest-xdist workers); a later process reading the cache is the real case anyway.
OPENVINO_CHECK = """
import sys, warnings
from pathlib import Path
import numpy as np
from sklearn.datasets import load_digits
from vaelab.metrics import inception

digits = load_digits().images[:6, :, :, None] / 16.0  # (6, 8, 8, 1) in [0, 1]
blobs = np.random.default_rng(2).random((4, 28, 28, 1)) ** 3
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for images in (digits, blobs)[: int(sys.argv[2])]:
        reference = inception.features(images, runtime_name="torch")
        fast = inception.features(images, runtime_name="openvino")
        assert np.abs(fast - reference).max() <= 1e-5 * np.abs(reference).max(), "features differ"
xml = inception._converted_path()
assert xml.is_file() and xml.with_suffix(".bin").is_file(), "no converted network in the cache"
assert not list(Path(sys.argv[1]).rglob("*.tmp*")), "a temporary file was left in the cache"
print("warned:", any("damaged converted network" in str(w.message) for w in caught))
print("ok")
"""


def _openvino_check(cache, image_sets: int) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", OPENVINO_CHECK, str(cache), str(image_sets)],
                          env={**os.environ, "VAELAB_CACHE_DIR": str(cache)}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_openvino_features_equal_the_torch_reference_and_the_conversion_is_cached(tmp_path):
    """The fast runtime runs the same weights: features within 1e-5 relative of the torch path, on real
    handwritten digits (scikit-learn's) and on 28x28 images; converted once, then read from the cache by a later
    process; a damaged cached network is converted again with one warning."""
    _require_extra("openvino")
    assert "warned: False" in _openvino_check(tmp_path, 2)  # converts, writes the cache
    (xml,) = tmp_path.rglob("inception-*.xml")
    xml.write_text("<not ir")
    assert "warned: True" in _openvino_check(tmp_path, 1)  # a later process: damaged -> converted again
    assert xml.read_text().startswith("<?xml")


def test_the_runtime_is_chosen_by_the_environment(monkeypatch):
    monkeypatch.setenv("VAELAB_FID_RUNTIME", "torch")
    assert inception.runtime() == "torch"
    monkeypatch.setenv("VAELAB_FID_RUNTIME", "tensorrt")
    with pytest.raises(ValueError, match=r"VAELAB_FID_RUNTIME: unknown runtime 'tensorrt'; choose from "
                                         r"\['openvino', 'torch'\]"):
        inception.runtime()
