"""A local web page to explore a trained run's latent space.

    >>> explorer = Explorer.from_run_dir("runs/fashion_mnist-vae-...", limit=2000)  # loads and encodes once
    >>> app = create_app(explorer, port=8765)  # a Starlette app answering only to 127.0.0.1:8765 and co.
    >>> serve(explorer, port=8765)        # uvicorn on 127.0.0.1, prints the URL

The API is described in docs/explorer.md.
"""

from vaelab.explore.app import create_app
from vaelab.explore.explorer import Explorer
from vaelab.explore.server import serve

__all__ = ["Explorer", "create_app", "serve"]
