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
import importlib
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from vaelab import yamlio


class ConfigError(ValueError):
    """A configuration value or key is invalid."""


def choice(default: str, registry: str) -> Any:
    """A str field whose value must be a name in `registry` ("module:NAME", imported when checked)."""
    return field(default=default, metadata={"registry": registry})


def bounded(default: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None) -> Any:
    """A numeric field with bounds, checked when the config is loaded (None values are not checked)."""
    return field(default=default, metadata={"gt": gt, "ge": ge, "le": le})


# Families add their own settings to the `model` and `loss` sections: each family class declares them as small
# dataclasses beside its model (`settings = {"model": IWAESettings}`, vaelab.models), found by name here (config is
# the lowest layer and never imports the models). In YAML they sit in the section like any key; in the section
# object they live in `extra` (read as attributes: `cfg.model.iw_samples`), holding the current family's settings.
FAMILY_SETTINGS = "vaelab.models.kinds:family_settings"  # () -> {section: {key: FamilySetting}}


@dataclass(frozen=True)
class FamilySetting:
    """One family setting: its declaring dataclass field, its type and the families (kinds) that use it."""

    name: str
    type: Any
    field: dataclasses.Field
    kinds: tuple[str, ...]

    def default(self) -> Any:
        f = self.field
        return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def family_settings(section: str) -> dict[str, FamilySetting]:
    module, name = FAMILY_SETTINGS.split(":")
    return getattr(importlib.import_module(module), name)().get(section, {})


