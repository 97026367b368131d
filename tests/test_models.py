"""Contract tests over every registered architecture and model kind."""


import keras
import numpy as np
import pytest

from vaelab.config import ModelConfig, RunConfig
from vaelab.models import ARCHITECTURES, build_decoder, build_encoder
from vaelab.models.kinds import MODEL_KINDS, build_model

ARCH_SETTINGS = {
    "conv": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]},
    "dense": {"hidden_units": [32]},
}


def test_every_architecture_has_settings():
    assert set(ARCHITECTURES.names()) == set(ARCH_SETTINGS)


@pytest.mark.parametrize("arch", ARCHITECTURES.names())
@pytest.mark.parametrize("kind", ["vae", "ae"])
@pytest.mark.parametrize("shape", [(16, 16, 1), (28, 28, 1), (12, 10, 3)])
def test_shapes(arch, kind, shape):
    cfg = ModelConfig(kind=kind, architecture=arch, latent_dim=3, **ARCH_SETTINGS[arch])
    enc, dec = build_encoder(cfg, shape, variational=kind == "vae"), build_decoder(cfg, shape)
    x = np.random.default_rng(0).random((4, *shape)).astype("float32")
    out = enc(x)
    z_mean = out[0] if kind == "vae" else out
    assert tuple(z_mean.shape) == (4, 3)
    if kind == "vae":
        assert tuple(out[1].shape) == (4, 3)
    x_hat = keras.ops.convert_to_numpy(dec(z_mean))
    assert x_hat.shape == (4, *shape)
    assert x_hat.min() >= 0 and x_hat.max() <= 1


def test_three_stride2_layers_on_28px_crop_back_to_28():
    cfg = ModelConfig(filters=[8, 8, 8], kernel_sizes=[3, 3, 3], strides=[2, 2, 2])
    assert build_decoder(cfg, (28, 28, 1)).output.shape[1:] == (28, 28, 1)


def test_extra_dense_reduces_head_parameters():
    """Seed part XII: a narrow Dense before z_mean/z_log_var shrinks the two big head matrices."""
    base = dict(filters=[32, 64], kernel_sizes=[3, 3], strides=[2, 2], latent_dim=200)
    without = build_encoder(ModelConfig(**base), (64, 64, 3)).count_params()
    with_extra = build_encoder(ModelConfig(**base, extra_dense=128), (64, 64, 3)).count_params()
    flat = 16 * 16 * 64
    assert without - with_extra == (2 * (flat * 200 + 200)) - (flat * 128 + 128 + 2 * (128 * 200 + 200))


def test_bad_conv_lists_and_activation():
    with pytest.raises(ValueError, match=r"model.strides: expected 2 entries .* received \[2\]"):
        build_encoder(ModelConfig(filters=[8, 8], kernel_sizes=[3, 3], strides=[2]), (16, 16, 1))
    with pytest.raises(ValueError, match=r"unknown activation 'relu6'.*choose from"):
        build_encoder(ModelConfig(activation="relu6"), (16, 16, 1))
    with pytest.raises(ValueError, match="unknown architecture 'resnet'; choose from"):
        build_encoder(ModelConfig(architecture="resnet"), (16, 16, 1))


def test_log_var_clip_bounds_output():
    cfg = ModelConfig(latent_dim=2, z_log_var_clip=1.5, filters=[4], kernel_sizes=[3], strides=[2])
    enc = build_encoder(cfg, (8, 8, 1))
    for w in enc.get_layer("z_log_var").weights:
        w.assign(np.full(w.shape, 100.0, "float32"))
    _, z_log_var = enc(np.ones((2, 8, 8, 1), "float32"))
    assert np.allclose(keras.ops.convert_to_numpy(z_log_var), 1.5)


@pytest.mark.parametrize("kind,strategy", [("ae", "train_step"), ("vae", "train_step"), ("vae", "encoder_layer"),
                                           ("vae", "multi_output"), ("vae", "model_add_loss")])
def test_keras_round_trip_gives_identical_outputs(tmp_path, kind, strategy, batch):
    cfg = RunConfig.from_dict({"model": {"kind": kind, **ARCH_SETTINGS["conv"]}, "loss": {"strategy": strategy}})
    model = build_model(cfg, (16, 16, 1))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert type(loaded) is type(model)
    assert loaded.get_config()["model_config"] == cfg.model.to_dict()
    np.testing.assert_array_equal(loaded.reconstruct(batch), model.reconstruct(batch))
    np.testing.assert_array_equal(loaded.encode(batch)[0], model.encode(batch)[0])


def test_inference_is_deterministic_and_sampling_is_not(batch):
    model = build_model(RunConfig.from_dict({"model": ARCH_SETTINGS["conv"]}), (16, 16, 1))
    np.testing.assert_array_equal(model.reconstruct(batch), model.reconstruct(batch))
    assert not np.array_equal(model.reconstruct(batch, deterministic=False, seed=1),
                              model.reconstruct(batch, deterministic=False, seed=2))
    assert model.sample(5, seed=0).shape == (5, 16, 16, 1)
    np.testing.assert_array_equal(model.sample(5, seed=0), model.sample(5, seed=0))


def test_model_kinds_are_registered_under_their_own_names():
    for name in MODEL_KINDS.names():
        assert MODEL_KINDS.get(name).kind == name
    with pytest.raises(ValueError, match=r"unknown model kind 'gan'; choose from \['ae', "):
        build_model(RunConfig.from_dict({"model": {"kind": "gan"}}), (16, 16, 1))


def test_model_config_from_dict_validates_and_models_keep_the_dataclass():
    cfg = ModelConfig.from_dict({"latent_dim": 3, **ARCH_SETTINGS["conv"]})
    assert cfg.latent_dim == 3 and ModelConfig.from_dict(None) == ModelConfig()
    with pytest.raises(ValueError, match=r"model.latent_dim: expected int, received 'x'"):
        ModelConfig.from_dict({"latent_dim": "x"})
    run_cfg = RunConfig.from_dict({"model": cfg.to_dict()})
    assert build_model(run_cfg, (16, 16, 1)).cfg is run_cfg.model
