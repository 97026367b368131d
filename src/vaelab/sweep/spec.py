"""Sweep specs: one YAML file asks one question ("which beta?"); it is validated before anything runs.

    name: beta_demo                          # study name (default: the file's stem)
    base: digits_vae                         # a preset name, or a config file (relative to the spec or the cwd)
    set: [train.epochs=5]                    # fixed overrides, section.key=value
    space:                                   # one entry per config key searched
      loss.beta: {type: log_float, low: 1.0e-4, high: 1.0}
      model.latent_dim: {type: int, low: 2, high: 16, step: 2}
      model.kind: {type: categorical, choices: [ae, vae]}
      train.learning_rate: {type: float, low: 0.0005, high: 0.005}
      # or a plain grid (then every parameter is a grid): loss.beta: {type: grid, values: [1.0, 0.1]}
    objective:
      metric: val_loss                       # a history.csv column, or a metrics.json path (iwae.nll)
      reduce: best                           # history columns: best (min/max over epochs) | last
      direction: minimize                    # minimize | maximize
      evaluate: {k: 100, limit: 1000}        # `vaelab evaluate` options, run when the metric needs them
    trials: 20                               # budget: finished trials (a grid defaults to its size)
    pruner: {kind: median, startup_trials: 2, warmup_epochs: 1, metric: val_loss}
    sampler: {kind: tpe, seed: 0}            # tpe | random (a grid always uses optuna's GridSampler)

Every problem is reported at once, one line each: file, field, what was expected, what was received.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vaelab import yamlio
from vaelab.config import ConfigError, RunConfig, load_config
from vaelab.sweep import specs

TYPES = ("log_float", "float", "int", "categorical", "grid")
TOP_KEYS = ("name", "base", "set", "space", "objective", "trials", "pruner", "sampler")


class SpecError(ValueError):
    """A sweep spec is invalid; the message has one line per problem."""


@dataclass
class Param:
    key: str  # "section.key" of RunConfig
    type: str  # one of TYPES
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False  # int only (log_float is always log)
    choices: list = field(default_factory=list)  # categorical choices or grid values

    def suggest(self, trial) -> Any:
        """The value of this parameter for an Optuna trial."""
        if self.type in ("log_float", "float"):
            return trial.suggest_float(self.key, self.low, self.high, log=self.type == "log_float", step=self.step)
        if self.type == "int":
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_categorical(self.key, self.choices)


@dataclass
class Objective:
    metric: str = "val_loss"
    reduce: str = "best"  # best | last (history columns)
    direction: str = "minimize"
    evaluate: dict = field(default_factory=dict)  # EvalOptions fields

    @property
    def from_history(self) -> bool:
        return "." not in self.metric


@dataclass
class PrunerSpec:
    kind: str = "median"  # median | none
    startup_trials: int = 2
    warmup_epochs: int = 1
    metric: str | None = None  # history column reported per epoch; default: the objective's or val_loss


@dataclass
class SweepSpec:
    name: str
    path: Path | None
    base: str | None
    sets: list[str]
    space: list[Param]
    objective: Objective
    trials: int
    pruner: PrunerSpec
    sampler: str  # grid | tpe | random
    seed: int = 0
    base_config: RunConfig = field(default_factory=RunConfig)  # base <- set (validated)
    extra_sets: list[str] = field(default_factory=list)  # the command line's --set (part of `sets`)

    @property
    def is_grid(self) -> bool:
        return self.sampler == "grid"

    def grid(self) -> dict[str, list]:
        return {p.key: list(p.choices) for p in self.space}

    def trial_config(self, params: dict[str, Any], **train: Any) -> RunConfig:
        """The base config with the trial's parameters (and `train` keys such as output_dir) set."""
        return with_values(self.base_config, {**params, **{f"train.{k}": v for k, v in train.items()}})

    def identity(self) -> dict:
        """What must match for two workers (or two runs of one command) to share a study."""
        cfg = self.base_config.to_dict()
        for section, key in (("data", "data_dir"), ("data", "cache"), ("train", "output_dir"),
                             ("train", "run_name"), ("train", "verbose"), ("train", "report"),
                             ("train", "track"), ("train", "tracking_uri")):
            cfg[section].pop(key, None)
        # not the budget: the same command with a larger --trials extends the sweep
        return {"space": [dataclasses.asdict(p) for p in self.space], "objective": dataclasses.asdict(self.objective),
                "config": cfg}


