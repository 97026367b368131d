"""VAE families: a contract over every registered model kind, and each family's maths against a closed form."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_resume_is_exact, tiny_config

from vaelab import metrics
from vaelab.config import RunConfig
from vaelab.evaluate import EvalOptions, evaluate_model
from vaelab.evaluate.sections import SECTIONS
from vaelab.losses import gaussian_kl, log_normal, log_standard_normal
from vaelab.models.kinds import MODEL_KINDS, build_model
from vaelab.models.tcvae import tc_decomposition
from vaelab.models.vamp import log_mixture_of_gaussians

SHAPE = (8, 8, 1)
LABEL_NAMES = ["left", "right"]  # `images`: class 0 has the bright left half, class 1 the right half
TINY = {"architecture": "dense", "hidden_units": [32], "latent_dim": 3}


def tiny(kind: str, section: str = "model") -> dict:
    """A family's own `tiny_settings` of one section (what makes a tiny model of it: a family says it itself)."""
    own = MODEL_KINDS.get(kind).tiny_settings
    return {k.split(".", 1)[1]: v for k, v in own.items() if k.startswith(f"{section}.")}


def _model(kind, seed=7, **model):
    keras.utils.set_random_seed(seed)
    model = {**TINY, **tiny(kind), "kind": kind, **model}
    cfg = RunConfig.from_dict({"model": model, "train": {"seed": seed}})
    return build_model(cfg, SHAPE, label_names=LABEL_NAMES)  # the labels are used by kinds that need them


@pytest.fixture(scope="module")
def images():
    """(64, 8, 8, 1) binary images with structure: bright left or right half, plus noise."""
    rng = np.random.default_rng(0)
    p = np.full((64, *SHAPE), 0.1, "float32")
    p[::2, :, :4] = 0.9
    p[1::2, :, 4:] = 0.9
    return (rng.random(p.shape) < p).astype("float32")


@pytest.mark.parametrize("kind", MODEL_KINDS.names())
def test_every_kind_builds_learns_round_trips_samples_and_evaluates(kind, images, tmp_path):
    model = _model(kind, iw_samples=2)
    model.compile_for_training(keras.optimizers.Adam(3e-3))
    labels = np.arange(len(images)) % 2
    ds = tf.data.Dataset.from_tensor_slices((images, labels) if model.needs_labels else images)
    ds = ds.batch(16).map(model.training_pair)
    loss = model.fit(ds, epochs=6, verbose=0, shuffle=False).history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < 0.9 * loss[0], loss

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.reconstruct(images), model.reconstruct(images))
    np.testing.assert_array_equal(loaded.sample(5, seed=1), model.sample(5, seed=1))

    s = model.sample(5, seed=0)
    assert s.shape == (5, *SHAPE) and s.min() >= 0 and s.max() <= 1

    m = evaluate_model(model, images, "static", EvalOptions(k=4, frechet=False))
    for name in SECTIONS.names():
        assert name in m or name in m["absent"] or name == "frechet", name
    assert ("iwae" in m) == model.has_likelihood_bound
    if "iwae" in m:
        assert m["iwae"]["nll"] <= -m["elbo"]["single_sample_log_w"] + 1.0  # L_4 is not worse than L_1 (noisy)


def test_unsupported_strategy_is_refused_in_one_line(tmp_path):
    from vaelab.train import fit

    for kind in MODEL_KINDS.names():
        cls = MODEL_KINDS.get(kind)
        if cls.strategies is None or "multi_output" in cls.strategies:
            continue
        with pytest.raises(ValueError, match=rf"^loss.strategy: model.kind '{kind}' supports only \['train_step'\]"):
            build_model(RunConfig.from_dict({"model": {**TINY, "kind": kind}, "loss": {"strategy": "multi_output"}}),
                        SHAPE)
    with pytest.raises(ValueError, match="supports only"):
        fit(tiny_config(tmp_path, model={"kind": "iwae"}, loss={"strategy": "encoder_layer"}))
    for field, kind in (("iw_samples", "hvae"), ("top_latent_dim", "hvae"), ("pseudo_inputs", "vamp")):
        with pytest.raises(ValueError, match=rf"^model.{field}: expected a value >= 1, received 0$"):
            tiny_config(tmp_path, model={"kind": kind, field: 0})  # refused when the config is loaded
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())  # nothing was created


