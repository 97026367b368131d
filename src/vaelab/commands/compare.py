"""vaelab compare-strategies: the four KL strategies from identical weights and batches."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS, add_config_args, config_from_args


@COMMANDS.register("compare-strategies")
class CompareStrategies:
    help = "train every KL strategy N steps from identical weights/batches; table of losses, gradients, ms/step"

    @staticmethod
    def register(p):
        add_config_args(p)
        p.add_argument("--steps", type=int, default=20, help="training steps per strategy (default 20)")
        p.add_argument("--tolerance", type=float, default=1e-4, help="max relative difference (default 1e-4)")

    @staticmethod
    def run(args) -> int:
        from vaelab.compare import compare_strategies

        cfg = config_from_args(args)
        result = compare_strategies(cfg, steps=args.steps, tolerance=args.tolerance)
        print(f"dataset {cfg.data.name}, batch {cfg.train.batch_size}, {args.steps} steps, seed {cfg.train.seed}")
        print(result.table())
        return 0 if result.agree else 1
