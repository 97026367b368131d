"""The run report: every figure that fits the run's data, its numbers, and one self-contained HTML file.

    >>> build_report("runs/digits-vae-train_step-z2-...")   # -> runs/.../report.html

Figures are saved as PNGs in `figures/` and embedded (base64) in `report.html`, so the HTML file
can be mailed or opened anywhere. Numbers go to metrics.json (sections `latent`, `figures`,
`arithmetic`); any other section there (e.g. `evaluation` from `vaelab evaluate`) is shown too.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
import warnings
from pathlib import Path

from vaelab import plots, runs
from vaelab.analysis.subject import Subject, load_subject
from vaelab.analysis.views import Options, View, draw_all, unfit_reason
from vaelab.atomic import write_atomic
from vaelab.runs import read_history

REPORT = runs.RunDir.REPORT


def report_views(subject: Subject, options: Options) -> tuple[list[View], dict[str, str], dict[str, str]]:
    """(views, skipped, errors): every registered figure that fits the subject, drawn as far as its inputs
    allow; figures that do not fit the run are left out silently, degenerate inputs are `skipped` (why)."""
    views, skipped, errors = draw_all(subject, options)
    return views, {k: v for k, v in skipped.items() if not unfit_reason(k, subject)}, errors


def skip_lines(views: list[View], skipped: dict[str, str], errors: dict[str, str]) -> list[str]:
    """One line per figure or part of a figure left out, and per failed figure."""
    return ([f"figure {v.name}: {n}" for v in views for n in v.notes] + list(skipped.values())
            + [f"figure {k!r} failed: {e}" for k, e in errors.items()])


def history_figure(history: dict, model=None) -> tuple[object | None, str | None]:
    """(the training-curves figure or None, why it is skipped); curves in the order of `model`'s family."""
    if not history:
        return None, None
    try:
        return plots.plot_history(history, plots.history_curves(history, _order(model))), None
    except ValueError as e:  # no curve with values (e.g. a run killed before its first epoch ended)
        return None, f"figure 'training' skipped: {e}"


