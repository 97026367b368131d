"""Record: standard FID of 10,000 prior samples vs the 10,000 Fashion-MNIST test images, <= 30 min on CPU.

    pip install "vaelab[fid]"
    python benchmarks/fid_fashion.py --data-dir $VAELAB_DATA_DIR                   # the record
    python benchmarks/fid_fashion.py --data-dir $VAELAB_DATA_DIR --quick           # end-to-end check

One process: train `configs/fashion_mnist_fid.yaml` (a conv VAE) until the training deadline, fit the
ex-post GMM prior (10 components, Ghosh et al. 2020) on the training z_mean, decode 10,000 GMM samples and
score them with the standard protocol (`vaelab.metrics.inception`, docs/metrics.md). The deadline is the
budget minus the time the feature network needs for the samples (its images/s measured at start-up, on
this machine, now) and for any reference features not yet in the cache (the first run computes the
10,000 test features once: run `--reference-only` beforehand so the record's 30 minutes hold only the
model's work; standard practice too, reference statistics are precomputed). Targets and anchors: <= 29
(Dai & Wipf 2019: VAE 43.6, two-stage VAE 29.3; Lucic et al. 2018: VAE 58.7).

Prints one line with the figure and the load average and writes a JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

T_START = time.time()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = 29.0


class Deadline(keras.callbacks.Callback):
    """Stops training at the end of the first epoch that ends after `at` (a time.time() value)."""

    def __init__(self, at: float):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if time.time() > self.at:
            print(f"training deadline reached after epoch {epoch + 1}", flush=True)
            self.model.stop_training = True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (else $VAELAB_DATA_DIR)")
    p.add_argument("--budget-min", type=float, default=30.0, help="wall-time budget incl. start-up (default 30)")
    p.add_argument("--fid-samples", type=int, default=10_000, help="generated and test images (default 10000)")
    p.add_argument("--components", type=int, default=10, help="GMM components (default 10)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    p.add_argument("--quick", action="store_true", help="end-to-end check: 1 epoch on 6000 images, 500 samples")
    p.add_argument("--reference-only", action="store_true", help="only fill the test-feature cache, then exit")
    p.add_argument("--out", default="benchmarks/results/fid_fashion.json")
    args = p.parse_args()

    from vaelab.config import load_config
    from vaelab.data import load_arrays
    from vaelab.metrics import inception
    from vaelab.priors import decode_samples, fit_prior, load_prior
    from vaelab.runs import load_run
    from vaelab.train import fit

    if not inception.available():
        raise SystemExit(inception.MISSING)
    load0 = os.getloadavg()
    sets = [f"data.data_dir={args.data_dir}"] if args.data_dir else []
    if args.quick:
        sets += ["train.epochs=1", "data.train_limit=6000"]
        args.fid_samples = min(args.fid_samples, 500)
    cfg = load_config(ROOT / "configs" / "fashion_mnist_fid.yaml", sets + args.overrides)
    test_images, _ = load_arrays(cfg.data, "test", limit=args.fid_samples)
    key = inception.reference_key(cfg.data, "test", test_images.shape[1:])
    if args.reference_only:
        inception.cached_features(test_images, key, verbose=True)
        print(f"reference features cached: {inception.cache_dir()}")
        return 0

    t = time.perf_counter()
    inception.features(test_images[:50])  # warm-up + throughput of the feature network here, now
    t = time.perf_counter()
    inception.features(test_images[50:100])
    rate = 50 / (time.perf_counter() - t)
    ref_missing = args.fid_samples  # an upper bound; the cache usually holds them all
    f = inception.cache_dir() / f"{key}-{inception.PROTOCOL_ID}.npz"
    if f.is_file():
        import numpy as np

        with np.load(f) as z:
            ref_missing = max(0, args.fid_samples - len(z["digests"]))
    scoring_s = (args.fid_samples + ref_missing) / rate + 90  # + decoding, GMM fit, KID/PR maths, margin
    deadline = T_START + args.budget_min * 60 - scoring_s
    print(f"feature network {rate:.1f} images/s; scoring needs ~{scoring_s / 60:.1f} min; training until "
          f"{time.strftime('%H:%M:%S', time.localtime(deadline))} (load {load0[0]:.2f})", flush=True)

    result = fit(cfg, argv=sys.argv, extra_callbacks=[Deadline(deadline)])
    train_end = time.time()
    fit_prior(result.run_dir, "gmm", components=args.components)
    prior = load_prior(result.run_dir, "gmm")
    model = load_run(result.run_dir).model
    scores = inception.standard_scores(lambda n: decode_samples(model, prior, n, seed=0), cfg.data,
                                       args.fid_samples, split="test", seed=0)
    wall = time.time() - T_START
    epochs = len(result.history.get("loss", []))
    out = {
        "figure": "standard FID, GMM prior samples vs Fashion-MNIST test", "fid": scores["fid"],
        "target": TARGET, "met": scores["fid"] <= TARGET and wall <= args.budget_min * 60,
        "wall_s": wall, "train_s": train_end - T_START, "epochs": epochs, "run_dir": str(result.run_dir),
        "feature_images_per_s": rate, "load_average_start": load0, "load_average_end": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "overrides": args.overrides,
        "scores": {k: v for k, v in scores.items() if k != "protocol"}, "protocol": scores["protocol"],
    }
    print(f"Fashion-MNIST standard FID ({scores['n_generated']} GMM-prior samples vs {scores['n_reference']} "
          f"test images): {scores['fid']:.2f} (target <= {TARGET:g}; KID {1e3 * scores['kid']:.2f}e-3, "
          f"precision {scores['precision']:.3f}, recall {scores['recall']:.3f}); {epochs} epochs, "
          f"{wall / 60:.1f} min wall; load {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
