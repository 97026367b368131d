"""What a run records about the machine it ran on (env.json, `vaelab env`): versions and devices."""

from __future__ import annotations

import os
import platform
import sys


def environment() -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "backend": keras.backend.backend(),
        "devices": [f"{d.device_type}:{d.name}" for d in tf.config.list_logical_devices()],
        "cpu_count": os.cpu_count(),
    }
