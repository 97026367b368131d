"""FactorVAE, DIP-VAE and the capacity-annealed VAE: each family's maths against a hand computation (the
contract tests of tests/test_families.py cover training, bf16, saving and exact resume for every family)."""

import keras
import numpy as np
import pytest

from vaelab.config import load_config
from vaelab.models.dipvae import dip_regulariser
from vaelab.models.factorvae import permute_dims
from vaelab.models.kinds import build_model


def _model(kind, *sets):
    cfg = load_config(None, [f"model.kind={kind}", "model.architecture=dense", "model.hidden_units=[16]",
                             "model.latent_dim=3", "data.name=synthetic", *sets])
    return build_model(cfg, (8, 8, 1))


@pytest.mark.parametrize(("dip_type", "lambda_d"), [("i", 7.0), ("ii", 3.0)])
def test_dip_regulariser_matches_numpy(dip_type, lambda_d):
    rng = np.random.default_rng(0)
    mu, lv = rng.normal(size=(64, 4)).astype("float32"), rng.normal(scale=0.3, size=(64, 4)).astype("float32")
    cov = np.cov(mu.T, bias=True) + (np.diag(np.exp(lv).mean(0)) if dip_type == "ii" else 0)
    off = cov - np.diag(np.diag(cov))
    expected = 2.0 * np.sum(off**2) + lambda_d * np.sum((np.diag(cov) - 1) ** 2)
    got = float(dip_regulariser(mu, lv, dip_type, 2.0, lambda_d))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_dip_default_diagonal_weight_follows_the_variant():
    assert _model("dipvae").lambda_d == 100.0  # I: 10 x lambda_od
    assert _model("dipvae", "loss.dip_type=ii").lambda_d == 10.0
    assert _model("dipvae", "loss.dip_lambda_d=1.5").lambda_d == 1.5
    with pytest.raises(ValueError, match=r"loss.dip_type: expected one of \['i', 'ii'\], received 'iii'"):
        load_config(None, ["model.kind=dipvae", "loss.dip_type=iii"])


def test_permute_dims_shuffles_each_column_independently():
    z = np.stack([np.arange(256.0), np.arange(256.0)], axis=1).astype("float32")  # perfectly correlated
    out = np.asarray(permute_dims(z, keras.random.SeedGenerator(0)))
    for j in range(2):
        np.testing.assert_array_equal(np.sort(out[:, j]), z[:, j])  # the same values in each column
    assert abs(np.corrcoef(out.T)[0, 1]) < 0.2  # the dependence between the columns is gone


def test_factorvae_discriminator_learns_correlated_codes_and_tc_turns_positive():
    m = _model("factorvae", "model.discriminator_units=[32, 32]", "loss.discriminator_lr=0.003")
    rng = np.random.default_rng(1)
    base = rng.normal(size=(256, 1)).astype("float32")
    z = np.concatenate([base, base + 0.05 * rng.normal(size=(256, 2))], axis=1).astype("float32")  # (256, 3)
    losses = []
    for _ in range(150):
        m.after_step(None, {"z": z})
        losses.append(float(m.discriminator_tracker.result()))
        m.discriminator_tracker.reset_state()
    logits = np.asarray(m.discriminator(z))
    assert losses[-1] < 0.5 * losses[0]  # tells q(z) from the shuffled product of marginals
    assert np.mean(logits[:, 0] - logits[:, 1]) > 1.0  # so the TC estimate of correlated codes is positive
    assert len(m.optimized_variables) == len(m.trainable_variables) - len(m.discriminator.trainable_variables)


def test_annealed_capacity_grows_with_the_optimizer_steps_and_enters_the_loss():
    m = _model("annealed_vae", "loss.capacity_max=8", "loss.capacity_steps=4", "loss.capacity_gamma=2")
    m.compile_for_training(keras.optimizers.Adam(1e-3))
    x = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")
    caps = []
    for _ in range(6):
        caps.append(float(m.capacity()))
        m.train_on_batch(x, x)
    assert caps == [0.0, 2.0, 4.0, 6.0, 8.0, 8.0]
    t = {k: np.asarray(v) for k, v in m.terms(x, training=False).items()}
    np.testing.assert_allclose(t["loss"], t["reconstruction_loss"].mean() + 2 * abs(t["kl_loss"].mean() - 8.0),
                               rtol=1e-5)
