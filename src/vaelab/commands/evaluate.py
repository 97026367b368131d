"""vaelab evaluate: test-set ELBO, IWAE NLL, active units, Fréchet distances -> metrics.json + a table."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("evaluate")
class Evaluate:
    help = "evaluate a trained run: ELBO split, IW-NLL, active units, Fréchet distances; writes metrics.json"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--split", default="test", help="data split to evaluate on (default test)")
        p.add_argument("--k", type=int, default=1000, help="IWAE importance samples (default 1000)")
        p.add_argument("--limit", type=int, default=None, help="evaluate on the first N images only")
        p.add_argument("--seed", type=int, default=0, help="seed for sampled z, binarisation and samples")
        p.add_argument("--no-fid", action="store_true", help="skip both Fréchet distances")
        p.add_argument("--no-inception", action="store_true", help="skip the standard FID/KID/precision-recall")
        p.add_argument("--fid-samples", type=int, default=10_000,
                       help="generated and reference images for the standard scores (default 10000, the protocol)")
        p.add_argument("--checkpoint", choices=("last", "best"), default=None,
                       help="evaluate checkpoints/<name>.keras instead of model.keras; needed for a run that has "
                            "not finished (its numbers describe that checkpoint, not the resumed model)")
        p.add_argument("--prior", default="auto",
                       help="prior of the generated samples: standard, a fitted kind (gmm, ...) or auto "
                            "(the newest fitted, else standard)")

    @staticmethod
    def run(args) -> int:
        from vaelab.evaluate import EvalOptions, evaluate_run_dir

        opts = EvalOptions(split=args.split, k=args.k, limit=args.limit, seed=args.seed,
                           frechet=not args.no_fid, inception=not (args.no_fid or args.no_inception),
                           fid_samples=args.fid_samples, prior=args.prior)
        result = evaluate_run_dir(args.run_dir, opts, checkpoint=args.checkpoint)
        print(result.table())
        print(f"metrics written to {result.metrics_path} (section 'evaluation')")
        return 0