# ---------------------------------------------------------------------------------------------- IWAE


def test_iwae_with_one_sample_is_exactly_the_vae(images):
    """k = 1: same loss, same gradients, and after training the same weights (tolerance 0)."""
    results = []
    for kind in ("vae", "iwae"):
        model = _model(kind, iw_samples=1)
        model.compile_for_training(keras.optimizers.Adam(1e-2))
        with tf.GradientTape() as tape:
            loss = model.objective(images[:16])
        grads = [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]
        hist = model.fit(images, images, batch_size=16, epochs=2, verbose=0, shuffle=False).history
        results.append((float(loss), grads, hist, model.get_weights()))
    (l0, g0, h0, w0), (l1, g1, h1, w1) = results
    assert l0 == l1 and h0 == h1
    for a, b in zip(g0 + w0, g1 + w1, strict=True):
        np.testing.assert_array_equal(a, b)


def test_iwae_training_bound_is_the_evaluation_bound_with_the_same_noise(images, monkeypatch):
    model, k = _model("iwae", iw_samples=5), 5
    eps = np.random.default_rng(3).standard_normal((16, k, model.noise_dim)).astype("float32")
    monkeypatch.setattr(model.sampling, "noise", lambda shape, dtype="float32": tf.constant(eps))
    loss = float(model.terms(images[:16], training=False)["loss"])
    t = model.log_weight_terms(images[:16], eps)
    log_w = (t["log_px_z"] + t["log_pz"] - t["log_qz"]).numpy()  # (B, k)
    expected = -np.mean(np.log(np.mean(np.exp(log_w.astype("float64")), axis=1)))
    assert loss == pytest.approx(expected, rel=1e-5)
    assert loss <= -np.mean(log_w) + 1e-4  # Jensen: L_k >= the mean of the k single-sample bounds


# ---------------------------------------------------------------------------------------------- beta-TCVAE


def test_tc_terms_sum_to_the_kl_estimate_and_average_to_the_closed_form_kl():
    rng = np.random.default_rng(0)
    m, d = 256, 4
    z_mean = rng.normal(0, 1.0, (m, d)).astype("float32")
    z_log_var = rng.normal(-1.0, 0.3, (m, d)).astype("float32")
    z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal((m, d)).astype("float32")
    t = {k: v.numpy() for k, v in tc_decomposition(z, z_mean, z_log_var, dataset_size=60_000).items()}
    estimate = (log_normal(z, z_mean, z_log_var) - log_standard_normal(z)).numpy()  # log q(z|x) - log p(z)
    np.testing.assert_allclose(t["mutual_info"] + t["total_correlation"] + t["dimwise_kl"], estimate, atol=1e-3)
    closed = gaussian_kl(z_mean, z_log_var).numpy()
    assert abs(estimate.mean() - closed.mean()) < 4 * estimate.std() / math.sqrt(m)


def test_tc_terms_of_a_single_data_point_closed_form():
    """Every image the same: q(z) = q(z|x) (MI = 0) and q factorises (TC = 0); the whole KL is dimension-wise."""
    rng = np.random.default_rng(1)
    m, d = 32, 3
    z_mean = np.tile(rng.normal(size=(1, d)), (m, 1)).astype("float32")
    z_log_var = np.tile(rng.normal(-0.5, 0.2, (1, d)), (m, 1)).astype("float32")
    z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal((m, d)).astype("float32")
    t = {k: v.numpy() for k, v in tc_decomposition(z, z_mean, z_log_var).items()}
    np.testing.assert_allclose(t["mutual_info"], 0.0, atol=1e-4)
    np.testing.assert_allclose(t["total_correlation"], 0.0, atol=1e-4)
    expected = (log_normal(z, z_mean, z_log_var) - log_standard_normal(z)).numpy()
    np.testing.assert_allclose(t["dimwise_kl"], expected, atol=1e-4)


