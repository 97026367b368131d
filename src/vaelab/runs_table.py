"""One row of numbers per run directory: the `vaelab runs` table and the metrics table of `vaelab compare`.

    >>> rows = collect("runs")                       # every run dir under runs/
    >>> rows = filter_rows(rows, ["status=finished", "loss.strategy=train_step"])
    >>> print(format_table(sort_rows(rows, "best_val_loss")))
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

from vaelab import runs

COLUMNS = ("name", "dataset", "family", "z", "beta", "epochs", "best_val_loss", "iw_nll", "fd", "fid", "wall_s",
           "status")
METRICS = {"iw_nll": "evaluation.iwae.nll", "fd": "evaluation.frechet.classifier.fd",
           "fid": "evaluation.frechet.inception.fid"}


@dataclass
class RunRow:
    path: Path
    values: dict  # column -> value (None when unknown)
    config: dict  # the resolved config, {section: {key: value}}

    def get(self, key: str):
        """A column, or any config value as section.key (for --filter)."""
        if key in self.values:
            return self.values[key]
        section, _, name = key.partition(".")
        if name and name in self.config.get(section, {}):
            return self.config[section][name]
        raise KeyError(key)


def summarize(run_dir: str | Path, root: str | Path | None = None) -> RunRow:
    """The row of one run directory; `root` makes the name relative to it."""
    run_dir = Path(run_dir)
    from vaelab.models.kinds import MODEL_KINDS

    cfg = runs.read_run_config(run_dir)
    history = runs.read_history(run_dir)
    metrics = runs.read_metrics(run_dir, strict=True)  # only numbers of the run's current model
    val = [v for v in history.get("val_loss", []) if math.isfinite(v)]
    name = run_dir.name if root is None else (run_dir.relative_to(root).as_posix() or run_dir.name)
    if name == ".":
        name = run_dir.resolve().name
    values = {
        "name": name,
        "dataset": cfg.data.name,
        "family": cfg.model.kind,
        "z": cfg.model.latent_dim,
        "beta": cfg.loss.beta if MODEL_KINDS.get(cfg.model.kind).uses_beta else None,  # the family says
        "epochs": f"{len(history.get('loss', []))}/{cfg.train.epochs}",
        "best_val_loss": min(val) if val else None,
        **{col: runs.metric_value(metrics, key) for col, key in METRICS.items()},
        "wall_s": round(sum(history["time"]), 1) if history.get("time") else None,
        "status": runs.run_status(run_dir, history),
    }
    return RunRow(run_dir, values, cfg.to_dict())


def summarize_or_skip(run_dir: str | Path, root: str | Path | None = None) -> RunRow | None:
    """`summarize`, or None with one warning naming the damaged file (config.yaml, history.csv,
    metrics.json, an unreadable model) so that one bad run does not hide the others."""
    try:
        return summarize(run_dir, root)
    except (ValueError, OSError) as e:
        warnings.warn(f"skipping {run_dir}: {' '.join(str(e).split())}", stacklevel=2)
        return None


def collect(root: str | Path) -> list[RunRow]:
    """Rows for every run directory under `root` (a run directory itself gives one row); damaged runs
    are skipped with a warning."""
    root = Path(root)
    rows = [summarize_or_skip(d, root) for d in runs.find_run_dirs(root)]
    return [r for r in rows if r is not None]


def _parse(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None, "null": None}.get(value.lower(), value)


def _matches(actual, wanted: str) -> bool:
    target = _parse(wanted)
    if isinstance(actual, (int, float)) and isinstance(target, (int, float)) and not isinstance(actual, bool):
        return math.isclose(float(actual), float(target), rel_tol=1e-9, abs_tol=1e-12)
    return actual == target or str(actual) == wanted


def _check_key(rows: list[RunRow], key: str, option: str) -> None:
    """A ValueError naming `option` unless `key` is a column or a config key (section.key) of the rows."""
    if rows:
        try:
            rows[0].get(key)
        except KeyError:
            raise ValueError(f"{option}: unknown key {key!r}; choose a column {list(COLUMNS)} "
                             "or a config key section.key") from None


def filter_rows(rows: list[RunRow], filters: list[str]) -> list[RunRow]:
    """Keeps rows where every `key=value` holds; key is a column or a config key (loss.strategy)."""
    for f in filters:
        if "=" not in f:
            raise ValueError(f"--filter {f!r}: expected key=value, e.g. status=finished or loss.beta=0.1")
        key, wanted = (s.strip() for s in f.split("=", 1))
        _check_key(rows, key, f"--filter {f!r}")
        rows = [r for r in rows if _matches(r.get(key), wanted)]
    return rows


def sort_rows(rows: list[RunRow], column: str, reverse: bool = False) -> list[RunRow]:
    """Sorted by a column or config key; empty values last either way."""
    _check_key(rows, column, f"--sort {column!r}")
    have = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]
    numeric = all(isinstance(r.get(column), (int, float)) for r in have)
    have.sort(key=lambda r: r.get(column) if numeric else str(r.get(column)), reverse=reverse)
    return have + missing


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.5g}"
    return str(v)


def text_table(rows: list[dict], columns: list[str] | tuple[str, ...]) -> str:
    """Dicts as an aligned plain-text table (missing values as '-')."""
    table = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in table]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines)


def format_table(rows: list[RunRow], columns: tuple[str, ...] = COLUMNS) -> str:
    return text_table([r.values for r in rows], columns)


def to_json(rows: list[RunRow]) -> str:
    return json.dumps([{**r.values, "path": str(r.path)} for r in rows], indent=2)


def to_csv(rows: list[RunRow], columns: tuple[str, ...] = COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[*columns, "path"], lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**{c: r.values.get(c) for c in columns}, "path": str(r.path)})
    return buf.getvalue()
