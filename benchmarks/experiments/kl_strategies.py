"""Experiment 4: the four KL strategies give the same loss curve; how fast is each?

    python benchmarks/experiments/kl_strategies.py        # ~2 min on 2 shared CPU cores

Part 1 is `vaelab compare-strategies` (identical weights and batches, 20 steps). Part 2 trains
the preset experiments/digits_strategies once per strategy (same seed, 20 epochs) and overlays the
loss curves; speed is the median epoch time (first epoch, which includes tracing, excluded).
"""

from __future__ import annotations

import numpy as np
from common import save_figure, save_results, train

from vaelab.compare_strategies import compare_strategies
from vaelab.config import load_config
from vaelab.models.strategies import STRATEGIES


def main():
    from matplotlib.figure import Figure

    comparison = compare_strategies(load_config("experiments/digits_strategies"), steps=20)
    print(comparison.table())
    results = {"compare_strategies_table": comparison.table(), "agree": comparison.agree, "runs": {}}
    fig = Figure(figsize=(11, 3.2))
    ax_loss, ax_kl, ax_time = fig.subplots(1, 3)
    for name in STRATEGIES.names():
        run_dir, _, h = train("digits_strategies", f"digits-strategy-{name}", [f"loss.strategy={name}"],
                              report=False)
        epoch_s = float(np.median(h["time"][1:]))
        results["runs"][name] = {"final_loss": h["loss"][-1], "final_val_loss": h["val_loss"][-1],
                                 "final_kl": h["kl_loss"][-1], "median_epoch_s": epoch_s,
                                 "first_epoch_s": h["time"][0], "run_dir": str(run_dir)}
        ax_loss.plot(h["epoch"], h["loss"], label=name, lw=1.2)
        ax_kl.plot(h["epoch"], h["kl_loss"], label=name, lw=1.2)
    names = list(results["runs"])
    base = results["runs"]["train_step"]["median_epoch_s"]
    for r in results["runs"].values():
        r["relative_time"] = r["median_epoch_s"] / base
    ax_time.bar(range(len(names)), [results["runs"][n]["relative_time"] for n in names], color="C2")
    ax_time.set_xticks(range(len(names)), names, rotation=20, fontsize=7)
    ax_time.set_title("median epoch time / train_step", fontsize=9)
    for ax, t in ((ax_loss, "loss (train)"), (ax_kl, "kl_loss (train)")):
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle("four KL strategies, digits, same seed and data order", fontsize=10)
    fig.tight_layout()
    save_figure(fig, "kl_strategies")
    save_results("kl_strategies", results)


if __name__ == "__main__":
    main()