def with_values(cfg: RunConfig, values: dict[str, Any]) -> RunConfig:
    """`cfg` with {"section.key": value} set, validated like any config."""
    d = cfg.to_dict()
    for key, value in values.items():
        section, name = key.split(".", 1)
        d[section][name] = value
    return RunConfig.from_dict(d)


def resolve_spec(name_or_path: str | Path) -> Path:
    """A spec file, or the packaged file of a shipped spec name (`beta_mnist`)."""
    return specs.resolve(name_or_path, error=SpecError)


# ---------------------------------------------------------------------------- loading


def load_spec(name_or_path: str | Path, extra_sets: list[str] | None = None, trials: int | None = None) -> SweepSpec:
    """Reads and validates a spec (a file or a shipped name); `extra_sets` are appended to its `set:`."""
    path = resolve_spec(name_or_path)
    try:
        raw = yamlio.load(path.read_text(encoding="utf-8")) or {}  # YAML 1.2 numbers: 1e-4 is a float
    except UnicodeDecodeError:
        raise SpecError(f"{path}: not a text (UTF-8) file; a sweep spec is a YAML file (docs/sweeps.md)") from None
    except OSError as e:
        raise SpecError(f"{path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping with keys {list(TOP_KEYS)}, received {type(raw).__name__}")
    if trials is not None:
        raw["trials"] = trials
    return parse_spec(raw, path, extra_sets or [])


def parse_spec(raw: dict, path: Path | None = None, extra_sets: list[str] | None = None) -> SweepSpec:
    errors: list[str] = []
    where = str(path) if path else "spec"

    def bad(fld: str, expected: str, received: Any) -> None:
        errors.append(f"{where}: {fld}: expected {expected}, received {received!r}")

    for key in sorted(set(raw) - set(TOP_KEYS)):
        bad(key, f"one of {list(TOP_KEYS)}", key)
    name = raw.get("name") or (path.stem if path else "sweep")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        bad("name", "letters, digits, '_', '.', '-'", name)
    base = raw.get("base")
    if base is not None and not isinstance(base, str):
        bad("base", "a config file path or a preset name", base)
        base = None
    if isinstance(base, str) and path is not None and not Path(base).is_absolute() and (path.parent / base).is_file():
        base = str(path.parent / base)
    sets = raw.get("set") or []
    if not isinstance(sets, list) or not all(isinstance(s, str) for s in sets):
        bad("set", "a list of section.key=value strings", sets)
        sets = []
    sets = sets + list(extra_sets or [])
    try:
        base_config = load_config(base, sets)
    except (ConfigError, OSError) as e:
        errors.append(f"{where}: base/set: {e}")
        base_config = None

    space = _parse_space(raw.get("space"), base_config, bad, errors, where)
    objective = _parse_objective(raw.get("objective"), base_config, bad)
    is_grid = bool(space) and all(p.type == "grid" for p in space)
    for p in space:
        if p.type == "grid" and not is_grid:
            bad(f"space.{p.key}.type", "grid for every parameter once one is a grid (optuna's GridSampler)",
                "a mix of grid and " + ", ".join(sorted({q.type for q in space if q.type != "grid"})))
            break
    grid_size = math.prod(len(p.choices) for p in space) if is_grid else None
    trials = raw.get("trials", grid_size)
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        bad("trials", "a positive integer (the number of finished trials)", trials)
        trials = 1
    elif grid_size is not None and trials > grid_size:
        bad("trials", f"at most the grid size {grid_size}", trials)
    pruner = _parse_pruner(raw.get("pruner"), objective, base_config, bad)
    sampler, seed = _parse_sampler(raw.get("sampler"), is_grid, bad)
    if errors:
        raise SpecError("\n".join(errors))
    return SweepSpec(name, path, base, sets, space, objective, trials, pruner, sampler, seed, base_config,
                     list(extra_sets or []))


def _number(v: Any) -> Any:
    """Strings that spell a number (a quoted "1e-4", a spec built in code) as that number (`yamlio.FLOAT`)."""
    if isinstance(v, str) and yamlio.FLOAT.fullmatch(v.strip()):
        return float(v)
    return v


