"""Model kinds (families) registered in `MODEL_KINDS`; `build_model(cfg, image_shape)` is one lookup.

Each registered object is a model class whose class attributes say what the family can do
(`strategies`, `has_posterior`, `has_likelihood_bound`, `has_prior`, `standard_normal_prior`) and whose
`model_class(strategy)` picks the concrete class (the plain VAE has one per KL strategy).

Adding a family = one file defining a class registered in `MODEL_KINDS` (models/registry.py) + its name in
the import line below.
"""

from __future__ import annotations

from dataclasses import replace

import vaelab.models.strategies  # noqa: F401  (the VAE's strategy classes)
from vaelab.config import FamilySetting, RunConfig, settings_dataclass_fields
from vaelab.models import (  # noqa: F401  (the families register themselves)
    annealed,
    cvae,
    dipvae,
    factorvae,
    hvae,
    iwae,
    rae,
    tcvae,
    vamp,
    vqvae,
)
from vaelab.models.autoencoder import BaseAutoencoder
from vaelab.models.registry import MODEL_KINDS

__all__ = ["MODEL_KINDS", "build_model", "check_config", "family_settings", "model_class"]


def model_class(cfg: RunConfig) -> type[BaseAutoencoder]:
    """The class `build_model` would use; raises ValueError (one line) on an unknown kind or strategy, or on
    model settings the family cannot use (e.g. `model.iw_samples: 0`). Cheap: builds nothing."""
    cls = MODEL_KINDS.get(cfg.model.kind).model_class(cfg.loss.strategy)
    cls.check_config(cfg.model)
    return cls


def family_settings() -> dict[str, dict[str, FamilySetting]]:
    """{section: {key: FamilySetting}}: every registered family's own settings (its `settings` dataclasses), which
    the config accepts in that section (config.FAMILY_SETTINGS)."""
    out: dict[str, dict[str, FamilySetting]] = {}
    for kind in MODEL_KINDS.names():
        for section, dc in MODEL_KINDS.get(kind).settings.items():
            for s in settings_dataclass_fields(dc, kind):
                known = out.setdefault(section, {}).get(s.name)
                if known is not None and (known.type, known.default()) != (s.type, s.default()):
                    raise TypeError(f"{section}.{s.name}: families {known.kinds} and {kind!r} declare it differently")
                out[section][s.name] = s if known is None else replace(known, kinds=(*known.kinds, kind))
    return out


def check_config(cfg: RunConfig) -> None:
    """The models' rules for a RunConfig (config.RULES): the architecture's settings, the family's own, and
    whether the family supports `loss.strategy`; ValueError naming the field."""
    from vaelab.models.heads import ARCHITECTURES

    ARCHITECTURES.get(cfg.model.architecture).check(cfg.model)
    model_class(cfg)


def build_model(cfg: RunConfig, image_shape, n_train: int | None = None, label_names: list[str] | None = None,
                attributes: bool = False) -> BaseAutoencoder:
    """The model of `model.kind` (and `loss.strategy` where the family has several), built, ready to compile.

    `n_train` (the training-set size) is used by families whose objective needs it (beta-TCVAE);
    `label_names` and `attributes` (the split's labels: class names, or attribute names when they are
    0/1 vectors) by families that condition on labels (`needs_labels`).
    """
    cls = model_class(cfg)
    extra = {"label_names": label_names, "attributes": attributes} if cls.needs_labels else {}
    model = cls.from_run_config(cfg, image_shape, n_train=n_train, **extra)
    model.build((None, *model.image_shape))  # symbolic call: builds every sublayer, no data needed
    return model

