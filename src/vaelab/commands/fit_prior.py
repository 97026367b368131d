"""vaelab fit-prior: a prior fitted after training, saved in the run.

Every prior is a registered one (`vaelab.priors.PRIORS`): `--kind gmm|vae2` fit an ex-post density to the
training set's z_mean (files beside the model); `--kind pixelcnn` trains a VQ-VAE's PixelCNN over its code grids
(second stage, saved in model.keras).
"""

from __future__ import annotations

import json

from vaelab.commands.args import SEED, count
from vaelab.commands.base import COMMANDS


@COMMANDS.register("fit-prior")
class FitPrior:
    help = "fit a prior after training: gmm / vae2 on z_mean (any VAE), pixelcnn on a discrete-code model's codes"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--kind", default="gmm",
                       help="gmm (default), vae2, or pixelcnn (discrete-code models); see docs/metrics.md")
        p.add_argument("--components", type=count(1, 1000), default=None, help="gmm: mixture components (default 10)")
        p.add_argument("--epochs", type=count(1), default=10,
                       help="pixelcnn: training epochs of the prior (default 10)")
        p.add_argument("--limit", type=count(1), default=None, help="fit on the first N training images only")
        p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
        p.add_argument("--checkpoint", choices=("last", "best"), default=None,
                       help="gmm/vae2: fit to the codes of checkpoints/<name>.keras; needed for a run that has not "
                            "finished training")

    @staticmethod
    def run(args) -> int:
        from vaelab.priors import PRIORS, fit_prior, fittable

        if args.kind not in PRIORS:
            raise ValueError(f"--kind: unknown prior {args.kind!r}; choose from {fittable()}")
        in_model = PRIORS.get(args.kind).in_model  # fit_prior refuses the model's own prior in one line
        options = {"epochs": args.epochs} if in_model else (
            {"components": args.components} if args.components is not None else {})
        path = fit_prior(args.run_dir, args.kind, limit=args.limit, seed=args.seed, checkpoint=args.checkpoint,
                         **options)
        if in_model:
            info = json.loads(path.read_text(encoding="utf-8"))
            print(f"{args.kind} prior fitted on {info['codes']} code grids, {info['epochs']} epochs in all; last epoch "
                  f"-log p(codes) {info['nll'][-1]:.2f} nats/grid; saved in model.keras ({path.name} says what)")
        else:
            print(f"{args.kind} prior fitted: {path} (+ {path.with_suffix('.npz').name})")
        return 0
