from __future__ import annotations

import argparse

from vaelab.commands.args import setting
from vaelab.registry import Registry

COMMANDS = Registry("command")


def add_config_args(p: argparse.ArgumentParser, config_required: bool = False) -> None:
    """--config FILE, --set section.key=value (repeatable), and common shortcuts."""
    p.add_argument("--config", "-c", required=config_required, help="YAML file with overrides of the defaults")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--dataset", help="shortcut for --set data.name=NAME")
    p.add_argument("--data-dir", help="shortcut for --set data.data_dir=DIR")
    p.add_argument("--strategy", help="shortcut for --set loss.strategy=NAME")
    p.add_argument("--epochs", type=setting("train.epochs"), help="shortcut for --set train.epochs=N")
    p.add_argument("--output-dir", help="shortcut for --set train.output_dir=DIR")


def config_from_args(args: argparse.Namespace, base: dict | None = None):
    """Defaults <- `base` (a preset) <- --config <- shortcuts <- --set."""
    from vaelab.config import load_config

    shortcuts = {
        "dataset": "data.name", "data_dir": "data.data_dir", "strategy": "loss.strategy",
        "epochs": "train.epochs", "output_dir": "train.output_dir", "track": "train.track",
    }
    # Shortcut flags are typed values, taken as they are (never parsed as YAML: 'o #2' stays 'o #2').
    typed = [(key, getattr(args, attr)) for attr, key in shortcuts.items() if getattr(args, attr, None) is not None]
    return load_config(args.config, [*typed, *args.overrides], base=base)