def png_bytes(fig, path: Path | None = None, dpi: int = 90) -> bytes:
    """The figure as PNG bytes (also written to `path` if given)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=plots.bbox_inches(fig))
    data = buf.getvalue()
    if path is not None:
        write_atomic(path, data)
    return data


ORDER = ("latent", "histograms", "recon", "samples", "traversals", "conditional", "manifold", "interpolate", "path",
         "arithmetic")


def build_report(run_dir: str | Path, model=None, limit: int | None = 2000,
                 options: Options | None = None) -> Path:
    """Writes figures/*.png, metrics.json sections and report.html for a run; returns the HTML path.

    Args:
        run_dir: a vaelab run directory.
        model: the trained model (loaded from the run directory when None).
        limit: test images to use (scatters and t-SNE are capped by `options.max_points`).
        options: figure settings (defaults: 16 images per strip, std 1, a 15x15 manifold).
    """
    start = time.perf_counter()
    run_dir = Path(run_dir)
    try:  # an output, but damaged: say so before any work
        runs.read_metrics(run_dir, strict=True)
    except ValueError as e:
        raise ValueError(f"{e}; regenerate it with `vaelab evaluate {run_dir}` (which rewrites it) or delete it, "
                         "then run the report again") from None
    subject = load_subject(run_dir, model=model, limit=limit)
    options = options or Options()
    views, skipped, errors = report_views(subject, options)
    views.sort(key=lambda v: ORDER.index(v.name) if v.name in ORDER else len(ORDER))
    figures_dir = runs.RunDir(run_dir).figures
    figures_dir.mkdir(exist_ok=True)
    images = [(v.name, v.caption + "".join(f" [left out: {n}]" for n in v.notes),
               png_bytes(v.figure, figures_dir / f"{v.name}.png")) for v in views]
    history = read_history(run_dir)
    fig, why = history_figure(history, subject.model)
    if why:
        skipped["training"] = why
    if fig is not None:
        images.insert(0, ("training", "Per-epoch training (solid) and test (dashed) curves from history.csv.",
                          png_bytes(fig, figures_dir / "training.png")))
    by_name = {v.name: v.metrics for v in views}
    digest = subject.model_hash
    if "latent" in by_name:
        runs.update_metrics(run_dir, "latent", by_name["latent"]["confinement"], model_hash=digest)
    if "arithmetic" in by_name:
        runs.update_metrics(run_dir, "arithmetic", by_name["arithmetic"], model_hash=digest)
    summary = {k: v for name, m in by_name.items() if name not in ("latent", "arithmetic", "path")
               for k, v in m.items()}
    summary["report_seconds"] = round(time.perf_counter() - start, 2)
    lines = skip_lines(views, skipped, errors)
    for line in lines:
        warnings.warn(line, stacklevel=1)
    metrics = runs.update_metrics(run_dir, "figures", {**summary, "errors": errors,
                                                       "skipped": lines[: len(lines) - len(errors)]},
                                  model_hash=digest)
    path = run_dir / REPORT
    write_atomic(path, render_html(run_dir, subject, images, metrics, history, errors, skipped))
    return path


# ---------------------------------------------------------------------------- HTML

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;border-bottom:1px solid #ddd;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}
.caption{font-size:.85em;color:#555}pre{background:#f7f7f7;padding:.6em;font-size:.8em;overflow:auto}
.err{color:#a00}"""


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and len(v) > 12:
        return "[" + ", ".join(_fmt(x) for x in v[:12]) + f", ... ({len(v)} values)]"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


def html_table(d: dict) -> str:
    """A dict as a two-column table; nested dicts become nested tables."""
    rows = []
    for k, v in d.items():
        cell = html_table(v) if isinstance(v, dict) and v else html.escape(_fmt(v))
        rows.append(f"<tr><th>{html.escape(str(k))}</th><td>{cell}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _order(model) -> tuple[str, ...]:
    return model.history_columns() if model is not None else ()


def _history_table(history: dict[str, list[float]], model=None) -> str:
    n = len(history.get("epoch", []))
    keys = [k for k in ("epoch", *plots.history_curves(history, _order(model)), "val_loss", "time")
            if len(history.get(k, [])) == n]  # a column with gaps (NA cells) is left out of the table
    picks = sorted({0, n // 4, n // 2, 3 * n // 4, n - 1}) if n else []
    head = "".join(f"<th>{k}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(history[k][i])}</td>" for k in keys) + "</tr>" for i in picks)
    return f"<table><tr>{head}</tr>{body}</table>"


def page_head(title: str) -> str:
    """The start of a self-contained page (inline style, no remote assets) with its <h1>."""
    title = html.escape(title)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style>"
            f"</head><body><h1>{title}</h1>")


def figure_html(name: str, caption: str, png: bytes) -> str:
    """A heading, the PNG embedded as base64, and its caption."""
    b64 = base64.b64encode(png).decode("ascii")
    return (f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{b64}'>"
            f"<p class='caption'>{html.escape(caption)}</p>")


def render_html(run_dir: Path, subject: Subject, images: list[tuple[str, str, bytes]], metrics: dict,
                history: dict, errors: dict[str, str], skipped: dict[str, str] | None = None) -> str:
    """One self-contained page: summary, figures (base64 PNG), metric tables, config."""
    model = subject.model
    config = (run_dir / runs.CONFIG).read_text() if (run_dir / runs.CONFIG).is_file() else ""
    labels = "none" if subject.labels is None else ("attributes" if subject.labels.ndim == 2 else "classes")
    summary = {
        "run": run_dir.name, "model": f"{model.kind.upper()}, latent_dim {model.latent_dim}",
        "image_shape": list(model.image_shape), "likelihood": model.likelihood,
        "parameters": int(model.count_params()), "test images used": len(subject.images), "labels": labels,
        "epochs": len(history.get("loss", [])),
    }
    parts = [page_head(f"vaelab run report: {run_dir.name}"), html_table(summary)]
    if subject.model_hash:  # the model these figures and numbers come from (runs.file_hash)
        parts.insert(1, f"<meta name='{runs.MODEL_HASH}' content='{subject.model_hash}'>")
    if history:
        parts.append("<h2>training</h2>" + _history_table(history, model))
    parts += [figure_html(name, caption, png) for name, caption, png in images]
    for why in (skipped or {}).values():
        parts.append(f"<p class='err'>{html.escape(why)}</p>")
    for name, err in errors.items():
        parts.append(f"<p class='err'>figure {html.escape(name)} failed: {html.escape(err)}</p>")
    parts.append("<h2>metrics.json</h2>")
    for section, values in metrics.items():
        body = html_table(values) if isinstance(values, dict) else html.escape(json.dumps(values))
        parts.append(f"<h3>{html.escape(section)}</h3>{body}")
    parts.append(f"<h2>config.yaml</h2><pre>{html.escape(config)}</pre></body></html>")
    return "\n".join(parts)
