"""CelebA pipeline benchmark: throughput (decode + crop + resize + batch), cold and from the disk cache,
and peak RSS while iterating once at two dataset sizes (each in a fresh subprocess).

    python benchmarks/data_celeba.py --data-dir DIR            # DIR holds celeba/
    python benchmarks/data_celeba.py --data-dir ... --rss-only 1000              # one RSS measurement

Needs real CelebA files (never run by the tests). Prints one JSON object per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _rss_mb() -> float:
    """Peak RSS of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def all_images(data_dir: str, size: int, n: int | None):
    """Train + test splits as one streamed Split (the shared subset has 6,000 images), first n."""
    import numpy as np

    from vaelab.config import DataConfig
    from vaelab.data import Split, load_split

    cfg = DataConfig(name="celeba", data_dir=data_dir, image_size=size)
    a, b = load_split(cfg, "train"), load_split(cfg, "test")
    s = Split(image_shape=a.image_shape, files=a.files + b.files, decode=a.decode,
              labels=np.concatenate([a.labels, b.labels]), label_names=a.label_names, name="celeba",
              source=a.source, cache_key=a.cache_key)
    return s.take(n), cfg


def _epoch(ds, samples: list | None = None) -> tuple[int, float]:
    t, n = time.perf_counter(), 0
    for batch in ds:
        n += int(batch.shape[0])
        if samples is not None:
            samples.append(_current_rss_mb())
    return n, time.perf_counter() - t


def throughput(data_dir: str, size: int, batch: int, n: int | None) -> None:
    from dataclasses import replace

    from vaelab.data import make_dataset

    split, cfg = all_images(data_dir, size, n)
    count, secs = _epoch(make_dataset(split, cfg, batch, training=True, seed=0))
    print(json.dumps({"what": "cold (decode+crop+resize+batch)", "size": size, "images": count,
                      "seconds": round(secs, 2), "images_per_s": round(count / secs)}))
    with tempfile.TemporaryDirectory() as cache:
        cached = replace(cfg, cache=cache)
        count, secs = _epoch(make_dataset(split, cached, batch, training=True, seed=0))
        print(json.dumps({"what": "first epoch writing the cache", "size": size, "images": count,
                          "seconds": round(secs, 2), "images_per_s": round(count / secs)}))
        for epoch in (1, 2):
            count, secs = _epoch(make_dataset(split, cached, batch, training=True, seed=0, epoch=epoch))
            print(json.dumps({"what": f"from cache (epoch {epoch})", "size": size, "images": count,
                              "seconds": round(secs, 2), "images_per_s": round(count / secs)}))


def rss(data_dir: str, size: int, batch: int, n: int) -> None:
    from vaelab.data import make_dataset

    split, cfg = all_images(data_dir, size, n)
    ds = make_dataset(split, cfg, batch, training=True, seed=0)
    before, samples = _current_rss_mb(), []
    count, secs = _epoch(ds, samples)
    print(json.dumps({"what": "RSS while iterating one shuffled epoch, no cache", "images": count,
                      "size": size,
                      "rss_before_epoch_mb": round(before), "max_rss_during_epoch_mb": round(max(samples)),
                      "process_peak_rss_mb": round(_rss_mb()), "images_per_s": round(count / secs)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--limit", type=int, default=None, help="throughput: use only the first N images")
    p.add_argument("--rss-sizes", type=int, nargs="+", default=[1000, 6000])
    p.add_argument("--rss-only", type=int, default=None, help="internal: one RSS run in this process")
    a = p.parse_args()
    if a.rss_only:
        rss(a.data_dir, a.size, a.batch, a.rss_only)
        return
    throughput(a.data_dir, a.size, a.batch, a.limit)
    for n in a.rss_sizes:  # fresh interpreter each, so peaks do not mix
        subprocess.run([sys.executable, __file__, "--data-dir", a.data_dir, "--size", str(a.size), "--batch",
                        str(a.batch), "--rss-only", str(n)], check=True)


if __name__ == "__main__":
    main()
