import pytest

from vaelab.config import ConfigError, RunConfig, apply_overrides, dump_config, load_config


def test_defaults_and_yaml_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  latent_dim: 8\ntrain:\n  epochs: 3\n")
    cfg = load_config(f, ["train.learning_rate=0.01", "model.filters=[16, 32, 64]"])
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
    with pytest.raises(ConfigError, match=r"train.jit_compile: expected str, received True"):
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


def test_shipped_configs_are_valid():
    from pathlib import Path

    files = sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml"))
    assert files, "no shipped configs found"
    for f in files:
        load_config(f)