def _parse_space(space, base_config, bad, errors, where) -> list[Param]:
    if not isinstance(space, dict) or not space:
        bad("space", "a mapping of section.key -> {type: ..., ...}", space)
        return []
    sections = {s: set(v) for s, v in RunConfig().to_dict().items()}
    params = []
    for key, entry in space.items():
        fld = f"space.{key}"
        section, _, name = str(key).partition(".")
        if name not in sections.get(section, ()):
            bad(fld, "a config key section.key, e.g. loss.beta", key)
            continue
        if not isinstance(entry, dict) or entry.get("type") not in TYPES:
            bad(f"{fld}.type", f"one of {list(TYPES)}", entry.get("type") if isinstance(entry, dict) else entry)
            continue
        p = _parse_param(key, entry, fld, bad)
        if p is None:
            continue
        params.append(p)
        probes = ([(f"{fld}.low", p.low), (f"{fld}.high", p.high)] if p.type not in ("categorical", "grid")
                  else [(f"{fld}.{'values' if p.type == 'grid' else 'choices'}[{i}]", v)
                        for i, v in enumerate(p.choices)])
        _probe(base_config, key, probes, errors, where)
    return params


def _parse_param(key: str, entry: dict, fld: str, bad) -> Param | None:
    kind = entry["type"]
    allowed = {"log_float": {"low", "high"}, "float": {"low", "high", "step"}, "int": {"low", "high", "step", "log"},
               "categorical": {"choices"}, "grid": {"values"}}[kind] | {"type"}
    for extra in sorted(set(entry) - allowed):
        bad(f"{fld}.{extra}", f"one of {sorted(allowed)} for type {kind}", extra)
    p = Param(key, kind)
    if kind in ("categorical", "grid"):
        lst = "choices" if kind == "categorical" else "values"
        values = entry.get(lst)
        if not isinstance(values, list) or not values:
            bad(f"{fld}.{lst}", "a non-empty list of values", values)
            return None
        p.choices = [_number(v) for v in values]
        return p
    p.low, p.high, p.step = (_number(entry.get(k)) for k in ("low", "high", "step"))
    p.log = bool(entry.get("log", False))
    num = int if kind == "int" else (int, float)
    for k in ("low", "high") + (("step",) if p.step is not None else ()):
        v = getattr(p, k)
        if not isinstance(v, num) or isinstance(v, bool):
            bad(f"{fld}.{k}", "an integer" if kind == "int" else "a number", v)
            return None
    if p.low >= p.high:
        bad(f"{fld}.high", f"a value above low = {p.low}", p.high)
        return None
    if kind == "log_float" and p.low <= 0:
        bad(f"{fld}.low", "a positive number (log scale)", p.low)
        return None
    if kind != "int":
        p.low, p.high = float(p.low), float(p.high)
    return p


def _probe(base_config, key, probes, errors, where) -> None:
    """Each value must make a valid config (type, bounds, registered names)."""
    if base_config is None:
        return
    for fld, value in probes:
        try:
            with_values(base_config, {key: value})
        except (ConfigError, ValueError) as e:
            errors.append(f"{where}: {fld}: {e}")


def _parse_objective(obj, base_config, bad) -> Objective:
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        bad("objective", "a mapping {metric, reduce, direction, evaluate}", obj)
        return Objective()
    for extra in sorted(set(obj) - {"metric", "reduce", "direction", "evaluate"}):
        bad(f"objective.{extra}", "one of ['direction', 'evaluate', 'metric', 'reduce']", extra)
    o = Objective(**{k: v for k, v in obj.items() if k in ("metric", "reduce", "direction", "evaluate")})
    if not isinstance(o.metric, str) or not o.metric:
        bad("objective.metric", "a history.csv column or a metrics.json path such as iwae.nll", o.metric)
        o.metric = "val_loss"
    elif o.from_history:
        _check_column("objective.metric", o.metric, base_config, bad)
    else:
        _check_metric_path("objective.metric", o.metric, bad)
    if o.reduce not in ("best", "last"):
        bad("objective.reduce", "best (min/max over epochs) or last", o.reduce)
    if o.direction not in ("minimize", "maximize"):
        bad("objective.direction", "minimize or maximize", o.direction)
    if not isinstance(o.evaluate, dict):
        bad("objective.evaluate", "a mapping of `vaelab evaluate` options (k, limit, frechet, ...)", o.evaluate)
        o.evaluate = {}
    else:
        from vaelab.evaluate import EvalOptions

        names = [f.name for f in dataclasses.fields(EvalOptions)]
        for k in sorted(set(o.evaluate) - set(names)):
            bad(f"objective.evaluate.{k}", f"one of {names}", k)
        known = {k: _number(v) for k, v in o.evaluate.items() if k in names}
        for k, expected in EvalOptions(**known).problems().items():  # the checks of `vaelab evaluate`
            bad(f"objective.evaluate.{k}", expected, known[k])
    return o


