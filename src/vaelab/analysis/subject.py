"""What the figures are drawn from: a model plus labelled test images, loaded from a run directory."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from vaelab.analysis import arithmetic

PREFERRED_ATTRIBUTES = ("Smiling", "Eyeglasses", "Blond_Hair")


@dataclass
class Subject:
    """A model plus the labelled test images the figures are drawn from."""

    model: object  # a vaelab BaseAutoencoder
    images: np.ndarray  # (N, H, W, C) in [0, 1]
    labels: np.ndarray | None = None  # (N,) class ids or (N, A) attributes
    label_names: list[str] | None = None
    train_images: np.ndarray | None = None  # labelled images for the attribute classifier (else `images`)
    train_labels: np.ndarray | None = None
    run_dir: Path | None = None  # where fitted priors live (None: only the standard prior)
    model_hash: str | None = None  # of the model file (runs.file_hash): what derived results record
    ground_truth: object = None  # the data.Split when its factors are known (`has_factors`: dsprites, shapes3d)

    @cached_property
    def codes(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(z_mean (N, D), z_log_var (N, D) or None for an AE), deterministic."""
        return self.model.encode(self.images)

    @property
    def has_classes(self) -> bool:
        return self.labels is not None and np.ndim(self.labels) == 1

    def colour_labels(self) -> tuple[np.ndarray | None, list[str] | None, str]:
        """Per-point colours for scatters: class ids, one preferred attribute (0/1), or none."""
        if self.labels is None:
            return None, None, ""
        if self.has_classes:
            return self.labels, self.label_names, "class"
        attrs, names = arithmetic.as_attributes(self.labels, self.label_names)
        name = next((a for a in PREFERRED_ATTRIBUTES if a in names), names[0])
        return attrs[:, names.index(name)], [f"no {name}", name], name


def load_subject(run_dir: str | Path, model=None, limit: int | None = 2000,
                 classifier_limit: int | None = 2000) -> Subject:
    """The run's model (loaded unless given) and up to `limit` test images with labels.

    Labelled training images (up to `classifier_limit`) are loaded too, for the attribute classifier
    that scores feature arithmetic; 0 skips them (the classifier then uses the test images).
    """
    from vaelab import runs
    from vaelab.data import load_arrays

    if model is None:
        run = runs.load_run(run_dir)
        cfg, model, digest = run.config, run.model, run.model_hash
    else:  # just trained and saved: the run's current model file
        run, cfg, digest = None, runs.read_run_config(run_dir), runs.model_hash(run_dir)
    images, split = load_arrays(cfg.data, "test", limit=limit, fallback="train")
    if run is not None:
        run.check_images(images)
    subject = Subject(model, images, split.labels, split.label_names, run_dir=Path(run_dir), model_hash=digest,
                      ground_truth=split if getattr(split, "has_factors", False) else None)
    if split.labels is not None and classifier_limit != 0:
        train_images, train_split = load_arrays(cfg.data, "train", limit=classifier_limit)
        subject.train_images, subject.train_labels = train_images, train_split.labels
    return subject
