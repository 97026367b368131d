"""vaelab generate: images decoded from a prior (N(0, std^2 I) or one fitted by fit-prior), as a grid and/or PNGs.

A conditional model (`cvae`) takes `--condition 7` (a class id or name) or `--condition Smiling=1,Eyeglasses=1`
(attributes; those not named are 0), checked against the run's label names.
"""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("generate")
class Generate:
    help = "decode prior samples: a PNG grid (--out) and/or individual PNGs (--individual DIR)"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("-n", type=int, default=64, help="number of images (default 64)")
        p.add_argument("--std", type=float, default=1.0, help="spread of the latent samples (default 1.0)")
        p.add_argument("--prior", default="auto",
                       help="standard (N(0, I)), a fitted kind (gmm, ...) or auto: the newest fitted, else standard")
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        p.add_argument("--out", help="grid PNG (default RUN_DIR/figures/generated.png)")
        p.add_argument("--individual", metavar="DIR", help="also write DIR/sample_0000.png, ...")
        p.add_argument("--condition", metavar="LABEL",
                       help="conditional models: a class (7) or attributes (Smiling=1,Eyeglasses=1)")
        p.add_argument("--scale", type=int, default=0, help="upscale factor for PNGs (default: to >= 64 px)")

    @staticmethod
    def run(args) -> int:
        from pathlib import Path

        from vaelab.plots import check_png_path, save_grid, save_images
        from vaelab.priors import decode_samples, label, resolve
        from vaelab.runs import load_run

        if not 1 <= args.n <= 100_000:
            raise ValueError(f"-n: expected 1 to 100000 images, received {args.n}")
        if not args.std > 0:
            raise ValueError(f"--std: expected a positive number, received {args.std}")
        if args.scale < 0:
            raise ValueError(f"--scale: expected 0 (automatic) or a positive factor, received {args.scale}")
        if args.out:
            check_png_path(args.out, "--out")
        run = load_run(args.run_dir)
        prior = resolve(run.path, args.prior, run.model.latent_dim, model_hash=run.model_hash)
        given = ""
        if args.condition is not None:
            if not run.model.needs_labels:
                raise ValueError(f"--condition: model.kind {run.model.kind!r} of {args.run_dir} is not conditional; "
                                 "drop --condition (conditional kinds: cvae)")
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
