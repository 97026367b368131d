"""Binding a socket and running the explorer app under uvicorn, with bounded connections and timeouts.

uvicorn's own limits are used as they are: `timeout_keep_alive` closes idle keep-alive connections,
`h11_max_incomplete_event_size` caps a request head that arrives in pieces. What it lacks is added by
`bounded_protocol`, so that slow clients cannot keep normal requests waiting (slowloris):

- a deadline for a request's head (`head_timeout`, from the connection's start or the request's first byte)
  and one for the whole request (`request_timeout`): a client that sends its headers or body byte by byte is
  closed;
- a cap on open connections, overall and per client address (loopback included). At the cap a connection
  that has sent part of a request head (a slow client) is closed to make room, the one waiting longest first,
  then one waiting for its head with nothing sent yet (an idle keep-alive one); a just-connected client whose
  request is not read yet is thus not dropped for a slow one (seen under CPU load before); a new connection is
  refused only when every open one is busy with a request. A normal request, whose head arrives in one packet,
  is therefore served at once however many slow clients reconnect;
- the documented head limit enforced on every request (`MAX_HEAD_BYTES`, answered with 431), also when the
  whole head arrives in one packet (h11's limit applies only to a head still incomplete).
"""

from __future__ import annotations

import ipaddress
import socket
import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 2.0  # seconds to receive a request's line and headers
REQUEST_TIMEOUT = 10.0  # seconds to receive a whole request (head and body) once the server waits for one
KEEP_ALIVE_TIMEOUT = 5  # seconds an idle keep-alive connection stays open (uvicorn's timeout_keep_alive)
MAX_CONNECTIONS = 64  # open connections in all
MAX_PER_CLIENT = 32  # open connections from one client address
MAX_HEAD_BYTES = 32 * 1024  # request line plus headers; a z=512 URL is ~10 KB
_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)  # the client's side of the request is over
_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
              b"connection: close\r\ncontent-length: %d\r\n\r\n%s")


class _BoundedH11(H11Protocol):
    """uvicorn's h11 protocol plus request deadlines, connection caps that evict the slowest, a head limit."""

    head_timeout = HEAD_TIMEOUT
    request_timeout = REQUEST_TIMEOUT
    max_connections = MAX_CONNECTIONS
    max_per_client = MAX_PER_CLIENT
    _deadline = None
    _waiting_since = 0.0  # loop time since which this connection waits for a request head
    _head = b""  # bytes of the request head received so far (while the client's state is IDLE)

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._waiting_since = self.loop.time()
        host = self.client[0] if self.client else None
        same = [c for c in self.connections if c.client and c.client[0] == host] if host else []
        pool = (same if len(same) > self.max_per_client
                else self.connections if len(self.connections) > self.max_connections else None)
        if pool is not None:
            idle = [c for c in pool if c is not self and c._evictable()]
            if not idle:
                self.logger.warning("explore: %d connections open, all busy; closing a new one",
                                    len(self.connections) - 1)
                transport.close()
                return
            # a connection that sent part of a head first (slowloris' signature), then the one waiting longest: a
            # client that has just connected, its request not read yet, is not dropped for slow ones
            min(idle, key=lambda c: (not c._head, c._waiting_since)).transport.close()
        self._arm(self.head_timeout)

    def _evictable(self) -> bool:
        """Waiting for a request head (slow, or idle between keep-alive requests), not serving one."""
        return (self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
                and not self.transport.is_closing())

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state not in _RECEIVED and not self.transport.is_closing():
            self.transport.close()  # an incomplete request: the handler, if any, sees a disconnect

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            if self._deadline is None:  # the first bytes of a request on a kept-alive connection
                self._arm(self.head_timeout)
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if (end + 4 if end >= 0 else len(self._head)) > MAX_HEAD_BYTES:
                self._refuse_head()
                return
            if end >= 0:
                self._head = b""
        head_done = self.conn.their_state is not h11.IDLE
        super().data_received(data)
        if self.conn.their_state in _RECEIVED:
            self._disarm()
        elif not head_done and self.conn.their_state is h11.SEND_BODY:
            self._arm(self.request_timeout)  # the head is in; the body has the whole-request deadline

    def _refuse_head(self) -> None:
        body = b'{"error": "request line and headers exceed %d bytes"}' % MAX_HEAD_BYTES
        self._disarm()
        self.transport.write(_TOO_LARGE % (len(body), body))
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already have read a pipelined request
        if self.transport.is_closing():
            return
        self._waiting_since = self.loop.time()
        self._head = b""
        if self.conn.their_state is h11.IDLE:
            self._disarm()  # idle keep-alive: uvicorn's timeout_keep_alive closes it; its next byte re-arms
        elif self.conn.their_state not in _RECEIVED:
            self._arm(self.request_timeout)

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


def bounded_protocol(request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS,
                     head_timeout: float = HEAD_TIMEOUT, max_per_client: int = MAX_PER_CLIENT) -> type:
    """An h11 protocol class for uvicorn (`Config(http=...)`) with these bounds (the head deadline is never
    longer than the whole request's)."""
    return type("BoundedH11", (_BoundedH11,), {"request_timeout": request_timeout,
                                               "head_timeout": min(head_timeout, request_timeout),
                                               "max_connections": max_connections,
                                               "max_per_client": min(max_per_client, max_connections)})


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
                request_timeout: float = REQUEST_TIMEOUT, max_connections: int = MAX_CONNECTIONS,
                head_timeout: float = HEAD_TIMEOUT, max_per_client: int = MAX_PER_CLIENT):
    """A `uvicorn.Server` for `create_app(explorer)` answering only to `sock`'s address; run it with
    `server.run(sockets=[sock])`."""
    import uvicorn

    from vaelab.explore.app import create_app

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(explorer, host=host, port=port), log_level=log_level, access_log=False,
        http=bounded_protocol(request_timeout, max_connections, head_timeout, max_per_client),
        timeout_keep_alive=KEEP_ALIVE_TIMEOUT,
        # the connection cap is bounded_protocol's (it makes room by closing the slowest); uvicorn's 503 stays
        # as the bound on requests in progress
        limit_concurrency=max_connections + 1, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
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
