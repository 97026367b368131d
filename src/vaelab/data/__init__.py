"""Datasets: registered loaders (`DATASETS`) and the shared tf.data pipeline."""

from vaelab.data import digits, synthetic  # noqa: F401  (registration)
from vaelab.data.base import DATASETS, Split, candidate_dirs
from vaelab.data.pipeline import load_arrays, load_split, make_dataset

__all__ = ["DATASETS", "Split", "candidate_dirs", "load_arrays", "load_split", "make_dataset"]
