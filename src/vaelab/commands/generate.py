"""vaelab generate: images decoded from a prior (N(0, std^2 I) or one fitted by fit-prior), as a grid and/or PNGs.

A conditional model (a family with `needs_labels`) takes `--condition 7` (a class id or name) or
`--condition Smiling=1,Eyeglasses=1`
(attributes; those not named are 0), checked against the run's label names.
"""

from __future__ import annotations

import math

from vaelab.commands.args import SEED, check_fits, count, memory_why, real
from vaelab.commands.base import COMMANDS

MAX_SCALE = 4096  # a sanity bound; what fits for the run's images and -n is checked after loading it
GRID_BYTES = 4 + 4 + 1  # per upscaled pixel value: the float32 upscaled images, the float32 grid, its uint8 PNG


@COMMANDS.register("generate")
class Generate:
    help = "decode prior samples: a PNG grid (--out) and/or individual PNGs (--individual DIR)"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("-n", type=count(1, 100_000), default=64, help="number of images (default 64)")
        p.add_argument("--std", type=real(gt=0), default=1.0, help="spread of the latent samples (default 1.0)")
        p.add_argument("--prior", default="auto",
                       help="standard (N(0, I)), a fitted kind (gmm, ...) or auto: the newest fitted, else standard")
        p.add_argument("--seed", type=SEED, default=0, help="random seed (default 0)")
        p.add_argument("--out", help="grid PNG (default RUN_DIR/figures/generated.png)")
        p.add_argument("--individual", metavar="DIR", help="also write DIR/sample_0000.png, ...")
        p.add_argument("--condition", metavar="LABEL",
                       help="conditional models: a class (7) or attributes (Smiling=1,Eyeglasses=1)")
        p.add_argument("--scale", type=count(0, MAX_SCALE, "(0: automatic)"), default=0,
                       help="upscale factor for PNGs (default 0: to >= 64 px)")

    @staticmethod
    def run(args) -> int:
        from pathlib import Path

        from vaelab.plots import check_png_path, save_grid, save_images
        from vaelab.priors import decode_samples, label, resolve
        from vaelab.runs import load_run

        if args.out:
            check_png_path(args.out, "--out")
        run = load_run(args.run_dir)
        check_grid_fits(run.model.image_shape, args.n, args.scale)  # before decoding or writing anything
        prior = resolve(run.path, args.prior, run.model.latent_dim, model_hash=run.model_hash)
        given = ""
        if args.condition is not None:
            if not run.model.needs_labels:
                from vaelab.models.kinds import MODEL_KINDS

                conditional = [k for k in MODEL_KINDS.names() if MODEL_KINDS.get(k).needs_labels]
                raise ValueError(f"--condition: model.kind {run.model.kind!r} of {args.run_dir} is not conditional; "
                                 f"drop --condition (conditional kinds: {conditional})")
            condition = run.model.parse_condition(args.condition)  # ValueError names the labels
            images = run.model.sample(args.n, std=args.std, seed=args.seed, condition=condition)  # (n, H, W, C)
            given = f", condition {args.condition}"
        else:
            images = decode_samples(run.model, prior, args.n, seed=args.seed, std=args.std)  # (n, H, W, C)
        out = Path(args.out) if args.out else run.figures / "generated.png"
        grid = save_grid(images, out, args.scale)
        print(f"grid of {args.n} samples (prior {label(run.model, prior)}, std {args.std:g}, seed {args.seed}"
              f"{given}): {grid}")
        if args.individual:
            paths = save_images(images, args.individual, args.scale)
            print(f"{len(paths)} images in {args.individual}")
        return 0


def check_grid_fits(image_shape, n: int, scale: int) -> None:
    """ValueError naming --scale (or -n) when n images upscaled by `scale` (0: to >= 64 px) do not fit in memory."""
    from vaelab.limits import human_bytes, most_that_fits

    h, w, c = image_shape
    factor = scale or max(1, math.ceil(64 / h))
    grid = f"an image grid of {n} x ({h}*N)x({w}*N) pixels, {human_bytes(GRID_BYTES * c)} per pixel"
    if scale:
        most = math.isqrt(most_that_fits(n * h * w * c * GRID_BYTES))
        if most >= 1:  # else not even scale 1 fits: -n is what to lower
            check_fits("--scale", scale, most, f"(0: automatic) for {n} {h}x{w} images {memory_why(grid)}", lo=0)
            return
    most_n = most_that_fits(h * w * c * factor * factor * GRID_BYTES)
    check_fits("-n", n, most_n, f"for {h}x{w} images at scale {factor} "
               f"{memory_why(f'{human_bytes(h * w * c * factor**2 * GRID_BYTES)} per upscaled image')}")