def test_tcvae_logs_the_three_terms_each_epoch(tmp_path):
    from vaelab.train import fit

    result = fit(tiny_config(tmp_path, model={"kind": "tcvae"}, loss={"tc_alpha": 1.0, "beta": 4.0},
                             train={"epochs": 2}))
    h = result.history
    for term in ("mutual_info", "total_correlation", "dimwise_kl"):
        assert len(h[term]) == 2 and len(h["val_" + term]) == 2
    total = np.array(h["mutual_info"]) + np.array(h["total_correlation"]) + np.array(h["dimwise_kl"])
    np.testing.assert_allclose(total, h["kl_loss"], rtol=1e-4, atol=1e-3)
    assert result.model.dataset_size == 256  # fit passes the training-set size N


# ---------------------------------------------------------------------------------------------- VampPrior


def test_vampprior_with_one_pseudo_input_at_a_data_point_is_that_points_posterior(images):
    model = _model("vamp", pseudo_inputs=1)
    x0 = images[:1]
    model.pseudo.assign(x0)
    mean, log_var = (t.numpy() for t in model.encoder(x0))
    z = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")  # (B, S, D)
    np.testing.assert_allclose(model.log_prior(z).numpy(), log_normal(z, mean, log_var).numpy(), rtol=1e-5)


def test_log_mixture_of_gaussians_matches_the_direct_sum():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(7, 3)).astype("float32")
    means, log_vars = rng.normal(size=(4, 3)).astype("float32"), rng.normal(0, 0.5, (4, 3)).astype("float32")
    comps = np.stack([log_normal(z, means[k], log_vars[k]).numpy() for k in range(4)], axis=1)  # (7, 4)
    expected = np.log(np.mean(np.exp(comps.astype("float64")), axis=1))
    np.testing.assert_allclose(log_mixture_of_gaussians(z, means, log_vars).numpy(), expected, rtol=1e-4)


def test_vamp_iw_nll_uses_the_vampprior(images):
    model = _model("vamp")
    eps = np.zeros((4, 1, model.noise_dim), "float32")
    t = model.log_weight_terms(images[:4], eps)
    z = t["z_mean"].numpy()[:, None]  # eps = 0: z = z_mean
    np.testing.assert_allclose(t["log_pz"].numpy(), model.log_prior(z).numpy(), rtol=1e-6)
    assert not np.allclose(t["log_pz"].numpy(), log_standard_normal(z).numpy())


# ---------------------------------------------------------------------------------------------- two stochastic layers


def test_hvae_log_weight_is_the_sum_of_its_five_densities(images):
    model = _model("hvae")
    d1, d2 = 3, 2
    eps = np.random.default_rng(4).standard_normal((2, 3, d1 + d2)).astype("float32")
    t = model.log_weight_terms(images[:2], eps)
    m1, lv1 = (v.numpy() for v in model.encoder(images[:2]))
    z1 = m1[:, None] + np.exp(0.5 * lv1)[:, None] * eps[..., :d1]  # (B, S, d1)
    m2, lv2 = (v.numpy() for v in model.encoder_top(z1.reshape(-1, d1)))
    z2 = (m2 + np.exp(0.5 * lv2) * eps[..., d1:].reshape(-1, d2))
    pm1, plv1 = (v.numpy() for v in model.prior_top(z2))
    log_qz = log_normal(z1.reshape(-1, d1), m1.repeat(3, 0), lv1.repeat(3, 0)) + log_normal(z2, m2, lv2)
    log_pz = log_normal(z1.reshape(-1, d1), pm1, plv1) + log_standard_normal(z2)
    np.testing.assert_allclose(t["log_qz"].numpy().ravel(), log_qz.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t["log_pz"].numpy().ravel(), log_pz.numpy(), rtol=1e-5, atol=1e-5)
    bound = metrics.iwae_bound(model, images[:8], k=16, seed=0)
    elbo = metrics.elbo_terms(model, images[:8], seed=0)["log_w"]
    assert bound.mean() > elbo.mean() - 1.0


