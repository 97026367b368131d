"""Priors: the GMM's samples on a known latent distribution, save/load round trip, resolve, and the CLI
(fit-prior, generate --prior, evaluate --prior)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import tiny_config

from vaelab import priors
from vaelab.priors.gmm import GMMPrior
from vaelab.priors.standard import StandardPrior


def _two_clusters(n=6000, seed=0):
    """0.3 N((-3, 0), diag(0.25, 1)) + 0.7 N((3, 1), [[1, 0.5], [0.5, 1]])."""
    rng = np.random.default_rng(seed)
    a = rng.multivariate_normal([-3, 0], [[0.25, 0], [0, 1]], size=int(0.3 * n))
    b = rng.multivariate_normal([3, 1], [[1, 0.5], [0.5, 1]], size=n - len(a))
    return np.concatenate([a, b])


@pytest.fixture(scope="module")
def gmm():
    return GMMPrior.fit(_two_clusters(), seed=0, components=2)


def test_gmm_samples_reproduce_a_known_mixture(gmm):
    z = gmm.sample(20_000, seed=1)
    assert z.shape == (20_000, 2) and z.dtype == np.float32
    left, right = z[z[:, 0] < 0], z[z[:, 0] >= 0]
    assert len(left) / len(z) == pytest.approx(0.3, abs=0.015)
    np.testing.assert_allclose(left.mean(0), [-3, 0], atol=0.06)
    np.testing.assert_allclose(right.mean(0), [3, 1], atol=0.06)
    np.testing.assert_allclose(np.cov(right.T), [[1, 0.5], [0.5, 1]], atol=0.06)
    np.testing.assert_allclose(np.var(left[:, 0]), 0.25, atol=0.03)
    np.testing.assert_array_equal(gmm.sample(5, seed=3), gmm.sample(5, seed=3))
    at_means = gmm.sample(50, seed=0, std=0.0)  # std scales the spread around each component mean
    assert {tuple(np.round(m, 4)) for m in at_means} <= {tuple(np.round(m, 4)) for m in gmm.means.astype("float32")}


def test_gmm_save_load_round_trip_uses_plain_files(gmm, tmp_path):
    info_file = priors.save_prior(gmm, tmp_path)
    assert info_file.name == "prior_gmm.json" and (tmp_path / "prior_gmm.npz").is_file()
    info = json.loads(info_file.read_text())
    assert info["kind"] == "gmm" and info["latent_dim"] == 2 and info["components"] == 2
    with np.load(tmp_path / "prior_gmm.npz", allow_pickle=False) as z:  # plain arrays, no pickle
        assert set(z.files) == {"weights", "means", "covariances"}
    back = priors.load_prior(tmp_path, "gmm")
    np.testing.assert_array_equal(back.sample(100, seed=4), gmm.sample(100, seed=4))
    assert not list(tmp_path.glob(".*tmp*"))  # temp files renamed away


def test_resolve_auto_standard_and_errors(gmm, tmp_path):
    assert isinstance(priors.resolve(tmp_path, "auto", 2), StandardPrior)  # nothing fitted yet
    with pytest.raises(FileNotFoundError, match="vaelab fit-prior .* --kind gmm"):
        priors.resolve(tmp_path, "gmm", 2)
    priors.save_prior(gmm, tmp_path)
    assert isinstance(priors.resolve(tmp_path, "auto", 2), GMMPrior)
    assert isinstance(priors.resolve(tmp_path, "standard", 2), StandardPrior)
    with pytest.raises(ValueError, match="latent_dim 2 does not match the model's 3"):
        priors.resolve(tmp_path, "gmm", 3)
    with pytest.raises(ValueError, match=r"unknown prior 'flow'; choose from \["):
        priors.resolve(tmp_path, "flow", 2)


def test_gmm_rejects_more_components_than_codes():
    with pytest.raises(ValueError, match="--components: expected 1 <= K <= 5"):
        GMMPrior.fit(np.zeros((5, 2)), components=6)


def test_standard_prior_is_what_model_sample_decodes():
    z = StandardPrior(3).sample(4, seed=7, std=0.5)
    expected = np.random.default_rng(7).standard_normal((4, 3)).astype("float32") * 0.5
    np.testing.assert_array_equal(z, expected)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from vaelab.train import fit

    return fit(tiny_config(tmp_path_factory.mktemp("runs"), train={"epochs": 1})).run_dir


def test_cli_fit_prior_then_generate_and_evaluate_with_it(trained_run, capsys):
    from vaelab.cli import main

    assert main(["fit-prior", str(trained_run), "--kind", "gmm", "--components", "3"]) == 0
    info = json.loads((trained_run / "prior_gmm.json").read_text())
    assert info["components"] == 3 and info["n_fit"] == 256 and "z_mean" in info["fitted_on"]
    out = trained_run / "gmm.png"
    assert main(["generate", str(trained_run), "-n", "8", "--prior", "gmm", "--out", str(out)]) == 0
    assert out.is_file() and "GMM(3)" in capsys.readouterr().out
    assert main(["generate", str(trained_run), "-n", "4", "--prior", "standard", "--out", str(out)]) == 0
    assert "N(0, I)" in capsys.readouterr().out
    assert main(["evaluate", str(trained_run), "--k", "2", "--no-inception", "--prior", "gmm"]) == 0
    m = json.loads((trained_run / "metrics.json").read_text())["evaluation"]
    assert m["frechet"]["prior"] == "GMM(3) on z_mean"
    assert main(["fit-prior", str(trained_run), "--kind", "vae2"]) == 0  # now the newest: auto picks it
    assert main(["generate", str(trained_run), "-n", "4", "--out", str(out)]) == 0
    assert "2nd-stage VAE" in capsys.readouterr().out


def test_explorer_and_comparison_page_sample_through_the_same_priors_and_name_them(trained_run, tmp_path):
    """One sampling path: the explorer and the comparison page draw from the run's newest fitted prior (else the
    model's own) through `decode_samples`, and say which."""
    from vaelab.compare_runs import build_compare
    from vaelab.explore import Explorer

    for f in trained_run.glob("prior_*"):  # the module's run: other tests fit priors into it
        f.unlink()
    explorer = Explorer.from_run_dir(trained_run, limit=20)
    assert explorer.info()["prior"] == "N(0, I)"
    assert priors.fit_prior(trained_run, "gmm", components=2).name == "prior_gmm.json"
    explorer = Explorer.from_run_dir(trained_run, limit=20)
    assert explorer.info()["prior"] == "GMM(2) on z_mean"
    gmm = priors.resolve(trained_run, "gmm", explorer.latent_dim)
    expected = priors.decode_samples(explorer.model, gmm, 4, seed=3)
    np.testing.assert_array_equal(explorer.sample(4, 1.0, 3), expected)
    page = build_compare([trained_run], tmp_path / "c.html").read_text()
    assert "z ~ GMM(2) on z_mean" in page
    (trained_run / "prior_gmm.json").unlink()
    (trained_run / "prior_gmm.npz").unlink()


