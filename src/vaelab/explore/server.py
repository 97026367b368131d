"""Binding a socket and running the explorer app under uvicorn, with bounded connections and timeouts.

uvicorn's own limits are used as they are: `timeout_keep_alive` closes idle keep-alive connections,
`h11_max_incomplete_event_size` caps the request line plus headers, `limit_concurrency` answers 503
once that many connections or requests are open. Two bounds it lacks are added by `bounded_protocol`:
a deadline for receiving a whole request (a connection that sends its headers or body byte by byte
is closed) and closing connections beyond the cap at once (half-open connections used to pile up
until the process ran out of file descriptors).
"""

from __future__ import annotations

import ipaddress
import socket
import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT = 10.0  # seconds to receive a whole request (head and body) once the server waits for one
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive)
MAX_CONNECTIONS = 64  # open connections; uvicorn answers 503 at this many, further ones are closed at once
MAX_HEAD_BYTES = 32 * 1024  # request line plus headers (h11_max_incomplete_event_size); a z=512 URL is ~10 KB
_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)  # the client's side of the request is over


class _BoundedH11(H11Protocol):
    """uvicorn's h11 protocol plus a whole-request deadline and a hard cap on open connections."""

    request_timeout = REQUEST_TIMEOUT
    max_connections = MAX_CONNECTIONS
    _deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self.logger.warning("explore: %d connections open; closing a new one", len(self.connections) - 1)
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state not in _RECEIVED and not self.transport.is_closing():
            self.transport.close()  # an incomplete request: the handler, if any, sees a disconnect

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _RECEIVED:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already have read a pipelined request
        if not self.transport.is_closing() and self.conn.their_state not in _RECEIVED:
            self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


def bounded_protocol(request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS) -> type:
    """An h11 protocol class for uvicorn (`Config(http=...)`) with these two bounds."""
    return type("BoundedH11", (_BoundedH11,), {"request_timeout": request_timeout,
                                               "max_connections": max_connections})


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


def make_server(explorer, sock: socket.socket, log_level: str = "warning",
                request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS):
    """A `uvicorn.Server` for `create_app(explorer)` answering only to `sock`'s address; run it with
    `server.run(sockets=[sock])`."""
    import uvicorn

    from vaelab.explore.app import create_app

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(explorer, host=host, port=port), log_level=log_level, access_log=False,
        http=bounded_protocol(request_timeout, max_connections), timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        limit_concurrency=max_connections, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        proxy_headers=False, server_header=False, lifespan="off", ws="none",
    )
    return uvicorn.Server(config)


def serve(explorer, host: str = "127.0.0.1", port: int = 8765, log_level: str = "warning",
          sock: socket.socket | None = None) -> None:
    """Serves `create_app(explorer)` until interrupted; prints the URL first (flushed, for scripts).

    Args:
        explorer: the `Explorer` to serve.
        host, port: where to listen (port 0: a free one), unless `sock` is given.
        log_level: uvicorn's log level.
        sock: a socket from `bind`, e.g. bound before the slow model load so a taken port fails fast.
    """
    sock = sock or bind(host, port)
    host = sock.getsockname()[0]
    if not is_loopback(host):
        print(f"warning: listening on {host}, not loopback: anyone who can reach it can use the page",
              file=sys.stderr)
    print(f"vaelab explore: {explorer.name} ({len(explorer.z)} test images, z={explorer.latent_dim}) "
          f"at {url_of(sock)}  (Ctrl+C to stop)", flush=True)
    make_server(explorer, sock, log_level).run(sockets=[sock])
