"""VQ-VAE: nearest-code quantisation, straight-through gradients, codebook usage, the PixelCNN prior stage."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from vaelab.config import RunConfig
from vaelab.models.kinds import build_model
from vaelab.models.pixelcnn import build_pixelcnn
from vaelab.models.vqvae import CodeUsage

SHAPE = (8, 8, 1)
TINY = {"kind": "vqvae", "filters": [8], "kernel_sizes": [3], "strides": [2], "latent_dim": 3, "codebook_size": 5,
        "prior_filters": 8}


def _vq(**model):
    keras.utils.set_random_seed(0)
    return build_model(RunConfig.from_dict({"model": {**TINY, **model}}), SHAPE)


def test_quantisation_picks_the_nearest_code_and_embeds_it():
    m = _vq()
    z_e = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype("float32")
    idx, z_q = (t.numpy() for t in m.vector_quantize(z_e))
    book = m.codebook.numpy()
    expected = np.argmin(((z_e[..., None, :] - book) ** 2).sum(-1), axis=-1)  # (2, 4, 4)
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(z_q, book[expected], rtol=1e-6)
    np.testing.assert_allclose(m.embed(idx).numpy(), book[expected].reshape(2, -1), rtol=1e-6)
    assert m.grid == (4, 4) and m.latent_dim == 4 * 4 * 3


def test_straight_through_gradients_reach_the_encoder():
    m = _vq()
    x = (np.random.default_rng(1).random((4, *SHAPE)) < 0.5).astype("float32")
    with tf.GradientTape() as tape:
        rec = tf.reduce_mean(m.terms(x, training=True)["reconstruction_loss"])  # no codebook/commitment term
    grads = tape.gradient(rec, m.encoder.trainable_weights)
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)
    # argmin has no gradient: without the straight-through estimator the encoder would get none
    with tf.GradientTape() as tape:
        _, z_q = m.vector_quantize(m.encoder(x))
        plain = tf.reduce_mean(m.p_x.nll(x, m.decoder_logits(tf.reshape(z_q, (4, -1)))))
    assert all(g is None for g in tape.gradient(plain, m.encoder.trainable_weights))


def test_code_usage_perplexity_and_dead_codes_closed_form():
    perplexity, dead = CodeUsage(4, "perplexity"), CodeUsage(4, "dead_codes")
    for metric in (perplexity, dead):
        metric.update_state(np.array([[0, 1], [2, 3]]))
    assert float(perplexity.result()) == pytest.approx(4.0) and float(dead.result()) == 0.0
    for metric in (perplexity, dead):
        metric.reset_state()
        metric.update_state(np.array([1, 1, 1, 3]))  # p = (0, 3/4, 0, 1/4)
    h = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25))
    assert float(perplexity.result()) == pytest.approx(np.exp(h), rel=1e-5) and float(dead.result()) == 2.0


def test_pixelcnn_is_autoregressive():
    """Changing the code at (i, j) changes the logits only at positions after (i, j) in raster order."""
    prior = build_pixelcnn((4, 4), 5, filters=8)
    codes = np.random.default_rng(0).integers(0, 5, (1, 4, 4)).astype("int32")
    base = prior(codes).numpy()
    changed = codes.copy()
    changed[0, 1, 2] = (codes[0, 1, 2] + 1) % 5
    diff = np.abs(prior(changed).numpy() - base).sum(-1)[0]  # (4, 4)
    order = np.arange(16).reshape(4, 4)
    assert np.all(diff[order <= order[1, 2]] == 0) and diff[order > order[1, 2]].sum() > 0


def test_pixelcnn_runs_and_samples_under_mixed_bfloat16():
    """Built under the mixed policy (as a vqvae trained in bf16 builds its prior): the masked kernels are cast
    to the compute dtype (a float32 mask used to promote them back, and oneDNN's bf16 conv refused them)."""
    from vaelab.models.pixelcnn import sample_codes
    from vaelab.precision import policy

    with policy("mixed_bfloat16"):
        prior = build_pixelcnn((3, 3), 4, filters=8)
    codes = np.random.default_rng(0).integers(0, 4, (2, 3, 3)).astype("int32")
    logits = prior(codes)
    assert logits.dtype == "float32" and np.isfinite(logits.numpy()).all()
    drawn = sample_codes(prior, 2, (3, 3), seed=0)
    assert drawn.shape == (2, 3, 3) and drawn.min() >= 0 and drawn.max() < 4


def test_config_refuses_dense():
    with pytest.raises(ValueError, match=r"^model.architecture: model.kind 'vqvae' needs 'conv'"):
        _vq(architecture="dense")


def test_train_logs_usage_fit_prior_samples_and_evaluate_explains_no_iw_nll(tmp_path, capsys):
    from vaelab.cli import main
    from vaelab.evaluate import EvalOptions, evaluate_model
    from vaelab.runs import load_run
    from vaelab.train import fit

    model = {"kind": "vqvae", "codebook_size": 16, "latent_dim": 4, "prior_filters": 16}
    result = fit(tiny_config(tmp_path, model=model, train={"epochs": 2}))
    h = result.history
    for key in ("perplexity", "dead_codes", "codebook_loss", "commitment_loss", "val_perplexity"):
        assert len(h[key]) == 2, key
    assert 1.0 <= h["perplexity"][-1] <= 16 and 0 <= h["dead_codes"][-1] <= 15

    assert main(["fit-prior", str(result.run_dir), "--kind", "pixelcnn", "--epochs", "3", "--limit", "128"]) == 0
    out = capsys.readouterr().out
    assert "pixelcnn prior fitted on 128 code grids, 3 epochs" in out, out
    run = load_run(result.run_dir)
    assert float(run.model.prior_epochs.numpy()) == 3
    a, b = run.model.sample(3, seed=2), load_run(result.run_dir).model.sample(3, seed=2)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 16, 16, 1) and 0 <= a.min() and a.max() <= 1
    info = run.model.fit_prior(run.model.encode_codes(np.zeros((8, 16, 16, 1), "float32")), epochs=4)
    assert info["nll"][-1] < info["nll"][0]  # one code grid repeated: the prior learns it

    assert main(["fit-prior", str(result.run_dir), "--kind", "gmm"]) == 2
    assert ("it fits to a continuous z_mean, and model.kind 'vqvae' has discrete code grids; choose from "
            "['pixelcnn']") in capsys.readouterr().err

    images = np.random.default_rng(0).random((16, 16, 16, 1)).astype("float32")
    m = evaluate_model(run.model, images, "none", EvalOptions(k=4, frechet=False))
    assert "iwae" not in m and "deterministic one-hot over codes" in m["absent"]["iwae"]
    assert "reconstruction" in m
