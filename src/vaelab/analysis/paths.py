"""Paths through latent space: linear and spherical interpolation, class centroids, multi-stop paths."""

from __future__ import annotations

import numpy as np

from vaelab.registry import Registry

INTERPOLATIONS = Registry("interpolation")


def _endpoints(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"endpoints: expected two (D,) vectors, received {a.shape} and {b.shape}")
    return a, b


@INTERPOLATIONS.register("linear")
def lerp(a, b, steps: int) -> np.ndarray:
    """(steps, D) points on the straight line from a to b, both included."""
    a, b = _endpoints(a, b)
    t = np.linspace(0.0, 1.0, steps)[:, None]  # (S, 1)
    return ((1 - t) * a + t * b).astype("float32")


@INTERPOLATIONS.register("slerp")
def slerp(a, b, steps: int) -> np.ndarray:
    """(steps, D) spherical interpolation from a to b (White 2016), both included.

    Follows the great circle between the directions of a and b while the norm changes smoothly,
    so intermediate codes keep the typical norm of prior samples instead of shrinking towards 0.
    Falls back to `lerp` when a and b are (anti-)parallel or zero.
    """
    a, b = _endpoints(a, b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return lerp(a, b, steps)
    omega = np.arccos(np.clip(np.dot(a / na, b / nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return lerp(a, b, steps)
    t = np.linspace(0.0, 1.0, steps)[:, None]  # (S, 1)
    out = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    out[0], out[-1] = a, b  # exact endpoints despite rounding
    return out.astype("float32")


def interpolate(a, b, steps: int = 10, method: str = "linear") -> np.ndarray:
    """(steps, D) codes from a to b with a registered method (`linear` or `slerp`)."""
    if steps < 2:
        raise ValueError(f"steps: expected at least 2 (the two endpoints), received {steps}")
    return INTERPOLATIONS.get(method)(a, b, steps)


def class_centroids(z, labels) -> tuple[np.ndarray, np.ndarray]:
    """Mean code per class: (classes (K,), centroids (K, D)), classes in sorted order."""
    z, labels = np.asarray(z), np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(z):
        raise ValueError(f"labels: expected ({len(z)},) class ids, received shape {labels.shape}")
    classes = np.unique(labels)
    return classes, np.stack([z[labels == k].mean(axis=0) for k in classes]).astype("float32")


def path_through(points, steps_per_segment: int = 6, method: str = "linear") -> np.ndarray:
    """Codes visiting each of `points` (K, D) in turn: ((K - 1) * (steps - 1) + 1, D)."""
    points = np.asarray(points)
    if len(points) < 2:
        raise ValueError(f"points: expected at least 2 stops, received {len(points)}")
    pairs = zip(points[:-1], points[1:], strict=True)
    segments = [interpolate(p, q, steps_per_segment, method) for p, q in pairs]
    return np.concatenate([segments[0]] + [s[1:] for s in segments[1:]])
