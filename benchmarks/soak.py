"""Long runs hold steady: resident memory and start-up must not grow with the number of epochs.

    python benchmarks/soak.py train [--epochs 1000] [--steps 3]       # RSS every epoch: slope and peak
    python benchmarks/soak.py startup [--epochs 10,1000]              # time to the first step, per epoch count
    python benchmarks/soak.py pipeline [--epochs 10,1000]             # graph size + first batch of make_epochs
    python benchmarks/soak.py explorer RUN_DIR [--requests 100000]   # `vaelab explore` RSS under loopback load

`train` runs `vaelab.train.fit` on the offline digits (tiny conv VAE, `--steps` batches per epoch, no
validation, no report), samples the process's resident memory (VmRSS) at every epoch end, and prints the
least-squares slope in MB per epoch (after a warm-up of 10 epochs), RSS at epoch 10 and at the end, and the
peak. `startup` starts `vaelab train` in a subprocess for each epoch count and times the first training step
(a callback marks it). Prints one result line per figure and the machine's load average. Writes JSON with
--json FILE. `explorer` runs `explore_load.explorer_soak` (bounded, 127.0.0.1 only). Not part of the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def base_overrides(out: str, epochs: int, steps: int) -> list[str]:
    return [f"train.epochs={epochs}", f"train.steps_per_epoch={steps}", f"train.output_dir={out}",
            "train.verbose=0", "train.report=false", "data.validation=false", "model.filters=[8, 16]",
            "model.extra_dense=0", "data.binarize=dynamic"]


def train(args) -> dict:
    import keras
    import numpy as np

    from vaelab.config import load_config
    from vaelab.train import fit

    samples: list[float] = []

    class Sample(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            samples.append(rss_mb())

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config("digits_vae", base_overrides(out, args.epochs, args.steps))
        t0 = time.perf_counter()
        fit(cfg, extra_callbacks=[Sample()])
        wall = time.perf_counter() - t0
    epochs = np.arange(len(samples))
    warm = 10
    slope = float(np.polyfit(epochs[warm:], samples[warm:], 1)[0])
    result = {"epochs": args.epochs, "steps_per_epoch": args.steps, "slope_mb_per_epoch": slope,
              "rss_epoch_10_mb": samples[warm - 1], "rss_last_mb": samples[-1], "peak_mb": max(samples),
              "wall_s": wall, "load": os.getloadavg()}
    print(f"soak train: {args.epochs} epochs x {args.steps} steps in {wall:.0f} s: slope {slope:+.4f} MB/epoch, "
          f"RSS epoch 10 {samples[warm - 1]:.0f} MB, last {samples[-1]:.0f} MB, peak {max(samples):.0f} MB "
          f"(target: slope <= 0.2 MB/epoch) [{load()}]")
    return result


FIRST_STEP = """
import sys, time, keras
from vaelab.config import load_config
from vaelab.train import fit
t0 = float(sys.argv[1])
class First(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        print(f"FIRST_STEP {time.time() - t0:.3f}", flush=True)
        raise SystemExit(0)
fit(load_config("digits_vae", sys.argv[2:]), extra_callbacks=[First()])
"""


def startup(args) -> dict:
    result = {}
    for epochs in args.epochs_list:
        times = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as out:
                cmd = [sys.executable, "-c", FIRST_STEP, str(time.time()), *base_overrides(out, epochs, 3)]
                text = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
                times.append(float(text.split("FIRST_STEP")[1].split()[0]))
        result[epochs] = min(times)
        print(f"soak startup: train.epochs={epochs}: {min(times):.2f} s from process start to the first step "
              f"(best of {args.repeats}) [{load()}]")
    return result


def pipeline(args) -> dict:
    from vaelab.config import load_config
    from vaelab.data import load_split
    from vaelab.data.pipeline import make_epochs

    cfg = load_config("digits_vae", ["data.binarize=dynamic"])
    split = load_split(cfg.data, "train")
    result = {}
    for epochs in args.epochs_list:
        t = time.perf_counter()
        ds = make_epochs(split, cfg.data, 64, 0, 0, epochs, 3)
        first = next(iter(ds))
        result[epochs] = {"graph_bytes": len(ds._as_serialized_graph().numpy()),
                          "build_and_first_batch_s": time.perf_counter() - t,
                          "first_batch_sum": float(first.numpy().sum())}
        print(f"soak pipeline: epochs={epochs}: graph {result[epochs]['graph_bytes']:,} bytes, build + first batch "
              f"{result[epochs]['build_and_first_batch_s']:.3f} s [{load()}]")
    return result


def explorer(args) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))
    from explore_load import explorer_soak

    errors = explorer_soak(args.run_dir, args.requests, args.clients)
    print(f"soak explorer: {args.requests} requests, {errors} errors [{load()}]")
    return {"requests": args.requests, "errors": errors}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("train")
    t.add_argument("--epochs", type=int, default=1000)
    t.add_argument("--steps", type=int, default=3)
    for name in ("startup", "pipeline"):
        s = sub.add_parser(name)
        s.add_argument("--epochs", default="10,1000")
        s.add_argument("--repeats", type=int, default=2)
    e = sub.add_parser("explorer")
    e.add_argument("run_dir")
    e.add_argument("--requests", type=int, default=100_000)
    e.add_argument("--clients", type=int, default=8)
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)
    if args.mode in ("startup", "pipeline"):
        args.epochs_list = [int(e) for e in args.epochs.split(",")]
    result = {"train": train, "startup": startup, "pipeline": pipeline, "explorer": explorer}[args.mode](args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
