"""vaelab demo: a small VAE on scikit-learn's bundled digits, offline, in about a minute."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS, add_config_args, config_from_args

DEMO = {
    "data": {"name": "digits"},
    "model": {"latent_dim": 2, "filters": [32, 64], "kernel_sizes": [3, 3], "strides": [2, 2], "extra_dense": 64},
    "train": {"epochs": 60, "batch_size": 64, "learning_rate": 2e-3, "run_name": None, "verbose": 2},
}


@COMMANDS.register("demo")
class Demo:
    help = "train a small VAE on scikit-learn's bundled digits (offline) and write a report"

    @staticmethod
    def register(p):
        add_config_args(p)

    @staticmethod
    def run(args) -> int:
        from vaelab.train import fit
        from vaelab.workflow import after_training

        cfg = config_from_args(args, base=DEMO)
        result = fit(cfg, argv=["vaelab", "demo"])
        for line in after_training(result):
            print(line)
        return 0
