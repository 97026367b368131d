"""vaelab fit-prior: fit an ex-post density to a trained model's training codes (z_mean), saved in the run."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("fit-prior")
class FitPrior:
    help = "fit a prior to the training set's z_mean (e.g. a 10-component GMM); writes RUN_DIR/prior_<kind>.*"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--kind", default="gmm", help="prior to fit (default gmm); see docs/metrics.md")
        p.add_argument("--components", type=int, default=None, help="gmm: mixture components (default 10)")
        p.add_argument("--limit", type=int, default=None, help="fit on the first N training images only")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    @staticmethod
    def run(args) -> int:
        from vaelab.priors import fit_prior

        options = {"components": args.components} if args.components is not None else {}
        path = fit_prior(args.run_dir, args.kind, limit=args.limit, seed=args.seed, **options)
        print(f"{args.kind} prior fitted: {path} (+ {path.with_suffix('.npz').name})")
        return 0