class Extensible:
    """A section that families extend: their settings are in `extra` and read as attributes."""

    SECTION = "?"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "extra":
            raise AttributeError(name)
        extra = self.__dict__.get("extra") or {}
        if name in extra:
            return extra[name]
        setting = family_settings(self.SECTION).get(name)
        if setting is None:
            raise AttributeError(f"{self.SECTION}.{name}: no such setting")
        return setting.default()  # another family's setting, at its default

    def settle(self, kind: str) -> None:
        """Keeps the settings of family `kind` (filling their defaults) and drops other families' ones (a config
        may name them: they are ignored by kinds that do not use them, as a sweep over kinds needs)."""
        own = {n: s for n, s in family_settings(self.SECTION).items() if kind in s.kinds}
        self.extra = {n: self.extra[n] if n in self.extra else s.default() for n, s in own.items()}

    def flat(self) -> dict[str, Any]:
        """The section as YAML shows it: its fields, then the family's settings."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**_plain(d), **_plain(self.extra)}


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list) else v for k, v in d.items()}


@dataclass
class DataConfig:
    name: str = choice("digits", "vaelab.data:DATASETS")
    data_dir: str | None = None  # else $VAELAB_DATA_DIR, then the Keras cache, then download
    image_size: int | None = bounded(None, ge=4)  # resize to (S, S); CelebA default 64
    crop: int | None = bounded(None, ge=1)  # CelebA centre crop (square side), default 140 for 178x218 images
    binarize: Literal["none", "static", "dynamic"] = "none"  # none | static | dynamic (re-sampled every epoch)
    train_limit: int | None = bounded(None, ge=1)  # use only the first N training images (quick runs)
    test_limit: int | None = bounded(None, ge=1)
    validation: bool = True  # evaluate on the test split after each epoch
    # ... on at most this many of its images, evenly spread over the split (null: all): the per-epoch val_* curve
    # at about half the cost of the 10,000-image MNIST test split (docs/speed.md); `vaelab evaluate` uses them all
    validation_images: int | None = bounded(5000, ge=1)
    cache: str | None = None  # directory for an on-disk cache of preprocessed images ("" = memory)
    shuffle_buffer: int = bounded(10_000, ge=1)
    verify_checksums: bool = True
    autotune: Literal["auto", "on", "off"] = "auto"  # tf.data autotuner; auto = off on CPU-only machines (speed.md)


@dataclass
class ModelConfig(Extensible):
    kind: str = choice("vae", "vaelab.models.kinds:MODEL_KINDS")  # a family: vae, ae, ... (docs/models.md)
    architecture: str = choice("conv", "vaelab.models:ARCHITECTURES")  # conv | dense
    latent_dim: int = bounded(2, ge=1)
    filters: list[int] = field(default_factory=lambda: [32, 64], metadata={"ge": 1})  # conv: one per layer
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 3], metadata={"ge": 1})
    strides: list[int] = field(default_factory=lambda: [2, 2], metadata={"ge": 1})
    hidden_units: list[int] = field(default_factory=lambda: [256], metadata={"ge": 1})  # dense: one per layer
    activation: str = choice("relu", "vaelab.models.heads:ACTIVATIONS")  # relu | leaky_relu | selu | gelu | ...
    batch_norm: bool = False
    dropout: float = bounded(0.0, ge=0.0, le=0.95)
    extra_dense: int = bounded(0, ge=0)  # units of a Dense layer between Flatten and z_mean/z_log_var (0 = none)
    likelihood: str = choice("bernoulli", "vaelab.likelihoods:LIKELIHOODS")  # bernoulli | gaussian | ...
    z_log_var_clip: float | None = bounded(None, gt=0.0)  # clamp z_log_var to [-c, c] against exp() overflow
    extra: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})  # the family's own settings

    SECTION = "model"

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "model") -> ModelConfig:
        """Validated from plain values (unknown keys and wrong types name the field), holding the settings of
        its family (`kind`) only."""
        cfg = _from_dict(cls, d or {}, where)
        cfg.settle(cfg.kind)
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return self.flat()


@dataclass
class LossConfig(Extensible):
    strategy: str = choice("train_step", "vaelab.models.strategies:STRATEGIES")  # where the KL term enters (kl-loss.md)
    beta: float = bounded(1.0, ge=0.0)  # KL weight (final value when a schedule is used)
    beta_schedule: str = choice("constant", "vaelab.schedules:SCHEDULES")  # constant | linear_warmup | cyclical
    warmup_epochs: int = bounded(10, ge=0)  # linear_warmup: epochs from beta_start to beta
    beta_start: float = bounded(0.0, ge=0.0)
    cycle_epochs: int = bounded(10, ge=1)  # cyclical: length of one cycle
    cycle_ratio: float = bounded(0.5, gt=0.0, le=1.0)  # cyclical: share of a cycle spent increasing beta
    extra: dict[str, Any] = field(default_factory=dict, metadata={"internal": True})  # the family's own settings

    SECTION = "loss"


Tracker = Literal["none", "mlflow"]
TRACKERS = list(typing.get_args(Tracker))


@dataclass
class TrainConfig:
    epochs: int = bounded(10, ge=1)
    batch_size: int = bounded(128, ge=1)
    learning_rate: float = bounded(1e-3, gt=0.0)
    optimizer: str = "adam"  # any Keras optimizer name (adam, adamw, sgd, ...); adam(w): fused (vaelab.optimizers)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    clipnorm: float | None = bounded(None, gt=0.0)
    # momentum of an exponential moving average of the weights (Keras `use_ema`): model.keras holds the average,
    # the per-epoch checkpoints the raw weights (docs/training.md); null = no averaging
    ema: float | None = bounded(None, gt=0.0, le=0.99999)
    seed: int = bounded(0, ge=0)
    steps_per_epoch: int | None = bounded(None, ge=1)
    jit_compile: Literal["auto", "on", "off"] = "auto"  # auto = off on CPU, on on GPU (docs/speed.md)
    # auto = the faster of float32 and mixed_bfloat16 on this machine, measured once and cached (vaelab/precision.py,
    # docs/speed.md); heads, output and loss stay float32 under the mixed policies
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "auto"
    early_stopping_patience: int | None = bounded(None, ge=0)
    distribute: str = choice("none", "vaelab.train:DISTRIBUTE")  # none | mirrored | multi_worker
    output_dir: str = "runs"
    run_name: str | None = None
    overwrite: bool = False
    verbose: int = bounded(1, ge=0, le=2)
    report: bool = True
    track: Tracker = "none"  # experiment tracking: none | mlflow (vaelab/tracking.py; the `track` extra)
    tracking_uri: str | None = None  # MLflow store: a server URL or a folder (default <output_dir>/mlruns)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, section by section, as a YAML file writes them (family settings flattened in)."""
        return {f.name: (getattr(self, f.name).flat() if isinstance(getattr(self, f.name), Extensible)
                         else dataclasses.asdict(getattr(self, f.name))) for f in dataclasses.fields(self)}

    def validated(self) -> RunConfig:
        """This config checked like a loaded one (for configs built with the dataclass constructors)."""
        return RunConfig.from_dict(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, where: str = "config") -> RunConfig:
        """Builds and validates a config: types, bounds, registered names and cross-field rules."""
        cfg = _from_dict(cls, d or {}, where)
        cfg.model.settle(cfg.model.kind)
        cfg.loss.settle(cfg.model.kind)
        _check_consistency(cfg, where)
        return cfg


