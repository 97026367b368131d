"""The explorer's Starlette app: the page (three packaged files) and a small JSON/PNG API.

Endpoints (documented in docs/explorer.md):
    GET  /                              the page
    GET  /api/info                      shapes, label names, PCA basis, attribute vectors
    GET  /api/points                    scatter: 2-D PCA coordinates and labels of the test set
    GET  /api/points/{i}                one test image's z, PCA coordinates and label
    GET  /api/images/{i}.png            one test image
    GET  /api/decode.png?z=..           one decoded latent
    POST /api/decode  {"z": [[..]]}     up to 64 latents decoded in one batch -> PNG data URLs
    GET  /api/interpolate.png?a=..&b=..&steps=N   a strip from a to b
    GET  /api/samples.png?n=..&std=..&seed=..     a grid of prior samples
Client errors come back as 4xx `{"error": message}`; server errors as 500 JSON, never a traceback.
Only requests for this server's own Host (and Origin, if sent) are answered; see `guard.py`.
"""

from __future__ import annotations

import base64
import logging
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vaelab.explore import validate as v
from vaelab.explore.guard import Guard
from vaelab.explore.imaging import grid_png, png_bytes

log = logging.getLogger("vaelab.explore")

STATIC = {  # URL -> (packaged file, media type): the only files ever served
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/explorer.js": ("explorer.js", "text/javascript; charset=utf-8"),
    "/static/explorer.css": ("explorer.css", "text/css; charset=utf-8"),
}
CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'none'"


def _png(data: bytes) -> Response:
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def _static_route(path: str, filename: str, media_type: str) -> Route:
    body = resources.files("vaelab.explore").joinpath("static", filename).read_bytes()
    headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
    return Route(path, lambda request: Response(body, media_type=media_type, headers=headers))


def create_app(explorer, host: str = "127.0.0.1", port: int = 8765) -> Starlette:
    """The app for one `Explorer` served at (host, port); everything it needs is computed here once.

    Requests must name that server in their Host header (loopback names with `port`, or `host`);
    tests use `TestClient(app, base_url="http://127.0.0.1:8765")`.
    """
    dim = explorer.latent_dim
    n = len(explorer.z)
    info, points = explorer.info(), explorer.points()

    def get_info(request: Request):
        v.check_params(request.query_params, ())
        return JSONResponse(info)

    def get_points(request: Request):
        v.check_params(request.query_params, ())
        return JSONResponse(points)

    def get_point(request: Request):
        v.check_params(request.query_params, ())
        return JSONResponse(explorer.point(v.as_index(request.path_params["index"], n)))

    def get_image(request: Request):
        v.check_params(request.query_params, ())
        i = v.as_index(request.path_params["index"], n)
        return _png(png_bytes(explorer.images[i]))

    def decode_png(request: Request):
        q = request.query_params
        v.check_params(q, ("z",))
        if "z" not in q:
            raise v.ApiError(422, f"z: expected {dim} comma-separated numbers, received nothing")
        return _png(png_bytes(explorer.decode(v.as_vector(q["z"], "z", dim)[None])[0]))

    async def decode_batch(request: Request):
        v.check_params(request.query_params, ())
        v.check_json_type(request.headers.get("content-type"))
        try:
            body = await request.body()  # Guard stops it past v.MAX_BODY bytes (413)
        except ClientDisconnect:
            raise v.ApiError(400, "expected a complete body, received a disconnect") from None
        payload = v.parse_json(body)
        if not isinstance(payload, dict) or set(payload) != {"z"}:
            keys = v.short(sorted(payload)) if isinstance(payload, dict) else type(payload).__name__
            raise v.ApiError(422, f'expected a JSON object with the single key "z", received {keys}')
        z = v.as_batch(payload["z"], dim)
        images = await run_in_threadpool(explorer.decode, z)
        urls = ["data:image/png;base64," + base64.b64encode(png_bytes(img)).decode() for img in images]
        return JSONResponse({"images": urls})

    def interpolate_png(request: Request):
        q = request.query_params
        v.check_params(q, ("a", "b", "steps"))
        a, b = (v.as_vector(q.get(k, ""), k, dim) for k in ("a", "b"))
        steps = v.as_int(q, "steps", 8, 2, v.MAX_STEPS)
        return _png(grid_png(explorer.interpolate(a, b, steps), cols=steps))

    def samples_png(request: Request):
        q = request.query_params
        v.check_params(q, ("n", "std", "seed", "cols"))
        count = v.as_int(q, "n", 16, 1, v.MAX_SAMPLES)
        std = v.as_float(q, "std", 1.0, 0.0, 10.0)
        seed = v.as_int(q, "seed", 0, 0, 2**31 - 1)
        cols = v.as_int(q, "cols", 8, 1, v.MAX_SAMPLES)
        return _png(grid_png(explorer.sample(count, std, seed), cols=cols))

    routes = [_static_route(path, *spec) for path, spec in STATIC.items()] + [
        Route("/api/info", get_info),
        Route("/api/points", get_points),
        Route("/api/points/{index}", get_point),
        Route("/api/images/{index}.png", get_image),
        Route("/api/decode.png", decode_png),
        Route("/api/decode", decode_batch, methods=["POST"]),
        Route("/api/interpolate.png", interpolate_png),
        Route("/api/samples.png", samples_png),
    ]
    guard = Middleware(Guard, host=host, port=port, max_body=v.MAX_BODY)
    return Starlette(routes=routes, middleware=[guard], exception_handlers={
        v.ApiError: lambda request, e: JSONResponse({"error": e.message}, status_code=e.status),
        HTTPException: lambda request, e: JSONResponse({"error": f"{e.detail}: {request.url.path}"},
                                                       status_code=e.status_code),
        Exception: _server_error,
    })


def _server_error(request: Request, e: Exception) -> JSONResponse:
    log.exception("explore: error while serving %s", request.url.path, exc_info=e)
    return JSONResponse({"error": "internal server error (details are in the server log)"}, status_code=500)
