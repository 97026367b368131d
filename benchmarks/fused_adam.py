"""Keras's Adam against vaelab's fused Adam (`vaelab.optimizers`): start-up and step time, interleaved.

    python benchmarks/fused_adam.py --rounds 4
    python benchmarks/fused_adam.py --presets fashion_mnist_fid,mnist_vae --steps 40

Start-up: CPU seconds of a whole `vaelab train --config celeba_vae` run of one step (build, trace, first step,
validation, saves) in this process, alternating Keras's Adam and the fused one `--rounds` times after one
warm-up run each. Steps: median ms per `train_on_batch` of each preset's model at its batch size and precision,
the two optimizers alternating step by step from the same initial weights. Tiny synthetic CelebA files are
written to a temp folder; nothing else is read. Prints the CPU, the load before and after, and a JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


@contextlib.contextmanager
def keras_adam(on: bool):
    """`vaelab.optimizers.get` hands out Keras's own Adam while `on`."""
    from vaelab import optimizers

    saved = dict(optimizers.FUSED)
    if on:
        optimizers.FUSED.clear()
    try:
        yield
    finally:
        optimizers.FUSED.update(saved)


def start_up(rounds: int) -> dict[str, list[float]]:
    from data_support import write_celeba

    from vaelab.cli import main

    folder = Path(tempfile.mkdtemp())
    write_celeba(folder / "data", n=12)
    sets = ["train.epochs=1", "train.steps_per_epoch=1", "train.batch_size=4", "train.verbose=0",
            "train.report=false", "train.run_name=run", "train.precision=float32", "data.train_limit=8",
            "data.test_limit=4", "train.overwrite=true"]
    argv = ["train", "--config", "celeba_vae", "--data-dir", str(folder / "data"), "--output-dir",
            str(folder / "runs")] + [a for s in sets for a in ("--set", s)]
    cpu = {"keras": [], "fused": []}
    for r in range(rounds + 1):
        for name in cpu:
            with keras_adam(name == "keras"), contextlib.redirect_stdout(open(os.devnull, "w")):
                t = time.process_time()
                main(argv)
                if r:  # round 0 warms both up (imports, autograph caches)
                    cpu[name].append(time.process_time() - t)
    return cpu


def steps(preset: str, n: int) -> dict[str, float]:
    import keras

    from vaelab import optimizers, precision
    from vaelab.config import load_config
    from vaelab.models.kinds import build_model

    cfg = load_config(preset)
    shape = (28, 28, 1)
    x = np.random.default_rng(0).random((cfg.train.batch_size, *shape), dtype=np.float32)
    policy = cfg.train.precision if cfg.train.precision != "auto" else "float32"
    runs = {}
    for name in ("keras", "fused"):
        with keras_adam(name == "keras"), precision.policy(policy):
            keras.utils.set_random_seed(0)
            model = build_model(cfg, shape, n_train=60_000)
            model.prepare_training(optimizers.get(cfg.train.optimizer, learning_rate=cfg.train.learning_rate))
        pair = model.training_pair(x)
        model.train_on_batch(*pair)
        runs[name] = (model, pair)
    ms = {name: [] for name in runs}
    for _ in range(n):
        for name, (model, pair) in runs.items():
            t = time.perf_counter()
            model.train_on_batch(*pair)
            ms[name].append(1000 * (time.perf_counter() - t))
    return {name: statistics.median(v) for name, v in ms.items()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=4, help="start-up runs per optimizer (default 4)")
    p.add_argument("--presets", default="fashion_mnist_fid,mnist_nll_hvae,mnist_vae",
                   help="28x28 presets whose step time is compared")
    p.add_argument("--steps", type=int, default=40, help="timed steps per optimizer and preset (default 40)")
    args = p.parse_args()
    from vaelab.precision import cpu_description

    print(f"cpu: {cpu_description()}; load average before: {bench.load()}", flush=True)
    result = {"cpu": cpu_description(), "date": time.strftime("%Y-%m-%d"), "start_up_cpu_s": start_up(args.rounds)}
    for name, v in result["start_up_cpu_s"].items():
        print(f"start-up ({name} Adam): CPU s per one-step run {[round(x, 2) for x in v]}, median "
              f"{statistics.median(v):.2f}", flush=True)
    result["step_ms"] = {}
    for preset in args.presets.split(","):
        result["step_ms"][preset] = steps(preset, args.steps)
        print(f"step ms ({preset}): " + ", ".join(f"{k} {v:.2f}" for k, v in result["step_ms"][preset].items()),
              flush=True)
    return bench.finish(result)


if __name__ == "__main__":
    sys.exit(main())
