"""The four KL strategies: same loss, same gradients, same logs; AE and VAE learn."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from vaelab.compare_strategies import compare_strategies
from vaelab.config import RunConfig
from vaelab.likelihoods import LIKELIHOODS
from vaelab.losses import gaussian_kl
from vaelab.models.kinds import build_model
from vaelab.models.strategies import STRATEGIES

NET = {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2], "latent_dim": 3}


def _built(strategy, beta=0.7, likelihood="bernoulli"):
    keras.utils.set_random_seed(7)
    cfg = RunConfig.from_dict({"model": {**NET, "likelihood": likelihood},
                               "loss": {"strategy": strategy, "beta": beta}, "train": {"seed": 7}})
    model = build_model(cfg, (16, 16, 1))
    model.compile_for_training(keras.optimizers.SGD(0.01))
    return model


@pytest.mark.parametrize("likelihood", LIKELIHOODS.names())
def test_all_strategies_give_the_same_loss_and_gradients_on_one_batch(batch, likelihood):
    """The single test that keeps four mechanisms honest: equal weights + equal noise -> equal loss."""
    results = {}
    for name in STRATEGIES.names():
        model = _built(name, likelihood=likelihood)
        with tf.GradientTape() as tape:
            loss = model.objective(batch, training=True)
        grads = tape.gradient(loss, model.trainable_weights)
        results[name] = (float(loss), [g.numpy() for g in grads])
    # The explicit formula, from the shared pure functions, for the same noise:
    ref_model = _built("train_step", likelihood=likelihood)
    z_mean, z_log_var, z = ref_model.encode_sample(batch, training=True)
    logits = ref_model.decoder_logits(z)
    rec, kl = LIKELIHOODS.get(likelihood).nll(batch, logits), gaussian_kl(z_mean, z_log_var)
    expected = float(np.mean(rec) + 0.7 * np.mean(kl))
    ref_loss, ref_grads = results["train_step"]
    assert ref_loss == pytest.approx(expected, rel=1e-5)
    for name, (loss, grads) in results.items():
        assert loss == pytest.approx(ref_loss, rel=1e-5), name
        for g, r in zip(grads, ref_grads, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_each_strategy_logs_the_same_keys_and_beta_is_a_variable(strategy, batch):
    model = _built(strategy)
    ds = tf.data.Dataset.from_tensor_slices(batch).batch(8).map(lambda x: (x, model.targets(x)))
    hist = model.fit(ds, epochs=1, validation_data=ds, verbose=0, shuffle=False).history
    assert {"loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss"} <= set(hist)
    # beta is read from a variable: changing it changes the compiled loss without recompiling
    before = model.evaluate(ds, verbose=0, return_dict=True)
    model.beta.assign(0.0)
    after = model.evaluate(ds, verbose=0, return_dict=True)
    assert after["loss"] == pytest.approx(after["reconstruction_loss"], rel=1e-5)
    assert before["loss"] == pytest.approx(before["reconstruction_loss"] + 0.7 * before["kl_loss"], rel=1e-4)


def test_compare_strategies_agree_over_steps(tmp_path):
    cfg = tiny_config(tmp_path)
    result = compare_strategies(cfg, steps=5)
    assert [r.name for r in result.results] == STRATEGIES.names()
    assert result.agree, result.table()
    assert all(len(r.losses) == 5 and r.ms_per_step > 0 for r in result.results)
    assert "AGREE" in result.table()


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_ae_and_vae_loss_falls(tmp_path, kind):
    from vaelab.train import fit

    cfg = tiny_config(tmp_path, model={"kind": kind}, train={"epochs": 4, "learning_rate": 3e-3})
    hist = fit(cfg).history
    assert hist["loss"][-1] < 0.9 * hist["loss"][0]
    assert ("kl_loss" in hist) == (kind == "vae")