# ---------------------------------------------------------------------------- parsing


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp`; returns it (ints are accepted for floats)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = list(typing.get_args(tp))
        if value not in choices or isinstance(value, bool):
            raise ConfigError(f"{key}: expected one of {choices}, received {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and str in args:
            return _coerce(value, str, key)
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
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, received {value!r}")
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a Linux path with non-UTF-8 bytes, kept by Python as surrogates
            raw = value.encode("utf-8", "surrogateescape")
            raise ConfigError(f"{key}: {raw!r} holds bytes that are not UTF-8; a run records its settings in "
                              "config.yaml (UTF-8), so rename the folder or pick another") from None
        return value
    if tp is bool and isinstance(value, bool):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, received {value!r} ({type(value).__name__})")


def check_bounds(value: Any, key: str, *, gt: float | None = None, ge: float | None = None,
                 le: float | None = None, expected: str | None = None, received: Any = None) -> None:
    """The rule of `bounded`: ConfigError naming `key` when the number `value` is not finite or is outside the
    bounds. `expected` describes the whole range in the message (default: the bound that failed); `received`
    is what the user typed, when it differs from `value` (a list, a text)."""
    shown = value if received is None else received
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: expected {expected or 'a finite number'}, received {shown!r}")
    for op, bound, ok in (("gt", ">", lambda a, b: a > b), ("ge", ">=", lambda a, b: a >= b),
                          ("le", "<=", lambda a, b: a <= b)):
        limit = {"gt": gt, "ge": ge, "le": le}[op]
        if limit is not None and not ok(value, limit):
            raise ConfigError(f"{key}: expected {expected or f'a value {bound} {limit}'}, received {shown!r}")


def _check_field(value: Any, f: dataclasses.Field, key: str) -> None:
    """The field's bounds (`bounded`) and registry (`choice`), from its metadata."""
    meta = f.metadata
    for v in value if isinstance(value, list) else [value]:
        if v is None or isinstance(v, (str, bool)):
            continue
        check_bounds(v, key, gt=meta.get("gt"), ge=meta.get("ge"), le=meta.get("le"), received=value)
    if meta.get("registry"):
        module, name = meta["registry"].split(":")
        registry = getattr(importlib.import_module(module), name)  # a Registry or a list of names
        if value not in registry:
            kind = getattr(registry, "kind", key.rsplit(".", 1)[-1])
            raise ConfigError(f"{key}: unknown {kind} {value!r}; choose from {list(registry)}")


def _from_dict(cls: type, d: dict[str, Any], where: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, received {d!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    extensions = family_settings(cls.SECTION) if issubclass(cls, Extensible) else {}
    unknown = sorted(set(d) - set(fields) - set(extensions))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; choose from {[*fields, *extensions]}")
    kwargs, extra = {}, {}
    for name, value in d.items():
        key = f"{where}.{name}" if where != "config" else name
        if name not in fields:  # a family's setting: its declaring dataclass says the type and bounds
            setting = extensions[name]
            extra[name] = _coerce(value, setting.type, key)
            _check_field(extra[name], setting.field, key)
            continue
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _from_dict(tp, value, key)
        else:
            kwargs[name] = _coerce(value, tp, key)
            _check_field(kwargs[name], fields[name], key)
    if extensions:
        kwargs["extra"] = extra
    return cls(**kwargs)


# Cross-field rules that need a registry live beside that registry and are named here: config is the lowest
# layer, so it takes them by name when a config is checked (like `choice` fields), never by a module import.
RULES = (
    "vaelab.data:check_config",  # image_size / crop against the dataset's registration
    "vaelab.models.kinds:check_config",  # the architecture's and the family's own settings, the strategy
)


def _check_consistency(cfg: RunConfig, where: str) -> None:
    """Rules that involve more than one field (the registries' `RULES`, then the ones of this module)."""

    def fail(key: str, text: str):
        raise ConfigError(f"{key if where == 'config' else f'{where}: {key}'}: {text}")

    if cfg.train.run_name is not None:
        problem = run_name_problem(cfg.train.run_name)
        if problem:
            fail("train.run_name", f"expected a plain folder name inside train.output_dir, received "
                 f"{cfg.train.run_name!r} ({problem}); choose another name, or set train.output_dir for the folder")
    for rule in RULES:
        module, name = rule.split(":")
        try:
            getattr(importlib.import_module(module), name)(cfg)
        except ValueError as e:
            raise ConfigError(str(e) if where == "config" else f"{where}: {e}") from None
    if cfg.train.ema and cfg.train.early_stopping_patience is not None:
        fail("train.ema", f"the weight average ({cfg.train.ema}) and early stopping (train.early_stopping_patience="
             f"{cfg.train.early_stopping_patience}, which restores the best epoch's raw weights) would both choose the "
             "final weights; set only one of them")
    optimizers = _keras_optimizer_names()
    if cfg.train.optimizer.lower() not in optimizers:
        fail("train.optimizer", f"unknown optimizer {cfg.train.optimizer!r}; choose from {optimizers}")


def run_name_problem(name: str) -> str | None:
    """Why `name` cannot be a run folder's name (it must stay inside train.output_dir), or None."""
    if not name.strip():
        return "it is empty"
    if name in (".", ".."):
        return "it names a folder, not a new one inside it"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if Path(name).is_absolute() or name.startswith("~"):
        return "it is a path"
    if "\0" in name:
        return "it contains a NUL character"
    return None


def _keras_optimizer_names() -> list[str]:
    """Keras's optimizer class names in lower case (what `keras.optimizers.get` takes), found without
    building one: an optimizer creates variables, which would start TensorFlow before a distribution
    strategy is set up."""
    import keras

    base = keras.optimizers.Optimizer
    return sorted(c.__name__.lower() for c in vars(keras.optimizers).values()
                  if isinstance(c, type) and issubclass(c, base) and c is not base
                  and c.__name__ not in ("LossScaleOptimizer", "MultiOptimizer"))


def parse_override(text: str) -> tuple[list[str], Any]:
    """"train.epochs=3" -> (["train", "epochs"], 3). Values are parsed as YAML scalars/lists (YAML 1.2
    numbers: 1e-4 is a float, see `vaelab.yamlio`)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    path = key.strip().split(".")
    if len(path) != 2 or not all(path):
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. train.epochs=5")
    if not raw.strip():
        return path, None
    try:
        return path, yamlio.load(raw)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"--set {text!r}: the value is not valid YAML ({problem}); quote strings, "
                          "write lists as [1, 2]") from None


def apply_overrides(d: dict[str, Any], overrides: list[str | tuple[str, Any]]) -> dict[str, Any]:
    """Applies overrides in order to a plain dict (validation happens in `RunConfig.from_dict`).

    Each override is a "section.key=value" text (the value parsed as YAML) or a ("section.key", value)
    pair whose value is taken as it is (the CLI's typed shortcut flags).
    """
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    sections = [f.name for f in dataclasses.fields(RunConfig)]
    for item in overrides:
        if isinstance(item, str):
            path, value = parse_override(item)
            dotted = ".".join(path)
        else:
            dotted, value = item
        section, key = dotted.split(".", 1)
        if section not in sections:
            raise ConfigError(f"--set {dotted}=...: unknown section {section!r}; choose from {sections}")
        if not isinstance(out.get(section, {}), dict):
            raise ConfigError(f"{section}: expected a mapping of keys to values, received {out[section]!r}")
        out.setdefault(section, {})[key] = value
    return out


def resolve_config_path(path: str | Path) -> Path:
    """A config file path, or the packaged file of a preset name (`mnist_vae`, see `vaelab config list`)."""
    from vaelab import presets

    return presets.resolve(path, error=ConfigError)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file's (or preset's) sections as a plain dict (types not validated yet)."""
    path = resolve_config_path(path)
    try:
        d = yamlio.load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file; a config is a YAML file such as "
                          "`train:\n  epochs: 5`") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read it ({e.strerror})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, model, loss, train), "
                          f"received {type(d).__name__}")
    for section, values in d.items():
        if values is not None and not isinstance(values, dict):
            raise ConfigError(f"{path}: section {section!r}: expected a mapping of keys to values, "
                              f"received {values!r}")
    return d


def load_config(path: str | Path | None = None, overrides: list[str | tuple[str, Any]] | None = None,
                base: dict[str, Any] | None = None) -> RunConfig:
    """Defaults <- `base` (a preset) <- YAML file or preset name (if any) <- overrides; validated."""
    d: dict[str, Any] = dict(base or {})
    if path is not None:
        loaded = read_yaml(path)
        d = {s: {**(d.get(s) or {}), **(loaded.get(s) or {})} for s in {*d, *loaded}}
    try:
        return RunConfig.from_dict(apply_overrides(d, overrides or []))
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from None


def dump_config(cfg: RunConfig) -> str:
    return yamlio.dump(cfg.to_dict())


def settings_dataclass_fields(cls: type, kind: str) -> list[FamilySetting]:
    """The FamilySettings a family's settings dataclass declares (used by `vaelab.models.kinds.family_settings`)."""
    hints = typing.get_type_hints(cls)
    return [FamilySetting(f.name, hints[f.name], f, (kind,)) for f in dataclasses.fields(cls)]