def test_cli_fit_prior_rejects_standard_and_bad_options(trained_run, capsys):
    from vaelab.cli import main

    assert main(["fit-prior", str(trained_run), "--kind", "standard"]) == 2
    assert "needs no fitting" in capsys.readouterr().err
    assert main(["generate", str(trained_run), "--prior", "nope"]) == 2
    assert "unknown prior 'nope'" in capsys.readouterr().err


def test_vae2_learns_a_shifted_correlated_gaussian_and_round_trips(tmp_path):
    from vaelab.priors.vae2 import SecondStageVAE

    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.8], [0.8, 1.0]]) * 0.25
    z = rng.multivariate_normal([2.0, -1.0], cov, size=4000).astype("float32")
    prior = SecondStageVAE.fit(z, seed=0, hidden=(64, 64), epochs=40, batch_size=128, learning_rate=3e-3)
    s = prior.sample(4000, seed=1)
    assert s.shape == (4000, 2) and s.dtype == np.float32
    np.testing.assert_allclose(s.mean(0), [2.0, -1.0], atol=0.1)
    # samples are decoder means: their spread misses ~gamma^2, which shrinks as training goes on
    assert np.corrcoef(s.T)[0, 1] > 0.8 and 0.12 < s[:, 0].var() < 0.3
    assert prior.info["gamma"] < 0.5  # the learned decoder std shrank from its start at 1
    priors.save_prior(prior, tmp_path)
    back = priors.load_prior(tmp_path, "vae2")
    np.testing.assert_allclose(back.sample(50, seed=2), prior.sample(50, seed=2), rtol=1e-6)
    assert "2nd-stage VAE (64-64)" in back.describe()
