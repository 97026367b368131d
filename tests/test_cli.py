"""The command line: thin handlers, clear one-line errors, the demo end to end (tiny settings)."""

import subprocess
import sys

import pytest
import yaml

from vaelab.cli import build_parser, main
from vaelab.commands import COMMANDS


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("train", "demo", "compare-strategies", "config", "env", "datasets"):
        assert name in out
    for name in COMMANDS.names():  # every registered command has working --help
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, "--help"])


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "vaelab", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("vaelab ")


def test_config_show_applies_file_shortcuts_and_sets(capsys):
    assert main(["config", "show", "--config", "mnist_vae", "--epochs", "3",
                 "--set", "model.latent_dim=4", "--strategy", "multi_output"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["data"]["name"] == "mnist" and shown["train"]["epochs"] == 3
    assert shown["model"]["latent_dim"] == 4 and shown["loss"]["strategy"] == "multi_output"


@pytest.mark.parametrize("args,message", [
    (["--set", "model.latent_dim=two"], "model.latent_dim: expected int, received 'two'"),
    (["--set", "model.latentdim=2"], "unknown key(s) ['latentdim']"),
    (["--config", "nope.yaml"], "config nope.yaml: no such file and no shipped config of that name"),
])
def test_bad_config_is_one_clear_line(capsys, args, message):
    assert main(["config", "show", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("vaelab config: error:")


def test_train_unknown_dataset_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--dataset", "imagenet", "--output-dir", str(tmp_path)]) == 2
    assert "unknown dataset 'imagenet'; choose from" in capsys.readouterr().err


def test_demo_writes_a_run_directory(tmp_path, capsys):
    code = main(["demo", "--output-dir", str(tmp_path), "--epochs", "1", "--set", "train.verbose=0",
                 "--set", "train.report=false"])
    assert code == 0
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and (runs[0] / "model.keras").is_file() and (runs[0] / "history.csv").is_file()
    assert f"run directory: {runs[0]}" in capsys.readouterr().out


def test_compare_strategies_prints_table_and_exits_zero(tmp_path, capsys):
    code = main(["compare-strategies", "--config", "smoke", "--steps", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ms/step" in out and "AGREE" in out
    from vaelab.models.strategies import STRATEGIES

    for name in STRATEGIES.names():
        assert name in out


def test_env_prints_versions(capsys):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow:" in out and "keras: 3." in out


def test_datasets_lists_every_registered_dataset(tmp_path, capsys):
    from vaelab.data import DATASETS

    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in DATASETS.names():
        assert name in out
    assert "absent" in out  # nothing in the empty dir


def test_config_list_names_every_preset_with_its_description(capsys):
    from vaelab import presets

    assert main(["config", "list"]) == 0
    out = capsys.readouterr().out
    for name in presets.names():
        assert any(line.startswith(name + " ") and presets.describe(name) in line for line in out.splitlines())


def test_native_start_up_lines_are_hidden_unless_verbose(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    cmd = [sys.executable, "-m", "vaelab", "config", "show", "--set", "train.epochs=3"]
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert quiet.returncode == 0 and "epochs: 3" in quiet.stdout
    assert quiet.stderr == "", quiet.stderr
    loud = subprocess.run([*cmd, "--verbose"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert loud.returncode == 0 and loud.stderr  # TensorFlow's own lines, shown on request


def test_filter_keeps_python_warnings_and_errors():
    from vaelab.cli import NATIVE_NOISE

    noise = ["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
             "I0000 00:00:1795764546.472724    8716 port.cc:153] oneDNN custom operations are on.",
             "E0000 00:00:1795764548.638787    8716 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
             "2026-11-27 07:20:01.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow",
             "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow "
             "with the appropriate compiler flags."]
    kept = ["/x/y.py:3: UserWarning: something", "Traceback (most recent call last):", "ValueError: bad"]
    assert all(NATIVE_NOISE.match(line) for line in noise)
    assert not any(NATIVE_NOISE.match(line) for line in kept)


def test_version_and_instant_help():
    code = ("import sys, vaelab.cli\ntry:\n    vaelab.cli.main(['--help'])\nexcept SystemExit:\n"
            "    print('tensorflow imported:', 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "usage: vaelab" in out.stdout and "tensorflow imported: False" in out.stdout  # --help stays instant
    import vaelab

    assert subprocess.run([sys.executable, "-m", "vaelab", "--version"], capture_output=True,
                          text=True).stdout.strip() == f"vaelab {vaelab.__version__}"
