"""KL-weight (beta) schedules: pure functions (epoch, LossConfig) -> beta.

The `BetaScheduler` callback writes the value into the model's non-trainable `beta` variable at the
start of every epoch, so a compiled graph sees the change (a Python float would be baked in).
Adding a schedule = one function + `@SCHEDULES.register("name")`.
"""

from __future__ import annotations

from vaelab.config import LossConfig
from vaelab.registry import Registry

SCHEDULES = Registry("beta schedule")


@SCHEDULES.register("constant")
def constant(epoch: int, cfg: LossConfig) -> float:
    return cfg.beta


@SCHEDULES.register("linear_warmup")
def linear_warmup(epoch: int, cfg: LossConfig) -> float:
    """beta_start at epoch 0, rising linearly to beta at `warmup_epochs`, then constant (Bowman et al. 2016)."""
    if cfg.warmup_epochs <= 0:
        return cfg.beta
    t = min(epoch / cfg.warmup_epochs, 1.0)
    return cfg.beta_start + t * (cfg.beta - cfg.beta_start)


@SCHEDULES.register("cyclical")
def cyclical(epoch: int, cfg: LossConfig) -> float:
    """Cyclical annealing (Fu et al. 2019): each cycle rises linearly over `cycle_ratio` of it, then holds."""
    period = max(cfg.cycle_epochs, 1)
    rise = max(cfg.cycle_ratio * period, 1e-12)
    t = min((epoch % period) / rise, 1.0)
    return cfg.beta_start + t * (cfg.beta - cfg.beta_start)


def beta_at(epoch: int, cfg: LossConfig) -> float:
    """The beta in force during `epoch` (0-based) under the configured schedule."""
    return float(SCHEDULES.get(cfg.beta_schedule)(epoch, cfg))