@pytest.mark.slow
@pytest.mark.parametrize("kind", MODEL_KINDS.names())
def test_every_kind_trains_from_the_cli_with_report_and_explorer(kind, tmp_path):
    """`vaelab train --set model.kind=NAME` end to end: run directory, report.html, and the explorer's API."""
    from starlette.testclient import TestClient

    from vaelab.cli import main
    from vaelab.explore import Explorer, create_app

    sets = {"model.architecture": "dense", "model.hidden_units": [32], **MODEL_KINDS.get(kind).tiny_settings}
    assert main(["train", "--config", "smoke", "--set", f"model.kind={kind}",
                 *[a for k, v in sets.items() for a in ("--set", f"{k}={v}")], "--set", "train.epochs=2",
                 "--set", "train.verbose=0", "--output-dir", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert (run / "model.keras").is_file() and "<img" in (run / "report.html").read_text()
    client = TestClient(create_app(Explorer.from_run_dir(run, limit=20), port=8765), base_url="http://127.0.0.1:8765")
    info = client.get("/api/info").json()
    assert info["count"] == 20
    z = ",".join(["0"] * info["latent_dim"])
    png = client.get(f"/api/decode.png?z={z}")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    samples = client.get("/api/samples.png?n=4&seed=1")
    assert samples.status_code == 200 and samples.content[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------------- exact resume


def _kinds_and_strategies():
    """Every registered family with each of its KL strategies (the default for families without one)."""
    return [(kind, strategy) for kind in MODEL_KINDS.names()
            for strategy in MODEL_KINDS.get(kind).strategies or ("train_step",)]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "strategy"), _kinds_and_strategies())
def test_every_family_and_strategy_resumes_exactly_after_a_crash(tmp_path, kind, strategy):
    """A crash at the start of epoch 1 + resume == the uninterrupted run: weights, optimizer slots, history
    (vqvae once built its resumed optimizer over its PixelCNN prior too, and departed after the resume), and
    every history column (a family's own terms too: vqvae's dead codes, tcvae's MI/TC). IW families resume
    with k = 2 (noise from the model's seed generator)."""
    assert_resume_is_exact(tmp_path, model={**TINY, **tiny(kind), "kind": kind, "iw_samples": 2},
                           epochs=2, crash_at=1, keys=None, loss={"strategy": strategy},
                           data={"train_limit": 64, "test_limit": 32}, train={"batch_size": 16})


# ---------------------------------------------------------------------------------------------- mixed precision

# bf16 trunks (8-bit mantissa) with float32 heads and loss maths: measured <= 1.6e-4 relative here (hvae);
# loss maths in bf16 would be off by ~2^-8 = 4e-3
BF16_RTOL = 2e-3


@pytest.mark.parametrize("kind", MODEL_KINDS.names())
def test_bf16_loss_matches_float32_on_the_same_weights_and_batch(kind, images):
    """The loss maths run in float32 whatever the layer dtype: under mixed_bfloat16 the same weights and batch
    give the float32 loss within BF16_RTOL, and every encoder/decoder output the loss reads is float32."""
    from vaelab.precision import policy as precision_policy

    models = []
    for precision in ("float32", "mixed_bfloat16"):
        with precision_policy(precision):
            models.append(_model(kind, iw_samples=2, z_log_var_clip=5.0))
    f32, bf16 = models
    bf16.set_weights(f32.get_weights())
    for m in models:
        m.compile_for_training(keras.optimizers.Adam())  # the Keras-loss strategies' objective needs it
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in bf16.decoder_logits.layers)
    for net in (bf16.encoder, bf16.decoder_logits):
        assert all(t.dtype == "float32" for t in keras.tree.flatten(net.outputs)), net.name
    labels = np.arange(16) % 2
    x, _ = f32.training_pair(tf.constant(images[:16]), labels if f32.needs_labels else None)
    loss32, loss16 = (float(m.objective(x, training=False)) for m in (f32, bf16))
    assert np.isfinite(loss16) and loss16 == pytest.approx(loss32, rel=BF16_RTOL)
