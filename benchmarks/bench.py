"""What benchmark scripts share: the load average and the JSON result line printed around every figure, and this
CPU's float32 matrix-multiply rate that throughput and FID-network figures are put against."""

from __future__ import annotations

import json
import os
import time


def load() -> str:
    """The 1, 5 and 15 minute load averages, as printed beside every figure."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def finish(result: dict) -> int:
    """Adds the load average after the run to `result`, prints it and `result` as one JSON line; exit code 0."""
    result["load_average_after"] = os.getloadavg()
    print(f"load average after: {load()}")
    print(json.dumps(result))
    return 0


def sgemm_gflops(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Best-of-`repeats` float32 n x n matmul rate (GFLOP/s) with numpy (BLAS) and TensorFlow (oneDNN/Eigen)."""
    import numpy as np
    import tensorflow as tf

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    ta, out = tf.constant(a), {}
    for lib, mm in (("numpy", lambda: a @ a), ("tensorflow", lambda: tf.linalg.matmul(ta, ta).numpy())):
        mm()  # warm-up: threads started, pages touched
        best = min(_time(mm) for _ in range(repeats))
        out[lib] = 2 * n**3 / best / 1e9
    return out


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
