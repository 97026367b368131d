"""vaelab evaluate: test-set ELBO, IWAE NLL, active units, Fréchet distances, disentanglement -> metrics.json."""

from __future__ import annotations

from vaelab.commands.args import SEED, check_fits, count, image_shape_of, memory_why
from vaelab.commands.base import COMMANDS

MAX_K = 1_000_000  # IWAE papers use k = 5000; memory is flat in k (streamed), time grows with k x images
FEATURES = 2048  # InceptionV3 pool3 (vaelab.metrics.inception.FEATURES; not imported: it starts TensorFlow)
FID_FIXED = 2**29  # the network, torch, the bounded image batches, distance blocks and covariance sums: ~512 MiB
HELD_PER_SAMPLE = 2048  # bytes: the latent draws (up to 128 floats, with copies), image hashes, k-NN radii
SPILLED_PER_SAMPLE = 2 * FEATURES * 4  # generated + reference float32 features on disk while they are scored
CACHED_PER_SAMPLE = 2 * FEATURES * 4  # the reference cache: the old file and the new one while it is rewritten


def fid_bytes_per_sample(image_shape=None) -> int:
    """Estimated peak memory per --fid-samples image of `metrics.inception.standard_scores` (beyond FID_FIXED):
    images and features stream in batches and the features are spilled to disk, so what stays is small:
    HELD_PER_SAMPLE, plus the reference split's uint8 pixels (a dataset loaded whole) when the shape is known."""
    per = HELD_PER_SAMPLE
    if image_shape:
        h, w, c = image_shape
        per += h * w * c
    return per


def _fid_most(image_shape=None) -> int:
    from vaelab.limits import most_that_fits

    return most_that_fits(fid_bytes_per_sample(image_shape), fixed=FID_FIXED)


def _fid_why(most: int, image_shape=None) -> str:
    from vaelab.limits import human_bytes

    what = f"{image_shape[0]}x{image_shape[1]} reference images" if image_shape else "latent draws and hashes"
    return memory_why(f"{human_bytes(fid_bytes_per_sample(image_shape))} of {what} per sample, "
                      f"{human_bytes(FID_FIXED)} for the network")


def fid_disk_most(run_dir) -> tuple[int, str]:
    """(the most --fid-samples the disk holds, why): the features spilled under RUN/evaluation while scored and
    the reference-feature cache, on the free space of their file systems (summed when they share one)."""
    from pathlib import Path

    from vaelab.cache import cache_root
    from vaelab.limits import disk_room, human_bytes

    needs: dict = {}  # file system -> [free bytes, bytes per sample, folders]
    for folder, per in ((Path(run_dir) / "evaluation", SPILLED_PER_SAMPLE), (cache_root() / "fid", CACHED_PER_SAMPLE)):
        device, free = disk_room(folder)
        need = needs.setdefault(device, [free, 0, []])
        need[1] += per
        need[2].append(str(folder))
    free, per, folders = min(needs.values(), key=lambda v: v[0] // v[1])
    return free // per, (f"on this disk ({human_bytes(per)} of features per sample in {' and '.join(folders)}; "
                         f"{human_bytes(free)} free there)")


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
            check_fits("--fid-samples", args.fid_samples, *fid_disk_most(args.run_dir), lo=4)
        opts = EvalOptions(split=args.split, k=args.k, limit=args.limit, seed=args.seed,
                           frechet=not args.no_fid, inception=inception,
                           fid_samples=args.fid_samples, prior=args.prior, verbose=True,
                           disentanglement=not args.no_disentanglement, factor_samples=args.factor_samples,
                           factor_batch=args.factor_batch)
        result = evaluate_run_dir(args.run_dir, opts, checkpoint=args.checkpoint)
        print(result.table())
        print(f"metrics written to {result.metrics_path} (section 'evaluation')")
        return 0
