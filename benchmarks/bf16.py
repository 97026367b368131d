"""bfloat16 by evidence: the same run in float32 and in `train.precision=mixed_bfloat16`, interleaved.

    python benchmarks/bf16.py --data-dir DIR [--config mnist_nll] [--train-limit 10000] [--epochs 8] [--k 200]

Trains the preset once per precision (same seed, data and budget; order float32, bf16, and again with
--rounds 2 in the other order), then evaluates each on the first --test-limit test images: IW-NLL (k), -ELBO,
and the Fréchet distance of prior samples in vaelab's own classifier space. Prints one table with wall time
per epoch and the machine's load. Writes JSON with --json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def run_one(args, precision: str, out: str) -> dict:
    from vaelab.config import load_config
    from vaelab.evaluate import EvalOptions, evaluate_run_dir
    from vaelab.train import fit

    sets = [("data.data_dir", args.data_dir)] if args.data_dir else []
    cfg = load_config(args.config, [*sets, f"data.train_limit={args.train_limit}", f"train.epochs={args.epochs}",
                                    f"train.precision={precision}", f"train.output_dir={out}", "train.verbose=0",
                                    "train.report=false", "data.validation=false", f"train.run_name={precision}"])
    t0 = time.perf_counter()
    result = fit(cfg)
    train_s = time.perf_counter() - t0
    m = evaluate_run_dir(result.run_dir, EvalOptions(k=args.k, limit=args.test_limit, inception=False)).metrics
    return {"precision": precision, "train_s": train_s, "s_per_epoch": train_s / args.epochs,
            "iw_nll": m.get("iwae", {}).get("nll"), "neg_elbo": -m["elbo"]["elbo"],
            "fd": m.get("frechet", {}).get("classifier", {}).get("fd"), "load": os.getloadavg()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir")
    p.add_argument("--config", default="mnist_nll")
    p.add_argument("--train-limit", type=int, default=10_000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--k", type=int, default=200)
    p.add_argument("--test-limit", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for r in range(args.rounds):
            order = ["float32", "mixed_bfloat16"] if r % 2 == 0 else ["mixed_bfloat16", "float32"]
            for precision in order:
                rows.append(run_one(args, precision, str(Path(out) / f"round{r}")))
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n{args.config}, first {args.train_limit} training images, {args.epochs} epochs; evaluation on "
          f"{args.test_limit} test images, IW-NLL k = {args.k}")
    print("| precision | IW-NLL | -ELBO | FD (own classifier) | s/epoch |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['precision']} | {r['iw_nll']:.2f} | {r['neg_elbo']:.2f} | {r['fd']:.2f} "
              f"| {r['s_per_epoch']:.2f} |")
    print(f"load average now {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
