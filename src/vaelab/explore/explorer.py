"""The explorer's state: a model, its encoded test set, a PCA basis, attribute vectors, fast decoding.

Everything heavy happens once in `Explorer.build`; requests only decode a few latents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab.explore.imaging import to_uint8


def pca_basis(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean (D,), components (D, D) rows by decreasing variance, std (D,) along each) of latents (N, D)."""
    mean = z.mean(axis=0)
    _, s, vt = np.linalg.svd(z - mean, full_matrices=True)  # vt: (D, D) even when N < D
    std = np.zeros(z.shape[1])
    std[: len(s)] = s / np.sqrt(max(len(z) - 1, 1))
    return mean, vt, std


def attribute_vectors(z: np.ndarray, attributes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Feature arithmetic (A, D): mean z with attribute a minus mean z without (0 if either side is empty).

    Also returns the count of examples with each attribute (A,).
    """
    has = attributes.astype(bool)  # (N, A)
    counts = has.sum(axis=0)
    vectors = np.zeros((has.shape[1], z.shape[1]), "float32")
    for a in range(has.shape[1]):
        if 0 < counts[a] < len(z):
            vectors[a] = z[has[:, a]].mean(axis=0) - z[~has[:, a]].mean(axis=0)
    return vectors, counts


@dataclass
class Explorer:
    """A trained model with its encoded test set. Build it with `from_run_dir` or `build`."""

    model: object  # a vaelab BaseAutoencoder
    images: np.ndarray  # (N, H, W, C) float32 in [0, 1]
    z: np.ndarray  # (N, D) z_mean of the test images
    labels: np.ndarray | None  # (N,) class ids or (N, A) {0, 1} attributes
    label_names: list[str] | None
    name: str = "run"
    dataset: str = ""
    mean: np.ndarray = field(init=False)  # PCA of z: the page's 2-D scatter and its sliders
    components: np.ndarray = field(init=False)
    std: np.ndarray = field(init=False)
    coords: np.ndarray = field(init=False)  # (N, D) z in the PCA basis

    def __post_init__(self):
        import tensorflow as tf

        self.mean, self.components, self.std = pca_basis(self.z.astype("float64"))
        self.coords = (self.z - self.mean) @ self.components.T
        decoder = self.model.decoder
        # One traced graph for every batch size: no retracing, no `predict` overhead.
        self._decode = tf.function(
            lambda z: decoder(z, training=False),
            input_signature=[tf.TensorSpec((None, self.latent_dim), tf.float32)],
        )
        self.decode(np.zeros((1, self.latent_dim), "float32"))  # trace now, not on the first request

    @classmethod
    def build(cls, model, images: np.ndarray, split, name: str = "run") -> Explorer:
        """Encodes `images` (N, H, W, C) in [0, 1] once; `split` supplies labels and their names."""
        if len(images) == 0:
            raise ValueError("explore: expected at least one test image, received 0")
        z_mean, _ = model.encode(images)
        return cls(model=model, images=images, z=z_mean.astype("float32"), labels=split.labels,
                   label_names=split.label_names, name=name, dataset=split.name)

    @classmethod
    def from_run_dir(cls, path: str | Path, limit: int | None = 2000) -> Explorer:
        """Loads a run's model and its test split (first `limit` images) and encodes them."""
        from vaelab.data import load_arrays
        from vaelab.runs import load_run

        if limit is not None and limit < 1:
            raise ValueError(f"limit: expected a positive number of test images, received {limit}")
        run = load_run(path)
        images, split = load_arrays(run.config.data, "test", limit=limit, fallback="train")
        return cls.build(run.model, images, split, name=Path(path).resolve().name)

    @property
    def latent_dim(self) -> int:
        return int(self.z.shape[1])

    @property
    def is_attributes(self) -> bool:
        return self.labels is not None and self.labels.ndim == 2

    def decode(self, z: np.ndarray) -> np.ndarray:
        """latents (B, D) float32 -> uint8 images (B, H, W, C), in one decoder call."""
        return to_uint8(self._decode(np.asarray(z, "float32")).numpy())

    def interpolate(self, a: np.ndarray, b: np.ndarray, steps: int) -> np.ndarray:
        """`steps` images decoded along the straight line from latent a to latent b (both ends included)."""
        t = np.linspace(0.0, 1.0, steps, dtype="float32")[:, None]
        return self.decode((1 - t) * a + t * b)

    def sample(self, n: int, std: float, seed: int) -> np.ndarray:
        """n images decoded from z ~ N(0, std^2 I), reproducible by seed."""
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype("float32") * std
        return self.decode(z)

    def info(self) -> dict:
        """What the page needs once: shapes, label names, the PCA basis and attribute vectors."""
        attributes = None
        if self.is_attributes:
            vectors, counts = attribute_vectors(self.z, self.labels)
            attributes = {"names": list(self.label_names or []), "counts": counts.tolist(),
                          "vectors": vectors.astype(float).round(5).tolist()}
        return {
            "name": self.name,
            "dataset": self.dataset,
            "kind": getattr(self.model, "kind", "?"),
            "latent_dim": self.latent_dim,
            "image_shape": list(self.images.shape[1:]),
            "count": len(self.z),
            "label_names": list(self.label_names) if self.label_names is not None else None,
            "is_attributes": self.is_attributes,
            "pca": {"mean": self.mean.round(6).tolist(), "components": self.components.round(6).tolist(),
                    "std": self.std.round(6).tolist()},
            "attributes": attributes,
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
