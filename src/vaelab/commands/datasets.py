"""vaelab datasets: registered datasets, their shapes and splits, and whether local files were found."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("datasets")
class Datasets:
    help = "list datasets: names, shapes, splits, and where local files were found"

    @staticmethod
    def register(p):
        p.add_argument("--data-dir", help="directory to look in first (else $VAELAB_DATA_DIR, ~/.keras/datasets)")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    @staticmethod
    def run(args) -> int:
        import json

        from vaelab.data.describe import describe_datasets, format_datasets

        rows = describe_datasets(args.data_dir)
        print(json.dumps(rows, indent=2, default=str) if args.json else format_datasets(rows))
        return 0
