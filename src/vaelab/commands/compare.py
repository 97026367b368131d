"""vaelab compare: several runs (or a sweep's trials) on one self-contained HTML page."""

from __future__ import annotations

from vaelab.commands.args import count
from vaelab.commands.base import COMMANDS


@COMMANDS.register("compare")
class CompareRuns:
    help = "one self-contained page comparing runs: metrics, curves, latent codes, samples, reconstructions"

    @staticmethod
    def register(p):
        p.add_argument("run_dirs", nargs="*", metavar="RUN", help="run directories")
        p.add_argument("--sweep", metavar="DIR", help="a sweep directory: its trials, objective and importances")
        p.add_argument("--storage", metavar="URL", help="the sweep's storage URL, when it holds a password")
        p.add_argument("-o", "--out", default=None, help="output HTML (default compare.html; "
                       "with --sweep: DIR/compare.html)")
        p.add_argument("--limit", type=count(1), default=500, help="test images per run for the figures (default 500)")

    @staticmethod
    def run(args) -> int:
        from vaelab import compare_runs

        if not args.run_dirs and not args.sweep:
            raise ValueError("compare: give run directories (RUN ...) and/or --sweep DIR")
        if args.sweep:
            from vaelab.sweep.study import load_sweep

            sweep, study = load_sweep(args.sweep, args.storage)
            extra = compare_runs.entries_of(args.run_dirs)
            path = compare_runs.compare_sweep(sweep, study, args.out, args.limit, extra_entries=extra)
        else:
            path = compare_runs.build_compare(args.run_dirs, args.out or "compare.html", limit=args.limit)
        print(f"comparison: {path}")
        return 0
