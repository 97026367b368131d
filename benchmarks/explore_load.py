"""Load test for `vaelab explore`: N decode requests from C concurrent clients, on 127.0.0.1 only.

    python benchmarks/explore_load.py RUN_DIR [--requests 2000] [--clients 8] [--batch-requests 100]

Starts the real server (`vaelab explore RUN_DIR --port 0`) in a subprocess, then:
  1. in-process: median time of one decode + PNG encode (the server's work per image);
  2. one client: 200 GET /api/decode.png in sequence (the latency a user sees while hovering);
  3. load: `--requests` GET /api/decode.png (random z ~ N(0, I)) from `--clients` keep-alive clients;
  4. batch: `--batch-requests` POST /api/decode with 16 latents each.
Bounded by count and by `--max-seconds`; any non-200 answer counts as an error. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

HOST = "127.0.0.1"  # never anything else


def percentiles(ms: list[float]) -> str:
    p = np.percentile(ms, [50, 90, 99])
    return f"p50 {p[0]:.1f} ms, p90 {p[1]:.1f} ms, p99 {p[2]:.1f} ms, max {max(ms):.1f} ms"


def in_process(run_dir: str, limit: int, repeats: int = 300) -> None:
    from vaelab.explore import Explorer
    from vaelab.explore.imaging import png_bytes

    ex = Explorer.from_run_dir(run_dir, limit=limit)
    z = np.random.default_rng(0).standard_normal((repeats, ex.latent_dim)).astype("float32")
    times = []
    for row in z:
        t = time.perf_counter()
        png_bytes(ex.decode(row[None])[0])
        times.append(1000 * (time.perf_counter() - t))
    batch = z[:64]
    t = time.perf_counter()
    for _ in range(20):
        [png_bytes(img) for img in ex.decode(batch)]
    per_image = 1000 * (time.perf_counter() - t) / (20 * len(batch))
    print(f"in-process decode+PNG, one image ({ex.images.shape[1:]}, z={ex.latent_dim}): "
          f"median {statistics.median(times):.2f} ms, {percentiles(times)}")
    print(f"in-process decode+PNG in batches of 64: {per_image:.3f} ms per image")


def start_server(run_dir: str, limit: int) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "vaelab", "explore", run_dir, "--host", HOST, "--port", "0",
           "--limit", str(limit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        match = re.search(rf"http://{re.escape(HOST)}:\d+/", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
            return proc, match.group(0)
    raise RuntimeError(f"vaelab explore exited ({proc.wait()}) without printing a URL")


def load(url: str, dim: int, requests: int, clients: int, deadline: float) -> tuple[list[float], int]:
    """Each client sends its share of GETs over one keep-alive connection; returns (latencies ms, errors)."""
    def client(k: int):
        rng = np.random.default_rng(k)
        times, errors = [], 0
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(k, requests, clients):
                if time.monotonic() > deadline:
                    errors += 1
                    continue
                z = ",".join(f"{v:.4f}" for v in rng.standard_normal(dim))
                t = time.perf_counter()
                r = c.get("/api/decode.png", params={"z": z})
                times.append(1000 * (time.perf_counter() - t))
                errors += r.status_code != 200 or r.headers.get("content-type") != "image/png"
        return times, errors

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    return [t for ts, _ in results for t in ts], sum(e for _, e in results)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--batch-requests", type=int, default=100)
    p.add_argument("--limit", type=int, default=2000, help="test images the server encodes (default 2000)")
    p.add_argument("--max-seconds", type=float, default=300, help="stop sending after (default 300)")
    args = p.parse_args(argv)
    if not (1 <= args.requests <= 100_000 and 1 <= args.clients <= 64):
        p.error(f"expected 1..100000 requests and 1..64 clients, received {args.requests} and {args.clients}")

    in_process(args.run_dir, args.limit)
    proc, url = start_server(args.run_dir, args.limit)
    try:
        dim = httpx.get(url + "api/info", timeout=30).json()["latent_dim"]
        httpx.get(url + "api/decode.png", params={"z": ",".join(["0"] * dim)}, timeout=30)  # warm-up
        one, errors = load(url, dim, min(200, args.requests), 1, time.monotonic() + args.max_seconds)
        print(f"one client: {len(one)} GET /api/decode.png one after another: {percentiles(one)}")
        t = time.perf_counter()
        times, more = load(url, dim, args.requests, args.clients, time.monotonic() + args.max_seconds)
        errors += more
        wall = time.perf_counter() - t
        print(f"load: {len(times)} GET /api/decode.png from {args.clients} clients in {wall:.1f} s "
              f"({len(times) / wall:.0f} req/s), errors {errors}")
        print(f"load latency: {percentiles(times)}")

        z = np.random.default_rng(1).standard_normal((16, dim)).round(4).tolist()
        batch_times = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(args.batch_requests):
                t = time.perf_counter()
                r = c.post("/api/decode", json={"z": z})
                batch_times.append(1000 * (time.perf_counter() - t))
                errors += r.status_code != 200
        print(f"batch: {args.batch_requests} POST /api/decode x16 latents: {percentiles(batch_times)} "
              f"({statistics.median(batch_times) / 16:.2f} ms per image at the median)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"total errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
