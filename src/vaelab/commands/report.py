"""vaelab report: (re)build a run's report.html with every figure that fits its data."""

from __future__ import annotations

from vaelab.commands.args import count
from vaelab.commands.base import COMMANDS


@COMMANDS.register("report")
class Report:
    help = "build RUN_DIR/report.html: figures, confinement stats, scored feature arithmetic, curves, metrics"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--limit", type=count(1), default=2000, help="test images to use (default 2000)")
        p.add_argument("--prior", default="auto", help="prior samples: standard, a fitted kind or auto (default)")

    @staticmethod
    def run(args) -> int:
        from vaelab.analysis.views import Options
        from vaelab.report import build_report

        print(f"report: {build_report(args.run_dir, limit=args.limit, options=Options(prior=args.prior))}")
        return 0
