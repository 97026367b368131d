"""vaelab plot: named figures of a trained run (latent, recon, samples, manifold, interpolate, ...)."""

from __future__ import annotations

from vaelab.commands.args import SEED, count, real
from vaelab.commands.base import COMMANDS


@COMMANDS.register("plot")
class Plot:
    help = "draw figures of a trained run (latent scatter, reconstructions, samples, manifold, ...) as PNGs"

    @staticmethod
    def register(p):
        from vaelab.analysis.views import FIGURES

        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--what", action="append", default=None, metavar="NAME",
                       help=f"repeatable: {', '.join(FIGURES.names())} or all (default latent)")
        p.add_argument("--out", help="output PNG (one figure) or directory (default RUN_DIR/figures)")
        p.add_argument("-n", type=count(1, 1000), default=16,
                       help="images per strip / number of samples (default 16)")
        p.add_argument("--std", type=real(gt=0), default=1.0, help="std of the prior samples (default 1.0)")
        p.add_argument("--prior", default="auto", help="samples: standard, a fitted kind or auto (default)")
        p.add_argument("--grid", type=count(1, 100, "(a grid of N x N decoded images)"), default=15,
                       help="manifold grid side (default 15)")
        p.add_argument("--dims", type=count(0), nargs=2, default=(0, 1), help="manifold dims (default 0 1)")
        p.add_argument("--indices", type=count(0), nargs=2, help="interpolate between these two test images")
        p.add_argument("--classes", nargs=2, help="interpolate between these two class centroids")
        p.add_argument("--steps", type=count(2, 1000), default=10, help="interpolation steps (default 10)")
        p.add_argument("--attribute", dest="attributes", action="append", help="attribute to add")
        p.add_argument("--factors", type=real(), nargs="+", default=[0.0, 1.0, 2.0],
                       help="multiples of the attribute vector to add (default 0 1 2)")
        p.add_argument("--combo", action="append", default=[], metavar="ATTR=WEIGHT",
                       help="arithmetic: also add a weighted sum of vectors (repeatable), e.g. Smiling=1")
        p.add_argument("--limit", type=count(1), default=2000, help="test images to load (default 2000)")
        p.add_argument("--seed", type=SEED, default=0, help="seed for samples and subsampling")

    @staticmethod
    def run(args) -> int:
        import sys
        from pathlib import Path

        from vaelab.analysis import load_subject
        from vaelab.analysis.views import FIGURES, Options, draw_all, unfit_reason
        from vaelab.plots import savefig
        from vaelab.runs import RunDir

        names = args.what or ["latent"]
        every = "all" in names
        names = FIGURES.names() if every else list(dict.fromkeys(names))
        for name in names:
            FIGURES.get(name)  # unknown names fail before any work
        opts = Options(n=args.n, std=args.std, dims=tuple(args.dims), grid=args.grid,
                       indices=tuple(args.indices) if args.indices else None,
                       classes=tuple(args.classes) if args.classes else None, steps=args.steps,
                       attributes=args.attributes, factors=tuple(args.factors), seed=args.seed,
                       combo=_parse_combo(args.combo), prior=args.prior)
        subject = load_subject(args.run_dir, limit=args.limit,
                               classifier_limit=2000 if "arithmetic" in names else 0)
        if not every:  # figures asked for by name must all apply, or nothing is drawn
            for name in names:
                reason = unfit_reason(name, subject)
                if reason:
                    fitting = [n for n in FIGURES.names() if not unfit_reason(n, subject)]
                    raise ValueError(f"--what {name}: this figure does not apply to {args.run_dir}: it {reason}; "
                                     f"figures that apply: {fitting} (or --what all)")
        views, skipped, errors = draw_all(subject, opts, names)
        if not every and (skipped or errors):  # an explicit figure that cannot be drawn: one line, nothing written
            name, why = next(iter({**skipped, **errors}.items()))
            raise ValueError(f"--what {name}: {why}")
        single = args.out and args.out.endswith(".png") and len(names) == 1
        if args.out and not single and Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out: {args.out} is a file; give a folder for the figures, or a file name ending "
                             "in .png for a single figure")
        out_dir = Path(args.out).parent if single else Path(args.out or RunDir(args.run_dir).figures)
        out_dir.mkdir(parents=True, exist_ok=True)
        for view in views:
            name = view.name
            path = Path(args.out) if single else out_dir / f"{name}.png"
            savefig(view.figure, path, dpi=100)
            print(f"{name}: {path}" + (f"  ({view.caption})" if view.caption else ""))
            for note in view.notes:
                print(f"vaelab plot: figure {name}: {note}", file=sys.stderr)
        for why in skipped.values():
            print(f"vaelab plot: skipped {why}", file=sys.stderr)
        for name, err in errors.items():
            print(f"vaelab plot: figure {name!r} failed: {err}", file=sys.stderr)
        return 1 if errors else 0


def _parse_combo(items: list[str]) -> dict[str, float] | None:
    """["Smiling=1", "Blond_Hair=-1"] -> {"Smiling": 1.0, "Blond_Hair": -1.0}."""
    out = {}
    for item in items:
        name, _, weight = item.partition("=")
        try:
            out[name] = float(weight)
            real().check(out[name])  # finite
        except ValueError:
            raise ValueError(f"--combo: expected ATTRIBUTE=WEIGHT (Smiling=1) with a finite weight, "
                             f"received {item!r}") from None
    return out or None
