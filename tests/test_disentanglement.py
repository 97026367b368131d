"""The five disentanglement scores on synthetic codes with known answers, closed forms, pinned estimators and
seeded determinism; the `disentanglement` evaluation section end to end on dSprites."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from vaelab.metrics import disentanglement as dm

SIZES = (3, 4, 5, 3)  # K = 4 factors, 15 classes: cheap gradient boosting
SMALL = dm.Samples.scaled(600, 32)
SPREAD = np.sqrt((np.array(SIZES) ** 2 - 1) / 12)  # standard deviation of a uniform factor


def standardised(f: np.ndarray) -> np.ndarray:
    return (f - (np.array(SIZES) - 1) / 2) / SPREAD  # (n, K), each factor mean 0, variance 1


def identity(f):
    return standardised(f)


ROTATION = np.linalg.qr(np.random.default_rng(26).standard_normal((4, 4)))[0]
HADAMARD = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2  # orthogonal, |entries| 1/2


def noise_codes(seed: int = 5):
    rng = np.random.default_rng(seed)
    return lambda f: rng.standard_normal((len(f), 4))  # independent of the factors


@pytest.fixture(scope="module")
def truth():
    return dm.scores(identity, SIZES, seed=0, samples=SMALL)


def test_codes_equal_to_the_factors_score_about_one(truth):
    assert truth["beta_vae"]["eval_accuracy"] > 0.99
    assert truth["factor_vae"]["eval_accuracy"] == 1.0 and truth["factor_vae"]["active_dims"] == 4
    assert truth["mig"]["mig"] > 0.95
    assert truth["dci"]["disentanglement"] > 0.9 and truth["dci"]["completeness"] > 0.9
    assert truth["dci"]["informativeness_test"] > 0.99
    assert truth["sap"]["sap"] > 0.1  # one linear SVM on one code separates only a few ordered classes


def test_a_random_rotation_scores_clearly_lower(truth):
    assert np.abs(ROTATION).max() < 0.75  # really mixes the factors
    out = dm.scores(lambda f: identity(f) @ ROTATION, SIZES, seed=0, samples=SMALL)
    assert out["mig"]["mig"] < truth["mig"]["mig"] - 0.4
    assert out["dci"]["disentanglement"] < truth["dci"]["disentanglement"] - 0.3
    assert out["dci"]["informativeness_test"] > 0.9  # still all the information, only entangled


def test_equal_loadings_defeat_the_factor_vae_score(truth):
    """Fixing any factor lowers every code's variance alike: the least-variance dimension is noise."""
    out = dm.scores(lambda f: identity(f) @ HADAMARD, SIZES, seed=0, samples=SMALL)
    assert out["factor_vae"]["eval_accuracy"] < 0.6
    assert out["mig"]["mig"] < 0.2


def test_codes_independent_of_the_factors_score_chance():
    out = dm.scores(noise_codes(), SIZES, seed=0, samples=SMALL)
    chance = 1 / len(SIZES)
    assert abs(out["beta_vae"]["eval_accuracy"] - chance) < 0.1
    assert out["factor_vae"]["eval_accuracy"] < chance + 0.15
    assert out["mig"]["mig"] < 0.05 and out["sap"]["sap"] < 0.05
    assert out["dci"]["disentanglement"] < 0.2
    assert abs(out["dci"]["informativeness_test"] - np.mean(1 / np.array(SIZES))) < 0.1


def test_a_duplicated_dimension_as_the_papers_define(truth):
    """MIG and SAP see no gap for a factor two codes carry alike (Chen 2018, Kumar 2018); DCI keeps each code's
    disentanglement but loses completeness; FactorVAE's argmin takes the first of equal dimensions."""
    out = dm.scores(lambda f: np.concatenate([identity(f), identity(f)[:, :1]], axis=1), SIZES, seed=0,
                    samples=SMALL)
    assert out["mig"]["per_factor"][0] == pytest.approx(0.0, abs=1e-12)
    assert min(out["mig"]["per_factor"][1:]) > 0.95
    assert out["mig"]["mig"] == pytest.approx(np.mean(out["mig"]["per_factor"]))
    assert out["sap"]["per_factor"][0] == 0.0
    assert out["dci"]["disentanglement"] > 0.9
    assert out["dci"]["completeness"] < truth["dci"]["completeness"] - 0.05
    assert out["factor_vae"]["eval_accuracy"] == 1.0


def test_permuted_dimensions_change_nothing(truth):
    perm = [2, 0, 3, 1]
    out = dm.scores(lambda f: identity(f)[:, perm], SIZES, seed=0, samples=SMALL)
    for key in ("mig", "sap"):
        assert out[key] == truth[key]
    assert out["factor_vae"] == truth["factor_vae"]
    assert out["beta_vae"]["eval_accuracy"] == pytest.approx(truth["beta_vae"]["eval_accuracy"], abs=0.02)
    for key in ("disentanglement", "completeness", "informativeness_test"):
        assert out["dci"][key] == pytest.approx(truth["dci"][key], abs=0.05)
    np.testing.assert_allclose(np.array(out["dci"]["importance"]), np.array(truth["dci"]["importance"])[perm],
                               atol=0.05)


