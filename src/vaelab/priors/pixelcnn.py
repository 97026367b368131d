"""A PixelCNN over a discrete-code model's code grid (van den Oord et al. 2017: the VQ-VAE's second stage).

It fits to the model's discrete code grids (`fits_to = "codes"`), not to z_mean, and is part of the model
(`in_model`): fitting trains the model's PixelCNN by maximum likelihood with the encoder fixed, saves
model.keras, and writes prior_pixelcnn.json (what was fitted, and the hash of the saved model). Samples are
drawn by the model (`model.sample`: codes from the PixelCNN, decoded).
"""

from __future__ import annotations

import keras
import numpy as np

from vaelab.priors.base import PRIORS, Prior


@PRIORS.register("pixelcnn", description="a PixelCNN over a discrete-code model's code grid (trained into model.keras)")
class PixelCNNPrior(Prior):
    kind = "pixelcnn"
    fits_to = "codes"
    in_model = True

    @classmethod
    def fit_model(cls, model, inputs: np.ndarray, seed: int = 0, epochs: int = 10, **options) -> Prior:
        if options:
            raise TypeError(f"pixelcnn takes no option {sorted(options)}")
        keras.utils.set_random_seed(seed)
        history = model.fit_prior(inputs, epochs=epochs)  # codes (N, h, w) -> the model's PixelCNN, trained
        return cls(model.latent_dim, {"nll": history["nll"], "epochs": history["epochs"], "codes": history["codes"]})

    def describe(self) -> str:
        epochs = self.info.get("epochs")
        return f"a PixelCNN over the code grid ({epochs} epochs)" if epochs else "a PixelCNN over the code grid"
