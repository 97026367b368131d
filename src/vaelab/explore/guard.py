"""Who may talk to the explorer: its own Host names, its own origin, bounded request bodies.

DNS rebinding: a page on attacker.example whose name is re-pointed at 127.0.0.1 reaches this server
with `Host: attacker.example:PORT`. Answering only the Host values this server really has (loopback
names with its port, or the address the user bound) stops that. A cross-site page can still send a
"simple" POST to 127.0.0.1 without asking first, so a foreign `Origin` is refused too, JSON routes take
only `application/json` (which needs a CORS preflight that is never granted: no CORS headers are sent),
and a body is cut off at `max_body` bytes while it streams in, never after.
"""

from __future__ import annotations

import ipaddress
import socket

from starlette.datastructures import Headers
from starlette.responses import JSONResponse

from vaelab.explore.validate import ApiError, short

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "[::]")


def _bracketed(host: str) -> str:
    """An IPv6 literal as it appears in a Host header: [::1]."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """Host header values the server answers when bound to (host, port).

    Loopback names with the port always; the bound host itself when it is not a wildcard. For a
    wildcard bind (0.0.0.0, ::) the machine's own name as well; IP literals are checked separately
    (a rebinding attack needs a DNS name, so any IP literal with the port is safe to accept there).
    """
    names = set(LOOPBACK_NAMES)
    bound = _bracketed(host.lower())
    if bound in WILDCARDS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    else:
        names.add(bound)
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:  # browsers leave the default port out
        hosts |= names
    return frozenset(hosts)


def _is_ip_literal_with_port(host: str, port: int) -> bool:
    name, _, given = host.rpartition(":")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return given == str(port)


class Guard:
    """ASGI middleware: Host and Origin checks, Content-Length and streamed-body limits.

    Refusals are JSON: 400 (unknown Host), 403 (foreign Origin), 413 (body over `max_body`).
    """

    def __init__(self, app, host: str, port: int, max_body: int):
        self.app = app
        self.hosts = allowed_hosts(host, port)
        self.any_ip = _bracketed(host.lower()) in WILDCARDS
        self.port = port
        self.max_body = max_body

    def _refusal(self, headers: Headers) -> ApiError | None:
        hosts = headers.getlist("host")
        host = hosts[0].lower() if len(hosts) == 1 else ""
        if host not in self.hosts and not (self.any_ip and _is_ip_literal_with_port(host, self.port)):
            return ApiError(400, f"Host header: expected one of {sorted(self.hosts)}, received "
                                 f"{short(hosts[0] if len(hosts) == 1 else hosts)} (a foreign name is how "
                                 "DNS rebinding reaches a local server); open the URL the server printed")
        origin = headers.get("origin")
        if origin is not None and origin.lower() != f"http://{host}":
            return ApiError(403, f"Origin: expected http://{host} (this page), received {short(origin)}; "
                                 "other sites may not use this server")
        length = headers.get("content-length")
        if length is not None and not (length.isascii() and length.isdigit()):
            return ApiError(400, f"Content-Length: expected a byte count, received {short(length)}")
        if length is not None and (len(length) > 15 or int(length) > self.max_body):
            return ApiError(413, f"expected a body of at most {self.max_body} bytes, received "
                                 f"Content-Length {short(length)}")
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(Headers(scope=scope))
        if refusal is not None:
            response = JSONResponse({"error": refusal.message}, status_code=refusal.status)
            await response(scope, receive, send)
            return
        received = 0

        async def bounded_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:  # a chunked body or one longer than it said: stop reading now
                raise ApiError(413, f"expected a body of at most {self.max_body} bytes, received more")
            return message

        await self.app(scope, bounded_receive, send)
