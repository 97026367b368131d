"""Peak memory of `vaelab evaluate` against --fid-samples: every evaluation is a fresh process, measured by its
own peak RSS (`os.wait4`: the child's ru_maxrss) and wall time, with the machine's load before and after.

    python benchmarks/evaluate_memory.py --dataset digits --modes own stub --samples 1000 5000 20000
    python benchmarks/evaluate_memory.py --dataset mnist --data-dir DIR --split train --modes stub standard \\
        --samples 1000 5000

Modes (each a `vaelab evaluate RUN --fid-samples N --k K --limit L --split S` process):
  own       `--no-inception`: the own-classifier Fréchet distance only (its n is the evaluated split, set by
            --limit, not --fid-samples; it shows the rest of evaluate)
  stub      the standard path (prior samples decoded, reference images, reference-feature cache, FID, KID,
            precision/recall on 2048-d features) with InceptionV3 replaced by a fixed random projection of a
            16x16 thumbnail to 2048-d: all that grows with N, in minutes; the network's own memory is fixed.
            Its reference cache lives in a temporary $VAELAB_CACHE_DIR (never the real one).
  standard  the real InceptionV3 of the `fid` extra (~16 images/s on 2 cores: keep N small)

Without --run, a small run is trained first (--dataset, --epochs) in a temporary folder. One warm-up evaluation
(not counted) trains and caches the feature classifier. The reference has min(N, split size) images: use a
dataset and split with >= N images (mnist --split train) for the reference side to grow with N.
Prints a table and a JSON line. Not part of the test suite.
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

SRC = str(Path(__file__).resolve().parents[1] / "src")

# the `stub` child: the vaelab CLI with the network replaced (both `available` and the runtime's batch function)
STUB = """
import sys
import numpy as np
from vaelab.metrics import inception

W = np.random.default_rng(0).standard_normal((16 * 16 * 3, 2048)).astype("float32") / 16

def fake(u8):  # (B, H, W, 3) uint8 -> (B, 2048) float32: a fixed projection of a 16x16 nearest thumbnail, ReLU
    h, w = u8.shape[1:3]
    t = u8[:, np.arange(16) * h // 16][:, :, np.arange(16) * w // 16].reshape(len(u8), -1) / np.float32(255)
    return np.maximum(t.astype("float32") @ W, 0)

inception.available = lambda: True
inception._batch_function = lambda name: fake
from vaelab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(argv: list[str], env: dict) -> dict:
    """Runs `argv` as a child; its peak RSS (MiB, from its own rusage), wall seconds, exit code, load around it."""
    before = load()
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return {"peak_rss_mib": usage.ru_maxrss / 1024, "wall_s": time.perf_counter() - t0, "rc": child.returncode,
            "load_before": before, "load_after": load(), "tail": out.strip().splitlines()[-3:]}


def scores(run: str) -> dict:
    """The Fréchet numbers the evaluation just wrote (to check that a change of memory keeps them)."""
    f = json.loads((Path(run) / "metrics.json").read_text())["evaluation"]["frechet"]
    out = {"fd": f["classifier"].get("fd")}
    s = f.get("standard") or {}
    out.update({k: s[k] for k in ("fid", "kid", "kid_std", "precision", "recall") if s.get(k) is not None})
    return {k: v for k, v in out.items() if v is not None}


def train_run(args, env: dict, folder: str) -> str:
    cmd = [sys.executable, "-m", "vaelab", "train", "--dataset", args.dataset, "--epochs", str(args.epochs),
           "--output-dir", folder, "--set", "train.report=false"]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    runs = [p.parent for p in Path(folder).rglob("model.keras")]
    if len(runs) != 1:
        raise SystemExit(f"expected one trained run under {folder}, found {len(runs)}")
    return str(runs[0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", default=None, help="an existing run directory (else a small one is trained)")
    p.add_argument("--dataset", default="digits", help="dataset of the trained run (default digits)")
    p.add_argument("--data-dir", default=None, help="folder with the datasets' files (else $VAELAB_DATA_DIR)")
    p.add_argument("--epochs", type=int, default=2, help="epochs of the trained run (default 2)")
    p.add_argument("--samples", type=int, nargs="+", default=[1000, 5000, 20000], help="--fid-samples values")
    p.add_argument("--modes", nargs="+", default=["own", "stub"], choices=["own", "stub", "standard"])
    p.add_argument("--split", default="test", help="evaluated split, and the reference images (default test)")
    p.add_argument("--limit", type=int, default=300, help="images for the other sections (default 300)")
    p.add_argument("--k", type=int, default=10, help="IWAE importance samples (default 10)")
    p.add_argument("--label", default="", help="a name for this set of figures (e.g. before/after)")
    args = p.parse_args()
    if not (1 <= args.epochs <= 100 and all(4 <= n <= 10**6 for n in args.samples) and args.limit >= 1
            and args.k >= 1):
        p.error("expected 1..100 epochs, 4..1e6 samples, --limit and --k >= 1")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.data_dir:
        env["VAELAB_DATA_DIR"] = args.data_dir
    from vaelab.precision import cpu_description

    print(f"cpu: {cpu_description()}; cores: {os.cpu_count()}; load average before: {load()}", flush=True)
    work = tempfile.mkdtemp(prefix="vaelab-evaluate-memory-")
    run = args.run or train_run(args, env, work)
    evaluate = ["-m", "vaelab", "evaluate", run, "--k", str(args.k), "--limit", str(args.limit),
                "--split", args.split]
    warm = measure([sys.executable, *evaluate, "--no-inception"], env)  # trains and caches the classifier
    if warm["rc"] != 0:
        raise SystemExit(f"warm-up evaluation failed: {warm['tail']}")
    stub_env = {**env, "VAELAB_CACHE_DIR": os.path.join(work, "cache")}
    rows = []
    for mode in args.modes:
        for n in args.samples:
            argv = {"own": [sys.executable, *evaluate, "--no-inception"],
                    "stub": [sys.executable, "-c", STUB, *evaluate[2:]],
                    "standard": [sys.executable, *evaluate]}[mode] + ["--fid-samples", str(n)]
            r = {"mode": mode, "n": n, **measure(argv, stub_env if mode == "stub" else env)}
            r["scores"] = scores(run) if r["rc"] == 0 else {}
            rows.append(r)
            print(f"{args.label:>8} {mode:>8} N={n:>6}: peak RSS {r['peak_rss_mib']:7.0f} MiB, {r['wall_s']:6.1f} s, "
                  f"rc {r['rc']}, load {r['load_before']} -> {r['load_after']}; "
                  + ", ".join(f"{k} {v:.6g}" for k, v in r["scores"].items()), flush=True)
            if r["rc"] != 0:
                print("  " + "\n  ".join(r["tail"]), flush=True)
    print(f"load average after: {load()}")
    print(json.dumps({"label": args.label, "run": run, "dataset": args.dataset, "split": args.split,
                      "cpu": cpu_description(), "date": time.strftime("%Y-%m-%d %H:%M"),
                      "rows": [{k: v for k, v in r.items() if k != "tail"} for r in rows]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
