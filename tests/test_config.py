import re

import pytest

from vaelab.config import ConfigError, RunConfig, apply_overrides, dump_config, load_config


def test_defaults_and_yaml_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  latent_dim: 8\ntrain:\n  epochs: 3\n")
    cfg = load_config(f, ["train.learning_rate=0.01", "model.filters=[16, 32, 64]", "model.strides=[2, 2, 1]",
                          "model.kernel_sizes=[3, 3, 3]"])
    assert (cfg.model.latent_dim, cfg.train.epochs, cfg.train.learning_rate) == (8, 3, 0.01)
    assert cfg.model.filters == [16, 32, 64]
    assert cfg.data.name == "digits"  # untouched default


def test_unknown_key_names_key_and_choices(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  latent_dims: 8\n")
    with pytest.raises(ConfigError, match=r"c.yaml: model: unknown key\(s\) \['latent_dims'\]; choose from \["):
        load_config(f)


def test_wrong_type_names_expected_and_received():
    with pytest.raises(ConfigError, match=r"model.latent_dim: expected int, received 'two' \(str\)"):
        RunConfig.from_dict({"model": {"latent_dim": "two"}})
    with pytest.raises(ConfigError, match=r"train.jit_compile: expected one of \['auto', 'on', 'off'\], received True"):
        RunConfig.from_dict({"train": {"jit_compile": True}})
    with pytest.raises(ConfigError, match=r"model.filters\[1\]: expected int, received 2.5"):
        RunConfig.from_dict({"model": {"filters": [1, 2.5]}})


def test_bad_override_syntax_and_section():
    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_overrides({}, ["epochs=3"])
    with pytest.raises(ConfigError, match=r"unknown section 'trian'; choose from \['data', 'model', 'loss', 'train'\]"):
        apply_overrides({}, ["trian.epochs=3"])


def test_int_accepted_for_float_and_none_for_optional():
    cfg = RunConfig.from_dict({"loss": {"beta": 1}, "train": {"clipnorm": None}})
    assert isinstance(cfg.loss.beta, float) and cfg.train.clipnorm is None


def test_dump_round_trips():
    cfg = RunConfig.from_dict({"model": {"latent_dim": 5}})
    import yaml

    assert RunConfig.from_dict(yaml.safe_load(dump_config(cfg))) == cfg


def test_shipped_presets_are_valid_and_free_of_machine_paths():
    import yaml

    from vaelab import presets

    names = presets.names()
    assert {"mnist_vae", "digits_vae", "experiments/mnist_z2_vae"} <= set(names)
    for name in names:
        load_config(name)
        assert presets.describe(name), f"{name}: first comment line (its description) missing"
        values = [v for section in yaml.safe_load(presets.path(name).read_text()).values() for v in section.values()]
        absolute = [v for v in values if isinstance(v, str) and re.match(r"(/|~|[A-Za-z]:[\\/])", v)]
        assert not absolute, f"{name}: absolute paths {absolute} (data comes from --data-dir / $VAELAB_DATA_DIR)"


def test_values_are_checked_when_loaded():
    bad = {
        "train.batch_size=0": r"train.batch_size: expected a value >= 1, received 0",
        "train.epochs=-1": r"train.epochs: expected a value >= 1, received -1",
        "train.learning_rate=-0.01": r"train.learning_rate: expected a value > 0.0, received -0.01",
        "loss.beta=-1": r"loss.beta: expected a value >= 0.0, received -1.0",
        "model.latent_dim=0": r"model.latent_dim: expected a value >= 1, received 0",
        "data.image_size=13": r"data.image_size: the digits dataset has a fixed size of 8x8, received 13",
        "train.precision=fp8": r"train.precision: expected one of \['auto', 'float32', 'mixed_bfloat16', 'mixed_f",
        "model.activation=sigmoidal": r"model.activation: unknown activation 'sigmoidal'; choose from \['relu'",
        "data.name=mnistt": r"data.name: unknown dataset 'mnistt'; choose from \[",
        "train.optimizer=adamm": r"train.optimizer: unknown optimizer 'adamm'",
        "model.strides=[2]": r"model.strides: expected 2 entries",
        "loss.beta=.nan": r"loss.beta: expected a finite number",
    }
    for override, message in bad.items():
        with pytest.raises(ConfigError, match=message):
            load_config(None, [override])


def test_override_values_that_are_not_yaml_name_the_override():
    with pytest.raises(ConfigError, match=r"--set 'train.epochs=\[1': the value is not valid YAML"):
        load_config(None, ["train.epochs=[1"])


def test_typed_overrides_are_taken_as_they_are():
    cfg = load_config(None, [("train.output_dir", "o #2"), ("data.name", "digits")])
    assert cfg.train.output_dir == "o #2"


def test_config_files_that_are_not_configs(tmp_path):
    (tmp_path / "scalar.yaml").write_text("data: 5\n")
    with pytest.raises(ConfigError, match=r"scalar.yaml: section 'data': expected a mapping of keys to values, "
                                          r"received 5"):
        load_config(tmp_path / "scalar.yaml")
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"binary.yaml: not a text \(UTF-8\) file"):
        load_config(tmp_path / "binary.yaml")
    with pytest.raises(ConfigError, match=r"config nope: no such file and no shipped config of that name; shipped: \["):
        load_config("nope")


def test_presets_load_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config("mnist_vae").data.name == "mnist"
    assert load_config("mnist_vae.yaml").model.latent_dim == 2


def test_weight_average_and_early_stopping_are_refused_together():
    with pytest.raises(ConfigError, match=r"^smoke: train.ema: the weight average \(0.999\) and early stopping "
                                          r"\(train.early_stopping_patience=3.*set only one of them$"):
        load_config("smoke", ["train.ema=0.999", "train.early_stopping_patience=3"])
    assert load_config("smoke", ["train.ema=0.999"]).train.ema == 0.999
    with pytest.raises(ConfigError, match="train.ema: expected a value <= 0.99999, received 1.0"):
        load_config("smoke", ["train.ema=1.0"])
