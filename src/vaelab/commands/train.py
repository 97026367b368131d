"""vaelab train: train a model into a run directory (or --resume one)."""

from __future__ import annotations

import sys

from vaelab.commands.base import COMMANDS, add_config_args, config_from_args
from vaelab.config import TRACKERS


@COMMANDS.register("train")
class Train:
    help = "train an AE/VAE; writes a run directory (config, history, checkpoints, figures, report)"

    @staticmethod
    def register(p):
        add_config_args(p)
        p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run exactly where it stopped")
        p.add_argument("--track", choices=TRACKERS, help="shortcut for --set train.track=NAME: log the run to "
                       "MLflow (the `track` extra; store: train.tracking_uri, default <output_dir>/mlruns)")

    @staticmethod
    def run(args) -> int:
        from vaelab import runs
        from vaelab.train import DivergenceError, fit
        from vaelab.workflow import after_training

        if args.resume:
            base = runs.read_run_config(args.resume).to_dict()
            cfg = config_from_args(args, base=base)
        else:
            cfg = config_from_args(args)
        try:
            result = fit(cfg, resume=args.resume, argv=["vaelab", *sys.argv[1:]])
        except DivergenceError as e:
            print(f"vaelab train: {e}", file=sys.stderr)
            return 3
        for line in after_training(result):
            print(line)
        return 0
