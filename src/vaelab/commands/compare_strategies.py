"""vaelab compare-strategies: the four KL strategies from identical weights and batches."""

from __future__ import annotations

import math

from vaelab.commands.args import check_fits, count, image_shape_of, memory_why, real
from vaelab.commands.base import COMMANDS, add_config_args, config_from_args

MAX_STEPS = 100_000


@COMMANDS.register("compare-strategies")
class CompareStrategies:
    help = "train every KL strategy N steps from identical weights/batches; table of losses, gradients, ms/step"

    @staticmethod
    def register(p):
        add_config_args(p)
        p.add_argument("--steps", type=count(1, MAX_STEPS, "(a comparison needs tens of steps)"), default=20,
                       help="training steps per strategy (default 20)")
        p.add_argument("--tolerance", type=real(gt=0), default=1e-4, help="max relative difference (default 1e-4)")

    @staticmethod
    def run(args) -> int:
        from vaelab.compare_strategies import compare_strategies

        cfg = config_from_args(args)
        check_batches_fit(cfg, args.steps)
        result = compare_strategies(cfg, steps=args.steps, tolerance=args.tolerance)
        print(f"dataset {cfg.data.name}, batch {cfg.train.batch_size}, {args.steps} steps, seed {cfg.train.seed}")
        print(result.table())
        return 0 if result.agree else 1


def check_batches_fit(cfg, steps: int) -> None:
    """ValueError naming --steps when its batches (all held in memory, float32) do not fit on this machine."""
    from vaelab.limits import human_bytes, most_that_fits

    shape = image_shape_of(cfg) or (256, 256, 3)  # a folder without data.image_size: a generous guess
    each = 4 * cfg.train.batch_size * math.prod(shape)
    why = f"{human_bytes(each)} per batch of {cfg.train.batch_size} {shape[0]}x{shape[1]} images, all kept"
    check_fits("--steps", steps, min(MAX_STEPS, most_that_fits(each)), memory_why(why))
