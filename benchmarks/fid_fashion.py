"""Record: standard FID of 10,000 prior samples vs the 10,000 Fashion-MNIST test images, <= 30 min on CPU.

    pip install "vaelab[fid]"
    python benchmarks/fid_fashion.py --data-dir $VAELAB_DATA_DIR                   # the record
    python benchmarks/fid_fashion.py --data-dir $VAELAB_DATA_DIR --quick           # end-to-end check
    python benchmarks/fid_fashion.py --data-dir $VAELAB_DATA_DIR --reconstructions RUN   # diagnostic, below

One process: train `--config` (default the packaged preset `fashion_mnist_fid`, a conv VAE) until the
training deadline (--budget-min from the process start: imports, data loading and the precision probe
count), fit the ex-post GMM prior (50 components, Ghosh et al. 2020) on the training z_mean, decode 10,000
GMM samples and score them with the standard protocol (`vaelab.metrics.inception`, docs/metrics.md).
Evaluation is timed separately (the record: training <= 30 min, evaluation reported). The first run
computes the 10,000 test features once; `--reference-only` fills that cache beforehand (standard practice:
reference statistics are precomputed). Target and anchors: <= 29 (Dai & Wipf 2019: VAE 43.6, two-stage
VAE 29.3; Lucic et al. 2018: VAE 58.7). The run directory is kept (its path is printed).

Prints one line with the figure and the load average and writes a JSON result.

`--reconstructions RUN` scores a trained run's decoded z_mean of the first --fid-samples *training* images against
the test images instead: what a prior that reproduced the training codes exactly would give (its distance to the
record's figure is what the prior costs; the rest is the decoder's).
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


def reconstructions(run_dir: str, data_cfg, n: int, load0) -> int:
    """Standard scores of the run's decoded z_mean of the first n training images against the first n test images."""
    from vaelab.data import load_arrays
    from vaelab.metrics import inception
    from vaelab.runs import load_run

    model = load_run(run_dir).model
    train_images = load_arrays(data_cfg, "train", limit=n)[0]

    def decoded(count):  # (B, 28, 28, 1) reconstructions, 500 at a time
        for i in range(0, count, 500):
            yield model.decode(model.encode(train_images[i : i + 500])[0])

    t = time.time()
    s = inception.standard_scores(decoded, data_cfg, n, split="test", seed=0)
    print(f"decoded training z_mean of {run_dir} ({s['n_generated']} images) vs {s['n_reference']} test images: "
          f"FID {s['fid']:.2f}, KID {1e3 * s['kid']:.2f}e-3, precision {s['precision']:.3f}, recall "
          f"{s['recall']:.3f}; {(time.time() - t) / 60:.1f} min; load {load0[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (else $VAELAB_DATA_DIR)")
    p.add_argument("--config", default="fashion_mnist_fid", help="preset name or YAML file (default fashion_mnist_fid)")
    p.add_argument("--budget-min", type=float, default=30.0,
                   help="training wall time incl. start-up (default 30); evaluation is timed apart")
    p.add_argument("--fid-samples", type=int, default=10_000, help="generated and test images (default 10000)")
    p.add_argument("--components", type=int, default=50, help="GMM components (default 50)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    p.add_argument("--quick", action="store_true", help="end-to-end check: 1 epoch on 6000 images, 500 samples")
    p.add_argument("--reference-only", action="store_true", help="only fill the test-feature cache, then exit")
    p.add_argument("--reconstructions", metavar="RUN", default=None,
                   help="diagnostic: score RUN's decoded training z_means instead of training (no record)")
    p.add_argument("--epoch-margin-s", type=float, default=40.0,
                   help="no epoch starts later than this before the budget ends (default 40: ~one epoch here)")
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
    cfg = load_config(args.config, sets + args.overrides)
    test_images, _ = load_arrays(cfg.data, "test", limit=args.fid_samples)
    key = inception.reference_key(cfg.data, "test", test_images.shape[1:])
    if args.reference_only:
        inception.cached_features(test_images, key, verbose=True)
        print(f"reference features cached: {inception.cache_dir()}")
        return 0

    if args.reconstructions:
        return reconstructions(args.reconstructions, cfg.data, args.fid_samples, load0)

    # the last epoch may end up to one epoch after the deadline: stop starting epochs ~1 epoch early
    deadline = T_START + args.budget_min * 60 - args.epoch_margin_s
    print(f"training until {time.strftime('%H:%M:%S', time.localtime(deadline))} + the epoch running then "
          f"(load {load0[0]:.2f})", flush=True)

    result = fit(cfg, argv=sys.argv, extra_callbacks=[Deadline(deadline)])
    train_end = time.time()
    load_train_end = os.getloadavg()
    fit_prior(result.run_dir, "gmm", components=args.components)
    prior = load_prior(result.run_dir, "gmm")
    model = load_run(result.run_dir).model
    scores = inception.standard_scores(lambda n: decode_samples(model, prior, n, seed=0), cfg.data,
                                       args.fid_samples, split="test", seed=0)
    wall = time.time() - T_START
    train_s = train_end - T_START
    epochs = len(result.history.get("loss", []))
    out = {
        "figure": "standard FID, GMM prior samples vs Fashion-MNIST test", "fid": scores["fid"],
        "target": TARGET, "met": scores["fid"] <= TARGET and train_s <= args.budget_min * 60,
        "wall_s": wall, "train_s": train_s, "evaluation_s": wall - train_s, "epochs": epochs,
        "run_dir": str(result.run_dir), "config": args.config, "load_average_start": load0,
        "load_average_train_end": load_train_end, "load_average_end": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "overrides": args.overrides,
        "scores": {k: v for k, v in scores.items() if k != "protocol"}, "protocol": scores["protocol"],
    }
    print(f"Fashion-MNIST standard FID ({scores['n_generated']} GMM-prior samples vs {scores['n_reference']} "
          f"test images): {scores['fid']:.2f} (target <= {TARGET:g}; KID {1e3 * scores['kid']:.2f}e-3, "
          f"precision {scores['precision']:.3f}, recall {scores['recall']:.3f}); training {epochs} epochs in "
          f"{train_s / 60:.1f} min (start-up included), evaluation {(wall - train_s) / 60:.1f} min; load "
          f"{load0[0]:.2f} -> {load_train_end[0]:.2f} (training end) -> {os.getloadavg()[0]:.2f}; run {result.run_dir}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
