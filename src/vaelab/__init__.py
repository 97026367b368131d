"""vaelab: build, train and study Autoencoders and Variational Autoencoders (TensorFlow 2 / Keras 3)."""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TF's C++ start-up chatter
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"
