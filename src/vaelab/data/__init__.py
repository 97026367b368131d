"""Datasets: registered loaders (`DATASETS`) and the shared tf.data pipeline."""

from vaelab.data import celeba, cifar10, digits, dsprites, folder, mnist, shapes3d, synthetic  # noqa: F401
from vaelab.data.base import DATASETS, Split, candidate_dirs, check_config
from vaelab.data.describe import describe_datasets, format_datasets
from vaelab.data.pipeline import (
    EmptySplitError,
    array_batches,
    evaluation_images,
    load_arrays,
    load_split,
    make_dataset,
)
from vaelab.data.sources import DataFormatError, DataNotFoundError

__all__ = ["DATASETS", "DataFormatError", "DataNotFoundError", "EmptySplitError", "Split", "array_batches",
           "candidate_dirs", "check_config", "describe_datasets", "evaluation_images", "format_datasets",
           "load_arrays", "load_split", "make_dataset"]