# ---------------------------------------------------------------- closed forms
def test_mutual_information_of_a_discretised_copy_is_the_entropy():
    """On the full grid of (4, 5) (each combination once): I(copy of v_k; v_k) = H(v_k) = log s_k, and the
    other factor's copy carries exactly nothing."""
    grid = np.stack(np.unravel_index(np.arange(20), (4, 5)), axis=1)
    m = dm.mutual_information(dm.discretize(grid.astype(float)), grid)
    np.testing.assert_allclose(m, [[math.log(4), 0.0], [0.0, math.log(5)]], atol=1e-12)
    np.testing.assert_allclose(dm.entropy(grid), [math.log(4), math.log(5)], atol=1e-12)
    assert dm.mig(grid.astype(float), grid)["mig"] == pytest.approx(1.0, abs=1e-12)


def test_discretize_uses_equal_width_bins_over_the_range():
    z = np.linspace(0.0, 1.0, 41)[:, None]  # 20 bins of width 0.05
    bins = dm.discretize(z)[:, 0]
    assert bins.min() == 1 and bins.max() == 20 and np.all(np.diff(bins) >= 0)
    assert np.bincount(bins)[1:].tolist() == [2] * 19 + [3]  # the last bin holds its right edge


def test_dci_closed_forms():
    d, c = dm.dci_from_importance(np.eye(3))
    assert d == pytest.approx(1.0) and c == pytest.approx(1.0)
    d, c = dm.dci_from_importance(np.ones((3, 3)))
    assert d == pytest.approx(0.0, abs=1e-9) and c == pytest.approx(0.0, abs=1e-9)
    d, c = dm.dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))  # one code serves both factors
    assert d == pytest.approx(0.0, abs=1e-9) and c == pytest.approx(1.0, abs=1e-9)
    d, _ = dm.dci_from_importance(np.array([[1.0, 1.0, 0.0]]))  # one code, two of three factors: 1 - log 2 / log 3
    assert d == pytest.approx(1 - math.log(2) / math.log(3), abs=1e-9)


def test_one_code_dimension_has_no_gap_scores():
    z, f = np.arange(10.0)[:, None], np.arange(10)[:, None] % 2
    assert dm.mig(z, f)["mig"] is None and dm.sap(z, f, z, f)["sap"] is None


# ---------------------------------------------------------------- pinned, seeded
@pytest.mark.parametrize("builder, cls, unset", [
    (lambda: dm.beta_vae_classifier(0), "LogisticRegression", {"penalty", "l1_ratio", "verbose", "n_jobs"}),
    (dm.sap_classifier, "LinearSVC", {"verbose", "random_state"}),
    (lambda: dm.dci_classifier(0), "GradientBoostingClassifier", {"criterion", "verbose"}),
])
def test_every_setting_a_score_depends_on_is_passed_explicitly(monkeypatch, builder, cls, unset):
    """A scikit-learn release that adds a setting (or changes a default) fails here instead of moving a score."""
    real = getattr(dm, cls)
    passed = {}

    def recording(**kwargs):
        passed.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(dm, cls, recording)
    builder()
    every = set(inspect.signature(real).parameters)
    assert every - set(passed) == unset, f"{cls}: settings left to scikit-learn's defaults"


def test_scores_are_seeded_and_deterministic():
    small = dm.Samples.scaled(200, 16)
    a = dm.scores(lambda f: identity(f) @ ROTATION, SIZES, seed=3, samples=small)
    b = dm.scores(lambda f: identity(f) @ ROTATION, SIZES, seed=3, samples=small)
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    c = dm.scores(lambda f: identity(f) @ ROTATION, SIZES, seed=4, samples=small)
    assert c["dci"]["importance"] != a["dci"]["importance"]
    # each score draws from its own stream: other beta-VAE counts leave MIG's draws alone
    d = dm.scores(lambda f: identity(f) @ ROTATION, SIZES, seed=3,
                  samples=dm.Samples(**{**a["samples"], "beta_vae_train": 50}))
    assert d["mig"] == a["mig"] and d["factor_vae"] == a["factor_vae"]


def test_codes_of_is_called_in_bounded_chunks(monkeypatch):
    monkeypatch.setattr(dm, "CHUNK", 100)
    rows = []

    def codes_of(f):
        rows.append(len(f))
        return identity(f)

    out = dm.beta_vae_score(codes_of, SIZES, batch=16, num_train=30, num_eval=10)
    assert max(rows) <= 100 and sum(rows) == 2 * 16 * 40
    assert out["eval_accuracy"] == 1.0


