"""vaelab config show: print the resolved config (defaults <- YAML <- --set)."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS, add_config_args, config_from_args


@COMMANDS.register("config")
class Config:
    help = "show the resolved configuration"

    @staticmethod
    def register(p):
        p.add_argument("action", choices=["show"], help="show: print the resolved config as YAML")
        add_config_args(p)

    @staticmethod
    def run(args) -> int:
        from vaelab.config import dump_config

        print(dump_config(config_from_args(args)), end="")
        return 0
