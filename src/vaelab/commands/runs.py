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
        from vaelab import runs_table

        rows = runs_table.filter_rows(runs_table.collect(args.root), args.filters)
        if args.sort:
            rows = runs_table.sort_rows(rows, args.sort, args.reverse)
        if args.json:
            print(runs_table.to_json(rows))
        elif args.csv:
            print(runs_table.to_csv(rows), end="")
        else:
            print(runs_table.format_table(rows) if rows else f"no runs under {args.root}")
        return 0
