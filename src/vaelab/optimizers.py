"""Keras optimizers by name (`train.optimizer`), with Adam's per-variable update done by TensorFlow's fused kernel.

`get(name, **config)` is `keras.optimizers.get` except that `adam` and `adamw` come back as `FusedAdam` /
`FusedAdamW`: Keras's own classes (same arguments, slots, serialisation, `use_ema`, `clipnorm`, AdamW's
decoupled weight decay, resume state) whose `update_step` is one `ResourceApplyAdam` op per variable:

    m <- m + (g - m)(1 - beta_1);  v <- v + (g^2 - v)(1 - beta_2)
    w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

the maths of Keras's Adam.update_step, which spells it as ~10 element-wise ops. Fewer ops to trace make every
run start sooner (the optimizer was a third of a small model's train-step trace) and each step launch fewer
kernels (docs/speed.md). `amsgrad=True` and other backends use Keras's update unchanged.
"""

from __future__ import annotations

import keras
from keras import ops

FUSED = {}  # lower-case name -> class, filled by `_fused`


def _fused(base: type) -> type:
    """`base` (Keras's Adam or AdamW) with its update as TensorFlow's ResourceApplyAdam."""

    class Fused(base):
        def update_step(self, gradient, variable, learning_rate):
            if self.amsgrad or keras.backend.backend() != "tensorflow":
                return super().update_step(gradient, variable, learning_rate)
            import tensorflow as tf

            dt = variable.dtype
            step = ops.cast(self.iterations + 1, dt)
            i = self._get_variable_index(variable)
            m, v = self._momentums[i], self._velocities[i]
            if isinstance(gradient, tf.IndexedSlices):  # Keras's ops densify it too
                gradient = tf.convert_to_tensor(gradient)
            beta_1, beta_2 = ops.cast(self.beta_1, dt), ops.cast(self.beta_2, dt)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=m.value.handle, v=v.value.handle,
                beta1_power=ops.power(beta_1, step), beta2_power=ops.power(beta_2, step),
                lr=ops.cast(learning_rate, dt), beta1=beta_1, beta2=beta_2, epsilon=ops.cast(self.epsilon, dt),
                grad=ops.cast(gradient, dt), use_locking=False)

    name = f"Fused{base.__name__}"
    Fused.__name__ = Fused.__qualname__ = name
    Fused.__doc__ = f"Keras's {base.__name__} with TensorFlow's fused Adam update (vaelab.optimizers)."
    cls = keras.saving.register_keras_serializable(package="vaelab", name=name)(Fused)
    FUSED[base.__name__.lower()] = cls
    return cls


FusedAdam = _fused(keras.optimizers.Adam)
FusedAdamW = _fused(keras.optimizers.AdamW)


def get(name: str, **config) -> keras.optimizers.Optimizer:
    """The optimizer `name` (any `keras.optimizers` class name, case-insensitive) built with `config`."""
    cls = FUSED.get(name.lower())
    if cls is not None:
        return cls(**config)
    return keras.optimizers.get({"class_name": name, "config": config})
