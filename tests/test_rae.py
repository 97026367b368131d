"""RAE-L2 (models/rae.py), the family added as one file + one registration: its maths against a hand
computation, training, and the ex-post prior that is its sampler."""

import numpy as np
import pytest
from helpers import tiny_config

from vaelab.config import load_config
from vaelab.models.kinds import build_model
from vaelab.train import fit


def _model(**loss):
    cfg = load_config(None, ["model.kind=rae", "model.architecture=dense", "model.hidden_units=[16]",
                             "model.latent_dim=3", "data.name=synthetic",
                             *[f"loss.{k}={v}" for k, v in loss.items()]])
    return build_model(cfg, (8, 8, 1))


def test_settings_are_the_family_own_and_reach_the_model():
    cfg = load_config("mnist_rae")
    assert cfg.loss.embedding_weight == 1.0 and cfg.loss.decoder_l2 == 1e-4
    assert "embedding_weight" in cfg.to_dict()["loss"] and "embedding_weight" not in load_config().to_dict()["loss"]
    with pytest.raises(ValueError, match=r"loss.decoder_l2: expected a value >= 0.0, received -1"):
        load_config(None, ["model.kind=rae", "loss.decoder_l2=-1"])
    m = _model(embedding_weight=0.5, decoder_l2=0.01)
    assert (m.embedding_weight, m.decoder_l2) == (0.5, 0.01)


def test_terms_match_a_hand_computation():
    m = _model(embedding_weight=0.5, decoder_l2=0.01)
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    t = {k: np.asarray(v) for k, v in m.terms(x, training=False).items()}
    z = np.asarray(m.encoder(x, training=False))  # (4, 3)
    logits = np.asarray(m.decoder_logits(z, training=False)).reshape(4, -1)
    xf = x.reshape(4, -1)
    rec = np.sum(np.maximum(logits, 0) - logits * xf + np.log1p(np.exp(-np.abs(logits))), axis=1)  # Bernoulli NLL
    l2 = sum(float(np.sum(np.square(w))) for w in m.decoder_logits.trainable_weights if w.path.endswith("kernel"))
    np.testing.assert_allclose(t["reconstruction_loss"], rec, rtol=1e-5)
    np.testing.assert_allclose(t["embedding_loss"], 0.5 * np.sum(z**2, axis=1), rtol=1e-5)
    np.testing.assert_allclose(t["decoder_l2"], l2, rtol=1e-5)
    np.testing.assert_allclose(t["loss"], rec.mean() + 0.5 * t["embedding_loss"].mean() + 0.01 * l2, rtol=1e-5)


def test_trains_logs_its_terms_and_samples_through_a_fitted_prior(tmp_path, capsys):
    from vaelab.cli import main

    result = fit(tiny_config(tmp_path, model={"kind": "rae"}, train={"epochs": 2}))
    h = result.history
    assert {"embedding_loss", "decoder_l2", "val_embedding_loss"} <= set(h)
    assert h["loss"][-1] < h["loss"][0]
    assert main(["fit-prior", str(result.run_dir), "--kind", "gmm", "--components", "2"]) == 0
    assert main(["generate", str(result.run_dir), "-n", "4", "--out", str(tmp_path / "g.png")]) == 0
    assert "gmm" in capsys.readouterr().out
