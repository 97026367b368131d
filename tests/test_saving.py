"""vaelab.saving: Keras's attribute-skip cache warmed, so a save builds no throw-away reference objects and
writes what Keras writes without it."""

from __future__ import annotations

import threading
import zipfile

import keras
import numpy as np
from helpers import cool_keras_saving
from keras.src.backend.common import global_state

from vaelab import saving


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)  # optimizer slots exist
    return model


def _layers_built_while(fn) -> int:
    """How many plain `Layer`s (Keras's reference objects: a model's layers are subclasses) `fn` built."""
    built = []
    real = keras.layers.Layer.__init__

    def counting(self, *a, **k):
        if type(self) is keras.layers.Layer:
            built.append(self)
        real(self, *a, **k)

    keras.layers.Layer.__init__ = counting
    try:
        fn()
    finally:
        keras.layers.Layer.__init__ = real
    return len(built)


def test_a_warm_save_builds_no_reference_layers_and_writes_the_same_model(tmp_path):
    model = _model()
    cool_keras_saving()
    cold = _layers_built_while(lambda: model.save(tmp_path / "cold.keras"))
    assert cold > 0  # Keras alone: a reference Layer for each object it walks (its cache is never read)
    saving.warm()  # builds each reference object once, for this thread
    assert _layers_built_while(lambda: saving.save(model, tmp_path / "warm.keras")) == 0
    with zipfile.ZipFile(tmp_path / "cold.keras") as a, zipfile.ZipFile(tmp_path / "warm.keras") as b:
        assert a.read("config.json") == b.read("config.json")
    for f in ("cold.keras", "warm.keras"):
        loaded = saving.load_model(tmp_path / f)
        for w, v in zip(loaded.weights + loaded.optimizer.variables, model.weights + model.optimizer.variables,
                        strict=True):
            np.testing.assert_array_equal(w.numpy(), v.numpy())


def test_warm_is_per_thread_and_refills_after_clear_session(tmp_path, monkeypatch):
    model = _model()
    saving.save(model, tmp_path / "a.keras")
    assert global_state.get_global_attribute("saving_attr_skiplist_Layer")
    # what keras.backend.clear_session() does to Keras's state (without resetting the rest of this test process)
    monkeypatch.setattr(global_state, "GLOBAL_STATE_TRACKER", threading.local())
    assert global_state.get_global_attribute("saving_attr_skiplist_Layer") is None
    saving.save(model, tmp_path / "a.keras")
    assert global_state.get_global_attribute("saving_attr_skiplist_Layer")  # filled again
    counts = {}

    def load(name, first):
        first()
        counts[name] = _layers_built_while(lambda: keras.saving.load_model(tmp_path / "a.keras"))

    for name, first in (("cold", lambda: None), ("warm", saving.warm)):  # each in a thread of its own
        thread = threading.Thread(target=load, args=(name, first))
        thread.start()
        thread.join()
    assert counts["cold"] > 0 and counts["warm"] == 0, counts
