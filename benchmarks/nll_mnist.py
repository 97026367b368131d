"""Quality at a fixed CPU budget: train the `mnist_nll` preset for <= 30 minutes, then IW-NLL (k=1000).

    python benchmarks/nll_mnist.py train --data-dir DIR [--config PRESET] [--budget-min 30] [--set k=v]  # -> run dir
    python benchmarks/nll_mnist.py eval RUN_DIR [--k 1000] [--limit N]  # -> `vaelab evaluate` table

MNIST comes from --data-dir (the folder with the four IDX files), else $VAELAB_DATA_DIR or the Keras cache.

The test set is dynamically binarised once with a fixed seed (the usual protocol for "dynamically
binarised MNIST" NLLs). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch that ends past `seconds` of wall time."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.start = seconds, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self.start
        if elapsed > self.seconds:
            print(f"time budget reached after epoch {epoch + 1} ({elapsed / 60:.1f} min)", flush=True)
            self.model.stop_training = True


def train(args) -> None:
    from vaelab.config import load_config
    from vaelab.train import fit

    sets = [("data.data_dir", args.data_dir)] if args.data_dir else []
    cfg = load_config(args.config, [*sets, *args.overrides])
    t0 = time.perf_counter()
    # The guard stops at an epoch boundary, so the epoch that crosses the budget still finishes:
    # aim one epoch early (the config's epoch count is sized to fit the budget anyway).
    result = fit(cfg, extra_callbacks=[TimeBudget(args.budget_min * 60)])
    wall = time.perf_counter() - t0
    epochs = len(result.history.get("loss", []))
    print(f"run {result.run_dir}: {epochs} epochs in {wall / 60:.1f} min wall "
          f"(final loss {result.history['loss'][-1]:.2f})")


def evaluate(args) -> None:
    from vaelab.evaluate import EvalOptions, evaluate_run_dir

    t0 = time.perf_counter()
    opts = EvalOptions(k=args.k, limit=args.limit, seed=0, frechet=not args.no_fid, inception=False)
    result = evaluate_run_dir(args.run_dir, opts)
    print(result.table())
    print(f"evaluation wall time {(time.perf_counter() - t0) / 60:.1f} min")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--budget-min", type=float, default=30.0)
    t.add_argument("--data-dir", help="folder with MNIST's IDX files (else $VAELAB_DATA_DIR, the Keras cache)")
    t.add_argument("--config", default="mnist_nll",
                   help="preset or YAML file (default the dense-VAE record preset; a family's, e.g. mnist_nll_hvae)")
    t.add_argument("--set", dest="overrides", action="append", default=[])
    e = sub.add_parser("eval")
    e.add_argument("run_dir")
    e.add_argument("--k", type=int, default=1000)
    e.add_argument("--limit", type=int, default=None)
    e.add_argument("--no-fid", action="store_true")
    args = p.parse_args(argv)
    {"train": train, "eval": evaluate}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
