"""vaelab.optimizers: Adam and AdamW through TensorFlow's fused update give Keras's own numbers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from vaelab import optimizers


def _train(optimizer, steps: int = 25) -> list[np.ndarray]:
    """A small dense net (one kernel sees sparse-ish gradients: ReLU) trained `steps` steps from a fixed init."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")
    for _ in range(steps):
        model.train_on_batch(x, y)
    return [w.copy() for w in model.get_weights()] + [np.asarray(v) for v in optimizer.variables[1:]]


@pytest.mark.parametrize(("name", "config"), [
    ("adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-4, "clipnorm": 0.5}),
    ("adam", {"learning_rate": keras.optimizers.schedules.CosineDecay(0.01, 25), "use_ema": True,
              "ema_momentum": 0.9}),
    ("adamw", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("adam", {"learning_rate": 0.01, "amsgrad": True}),  # Keras's own update
])
def test_fused_update_equals_keras_adam(name, config):
    """Weights, moments and (with use_ema) the averages after 25 training steps equal Keras's Adam/AdamW up to
    float32 rounding carried through the steps (<= 2e-5, against moves of up to 0.25); the fused class is Keras's
    (same slots, so checkpoints restore into either)."""
    fused = optimizers.get(name, **config)
    reference = keras.optimizers.get({"class_name": name, "config": config})
    assert isinstance(fused, type(reference)) and type(fused) is not type(reference)
    got, want = _train(fused), _train(reference)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=2e-5)
    assert not np.allclose(want[0], _train(keras.optimizers.SGD(0.01))[0])  # the comparison can fail


def test_three_updates_equal_the_closed_form():
    """Adam's update written out in float64: m, v, bias-corrected step size, epsilon outside the square root."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(5, 4)).astype("float32")
    grads = [rng.normal(scale=s, size=(5, 4)).astype("float32") for s in (1.0, 1e-3, 10.0)]
    lr, b1, b2, eps = 0.05, 0.8, 0.95, 1e-3
    w, m, v = w0.astype("float64"), np.zeros((5, 4)), np.zeros((5, 4))
    for t, g in enumerate(grads, 1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g.astype("float64") ** 2
        w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    for opt in (optimizers.get("adam", learning_rate=lr, beta_1=b1, beta_2=b2, epsilon=eps),
                keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps)):
        var = keras.Variable(w0)
        for g in grads:
            opt.apply([keras.ops.convert_to_tensor(g)], [var])
        np.testing.assert_allclose(np.asarray(var), w, rtol=1e-6, atol=1e-6)
    assert not np.allclose(w, w0, atol=1e-2)


def test_other_names_are_keras_optimizers_and_the_fused_ones_serialise():
    assert type(optimizers.get("sgd", learning_rate=0.1)) is keras.optimizers.SGD
    assert type(optimizers.get("RMSprop")) is keras.optimizers.RMSprop
    adam = optimizers.get("adam", learning_rate=0.003, beta_1=0.8)
    again = keras.optimizers.deserialize(keras.optimizers.serialize(adam))
    assert type(again) is optimizers.FusedAdam
    assert again.get_config() == adam.get_config()
    with pytest.raises(ValueError, match="nope"):
        optimizers.get("nope")
