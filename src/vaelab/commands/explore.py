"""vaelab explore: a local web page to walk a trained run's latent space (scatter, decode, interpolate)."""

from __future__ import annotations

from vaelab.commands.args import PORT, count
from vaelab.commands.base import COMMANDS


@COMMANDS.register("explore")
class Explore:
    help = "serve a local page to explore a run's latent space: scatter, decode on hover, interpolate, sample"

    @staticmethod
    def register(p):
        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, local only)")
        p.add_argument("--port", type=PORT, default=8765, help="port; 0 picks a free one (default 8765)")
        p.add_argument("--limit", type=count(1), default=2000, help="use the first N test images (default 2000)")

    @staticmethod
    def run(args) -> int:
        from vaelab.explore import Explorer, serve
        from vaelab.explore.server import bind

        sock = bind(args.host, args.port)  # before the slow model load: a taken port fails at once
        explorer = Explorer.from_run_dir(args.run_dir, limit=args.limit)
        serve(explorer, sock=sock)
        return 0
