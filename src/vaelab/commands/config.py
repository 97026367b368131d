"""vaelab config show|list: print the resolved config (defaults <- YAML/preset <- --set), or the presets."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS, add_config_args, config_from_args


@COMMANDS.register("config")
class Config:
    help = "show the resolved configuration, or list the shipped presets"

    @staticmethod
    def register(p):
        p.add_argument("action", choices=["show", "list"],
                       help="show: print the resolved config as YAML; list: the shipped presets, one line each")
        add_config_args(p)

    @staticmethod
    def run(args) -> int:
        from vaelab import presets
        from vaelab.config import dump_config

        if args.action == "list":
            names = presets.names()
            width = max(map(len, names))
            for name in names:
                print(f"{name:<{width}}  {presets.describe(name)}")
            print("\nuse one with --config NAME, e.g. `vaelab train --config mnist_vae --data-dir DIR`")
            return 0
        print(dump_config(config_from_args(args)), end="")
        return 0
