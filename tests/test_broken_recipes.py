"""The textbook KL recipes that break under Keras 3 (seed part III) still break, as docs/kl-loss.md says.

If Keras changes and one of these starts working (or fails differently), this file fails and the
page must be updated.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers, ops

KERAS_TENSOR_ERROR = "A KerasTensor cannot be used as input to a TensorFlow function"


def _encoder_decoder():
    x = keras.Input((6,))
    h = layers.Dense(4, activation="relu")(x)
    z_mean, z_log_var = layers.Dense(2, name="z_mean")(h), layers.Dense(2, name="z_log_var")(h)
    x_hat = layers.Dense(6, activation="sigmoid")(z_mean)
    return x, z_mean, z_log_var, x_hat


DATA = np.random.default_rng(0).random((32, 6)).astype("float32")


def test_recipe_a_loss_closure_over_symbolic_tensors_fails_in_fit():
    x, z_mean, z_log_var, x_hat = _encoder_decoder()

    def vae_loss(y_true, y_pred):  # closes over the encoder's symbolic outputs
        kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
        return keras.losses.binary_crossentropy(y_true, y_pred) + kl

    model = keras.Model(x, x_hat)
    model.compile("adam", loss=vae_loss)
    with pytest.raises(ValueError, match=KERAS_TENSOR_ERROR):
        model.fit(DATA, DATA, epochs=1, verbose=0)


def test_recipe_b_tf_ops_on_symbolic_tensors_fail_at_construction():
    _, z_mean, z_log_var, _ = _encoder_decoder()
    with pytest.raises(ValueError, match=KERAS_TENSOR_ERROR):
        -0.5 * tf.reduce_sum(1 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)


def test_recipe_c_symbolic_model_add_loss_is_not_implemented():
    x, z_mean, z_log_var, x_hat = _encoder_decoder()
    model = keras.Model(x, x_hat)
    kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
    with pytest.raises(NotImplementedError):
        model.add_loss(ops.mean(kl))


def test_recipe_d_kl_layer_on_decoder_capturing_encoder_tensors_fails():
    x, z_mean, z_log_var, x_hat = _encoder_decoder()

    class KLOnDecoder(layers.Layer):  # reads the encoder tensors from Python attributes, not from its inputs
        def call(self, inputs):
            kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)
            self.add_loss(ops.mean(kl))
            return inputs

    with pytest.raises(ValueError, match=r"add_loss\(\)` can only be called from inside `build\(\)` or `call\(\)`"):
        model = keras.Model(x, KLOnDecoder()(x_hat))
        model.compile("adam", loss="binary_crossentropy")
        model.fit(DATA, DATA, epochs=1, verbose=0)


def test_recipe_d_fixed_tensors_passed_as_layer_inputs_work():
    """The repair that Keras 3 allows: pass z_mean/z_log_var *into* the layer (what `encoder_layer` does)."""
    x, z_mean, z_log_var, x_hat = _encoder_decoder()

    class KLOnDecoder(layers.Layer):
        def call(self, inputs):
            out, m, lv = inputs
            self.add_loss(ops.mean(-0.5 * ops.sum(1 + lv - ops.square(m) - ops.exp(lv), axis=-1)))
            return out

    model = keras.Model(x, KLOnDecoder()([x_hat, z_mean, z_log_var]))
    model.compile("adam", loss="binary_crossentropy")
    model.fit(DATA, DATA, epochs=1, verbose=0)
    assert len(model.losses) == 1
