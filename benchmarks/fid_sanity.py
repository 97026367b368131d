"""Sanity numbers of the standard FID protocol: train vs test split of a dataset (n images each).

    pip install "vaelab[fid]"
    python benchmarks/fid_sanity.py --dataset fashion_mnist --data-dir $VAELAB_DATA_DIR --n 10000 --minutes 9

Features go through vaelab's reference cache (`vaelab.metrics.inception.cached_features`), 1,000 images
at a time, so a run stopped by `--minutes` keeps what it computed; run it again to continue. Once both
splits are complete it prints FID, KID and precision/recall, the feature network's images/s on this
machine and the load average, and writes a JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="fashion_mnist", help="mnist | fashion_mnist | ...")
    p.add_argument("--data-dir", default=None, help="dataset directory (else $VAELAB_DATA_DIR)")
    p.add_argument("--n", type=int, default=10_000, help="images per split (default 10000)")
    p.add_argument("--minutes", type=float, default=9.0, help="stop computing features after this (default 9)")
    p.add_argument("--out", default="benchmarks/results", help="directory for the JSON result")
    args = p.parse_args()

    from vaelab.config import DataConfig
    from vaelab.data import load_arrays
    from vaelab.metrics import inception, standard

    load0, start = os.getloadavg()[0], time.perf_counter()
    cfg = DataConfig(name=args.dataset, data_dir=args.data_dir)
    feats = {}
    for split in ("test", "train"):
        images, _ = load_arrays(cfg, split, limit=args.n)
        key = inception.reference_key(cfg, split, images.shape[1:])
        for k in range(1000, len(images) + 1000, 1000):
            if time.perf_counter() - start > args.minutes * 60:
                print(f"stopped after {args.minutes} min with {split} incomplete; run again to continue")
                return 1
            feats[split] = inception.cached_features(images[: min(k, len(images))], key, verbose=True)
    t = time.perf_counter()
    inception.features(images[:200])  # the feature network's throughput on this machine, now
    rate = 200 / (time.perf_counter() - t)
    t = time.perf_counter()
    result = {
        "dataset": args.dataset, "n_train": len(feats["train"]), "n_test": len(feats["test"]),
        **standard.scores(feats["train"], feats["test"]),
        "scores_s": time.perf_counter() - t,
        "images_per_s": rate, "images_per_s_measured_on": 200,
        "load_average": [load0, os.getloadavg()[0]], "cpu_count": os.cpu_count(),
        "protocol": inception.PROTOCOL, "date": time.strftime("%Y-%m-%d"),
    }
    print(f"{args.dataset} train vs test, {result['n_train']} vs {result['n_test']}: FID {result['fid']:.3f}, "
          f"KID {result['kid'] * 1e3:.3f}e-3 +- {result['kid_std'] * 1e3:.3f}e-3, precision "
          f"{result['precision']:.3f}, recall {result['recall']:.3f}; feature net "
          f"{rate:.1f} images/s; load {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"fid_sanity_{args.dataset}.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
