"""Run configuration: dataclasses with defaults in code, YAML files as thin overrides.

A YAML file lists only what differs from the defaults; `--set section.key=value` overrides
further. Unknown keys and wrong types are rejected with the key, the expected type and the
received value (PyTorch-VAE's `**kwargs` silently swallowed typos; we don't).

Example:
    >>> cfg = load_config("configs/mnist_vae.yaml", ["train.epochs=3", "model.latent_dim=8"])
    >>> cfg.model.latent_dim
    8
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value or key is invalid."""


@dataclass
class DataConfig:
    name: str = "digits"
    data_dir: str | None = None  # else $VAELAB_DATA_DIR, then the Keras cache, then download
    image_size: int | None = None  # resize to (S, S); CelebA default 64
    crop: int | None = None  # CelebA centre crop (square side), default 140 for 178x218 images
    binarize: str = "none"  # none | static | dynamic (re-sampled every epoch)
    train_limit: int | None = None  # use only the first N training images (quick runs)
    test_limit: int | None = None
    validation: bool = True  # evaluate on the test split after each epoch
    cache: str | None = None  # directory for an on-disk cache of preprocessed images ("" = memory)
    shuffle_buffer: int = 10_000
    verify_checksums: bool = True
    autotune: str = "auto"  # tf.data autotuner: auto (off on CPU-only machines, see docs/speed.md) | on | off


@dataclass
class ModelConfig:
    kind: str = "vae"  # a name in vaelab.models.kinds.MODEL_KINDS: vae | ae | ...
    architecture: str = "conv"  # conv | dense
    latent_dim: int = 2
    filters: list[int] = field(default_factory=lambda: [32, 64])  # conv: one entry per layer
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 3])
    strides: list[int] = field(default_factory=lambda: [2, 2])
    hidden_units: list[int] = field(default_factory=lambda: [256])  # dense: one entry per layer
    activation: str = "relu"  # relu | leaky_relu | selu | elu | gelu | tanh
    batch_norm: bool = False
    dropout: float = 0.0
    extra_dense: int = 0  # units of a Dense layer between Flatten and z_mean/z_log_var (0 = none)
    likelihood: str = "bernoulli"  # bernoulli | gaussian | continuous_bernoulli (vaelab.likelihoods)
    z_log_var_clip: float | None = None  # clamp z_log_var to [-c, c] against exp() overflow
    # VAE families (docs/models.md); ignored by kinds that do not use them
    iw_samples: int = 1  # iwae/hvae/vamp: importance samples k of the training bound (k = 1: the ELBO)
    top_latent_dim: int = 2  # hvae: size of the second stochastic layer z2 (latent_dim is z1)
    top_hidden_units: list[int] = field(default_factory=lambda: [64])  # hvae: MLP layers between z1 and z2
    pseudo_inputs: int = 100  # vamp: number K of learned pseudo-inputs of the VampPrior

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "model") -> ModelConfig:
        """Validated from plain values (unknown keys and wrong types name the field)."""
        return _from_dict(cls, d or {}, where)


@dataclass
class LossConfig:
    strategy: str = "train_step"  # encoder_layer | multi_output | model_add_loss | train_step
    beta: float = 1.0  # KL weight (final value when a schedule is used)
    beta_schedule: str = "constant"  # constant | linear_warmup | cyclical
    warmup_epochs: int = 10  # linear_warmup: epochs from beta_start to beta
    beta_start: float = 0.0
    cycle_epochs: int = 10  # cyclical: length of one cycle
    cycle_ratio: float = 0.5  # cyclical: share of a cycle spent increasing beta
    tc_alpha: float = 1.0  # tcvae: weight of the index-code mutual information (beta weights the total correlation)
    tc_gamma: float = 1.0  # tcvae: weight of the dimension-wise KL


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    lr_schedule: str = "constant"  # constant | cosine
    clipnorm: float | None = None
    seed: int = 0
    steps_per_epoch: int | None = None
    jit_compile: str = "auto"  # auto | on | off (auto = off on CPU, on on GPU; see docs/speed.md)
    precision: str = "float32"  # float32 | mixed_bfloat16 | mixed_float16 (heads, output and loss stay float32)
    early_stopping_patience: int | None = None
    distribute: str = "none"  # none | mirrored | multi_worker
    output_dir: str = "runs"
    run_name: str | None = None
    overwrite: bool = False
    verbose: int = 1
    report: bool = True


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "config") -> RunConfig:
        return _from_dict(cls, d or {}, where)


# ---------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp`; returns it (ints are accepted for floats)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, received {value!r}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list of {_type_name(item_tp)}, received {value!r}")
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, received {value!r} ({type(value).__name__})")


def _from_dict(cls: type, d: dict[str, Any], where: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping, received {d!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; choose from {names}")
    kwargs = {}
    for name, value in d.items():
        tp = hints[name]
        key = f"{where}.{name}" if where != "config" else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _from_dict(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """"train.epochs=3" -> (["train", "epochs"], 3). Values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2 or not all(path):
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.epochs=5")
    return path, yaml.safe_load(raw) if raw.strip() else None


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Applies dotted overrides to a plain dict (validation happens in `RunConfig.from_dict`)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    sections = [f.name for f in dataclasses.fields(RunConfig)]
    for text in overrides:
        (section, key), value = parse_override(text)
        if section not in sections:
            raise ConfigError(f"--set {text!r}: unknown section {section!r}; choose from {sections}")
        out.setdefault(section, {})[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's sections as a plain dict (not validated yet)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, received {type(d).__name__}")
    return d


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                base: dict[str, Any] | None = None) -> RunConfig:
    """Defaults <- `base` (a preset) <- YAML file (if any) <- `section.key=value` overrides; validated."""
    d: dict[str, Any] = dict(base or {})
    if path is not None:
        loaded = read_yaml(path)
        d = {s: {**(d.get(s) or {}), **(loaded.get(s) or {})} for s in {*d, *loaded}}
    try:
        return RunConfig.from_dict(apply_overrides(d, overrides or []))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from None


def dump_config(cfg: RunConfig) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