def _check_metric_path(fld: str, metric: str, bad) -> None:
    """A metrics.json path must name a key inside a section of `vaelab evaluate` (the SECTIONS registry):
    evaluation.SECTION.KEY, or SECTION.KEY."""
    from vaelab.evaluate import SECTION
    from vaelab.evaluate.sections import SECTIONS

    parts = metric.split(".")
    parts = parts[1:] if parts[0] == SECTION else parts
    if len(parts) < 2 or parts[0] not in SECTIONS or not all(parts):
        bad(fld, f"a history.csv column {history_columns()} or a metrics.json path {SECTION}.SECTION.KEY "
                 f"with SECTION one of {SECTIONS.names()} (e.g. {SECTION}.iwae.nll)", metric)


def history_columns() -> list[str]:
    """The history.csv columns any registered family logs (each family says which: `history_columns`)."""
    from vaelab.models.kinds import MODEL_KINDS

    return list(dict.fromkeys(c for k in MODEL_KINDS.names() for c in MODEL_KINDS.get(k).history_columns()))


def _check_column(fld: str, column: str, base_config, bad) -> None:
    if column not in history_columns():
        bad(fld, f"a history.csv column {history_columns()} or a metrics.json path with a dot", column)
    elif column.startswith("val_") and base_config is not None and not base_config.data.validation:
        bad(fld, "a training column (data.validation is false, so there are no val_ columns)", column)


def _parse_pruner(p, objective: Objective, base_config, bad) -> PrunerSpec:
    if p is None:
        p = {}
    if isinstance(p, str):
        p = {"kind": p}
    if not isinstance(p, dict):
        bad("pruner", "a mapping {kind, startup_trials, warmup_epochs, metric} or 'none'", p)
        return PrunerSpec(kind="none")
    fields = [f.name for f in dataclasses.fields(PrunerSpec)]
    for extra in sorted(set(p) - set(fields)):
        bad(f"pruner.{extra}", f"one of {fields}", extra)
    spec = PrunerSpec(**{k: v for k, v in p.items() if k in fields})
    if spec.kind not in ("median", "none"):
        bad("pruner.kind", "median or none", spec.kind)
    for k in ("startup_trials", "warmup_epochs"):
        v = getattr(spec, k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            bad(f"pruner.{k}", "an integer >= 0", v)
    if spec.metric is None:
        validation = base_config is None or base_config.data.validation
        spec.metric = objective.metric if objective.from_history else ("val_loss" if validation else "loss")
    elif spec.kind != "none":
        _check_column("pruner.metric", spec.metric, base_config, bad)
    return spec


def _parse_sampler(s, is_grid: bool, bad) -> tuple[str, int]:
    if s is None:
        s = {}
    if isinstance(s, str):
        s = {"kind": s}
    if not isinstance(s, dict):
        bad("sampler", "a mapping {kind, seed}", s)
        return ("grid" if is_grid else "tpe"), 0
    for extra in sorted(set(s) - {"kind", "seed"}):
        bad(f"sampler.{extra}", "one of ['kind', 'seed']", extra)
    kind = s.get("kind", "grid" if is_grid else "tpe")
    seed = s.get("seed", 0)
    if is_grid and kind != "grid":
        bad("sampler.kind", "grid (the space is a grid)", kind)
    elif not is_grid and kind not in ("tpe", "random"):
        bad("sampler.kind", "tpe or random (grid needs every parameter of type grid)", kind)
    if not isinstance(seed, int) or isinstance(seed, bool):
        bad("sampler.seed", "an integer", seed)
        seed = 0
    return kind, seed
