"""`vaelab evaluate`: IWAE consistency on a tiny model, metrics.json schema, the CLI, AE runs, FID wiring."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from helpers import tiny_config

from vaelab import metrics
from vaelab.evaluate import EvalOptions, evaluate_model, evaluate_run_dir, pixel_protocol
from vaelab.models.kinds import build_model


@pytest.fixture(scope="module")
def tiny_vae(tmp_path_factory):
    """An untrained dense VAE on 8x8 images (the bounds hold for any weights) and binary images."""
    cfg = tiny_config(
        tmp_path_factory.mktemp("m"), model={"architecture": "dense", "hidden_units": [16], "latent_dim": 3}
    )
    model = build_model(cfg, (8, 8, 1))
    images = (np.random.default_rng(0).random((12, 8, 8, 1)) < 0.3).astype("float32")
    return model, images


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from vaelab.train import fit

    cfg = tiny_config(tmp_path_factory.mktemp("runs"), data={"binarize": "dynamic"}, train={"epochs": 1})
    return fit(cfg).run_dir


def test_iwae_k1_equals_the_single_sample_elbo_with_shared_noise(tiny_vae):
    model, x = tiny_vae
    elbo = metrics.elbo_terms(model, x, seed=7)
    bound = metrics.iwae_bound(model, x, k=1, seed=7, image_chunk=len(x))
    np.testing.assert_allclose(bound, elbo["log_w"], rtol=1e-5, atol=1e-4)


def test_iwae_streams_its_k_weights_with_the_same_result(tiny_vae, capsys):
    """The k log-weights are reduced slice by slice (memory flat in k): same bound as one logsumexp over all k."""
    import tensorflow as tf

    from vaelab.metrics.bounds import _Scorer

    model, x = tiny_vae
    k, rng, scorer = 11, np.random.default_rng(3), _Scorer(model)
    full = []  # one image at a time, all k weights at once, the same noise stream as iwae_bound
    for i in range(len(x)):
        eps = tf.constant(rng.standard_normal((1, k, model.noise_dim)).astype("float32"))
        log_w = scorer.terms(tf.constant(x[i : i + 1]), eps)["log_w"].numpy().astype("float64")  # (1, k)
        full.append(np.logaddexp.reduce(log_w, axis=1) - np.log(k))
    streamed = metrics.iwae_bound(model, x, k=k, seed=3, image_chunk=1, sample_chunk=4, verbose=True)
    np.testing.assert_allclose(streamed, np.concatenate(full), rtol=1e-6, atol=1e-5)
    assert capsys.readouterr().err == ""  # a short run prints no estimate


def test_a_long_iwae_run_says_how_long_it_will_take(tiny_vae, capsys, monkeypatch):
    from vaelab.metrics import bounds

    model, x = tiny_vae
    clock = iter(np.arange(0.0, 1e6, 100.0))  # every chunk "takes" 100 s
    monkeypatch.setattr(bounds.time, "perf_counter", lambda: next(clock))
    metrics.iwae_bound(model, x, k=2, image_chunk=4, verbose=True)
    err = capsys.readouterr().err
    assert "IWAE bound: k = 2 on 12 images (24 decoder passes), estimated 5 min at the measured rate" in err
    assert "IWAE bound: 8/12 images, ETA 100 s" in err


def test_iwae_k1_equals_the_elbo_in_expectation(tiny_vae):
    model, x = tiny_vae
    many = np.repeat(x, 200, axis=0)  # 2400 draws
    bound = metrics.iwae_bound(model, many, k=1, seed=1, image_chunk=600)
    t = metrics.elbo_terms(model, many, seed=2)
    elbo = -(t["reconstruction"] + t["kl"])  # closed-form KL
    stderr = np.sqrt(bound.var() / len(bound) + elbo.var() / len(elbo))
    assert abs(bound.mean() - elbo.mean()) < 4 * stderr + 1e-3


def test_larger_k_is_not_worse_on_average(tiny_vae):
    model, x = tiny_vae
    many = np.repeat(x, 64, axis=0)  # averaged over 64 draws per image: one draw's k=8 vs k=64 gap is noise
    means = [
        metrics.iwae_bound(model, many, k=k, seed=3, sample_chunk=16, image_chunk=256).mean() for k in (1, 8, 64)
    ]
    assert means[0] <= means[1] + 0.05 and means[1] <= means[2] + 0.05
    with pytest.raises(ValueError, match="k: expected at least 1"):
        metrics.iwae_bound(model, x, k=0)


def test_pixel_protocol_labels_proper_nll_only_for_binarised_bernoulli():
    assert pixel_protocol("dynamic", "bernoulli")[0] is True
    assert pixel_protocol("static", "bernoulli")[0] is True
    proper, label = pixel_protocol("none", "bernoulli")
    assert not proper and "NOT a proper discrete NLL" in label
    proper, label = pixel_protocol("none", "gaussian")
    assert not proper and "continuous density" in label


def test_evaluate_run_dir_writes_the_evaluation_section(trained_run):
    opts = EvalOptions(k=4, inception=False)
    result = evaluate_run_dir(trained_run, opts)
    m = json.loads((trained_run / "metrics.json").read_text())["evaluation"]
    assert m == json.loads(json.dumps(result.metrics, default=float))
    assert m["n_images"] == 64 and m["model"] == {"kind": "vae", "likelihood": "bernoulli", "latent_dim": 2}
    assert m["pixels"].startswith("binarised")
    e = m["elbo"]
    assert e["elbo"] == pytest.approx(-(e["reconstruction"] + e["kl"]))
    assert e["beta"] == 1.0 and e["units"] == "nats/image" and "sampled z" in e["z"]
    w = m["iwae"]
    assert w["k"] == 4 and w["proper_discrete_nll"] is True
    assert w["bits_per_dim"] == pytest.approx(w["nll"] / (16 * 16 * np.log(2)))
    lt = m["latent"]
    assert len(lt["kl_per_dim"]) == 2 and 0 <= lt["active_units"] <= 2
    assert set(m["reconstruction"]) >= {"bce_per_image", "sse_per_image", "mse_per_pixel"}
    assert m["frechet"]["classifier"]["fd"] >= 0.0
    assert (trained_run / "evaluation" / "feature_classifier.keras").is_file()  # cached for the next run
    table = result.table()
    for text in ("-ELBO", "KL", "IWAE NLL (k=4)", "bits/dim", "active units", "beta in force 1"):
        assert text in table


def test_cli_evaluate_prints_the_table(trained_run, capsys):
    from vaelab.cli import main

    assert main(["evaluate", str(trained_run), "--k", "3", "--limit", "32", "--no-inception"]) == 0
    out = capsys.readouterr().out
    assert "IWAE NLL (k=3)" in out and "proper discrete NLL" in out and "metrics.json" in out
    m = json.loads((trained_run / "metrics.json").read_text())["evaluation"]
    assert m["n_images"] == 32 and "standard" not in m["frechet"]


def _fake_network(monkeypatch, tmp_path):
    """The standard-score path without torch: a stand-in feature function and a private cache."""
    from vaelab.metrics import inception

    monkeypatch.setenv("VAELAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(inception, "available", lambda: True)
    monkeypatch.setattr(inception, "_batch_function", lambda name: lambda u8: np.repeat(
        u8.reshape(len(u8), -1)[:, :8].astype("float32"), 256, axis=1))


def test_standard_scores_in_evaluate(trained_run, tmp_path, monkeypatch):
    _fake_network(monkeypatch, tmp_path)
    result = evaluate_run_dir(trained_run, EvalOptions(k=2, fid_samples=32, prior="standard"))
    s = result.metrics["frechet"]["standard"]
    assert s["n_generated"] == 32 and s["n_reference"] == 32 and s["prior"] == "N(0, I)"
    assert s["fid"] >= 0.0 and 0.0 <= s["precision"] <= 1.0 and 0.0 <= s["recall"] <= 1.0
    assert "legacy_tensorflow" in s["protocol"]
    assert list((tmp_path / "cache" / "fid").glob("synthetic-test-16x16x1-*.npz"))  # reference features cached
    table = result.table()
    for text in ("FID (standard)", "KID x 1e3", "precision", "recall", "32 prior samples (N(0, I))"):
        assert text in table


def test_standard_scores_without_the_extra_say_how_to_get_it(trained_run, monkeypatch):
    from vaelab.metrics import inception

    monkeypatch.setattr(inception, "available", lambda: False)
    result = evaluate_run_dir(trained_run, EvalOptions(k=2, fid_samples=32))
    assert result.metrics["frechet"]["standard"]["fid"] is None
    assert result.metrics["frechet"]["classifier"]["fd"] >= 0.0  # the own-classifier distance stays
    line = [ln for ln in result.table().splitlines() if ln.startswith("FID (standard)")]
    assert len(line) == 1 and 'pip install "vaelab[fid]"' in line[0]


def test_ae_run_reports_reconstruction_and_says_why_the_rest_is_absent(tmp_path):
    from vaelab.train import fit

    run = fit(tiny_config(tmp_path, model={"kind": "ae"}, train={"epochs": 1})).run_dir
    m = evaluate_run_dir(run, EvalOptions(k=2)).metrics
    assert "elbo" not in m and "iwae" not in m
    assert set(m["absent"]) == {"elbo", "iwae", "latent", "frechet", "disentanglement"}  # synthetic: no factors
    assert "no posterior" in m["absent"]["iwae"]
    assert m["reconstruction"]["mse_per_pixel"] > 0


def test_every_section_computes_or_says_why_not(tiny_vae, tmp_path):
    from vaelab.data import Split
    from vaelab.evaluate import format_table
    from vaelab.evaluate.sections import SECTIONS, ordered

    def bars(f):  # ground truth of two factors (n, 2) -> 8x8 images: a row bar and a column bar
        out, rows = np.zeros((len(f), 8, 8, 1), "uint8"), np.arange(len(f))
        out[rows, 3 * f[:, 0], :, 0] = out[rows, :, 2 * f[:, 1], 0] = 255
        return out

    model, x = tiny_vae
    truth = Split(image_shape=(8, 8, 1), images=(x * 255).astype("uint8"), factor_names=["row", "column"],
                  factor_sizes=(2, 3), observe=bars)
    opts = EvalOptions(k=2, frechet=False, factor_samples=20, factor_batch=4)
    m = evaluate_model(model, x, "static", opts, split=truth)
    assert ordered()[:2] == ["reconstruction", "elbo"]
    assert set(SECTIONS.names()) - {"frechet"} <= set(m) and "frechet" not in m["absent"]  # not asked
    assert m["reconstruction"]["nll_per_image"] == pytest.approx(m["reconstruction"]["bce_per_image"], rel=1e-6)
    m = evaluate_model(model, x, "static", EvalOptions(k=2))  # asked, but no run directory
    assert "feature classifier" in m["absent"]["frechet"]
    assert re.search(r"^frechet +absent +no run directory", format_table(m), re.M)
