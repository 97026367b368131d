"""Feature extractors for Fréchet distances.

- `ClassifierFeatures`: a small CNN trained for a few seconds on the dataset's own labels (offline);
  features are its penultimate layer. Cached as `<run>/evaluation/feature_classifier.keras`.
  The distance it gives is comparable only between models evaluated with the same classifier file.
- The standard FID network (InceptionV3, TF FID graph) lives in `inception.py` (optional extra `fid`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np

from vaelab import saving
from vaelab.atomic import save_model_atomic
from vaelab.optimizers import FusedAdam

CLASSIFIER_FILE = "feature_classifier.keras"


class FeatureUnavailable(RuntimeError):
    """A feature extractor cannot be built here (no labels, no weights offline, ...)."""


def build_classifier(image_shape, n_outputs: int, multi_label: bool, width: int = 32) -> keras.Model:
    """Conv(w, s2) -> Conv(2w, s2) -> Dense(128, name="features") -> softmax/sigmoid head."""
    x = keras.Input(shape=tuple(image_shape), name="image")  # (B, H, W, C)
    h = keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
    h = keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h) if min(image_shape[:2]) > 32 else keras.layers.Flatten()(h)
    h = keras.layers.Dense(128, activation="relu", name="features")(h)  # (B, 128)
    out = keras.layers.Dense(n_outputs, activation="sigmoid" if multi_label else "softmax", name="head")(h)
    return keras.Model(x, out, name="feature_classifier")


def train_classifier(images: np.ndarray, labels: np.ndarray, epochs: int = 2, seed: int = 0,
                     max_images: int = 20_000) -> keras.Model:
    """Fits `build_classifier` on (images (N, H, W, C) in [0, 1], labels (N,) ids or (N, A) {0, 1})."""
    if labels is None:
        raise FeatureUnavailable("the training split has no labels to train a feature classifier on")
    images, labels = images[:max_images], np.asarray(labels[:max_images])
    multi = labels.ndim == 2
    n_out = labels.shape[1] if multi else int(labels.max()) + 1
    keras.utils.set_random_seed(seed)
    model = build_classifier(images.shape[1:], n_out, multi)
    loss = "binary_crossentropy" if multi else "sparse_categorical_crossentropy"
    model.compile(optimizer=FusedAdam(2e-3), loss=loss, metrics=["accuracy"])
    y = labels.astype("float32" if multi else "int64")
    model.fit(images, y, batch_size=128, epochs=epochs, verbose=0)
    return model


class ClassifierFeatures:
    """Penultimate-layer features of a dataset classifier, trained once and cached in `cache_dir`."""

    def __init__(self, classifier: keras.Model):
        self.classifier = classifier
        self.extractor = keras.Model(classifier.input, classifier.get_layer("features").output)

    @classmethod
    def load_or_train(cls, cache_dir: Path, train_images, train_labels, seed: int = 0) -> ClassifierFeatures:
        """The cached classifier, else one trained now and cached. The cache is derived data: a damaged file,
        or one made for other images (another shape), is trained again with one warning."""
        f = Path(cache_dir) / CLASSIFIER_FILE
        if f.is_file():
            try:
                model = saving.load_model(f, compile=False)
                shape = tuple(model.input_shape[1:])
                if shape != tuple(np.shape(train_images)[1:]):
                    raise ValueError(f"made for images of shape {shape}, not {tuple(np.shape(train_images)[1:])}")
                return cls(model)
            except Exception as e:  # noqa: BLE001  (Keras raises many types for a damaged .keras file)
                warnings.warn(f"{f}: damaged or out-of-date feature classifier cache "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:160]}); training it again",
                              stacklevel=2)
        model = train_classifier(train_images, train_labels, seed=seed)
        f.parent.mkdir(parents=True, exist_ok=True)
        save_model_atomic(model, f)
        return cls(model)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.extractor.predict(np.asarray(images, "float32"), batch_size=500, verbose=0)  # (N, 128)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        p = self.classifier.predict(np.asarray(images, "float32"), batch_size=500, verbose=0)
        if np.asarray(labels).ndim == 2:
            return float(np.mean((p > 0.5) == (labels > 0.5)))
        return float(np.mean(np.argmax(p, axis=1) == labels))

