"""vaelab env: versions and devices, for bug reports."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("env")
class Env:
    help = "print versions (Python, TensorFlow, Keras), devices and what train.precision=auto trains in here"

    @staticmethod
    def register(p):
        pass

    @staticmethod
    def run(args) -> int:
        from vaelab import __version__, precision
        from vaelab.environment import environment

        print(f"vaelab: {__version__}")
        for k, v in environment().items():
            print(f"{k}: {', '.join(v) if isinstance(v, list) else v}")
        print(f"cpu: {precision.cpu_description()}")
        print(f"cpu bf16 units: {', '.join(precision.cpu_bf16_units()) or 'none'}")
        print(f"precision candidates: {', '.join(precision.candidates())}")
        verdicts = precision.cached_verdicts()
        if len(precision.candidates()) == 1:
            print("train.precision=auto trains in: float32 (no bf16 units to measure against)")
        elif not verdicts:
            print("train.precision=auto trains in: not measured on this machine yet (the first training times "
                  f"a few steps in each candidate and caches the faster in {precision.cache_path()})")
        for what, verdict in sorted(verdicts.items()):
            print(f"train.precision=auto for {what}: {verdict.describe()}")
        if verdicts:
            print(f"precision verdicts cached in: {precision.cache_path()} (delete it to measure again)")
        return 0