# ---------------------------------------------------------------- the evaluation section
def test_the_section_says_why_it_is_absent_without_factors(tmp_path):
    from helpers import tiny_config

    from vaelab.data import load_arrays
    from vaelab.evaluate import EvalOptions, evaluate_model
    from vaelab.models.kinds import build_model

    cfg = tiny_config(tmp_path, model={"architecture": "dense", "hidden_units": [8]})
    images, split = load_arrays(cfg.data, "test", limit=8)
    model = build_model(cfg, images.shape[1:])
    out = evaluate_model(model, images, "none", EvalOptions(k=2, frechet=False), split=split)
    assert "disentanglement" not in out
    assert "'synthetic' has no known ground-truth factors" in out["absent"]["disentanglement"]
    out = evaluate_model(model, images, "none", EvalOptions(k=2, frechet=False, disentanglement=False), split=split)
    assert "disentanglement" not in out["absent"]  # not asked for
    with pytest.raises(ValueError, match="factor_batch: expected an integer >= 2"):
        EvalOptions(factor_batch=1).check()


def test_cli_trains_on_dsprites_and_evaluate_prints_the_five_scores(tmp_path, capsys, monkeypatch):
    import json

    from vaelab.cli import main

    monkeypatch.setenv("HOME", str(tmp_path))  # DeepMind's file is looked for nowhere: rendered procedurally
    monkeypatch.delenv("VAELAB_DATA_DIR", raising=False)
    sets = ["data.train_limit=128", "data.test_limit=32", "model.latent_dim=3", "model.filters=[8]",
            "model.kernel_sizes=[4]", "model.strides=[4]", "train.batch_size=64", "train.report=false",
            "train.precision=float32", "train.run_name=d"]
    argv = ["train", "--dataset", "dsprites", "--epochs", "1", "--output-dir", str(tmp_path / "runs")]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 0
    run = tmp_path / "runs" / "d"
    capsys.readouterr()
    assert main(["evaluate", str(run), "--k", "2", "--no-fid", "--factor-samples", "20", "--factor-batch", "4"]) == 0
    out = capsys.readouterr().out
    for row in ("beta-VAE score", "FactorVAE score", "MIG ", "SAP ", "DCI disentanglement", "DCI completeness",
                "DCI informativeness"):
        assert row in out
    assert "generated procedurally" in out and "not disentanglement_lib's sample counts" in out
    d = json.loads((run / "metrics.json").read_text())["evaluation"]["disentanglement"]
    assert d["samples"]["train"] == 20 and d["samples"]["beta_vae_batch"] == 4
    assert d["factor_sizes"] == [3, 6, 40, 32, 32] and d["factor_names"][0] == "shape"
    assert 0.0 <= d["mig"]["mig"] <= 1.0 and np.array(d["dci"]["importance"]).shape == (3, 5)


def test_report_shows_latent_traversals_with_the_factor_each_dimension_predicts(tmp_path, monkeypatch):
    """The traversal figure on a factor dataset: one row per latent dimension, each named after the factor it
    best predicts (normalised mutual information); absent where no factors are known."""
    import json

    from vaelab.analysis import load_subject
    from vaelab.analysis.views import FIGURES, draw, unfit_reason
    from vaelab.config import load_config
    from vaelab.report import build_report
    from vaelab.train import fit

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("VAELAB_DATA_DIR", raising=False)
    cfg = load_config("dsprites_vae", ["data.train_limit=128", "data.test_limit=16", "model.latent_dim=3",
                                       "model.filters=[8]", "model.kernel_sizes=[4]", "model.strides=[4]",
                                       "model.extra_dense=0", "train.epochs=1", "train.verbose=0",
                                       "train.report=false", "train.precision=float32", "train.run_name=t",
                                       f"train.output_dir={tmp_path / 'runs'}"])
    run = fit(cfg).run_dir
    subject = load_subject(run, limit=16, classifier_limit=0)
    view = draw("traversals", subject)
    best = view.metrics["traversal_factors"]
    assert sorted(best) == ["z0", "z1", "z2"]
    assert all(b["factor"] in ("shape", "scale", "orientation", "posX", "posY") and 0 <= b["score"] <= 1
               for b in best.values())
    build_report(run, limit=16)
    assert "traversals" in (run / "report.html").read_text()
    assert "traversal_factors" in json.dumps(json.loads((run / "metrics.json").read_text()))
    digits = load_subject(fit(load_config(None, ["train.epochs=1", "train.verbose=0", "train.report=false",
                                                  "data.train_limit=64", "data.test_limit=16",
                                                  f"train.output_dir={tmp_path / 'runs'}"])).run_dir, limit=16)
    assert "traversals" in FIGURES and "ground-truth factors" in unfit_reason("traversals", digits)
