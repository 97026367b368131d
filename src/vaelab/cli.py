"""`vaelab` command line: argparse subcommands that parse, call the library and print paths.

Each command is one module in `vaelab/commands/` registered in `COMMANDS` with a `register(parser)`
and a `run(args) -> int`; no command holds logic a notebook could not call directly.
"""

from __future__ import annotations

import argparse
import sys

from vaelab import __version__


def build_parser() -> argparse.ArgumentParser:
    from vaelab.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="vaelab", description="Build, train and study Autoencoders and VAEs (TensorFlow 2 / Keras 3)."
    )
    parser.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS.names():
        cmd = COMMANDS.get(name)
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.register(p)
        p.set_defaults(handler=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, OSError) as e:
        # Bad input: one clear line, no traceback (VAELAB_DEBUG=1 shows it).
        import os

        if os.environ.get("VAELAB_DEBUG"):
            raise
        print(f"vaelab {args.command}: error: {e}", file=sys.stderr)
        return 2
