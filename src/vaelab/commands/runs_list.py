"""vaelab runs: a table of every run directory under a folder (sortable, filterable, JSON/CSV)."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("runs")
class RunsList:
    help = "table of the runs under a folder: dataset, family, z, beta, epochs, best val loss, NLL, FID, status"

    @staticmethod
    def register(p):
        p.add_argument("root", nargs="?", default="runs", metavar="DIR", help="folder to search (default runs)")
        p.add_argument("--sort", metavar="COL", help="sort by a column or a config key section.key")
        p.add_argument("--reverse", action="store_true", help="descending order")
        p.add_argument("--filter", dest="filters", action="append", default=[], metavar="KEY=VALUE",
                       help="keep rows where a column or config key equals VALUE (repeatable)")
        fmt = p.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true", help="print JSON (a list of rows)")
        fmt.add_argument("--csv", action="store_true", help="print CSV")

    @staticmethod
    def run(args) -> int:
        from vaelab import summary

        rows = summary.filter_rows(summary.collect(args.root), args.filters)
        if args.sort:
            rows = summary.sort_rows(rows, args.sort, args.reverse)
        if args.json:
            print(summary.to_json(rows))
        elif args.csv:
            print(summary.to_csv(rows), end="")
        else:
            print(summary.format_table(rows) if rows else f"no runs under {args.root}")
        return 0
