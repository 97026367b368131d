"""Checking every client input: finite numbers, the latent size, bounded counts; never a path.

Each check raises `ApiError(status, message)`; the app turns it into a 4xx JSON response.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping

import numpy as np

Z_BOUND = 100.0  # |z_i| limit: far outside any trained prior, still safe to decode
MAX_BATCH = 64  # latents per /api/decode request
MAX_STEPS = 32  # images in one interpolation strip
MAX_SAMPLES = 64  # prior samples per request
MAX_BODY = 256 * 1024  # bytes of JSON accepted in a request body
JSON_TYPE = "application/json"


class ApiError(Exception):
    """A client error: `status` (4xx) and a message naming what was expected and what was received."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


_REPR = reprlib.Repr()  # depth- and length-limited: safe on 50,000-deep lists and 400-digit integers
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, 6, 6, 50, 30, 50


def short(value) -> str:
    text = _REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_params(params: Mapping[str, str], allowed: tuple[str, ...]) -> None:
    """Rejects query parameters the endpoint does not know (typos fail loudly)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown query parameter(s) {unknown}; expected some of {list(allowed)}")


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def as_vector(value, name: str, dim: int) -> np.ndarray:
    """A latent vector from a list of numbers or a comma-separated string -> float32 (dim,)."""
    if isinstance(value, str):
        parts = value.split(",") if value.strip() else []
        if len(parts) > dim:
            raise ApiError(422, f"{name}: expected {dim} numbers, received {len(parts)}")
        try:
            value = [float(p) for p in parts]
        except ValueError:
            msg = f"{name}: expected {dim} comma-separated numbers, received {short(value)}"
            raise ApiError(422, msg) from None
    if not isinstance(value, list) or not all(_is_number(v) for v in value):
        raise ApiError(422, f"{name}: expected a list of {dim} numbers, received {short(value)}")
    if len(value) != dim:
        raise ApiError(422, f"{name}: expected {dim} numbers (the latent size), received {len(value)}")
    try:
        z = np.asarray(value, "float64")
    except OverflowError:  # a JSON integer beyond float range, e.g. 401 digits
        raise ApiError(422, f"{name}: expected every |z_i| <= {Z_BOUND:g}, received a number too large "
                            "for a float") from None
    if not np.all(np.isfinite(z)):
        raise ApiError(422, f"{name}: expected finite numbers, received {short(value)}")
    if np.any(np.abs(z) > Z_BOUND):
        raise ApiError(422, f"{name}: expected every |z_i| <= {Z_BOUND:g}, received {np.abs(z).max():.4g}")
    return z.astype("float32")


def as_batch(value, dim: int) -> np.ndarray:
    """A JSON list of 1..MAX_BATCH latent vectors -> float32 (B, dim)."""
    if not isinstance(value, list) or not value:
        raise ApiError(422, f"z: expected a non-empty list of latent vectors, received {short(value)}")
    if len(value) > MAX_BATCH:
        raise ApiError(413, f"z: expected at most {MAX_BATCH} latent vectors, received {len(value)}")
    return np.stack([as_vector(v, f"z[{i}]", dim) for i, v in enumerate(value)])


def as_int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in [lo, hi]."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"{name}: expected an integer in [{lo}, {hi}], received {short(raw)}") from None
    if not lo <= value <= hi:
        raise ApiError(422, f"{name}: expected an integer in [{lo}, {hi}], received {value}")
    return value


def as_float(params: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    """A finite float query parameter in [lo, hi]."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ApiError(422, f"{name}: expected a finite number in [{lo:g}, {hi:g}], received {short(raw)}")
    return value


def as_index(raw: str, n: int) -> int:
    """A test-set index from the URL path: digits only (never a file name), in [0, n)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:  # "²".isdigit() is True, int("²") fails
        raise ApiError(404, f"expected a test-set index in [0, {n}), received {short(raw)}")
    i = int(raw)
    if i >= n:
        raise ApiError(404, f"expected a test-set index in [0, {n}), received {i}")
    return i


def check_json_type(content_type: str | None) -> None:
    """JSON routes take only `application/json` (a cross-site form can send text/plain without asking)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != JSON_TYPE:
        raise ApiError(415, f"expected Content-Type {JSON_TYPE}, received {short(content_type or 'none')}")


def parse_json(body: bytes):
    """Request bytes -> a JSON value; NaN/Infinity become nan (rejected later); any failure is a 400."""
    try:
        return json.loads(body, parse_constant=lambda c: math.nan)
    except RecursionError:
        raise ApiError(400, "expected a JSON body, received one nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:  # also Python's 4300-digit integer limit
        raise ApiError(400, f"expected a JSON body, received invalid JSON ({short(str(e))})") from None
