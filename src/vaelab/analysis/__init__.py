"""Studying trained models: latent statistics, grids, interpolation, feature arithmetic, named figures.

Pure array functions live in `latent`, `grids`, `interpolate` and `arithmetic`; `views` turns them
into named figures (`FIGURES`) used by `vaelab plot` and the run report.
"""

from vaelab.analysis.arithmetic import (
    as_attributes,
    attribute_vectors,
    combine_vectors,
    fit_attribute_classifier,
    score_shift,
)
from vaelab.analysis.embedding import confinement_stats, project_2d
from vaelab.analysis.grids import manifold_latents, normal_quantile_grid
from vaelab.analysis.paths import class_centroids, interpolate, lerp, path_through, slerp
from vaelab.analysis.subject import Subject, load_subject
from vaelab.analysis.views import FIGURES, Options, View, make_view

__all__ = [
    "FIGURES", "Options", "Subject", "View", "as_attributes", "attribute_vectors", "class_centroids",
    "combine_vectors", "confinement_stats", "fit_attribute_classifier", "interpolate", "lerp", "load_subject",
    "make_view", "manifold_latents", "normal_quantile_grid", "path_through", "project_2d", "score_shift",
    "slerp",
]
