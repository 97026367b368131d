"""vaelab evaluate: test-set ELBO, IWAE NLL, active units, Fréchet distances, disentanglement -> metrics.json."""

from __future__ import annotations

from vaelab.commands.args import SEED, check_fits, count, image_shape_of, memory_why
from vaelab.commands.base import COMMANDS

MAX_K = 1_000_000  # IWAE papers use k = 5000; memory is flat in k (streamed), time grows with k x images
FEATURES = 2048  # InceptionV3 pool3 (vaelab.metrics.inception.FEATURES; not imported: it starts TensorFlow)
FID_FIXED = 2**29  # the network, torch, the bounded distance blocks and covariance sums: about 512 MiB in all


def fid_bytes_per_sample(image_shape=None) -> int:
    """Estimated peak memory per --fid-samples image of `metrics.inception.standard_scores` (beyond FID_FIXED): the
    generated and reference (n, 2048) float32 features, their float64 copies for KID and precision/recall and the
    cache's copy (measured: 32 bytes per feature and sample with the copies), plus both image sets (float32 and
    uint8 RGB) when the image shape is known."""
    per = FEATURES * (4 + 4 + 8 + 8 + 4)
    if image_shape:
        h, w, c = image_shape
        per += 2 * h * w * (4 * c + 3)
    return per


def _fid_most(image_shape=None) -> int:
    from vaelab.limits import most_that_fits

    return most_that_fits(fid_bytes_per_sample(image_shape), fixed=FID_FIXED)


def _fid_why(most: int, image_shape=None) -> str:
    from vaelab.limits import human_bytes

    what = f"{image_shape[0]}x{image_shape[1]} images" if image_shape else "images"
    return memory_why(f"{human_bytes(fid_bytes_per_sample(image_shape))} of features and {what} per sample, "
                      f"{human_bytes(FID_FIXED)} for the network")


@COMMANDS.register("evaluate")
class Evaluate:
    help = "evaluate a trained run: ELBO split, IW-NLL, active units, Fréchet distances; writes metrics.json"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--split", default="test", help="data split to evaluate on (default test)")
        p.add_argument("--k", type=count(1, MAX_K, "(the bound has converged long before; time grows with k)"),
                       default=1000, help="IWAE importance samples (default 1000)")
        p.add_argument("--limit", type=count(1), default=None, help="evaluate on the first N images only")
        p.add_argument("--seed", type=SEED, default=0, help="seed for sampled z, binarisation and samples")
        p.add_argument("--no-fid", action="store_true", help="skip both Fréchet distances")
        p.add_argument("--no-inception", action="store_true", help="skip the standard FID/KID/precision-recall")
        p.add_argument("--fid-samples", type=count(4, _fid_most, _fid_why), default=10_000,
                       help="generated and reference images for the standard scores (default 10000, the protocol; "
                            "at most what fits in memory)")
        p.add_argument("--checkpoint", choices=("last", "best"), default=None,
                       help="evaluate checkpoints/<name>.keras instead of model.keras; needed for a run that has "
                            "not finished (its numbers describe that checkpoint, not the resumed model)")
        p.add_argument("--no-disentanglement", action="store_true",
                       help="skip the disentanglement scores (datasets with ground-truth factors: dsprites, shapes3d)")
        p.add_argument("--factor-samples", type=count(2, 1_000_000, "(time grows with it)"), default=10_000,
                       help="training points of each disentanglement score, half as many evaluation points "
                            "(default 10000, disentanglement_lib's)")
        p.add_argument("--factor-batch", type=count(2, 4096), default=64,
                       help="observations per beta-VAE/FactorVAE point (default 64, disentanglement_lib's)")
        p.add_argument("--prior", default="auto",
                       help="prior of the generated samples: standard, a fitted kind (gmm, ...) or auto "
                            "(the newest fitted, else standard)")

    @staticmethod
    def run(args) -> int:
        from vaelab.evaluate import EvalOptions, evaluate_run_dir
        from vaelab.runs import read_run_config

        inception = not (args.no_fid or args.no_inception)
        if inception:  # the run's image size refines the bound checked while parsing, before any work
            shape = image_shape_of(read_run_config(args.run_dir))
            most = _fid_most(shape)
            check_fits("--fid-samples", args.fid_samples, most, _fid_why(most, shape), lo=4)
        opts = EvalOptions(split=args.split, k=args.k, limit=args.limit, seed=args.seed,
                           frechet=not args.no_fid, inception=inception,
                           fid_samples=args.fid_samples, prior=args.prior, verbose=True,
                           disentanglement=not args.no_disentanglement, factor_samples=args.factor_samples,
                           factor_batch=args.factor_batch)
        result = evaluate_run_dir(args.run_dir, opts, checkpoint=args.checkpoint)
        print(result.table())
        print(f"metrics written to {result.metrics_path} (section 'evaluation')")
        return 0
