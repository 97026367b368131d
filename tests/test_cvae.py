"""Conditional VAE: conditions from labels, the labelled (resumable) pipeline, generate --condition, report view."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import tiny_config
from helpers import assert_resume_is_exact

from vaelab.config import DataConfig, RunConfig
from vaelab.data.base import Split
from vaelab.data.pipeline import make_epochs
from vaelab.models.kinds import build_model

SHAPE = (8, 8, 1)
TINY = {"kind": "cvae", "architecture": "dense", "hidden_units": [32], "latent_dim": 2}


def _cvae(label_names=("a", "b", "c"), attributes=False, **model):
    keras.utils.set_random_seed(0)
    cfg = RunConfig.from_dict({"model": {**TINY, **model}})
    return build_model(cfg, SHAPE, label_names=list(label_names), attributes=attributes)


def test_conditions_one_hot_attributes_null_and_parsing():
    m = _cvae()
    np.testing.assert_array_equal(m.conditions(np.array([2, 0])).numpy(), [[0, 0, 1, 0], [1, 0, 0, 0]])
    np.testing.assert_array_equal(m.null_conditions(1), [[0, 0, 0, 1]])
    np.testing.assert_array_equal(m.parse_condition("1"), [0, 1, 0, 0])
    np.testing.assert_array_equal(m.parse_condition("c"), [0, 0, 1, 0])
    with pytest.raises(ValueError, match=r"^--condition: expected a class id 0..2 or a class name from "
                                         r"\['a', 'b', 'c'\], received '7'$"):
        m.parse_condition("7")
    a = _cvae(label_names=("Smiling", "Eyeglasses", "Male"), attributes=True)
    np.testing.assert_array_equal(a.conditions(np.array([[1, 0, 1]])).numpy(), [[1, 0, 1, 0]])
    np.testing.assert_array_equal(a.parse_condition("Smiling=1, Eyeglasses=1"), [1, 1, 0, 0])
    with pytest.raises(ValueError, match=r"^--condition: expected NAME=0\|1.*received 'Smile=1'$"):
        a.parse_condition("Smiling=1,Smile=1")
    with pytest.raises(ValueError, match="needs labelled data"):
        build_model(RunConfig.from_dict({"model": TINY}), SHAPE)


def test_condition_changes_the_decoder_and_dropout_uses_the_null_condition():
    m = _cvae(condition_dropout=1.0)
    z = np.zeros((1, 2), "float32")
    outs = [m.decode(z, condition=k) for k in (0, 1)]
    assert not np.allclose(outs[0], outs[1])
    c = m.conditions(np.array([0, 1, 2]))
    np.testing.assert_array_equal(m.drop_conditions(c).numpy(), m.null_conditions(3))  # p = 1: all null
    m0 = _cvae(condition_dropout=0.0)
    np.testing.assert_array_equal(m0.drop_conditions(c).numpy(), c.numpy())


def test_make_epochs_with_labels_keeps_pairs_and_resumes_at_any_epoch():
    n = 40
    images = np.arange(n, dtype="uint8").reshape(n, 1, 1, 1) * np.ones((1, 2, 2, 1), "uint8")
    split = Split(image_shape=(2, 2, 1), images=images, labels=np.arange(n) * 10, label_names=["x"])
    cfg = DataConfig(name="synthetic")

    def batches(first):
        ds = make_epochs(split, cfg, 8, seed=3, first_epoch=first, epochs=3, steps_per_epoch=5, with_labels=True)
        return [(np.round(x.numpy()[:, 0, 0, 0] * 255).astype(int), y.numpy()) for x, y in ds]

    full = batches(0)
    for x, y in full:
        np.testing.assert_array_equal(x * 10, y)  # each image keeps its own label
    assert not np.array_equal(full[0][0], np.arange(8))  # shuffled
    for (a, b), (c, d) in zip(full[5:], batches(1), strict=True):  # epoch 1 onward, as if resumed
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_fit_feeds_labels_and_classes_get_their_own_samples(tmp_path):
    from vaelab.data.synthetic import make_images
    from vaelab.train import fit

    model = {"kind": "cvae", "architecture": "dense", "hidden_units": [64], "condition_dropout": 0.1}
    result = fit(tiny_config(tmp_path, model=model, train={"epochs": 4, "learning_rate": 0.01}))
    loss = result.history["loss"]
    assert np.all(np.isfinite(loss)) and loss[-1] < 0.7 * loss[0], loss
    model = result.model
    assert model.label_names == [str(i) for i in range(10)] and not model.attributes
    # synthetic class k is a blob at place k: samples under class k look like class k's images, not the other's
    images, labels = make_images(256, size=16, seed=0)
    class_mean = {k: images[labels == k].mean(axis=0).ravel() for k in (0, 9)}
    for k, other in ((0, 9), (9, 0)):
        s = model.sample(64, seed=0, condition=k).mean(axis=0).ravel()
        corr = {j: np.corrcoef(s, class_mean[j])[0, 1] for j in (k, other)}
        assert corr[k] > corr[other] + 0.1, (k, corr)
    loaded = keras.saving.load_model(result.run_dir / "model.keras", compile=False)
    np.testing.assert_array_equal(loaded.sample(4, seed=1, condition="3"), model.sample(4, seed=1, condition="3"))


def test_unlabelled_data_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import dataclasses

    import vaelab.train
    from vaelab.train import fit

    real = vaelab.train.load_split
    monkeypatch.setattr(vaelab.train, "load_split",
                        lambda cfg, split: dataclasses.replace(real(cfg, split), labels=None, label_names=None))
    with pytest.raises(ValueError, match=r"^model.kind: 'cvae' trains on labelled images, but data.name "
                                         r"'synthetic' \(generated\) has no labels; choose a labelled dataset"):
        fit(tiny_config(tmp_path, model={"kind": "cvae"}))
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_cvae_resume_after_crash_equals_uninterrupted_run(tmp_path):
    """Labels ride in the (seed, epoch)-keyed order and condition dropout draws from the saved seed generator."""
    assert_resume_is_exact(tmp_path, model={"kind": "cvae", "condition_dropout": 0.5}, epochs=3, crash_at=1,
                           keys=("loss",))


def test_generate_condition_cli_and_report_view(tmp_path, capsys):
    from vaelab.analysis.subject import load_subject
    from vaelab.analysis.views import FIGURES, Options
    from vaelab.cli import main
    from vaelab.train import fit

    run = fit(tiny_config(tmp_path, model={"kind": "cvae"}, train={"epochs": 1})).run_dir
    assert main(["generate", str(run), "-n", "4", "--condition", "7", "--out", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").is_file() and "condition 7" in capsys.readouterr().out
    assert main(["generate", str(run), "--condition", "Smiling=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--condition: expected a class id 0..9" in err[0], err

    subject = load_subject(run, limit=32, classifier_limit=0)
    assert FIGURES.info("conditional")["fits"](subject)
    view = FIGURES.get("conditional")(subject, Options(n=4))
    assert view.name == "conditional" and len(view.figure.axes) >= 1
    vae = fit(tiny_config(tmp_path, train={"epochs": 1, "run_name": "plain"})).run_dir
    assert not FIGURES.info("conditional")["fits"](load_subject(vae, limit=8, classifier_limit=0))
    assert main(["generate", str(vae), "--condition", "7"]) == 2
    assert "is not conditional" in capsys.readouterr().err
