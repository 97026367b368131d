"""The explorer's state: a model, its encoded test set, the PCA basis and attribute vectors of the codes.

Everything heavy happens once in `Explorer.build`; requests only decode a few latents. The maths is
`vaelab.analysis` (PCA, attribute vectors, straight paths), the model's own `decode`, and samples drawn
through `vaelab.priors` (the run's newest fitted prior, else the model's own), as the report draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab.analysis import arithmetic, embedding, paths


@dataclass
class Explorer:
    """A trained model with its encoded test set. Build it with `from_run_dir` or `build`."""

    model: object  # a vaelab BaseAutoencoder
    images: np.ndarray  # (N, H, W, C) float32 in [0, 1]
    z: np.ndarray  # (N, D) z_mean of the test images
    split: object  # the vaelab.data Split the images came from: labels, their names, the dataset name
    name: str = "run"
    prior: object = None  # the vaelab.priors Prior samples are drawn from (None: the model's own)
    mean: np.ndarray = field(init=False)  # PCA of z: the page's 2-D scatter and its sliders
    components: np.ndarray = field(init=False)
    std: np.ndarray = field(init=False)
    coords: np.ndarray = field(init=False)  # (N, D) z in the PCA basis

    def __post_init__(self):
        if self.prior is None:
            from vaelab.priors import PRIORS, own_prior

            self.prior = PRIORS.get(own_prior())(self.model.latent_dim)
        self.mean, self.components, self.std = embedding.pca_basis(self.z)
        self.coords = (self.z - self.mean) @ self.components.T

    @classmethod
    def build(cls, model, images: np.ndarray, split, name: str = "run", prior=None) -> Explorer:
        """Encodes `images` (N, H, W, C) in [0, 1] once; `split` supplies labels and their names."""
        if len(images) == 0:
            raise ValueError("explore: expected at least one test image, received 0")
        if split.labels is not None and len(split.labels) != len(images):
            raise ValueError(f"explore: expected one label per test image ({len(images)}), "
                             f"received {len(split.labels)}")
        z_mean, _ = model.encode(images)
        return cls(model=model, images=images, z=z_mean.astype("float32"), split=split, name=name, prior=prior)

    @classmethod
    def from_run_dir(cls, path: str | Path, limit: int | None = 2000) -> Explorer:
        """Loads a run's model and its test split (first `limit` images) and encodes them."""
        from vaelab.data import load_arrays
        from vaelab.priors import resolve
        from vaelab.runs import load_run

        if limit is not None and limit < 1:
            raise ValueError(f"limit: expected a positive number of test images, received {limit}")
        run = load_run(path)
        images, split = load_arrays(run.config.data, "test", limit=limit, fallback="train")
        prior = resolve(run.path, "auto", run.model.latent_dim, run.model_hash)  # the newest fitted, else the model's
        return cls.build(run.model, images, split, name=Path(path).resolve().name, prior=prior)

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[1])

    @property
    def labels(self) -> np.ndarray | None:
        return self.split.labels  # (N,) class ids or (N, A) {0, 1} attributes

    @property
    def label_names(self) -> list[str] | None:
        return self.split.label_names

    def decode(self, z: np.ndarray) -> np.ndarray:
        """latents (B, D) -> images (B, H, W, C) in [0, 1]: the model's own `decode`."""
        return self.model.decode(z)

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
        """`steps` images decoded along the straight line from latent a to latent b (both ends included)."""
        return self.model.decode(paths.lerp(a, b, steps))

    def sample(self, n: int, std: float, seed: int) -> np.ndarray:
        """n images decoded from draws of `prior` (`prior_label` says which), reproducible by seed."""
        from vaelab.priors import decode_samples

        return decode_samples(self.model, self.prior, n, seed=seed, std=std)

    @property
    def prior_label(self) -> str:
        from vaelab.priors import label

        return label(self.model, self.prior)

    def attributes(self) -> dict | None:
        """Feature arithmetic for (N, A) attribute labels: names, counts and vectors (A, D), else None.

        A vector is null when no test image, or every one, has the attribute (`attribute_vectors` NaN).
        """
        if not self.split.is_attributes:
            return None
        attrs, names = arithmetic.as_attributes(self.labels, self.label_names)  # (N, A)
        vectors = arithmetic.attribute_vectors(self.z, attrs).astype(float).round(5)  # (A, D), NaN rows
        return {"names": names, "counts": attrs.sum(axis=0).tolist(),
                "vectors": [None if np.isnan(v).any() else v.tolist() for v in vectors]}

    def info(self) -> dict:
        """What the page needs once: shapes, label names, the PCA basis and attribute vectors."""
        return {
            "name": self.name,
            "dataset": self.split.name,
            "kind": getattr(self.model, "kind", "?"),
            "latent_dim": self.latent_dim,
            "prior": self.prior_label,  # what /api/samples.png draws from
            "image_shape": list(self.images.shape[1:]),
            "count": len(self.z),
            "label_names": list(self.label_names) if self.label_names is not None else None,
            "is_attributes": self.split.is_attributes,
            "pca": {"mean": self.mean.round(6).tolist(), "components": self.components.round(6).tolist(),
                    "std": self.std.round(6).tolist()},
            "attributes": self.attributes(),
        }

    def points(self) -> dict:
        """The scatter: the first two PCA coordinates of every test image, and its label(s)."""
        xy = np.zeros((len(self.z), 2))
        xy[:, : min(2, self.latent_dim)] = self.coords[:, :2]
        labels = None if self.labels is None else self.labels.astype(int).tolist()
        return {"xy": xy.round(4).tolist(), "labels": labels}

    def point(self, i: int) -> dict:
        """One test image: its z, its full PCA coordinates and its label(s)."""
        label = None if self.labels is None else np.asarray(self.labels[i]).astype(int).tolist()
        return {"index": i, "z": self.z[i].astype(float).round(6).tolist(),
                "coords": self.coords[i].round(6).tolist(), "label": label}
