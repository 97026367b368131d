"""vaelab demo: a small VAE on scikit-learn's bundled digits, offline, in about a minute."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS, add_config_args, config_from_args

PRESET = "digits_vae"  # the demo's settings live in the shipped preset, one source of truth


@COMMANDS.register("demo")
class Demo:
    help = "train a small VAE on scikit-learn's bundled digits (offline) and write a report"

    @staticmethod
    def register(p):
        add_config_args(p)

    @staticmethod
    def run(args) -> int:
        from vaelab.config import read_yaml
        from vaelab.train import fit
        from vaelab.workflow import after_training

        base = read_yaml(PRESET)
        base["train"] = {**base.get("train", {}), "verbose": 2}
        cfg = config_from_args(args, base=base)
        result = fit(cfg, argv=["vaelab", "demo"])
        for line in after_training(result):
            print(line)
        return 0
