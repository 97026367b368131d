"""Feature arithmetic in latent space, scored by a classifier trained on the data's own labels.

An attribute vector is the mean code of images with the attribute minus the mean code of those
without (CelebA's 40 attributes; for class labels, "class k" vs "any other class"). Adding it to a
code should add the attribute to the decoded image. Rather than only showing that, we measure it:
a small pixel classifier (scikit-learn logistic regression on block-averaged pixels) trained on the
labels rates decoded images before and after adding the vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def as_attributes(labels, label_names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Labels as (N, A) {0, 1} attributes plus their names; class ids (N,) become one-hot columns."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        attrs = (labels > 0).astype("int64")
        names = list(label_names) if label_names else [f"attr_{i}" for i in range(attrs.shape[1])]
    elif labels.ndim == 1:
        k = max(int(labels.max()) + 1, len(label_names or []))  # a test set may lack the last classes
        attrs = np.eye(k, dtype="int64")[labels.astype("int64")]  # (N, K)
        names = list(label_names) if label_names else [str(i) for i in range(k)]
    else:
        raise ValueError(f"labels: expected (N,) class ids or (N, A) attributes, received {labels.shape}")
    if len(names) != attrs.shape[1]:
        raise ValueError(f"label_names: expected {attrs.shape[1]} names, received {len(names)}")
    return attrs, names


def attribute_vectors(z, attrs) -> np.ndarray:
    """(A, D): mean z of the images with each attribute minus mean z of those without.

    An attribute that no image (or every image) has gets a row of NaN.
    """
    z, attrs = np.asarray(z, "float64"), np.asarray(attrs).astype(bool)
    if attrs.ndim != 2 or len(attrs) != len(z):
        raise ValueError(f"attrs: expected ({len(z)}, A) flags, received shape {attrs.shape}")
    out = np.full((attrs.shape[1], z.shape[1]), np.nan)
    for a in range(attrs.shape[1]):
        pos, neg = attrs[:, a], ~attrs[:, a]
        if pos.any() and neg.any():
            out[a] = z[pos].mean(axis=0) - z[neg].mean(axis=0)
    return out.astype("float32")


def combine_vectors(vectors, names: list[str], weights: dict[str, float]) -> np.ndarray:
    """(D,) weighted sum of attribute vectors, e.g. {"Smiling": 1, "Eyeglasses": 1, "Blond_Hair": -1}."""
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; choose from {names}")
    return sum(w * np.asarray(vectors)[names.index(n)] for n, w in weights.items())


def pixel_features(images, max_side: int = 16) -> np.ndarray:
    """(N, H, W, C) -> (N, h*w*C) block-averaged pixels, h, w <= max_side (a cheap classifier input)."""
    images = np.asarray(images, "float32")
    n, h, w, c = images.shape
    f = max(1, -(-max(h, w) // max_side))  # block size (ceil)
    h2, w2 = h // f, w // f
    x = images[:, : h2 * f, : w2 * f].reshape(n, h2, f, w2, f, c).mean(axis=(2, 4))  # (N, h2, w2, C)
    return x.reshape(n, -1)


@dataclass
class AttributeClassifier:
    """One logistic regression per attribute on `pixel_features`; `accuracy` is on a held-out quarter."""

    names: list[str]
    max_side: int = 16
    models: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"logistic regression on <={self.max_side}x{self.max_side} pixels"

    def predict_proba(self, images, name: str) -> np.ndarray:
        """(N,) probability that each image shows attribute `name`."""
        if name not in self.models:
            raise ValueError(f"no classifier for attribute {name!r}; choose from {sorted(self.models)}")
        return self.models[name].predict_proba(pixel_features(images, self.max_side))[:, 1]


def fit_attribute_classifier(images, attrs, names: list[str], attributes: list[str] | None = None,
                             max_side: int = 16, seed: int = 0) -> AttributeClassifier:
    """Trains a binary classifier per attribute (all when `attributes` is None) on images with labels."""
    from sklearn.linear_model import LogisticRegression

    attributes = list(names) if attributes is None else list(attributes)
    unknown = sorted(set(attributes) - set(names))
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; choose from {names}")
    x = pixel_features(images, max_side)  # (N, F)
    order = np.random.default_rng(seed).permutation(len(x))
    n_fit = max(1, int(0.75 * len(x)))
    fit_idx, val_idx = order[:n_fit], order[n_fit:]
    clf = AttributeClassifier(names=attributes, max_side=max_side)
    for name in attributes:
        y = np.asarray(attrs)[:, names.index(name)]
        if len(np.unique(y[fit_idx])) < 2:
            raise ValueError(f"attribute {name!r}: need images with and without it, received only {y[0]}")
        model = LogisticRegression(C=0.1, max_iter=300).fit(x[fit_idx], y[fit_idx])
        clf.models[name] = model
        clf.accuracy[name] = float(model.score(x[val_idx], y[val_idx])) if len(val_idx) else float("nan")
    return clf


def score_shift(classifier: AttributeClassifier, before, after, name: str) -> dict:
    """Mean predicted probability of `name` on images before and after an edit, and the shift."""
    p0 = float(np.mean(classifier.predict_proba(before, name)))
    p1 = float(np.mean(classifier.predict_proba(after, name)))
    return {"p_before": p0, "p_after": p1, "shift": p1 - p0}


def attribute_edit(model, images, attrs, names: list[str], name: str, vectors, factors=(0.0, 1.0, 2.0),
                   n: int = 8) -> tuple[np.ndarray, np.ndarray, dict[float, np.ndarray]]:
    """Adds factor * vector[name] to the codes of up to n images *without* the attribute.

    Returns:
        (index of the chosen images (n,), originals (n, H, W, C), {factor: decoded (n, H, W, C)}).
        Factor 0 is the plain (deterministic) reconstruction.
    """
    a = names.index(name)
    idx = np.flatnonzero(np.asarray(attrs)[:, a] == 0)[:n]
    if len(idx) == 0:
        raise ValueError(f"attribute {name!r}: every image has it; nothing to add it to")
    z_mean, _ = model.encode(images[idx])  # (n, D)
    v = np.asarray(vectors)[a]  # (D,)
    return idx, images[idx], {float(f): model.decode(z_mean + f * v) for f in factors}
