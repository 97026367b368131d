"""`vaelab` command line: argparse subcommands that parse, call the library and print paths.

Each command is one module in `vaelab/commands/` registered in `COMMANDS` with a `register(parser)`
and a `run(args) -> int`; no command holds logic a notebook could not call directly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import warnings

from vaelab import __version__

# TensorFlow's native start-up lines, printed to file descriptor 2 before its log level applies: absl's
# pre-init notice, glog-style lines (I0000 00:00:... file.cc:N]), dated C++ log lines, the CPU feature
# guard's continuation line. Everything else on stderr (Python warnings, errors) is passed through.
NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+:\d+\]"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    r"|Attempting to register factory for plugin \S+ when one has already been registered)"
)


@contextlib.contextmanager
def native_stderr_filtered(enabled: bool = True):
    """Points file descriptor 2 at a temp file while the block runs, then replays it minus NATIVE_NOISE."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not NATIVE_NOISE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def start_tensorflow(verbose: bool = False) -> None:
    """Imports TensorFlow and starts its devices with the native start-up lines hidden (shown if `verbose`)."""
    with native_stderr_filtered(enabled=not verbose):
        import tensorflow as tf

        tf.config.list_physical_devices()


def _one_line_warnings(command: str) -> None:
    """vaelab's own warnings as one line each (`vaelab train: warning: ...`); others keep Python's format."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}vaelab{os.sep}" in filename and issubclass(category, UserWarning):
            print(f"vaelab {command}: warning: {' '.join(str(message).split())}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def build_parser() -> argparse.ArgumentParser:
    from vaelab.commands import COMMANDS
    from vaelab.commands.args import OneLineParser

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show TensorFlow's native start-up log lines (hidden by default)")
    parser = OneLineParser(  # bad arguments: one line, exit 2 (its subparsers are OneLineParsers too)
        prog="vaelab", parents=[common],
        description="Build, train and study Autoencoders and VAEs (TensorFlow 2 / Keras 3).",
    )
    parser.set_defaults(verbose=False)
    parser.add_argument("--version", action="version", version=f"vaelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS.names():
        cmd = COMMANDS.get(name)
        p = sub.add_parser(name, help=cmd.help, description=cmd.help, parents=[common])
        cmd.register(p)
        p.set_defaults(handler=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    _one_line_warnings(args.command)
    try:
        start_tensorflow(args.verbose)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, OSError) as e:
        # Bad input: one clear line, no traceback (VAELAB_DEBUG=1 shows it).
        if os.environ.get("VAELAB_DEBUG"):
            raise
        print(f"vaelab {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
