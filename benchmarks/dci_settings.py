"""DCI's cost and its gradient-boosting settings: time and D/C/I of `metrics.disentanglement.dci` at
disentanglement_lib's sample counts (10,000 train, 5,000 test) on dSprites' factor sizes, for several numbers of
boosting stages, on two synthetic representations of 10 codes (5 informative, 5 noise):

    python benchmarks/dci_settings.py [--train 10000] [--test 5000] [--stages 100 50 30 20]

`near`: each code a noisy monotone function of one factor, slightly mixed with the others (a good VAE);
`mixed`: the same codes mixed by a random matrix (an entangled one). One process, one core for the trees.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from vaelab.metrics import disentanglement as dm

SIZES = (3, 6, 40, 32, 32)  # dSprites


def representation(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    mix = np.eye(5) + (0.1 if kind == "near" else 0.6) * rng.standard_normal((5, 5))
    scale = np.array(SIZES) - 1.0

    def codes_of(f: np.ndarray) -> np.ndarray:
        noise = np.random.default_rng(int(f[:, 3] @ np.arange(len(f)) % 2**32))
        u = np.tanh(3 * (f / scale - 0.5)) @ mix + 0.05 * noise.standard_normal((len(f), 5))
        return np.concatenate([u, noise.standard_normal((len(f), 5))], axis=1)

    return codes_of


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=10_000)
    p.add_argument("--test", type=int, default=5_000)
    p.add_argument("--stages", type=int, nargs="+", default=[100, 50, 30, 20])
    p.add_argument("--kinds", nargs="+", default=["near", "mixed"])
    args = p.parse_args()
    print(f"train {args.train}, test {args.test}, factor sizes {SIZES}; load {os.getloadavg()[0]:.2f}")
    print("| codes | stages | D | C | I (test) | seconds | load |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.kinds:
        codes_of = representation(kind)
        rng = np.random.default_rng(0)
        train = dm.draw(codes_of, SIZES, args.train, rng)
        test = dm.draw(codes_of, SIZES, args.test, rng)
        for stages in args.stages:
            t0 = time.perf_counter()
            out = dm.dci(*train, *test, seed=0,
                         classifier=lambda seed, n=stages: dm.dci_classifier(seed).set_params(n_estimators=n))
            print(f"| {kind} | {stages} | {out['disentanglement']:.3f} | {out['completeness']:.3f} | "
                  f"{out['informativeness_test']:.3f} | {time.perf_counter() - t0:.0f} | {os.getloadavg()[0]:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
