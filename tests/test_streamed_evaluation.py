"""`vaelab evaluate` at large --fid-samples holds batches, not sets: prior samples decoded in batches (the same images
for every family), the standard scores fed batch by batch (the same numbers as on whole arrays), the reference
cache read and written in blocks, the own-classifier distance from running moments."""

from __future__ import annotations

import warnings
import weakref

import keras
import numpy as np
import pytest
from helpers import tiny_config

from vaelab import priors
from vaelab.config import DataConfig, RunConfig
from vaelab.metrics import inception, standard
from vaelab.models.kinds import MODEL_KINDS, build_model

TINY = {"architecture": "dense", "hidden_units": [16], "latent_dim": 3, "top_latent_dim": 2,
        "top_hidden_units": [8], "pseudo_inputs": 4}
KIND_SETTINGS = {"vqvae": {"architecture": "conv", "filters": [8], "kernel_sizes": [3], "strides": [2],
                           "codebook_size": 8, "prior_filters": 8}}


@pytest.mark.parametrize("kind", MODEL_KINDS.names())
def test_sample_batches_are_the_samples_of_every_family(kind):
    keras.utils.set_random_seed(3)
    cfg = RunConfig.from_dict({"model": {**TINY, **KIND_SETTINGS.get(kind, {}), "kind": kind}})
    model = build_model(cfg, (8, 8, 1), label_names=["a", "b"])
    prior = priors.PRIORS.get("standard")(model.latent_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # vqvae: its PixelCNN prior is not fitted here
        whole = priors.decode_samples(model, prior, 11, seed=5)
        batches = list(priors.sample_batches(model, prior, 11, seed=5, batch_size=4))
        again = model.sample(11, seed=5)
    assert [len(b) for b in batches] == [4, 4, 3]
    np.testing.assert_allclose(np.concatenate(batches), whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(again, whole)


def test_sample_batches_of_a_fitted_prior_decode_its_draws_in_batches():
    keras.utils.set_random_seed(4)
    model = build_model(RunConfig.from_dict({"model": {**TINY, "kind": "vae"}}), (8, 8, 1))
    gmm = priors.PRIORS.get("gmm").fit(np.random.default_rng(0).normal(size=(40, 3)), components=2)
    batches = list(priors.sample_batches(model, gmm, 9, seed=1, batch_size=5))
    assert [len(b) for b in batches] == [5, 4]
    np.testing.assert_allclose(np.concatenate(batches), model.decode(gmm.sample(9, seed=1)), rtol=1e-5, atol=1e-6)


def test_sample_codes_are_the_same_in_any_batch_size():
    """The uniforms are drawn position by position before the batches: the codes of the former whole-set loop."""
    from keras import ops

    from vaelab.models.pixelcnn import build_pixelcnn, sample_codes

    keras.utils.set_random_seed(0)
    prior, grid, n = build_pixelcnn((3, 3), 5, filters=8), (3, 3), 7
    rng, whole = np.random.default_rng(2), np.zeros((n, *grid), "int32")  # the loop as it was, on all n at once
    for i in range(3):
        for j in range(3):
            logits = ops.convert_to_numpy(prior(whole, training=False))[:, i, j].astype("float64")
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            whole[:, i, j] = (rng.random((n, 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(0, 4)
    np.testing.assert_array_equal(sample_codes(prior, n, grid, seed=2, batch_size=3), whole)
    np.testing.assert_array_equal(sample_codes(prior, n, grid, seed=2), whole)


def _fake(u8: np.ndarray) -> np.ndarray:
    """Stands in for InceptionV3: (B, H, W, 3) uint8 -> (B, FEATURES), a fixed function of each image alone."""
    x = u8[..., 0].reshape(len(u8), -1).astype("float32") / 255  # (B, 256)
    w = np.random.default_rng(0).normal(size=(x.shape[1], inception.FEATURES)).astype("float32")
    return np.maximum(x @ w, 0)


@pytest.fixture
def fake_network(monkeypatch, tmp_path):
    monkeypatch.setattr(inception, "FEATURES", 64)  # 2048 only makes the F x F maths slow
    monkeypatch.setenv("VAELAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(inception, "available", lambda: True)
    monkeypatch.setattr(inception, "_batch_function", lambda name: _fake)


def test_standard_scores_hold_a_batch_of_images_and_give_the_in_memory_numbers(fake_network, tmp_path):
    """Generated batches are dropped as soon as their features are taken (never all n images at once); the
    scores equal those of the whole feature arrays (the former path)."""
    rng = np.random.default_rng(3)
    generated = rng.random((300, 16, 16, 1)).astype("float32") ** 2
    alive, most = [], 0

    def sample(n):  # batches of 60 images; counts how many of them are still referenced when the next is made
        nonlocal most
        for i in range(0, n, 60):
            most = max(most, sum(r() is not None for r in alive))
            batch = generated[i : i + 60].copy()
            alive.append(weakref.ref(batch))
            yield batch

    data = DataConfig(name="synthetic")
    got = inception.standard_scores(sample, data, n=300, seed=2, verbose=False, folder=tmp_path / "spill")
    assert len(alive) == 5 and most <= 1, most  # the one batch whose last images await the next network batch
    assert not list((tmp_path / "spill").iterdir())  # the spilled features left nothing behind
    from vaelab.data import load_arrays

    reference = load_arrays(data, "test")[0]  # the synthetic test split: 128 images
    expected = standard.scores(_fake(inception.quantise(generated)), _fake(inception.quantise(reference)), seed=2)
    assert (got["n_generated"], got["n_reference"]) == (300, 128)
    for key in ("fid", "kid", "kid_std"):
        assert got[key] == pytest.approx(expected[key], rel=1e-6), key
    assert (got["precision"], got["recall"]) == (expected["precision"], expected["recall"])
    again = inception.standard_scores(lambda n: generated[:n], data, n=300, seed=2, verbose=False)  # one array
    assert again["fid"] == pytest.approx(got["fid"], rel=1e-9) and again["kid"] == pytest.approx(got["kid"])


def test_a_damaged_reference_cache_is_computed_again_with_one_warning(fake_network, tmp_path):
    images = np.random.default_rng(4).random((6, 16, 16, 1))
    first = inception.cached_features(images, "toy-test-16x16x1")
    f = tmp_path / "cache" / "fid" / f"toy-test-16x16x1-{inception.PROTOCOL_ID}.npz"
    f.write_bytes(f.read_bytes()[:300])
    with pytest.warns(UserWarning, match="damaged reference-feature cache"):
        again = inception.cached_features(images, "toy-test-16x16x1")
    np.testing.assert_array_equal(again, first)
    with np.load(f) as z:  # rewritten whole, readable as a plain .npz
        np.testing.assert_array_equal(z["features"], first)
        assert z["digests"].shape == (6,)


def test_the_own_classifier_distance_streams_to_the_in_memory_number(tmp_path):
    from vaelab import metrics, runs
    from vaelab.data import load_arrays
    from vaelab.evaluate import EvalOptions, evaluate_run_dir
    from vaelab.metrics.features import ClassifierFeatures
    from vaelab.train import fit

    run_dir = fit(tiny_config(tmp_path, train={"epochs": 1})).run_dir
    fd = evaluate_run_dir(run_dir, EvalOptions(k=1, inception=False)).metrics["frechet"]["classifier"]["fd"]
    run = runs.load_run(run_dir)
    feats = ClassifierFeatures(keras.saving.load_model(run_dir / "evaluation" / "feature_classifier.keras"))
    images = load_arrays(run.config.data, "test")[0]
    generated = priors.decode_samples(run.model, priors.PRIORS.get("standard")(run.model.latent_dim), len(images),
                                      seed=0)
    assert fd == pytest.approx(metrics.frechet_distance_of_features(feats(generated), feats(images)), rel=1e-5)
