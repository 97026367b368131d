"""Evaluation sections: one file each, registered in `SECTIONS`, in the shape of `analysis/views.py`.

A section is a class with three static methods:

    fits(ctx)    -> True (compute it) | a string (why it is absent: recorded under "absent") | False (not asked)
    compute(ctx) -> dict, stored under the section's name in metrics.json["evaluation"]
    rows(values) -> [(metric, value, meaning)] for the printed table

registered with `@SECTIONS.register("name", order=N)` (the order of the table). Adding a section (a new
family's numbers, a standard FID) = one file + an import line in `evaluate/__init__.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab import metrics
from vaelab.registry import Registry

SECTIONS = Registry("evaluation section")


def ordered() -> list[str]:
    return sorted(SECTIONS.names(), key=lambda name: SECTIONS.info(name).get("order", 100))


@dataclass
class Context:
    """What the sections share: the model, the pixels it is scored on, options and lazily computed pieces."""

    model: object  # a vaelab BaseAutoencoder
    images: np.ndarray  # (N, H, W, C) continuous in [0, 1]
    x: np.ndarray  # the pixels the likelihood is scored on (binarised once when the run trained binarised)
    binarize: str
    opts: object  # EvalOptions
    proper: bool  # is -log p(x) a proper discrete NLL here?
    label: str  # what the likelihood number is
    run_dir: Path | None = None
    train: tuple | None = None  # (train images, train labels) for the feature classifier
    frechet_images: np.ndarray | None = None  # reference images for Fréchet distances (default: images)
    model_hash: str | None = None  # of the model file (runs.file_hash): fitted priors must match it
    split: object | None = None  # the evaluated data.Split: labels, ground-truth factors and their `observe`
    notes: list[str] = field(default_factory=list)
    _elbo: dict | None = None

    def elbo_terms(self) -> dict:
        """Per-image ELBO pieces with one sampled z (computed once, shared by `elbo` and `latent`)."""
        if self._elbo is None:
            self._elbo = metrics.elbo_terms(self.model, self.x, seed=self.opts.seed)
        return self._elbo

    def has_posterior(self) -> str | bool:
        """True when the model has q(z|x); else why posterior-based numbers are absent."""
        note = getattr(self.model, "posterior_note", "") or "a plain autoencoder"
        return True if self.model.has_posterior else (
            f"model.kind {self.model.kind!r} ({note}) has no posterior q(z|x) or prior p(z)")
