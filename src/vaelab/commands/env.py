"""vaelab env: versions and devices, for bug reports."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("env")
class Env:
    help = "print versions (Python, TensorFlow, Keras) and devices"

    @staticmethod
    def register(p):
        pass

    @staticmethod
    def run(args) -> int:
        from vaelab import __version__
        from vaelab.runs import environment
        from vaelab.train import cpu_bf16_units, resolve_precision

        print(f"vaelab: {__version__}")
        for k, v in environment().items():
            print(f"{k}: {', '.join(v) if isinstance(v, list) else v}")
        units = cpu_bf16_units()
        print(f"cpu bf16 units: {', '.join(units) or 'none'}")
        print(f"train.precision=auto trains in: {resolve_precision('auto')}")
        return 0
