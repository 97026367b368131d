"""Training throughput with and without XLA (`jit_compile`) for the conv VAE, alternating runs.

    python benchmarks/jit_compile.py [--steps 60] [--repeats 3] [--size 28]

Prints images/s per setting (median of repeats) and the ratio; docs/speed.md records the figures
that chose `train.jit_compile=auto` (off on CPU, on on GPU).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from vaelab.config import RunConfig  # noqa: E402
from vaelab.strategies import build_model  # noqa: E402


def images_per_second(jit: bool, steps: int, size: int, batch: int, strategy: str) -> float:
    keras.utils.set_random_seed(0)
    cfg = RunConfig.from_dict({"model": {"filters": [32, 64, 128], "kernel_sizes": [3, 3, 3],
                                         "strides": [2, 2, 2], "latent_dim": 2},
                               "loss": {"strategy": strategy}})
    model = build_model(cfg, (size, size, 1))
    model.compile_for_training(keras.optimizers.Adam(1e-3), jit_compile=jit)
    x = (np.random.default_rng(0).random((batch * 8, size, size, 1)) > 0.5).astype("float32")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(x).batch(batch).repeat().map(lambda b: (b, model.targets(b)))
    ds = ds.prefetch(2)
    model.fit(ds, steps_per_epoch=5, epochs=1, verbose=0)  # trace/compile
    t0 = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--strategy", default="train_step")
    a = p.parse_args()
    results = {False: [], True: []}
    for _ in range(a.repeats):
        for jit in (False, True):  # alternate, so background load hits both alike
            results[jit].append(images_per_second(jit, a.steps, a.size, a.batch, a.strategy))
    off, on = float(np.median(results[False])), float(np.median(results[True]))
    print(f"device: {'GPU' if keras.config.backend() and __import__('tensorflow').config.list_physical_devices('GPU') else 'CPU'}, "
          f"load average {os.getloadavg()[0]:.2f}, cores {os.cpu_count()}")
    print(f"jit_compile=False: {off:8.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in results[False])})")
    print(f"jit_compile=True : {on:8.0f} images/s   (runs: {', '.join(f'{v:.0f}' for v in results[True])})")
    print(f"XLA / no-XLA: {on / off:.2f}x")


if __name__ == "__main__":
    main()
