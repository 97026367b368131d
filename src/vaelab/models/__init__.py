"""Encoders, decoders and the AE/VAE model classes.

Architectures are registered in `ARCHITECTURES`; each file supplies an encoder trunk (image ->
flat features) and a decoder trunk (z -> pre-activation image). `build_encoder`/`build_decoder`
(in `heads.py`) add the parts every architecture shares: the optional extra Dense layer, the
`z_mean`/`z_log_var` heads, and the output sigmoid.
"""

from vaelab.models import conv, dense  # noqa: F401  (registers the architectures)
from vaelab.models.heads import ARCHITECTURES, build_decoder, build_encoder

__all__ = ["ARCHITECTURES", "build_decoder", "build_encoder"]
