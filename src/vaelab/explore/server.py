"""Binding a socket and running the explorer app under uvicorn."""

from __future__ import annotations

import ipaddress
import socket
import sys


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    if not 0 <= port <= 65535:
        raise ValueError(f"port: expected an integer in [0, 65535], received {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets, and without it every keep-alive
    # response waits ~40 ms for a delayed ACK (Nagle), 50 ms per decode instead of 2.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        msg = f"cannot listen on {host}:{port} ({e.strerror}); pick another port"
        raise OSError(msg) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(explorer, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning",
          sock: socket.socket | None = None) -> None:
    """Serves `create_app(explorer)` until interrupted; prints the URL first (flushed, for scripts).

    Args:
        explorer: the `Explorer` to serve.
        host, port: where to listen (port 0: a free one), unless `sock` is given.
        log_level: uvicorn's log level.
        sock: a socket from `bind`, e.g. bound before the slow model load so a taken port fails fast.
    """
    import uvicorn

    from vaelab.explore.app import create_app

    sock = sock or bind(host, port)
    host = sock.getsockname()[0]
    if not is_loopback(host):
        print(f"warning: listening on {host}, not loopback: anyone who can reach it can use the page",
              file=sys.stderr)
    print(f"vaelab explore: {explorer.name} ({len(explorer.z)} test images, z={explorer.latent_dim}) "
          f"at {url_of(sock)}  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(create_app(explorer), log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
