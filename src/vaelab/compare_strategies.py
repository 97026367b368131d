"""`compare_strategies`: the four KL mechanisms from identical weights, seeds and batches, side by side.

Each strategy's loss per step, the agreement of its first-batch gradients with the reference, and
its ms/step. They must agree: the strategies differ in mechanism, not in maths.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from vaelab.config import RunConfig
from vaelab.data import load_split, make_dataset
from vaelab.models.kinds import build_model
from vaelab.models.strategies import STRATEGIES
from vaelab.train import make_optimizer, resolve_jit


@dataclass
class StrategyResult:
    name: str
    losses: list[float]
    grad_rel_diff: float  # max_i |g_i - g_ref_i| / max |g_ref|
    ms_per_step: float
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class Comparison:
    results: list[StrategyResult]
    max_rel_loss_diff: float
    max_grad_rel_diff: float
    tolerance: float

    @property
    def agree(self) -> bool:
        return self.max_rel_loss_diff <= self.tolerance and self.max_grad_rel_diff <= self.tolerance

    def table(self) -> str:
        steps = len(self.results[0].losses)
        shown = sorted({0, steps // 2, steps - 1})
        head = f"{'strategy':<16}" + "".join(f"{'loss@' + str(i + 1):>14}" for i in shown)
        head += f"{'grad diff':>12}{'ms/step':>10}"
        lines = [head, "-" * len(head)]
        for r in self.results:
            row = f"{r.name:<16}" + "".join(f"{r.losses[i]:>14.6f}" for i in shown)
            lines.append(row + f"{r.grad_rel_diff:>12.2e}{r.ms_per_step:>10.1f}")
        verdict = "AGREE" if self.agree else "DISAGREE"
        lines.append(
            f"max relative loss difference {self.max_rel_loss_diff:.2e}, max relative gradient difference "
            f"{self.max_grad_rel_diff:.2e} (tolerance {self.tolerance:.0e}): {verdict}"
        )
        return "\n".join(lines)


def _gradients(model, x) -> list[np.ndarray]:
    with tf.GradientTape() as tape:
        loss = model.objective(x, training=True)
    return [g.numpy() for g in tape.gradient(loss, model.trainable_weights)]


def compare_strategies(cfg: RunConfig, steps: int = 20, strategies: list[str] | None = None,
                       tolerance: float = 1e-4) -> Comparison:
    """Trains every strategy `steps` steps on the same batches from the same initial weights."""
    names = strategies or STRATEGIES.names()
    for n in names:
        STRATEGIES.get(n)
    split = load_split(cfg.data, "train")
    ds = make_dataset(split, cfg.data, cfg.train.batch_size, training=True, seed=cfg.train.seed)
    batches = [b.numpy() for b in ds.repeat().take(steps)]

    results, reference_weights, reference_grads = [], None, None
    for name in names:
        keras.utils.set_random_seed(cfg.train.seed)
        run_cfg = RunConfig.from_dict({**cfg.to_dict(), "loss": {**cfg.to_dict()["loss"], "strategy": name}})
        model = build_model(run_cfg, split.image_shape)
        if reference_weights is None:
            reference_weights = [w.numpy() for w in model.trainable_weights]
        else:
            for var, ref in zip(model.trainable_weights, reference_weights, strict=True):
                var.assign(ref)
        model.prepare_training(make_optimizer(run_cfg, steps), resolve_jit(cfg.train.jit_compile))
        grads = _gradients(model, batches[0])
        if reference_grads is None:
            reference_grads = grads
        scale = max(float(np.max(np.abs(g))) for g in reference_grads) or 1.0
        grad_diff = max(float(np.max(np.abs(g - r))) for g, r in zip(grads, reference_grads, strict=True)) / scale

        losses, times, logs = [], [], {}
        for x in batches:
            t0 = time.perf_counter()
            logs = model.train_on_batch(x, model.targets(x), return_dict=True)
            times.append(time.perf_counter() - t0)
            losses.append(float(logs["loss"]))
        timed = times[1:] or times  # the first step includes tracing
        results.append(StrategyResult(name, losses, grad_diff, 1000 * float(np.median(timed)),
                                      {k: float(v) for k, v in logs.items()}))

    ref = np.array(results[0].losses)
    rel = max(float(np.max(np.abs(np.array(r.losses) - ref) / np.maximum(np.abs(ref), 1e-12))) for r in results)
    return Comparison(results, rel, max(r.grad_rel_diff for r in results), tolerance)
