"""`vaelab compare`: several runs, or a sweep's trials, on one self-contained page.

    >>> build_compare(["runs/a", "runs/b"], "compare.html")
    >>> compare_sweep(sweep, study)                     # -> sweeps/<name>/compare.html

The page has the metrics table (the `vaelab runs` columns plus the final KL, the test reconstruction
loss and the latent spread), the training curves overlaid, the latent codes, prior samples and
reconstructions of every run side by side (shared axes and the same test images where the runs share
their data), and, for a sweep, the objective against each parameter, the parameters' importances
(optuna.importance) and every trial. Figures are PNGs embedded in base64, as in the run report.
"""

from __future__ import annotations

import html
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab import plots, runs
from vaelab.analysis import embedding
from vaelab.atomic import check_output, write_atomic
from vaelab.report import figure_html, page_head, png_bytes
from vaelab.runs_table import COLUMNS, summarize_or_skip

MAX_FIGURE_RUNS = 12  # side-by-side figures beyond this are unreadable: the best/first ones are shown


@dataclass
class Entry:
    path: Path
    label: str
    values: dict  # the table row
    extra: dict = field(default_factory=dict)  # sweep: params, objective value, trial state


def entries_of(run_dirs: list[str | Path]) -> list[Entry]:
    """Table rows of plain run directories, labelled by name (by path where names repeat); a damaged run
    is skipped with a warning naming its file."""
    entries, seen = [], set()
    for d in run_dirs:
        row = summarize_or_skip(d)
        if row is None:
            continue
        label = row.values["name"] if row.values["name"] not in seen else str(Path(d))
        seen.add(label)
        h = runs.read_history(d)
        final = {k: (h[k][-1] if h.get(k) else None) for k in ("kl_loss", "val_reconstruction_loss")}
        entries.append(Entry(Path(d), label, {**row.values, "name": label, **final}))
    return entries


def _html_rows(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r.get(c)))}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<div style='overflow-x:auto'><table><tr>{head}</tr>{body}</table></div>"


def _same_data(subjects) -> bool:
    first = subjects[0].images
    return all(s.images.shape == first.shape and np.array_equal(s.images[:8], first[:8]) for s in subjects)


def model_figures(entries: list[Entry], limit: int = 500, n: int = 10, seed: int = 0):
    """(figures [(name, caption, png)], notes): latent codes, prior samples and reconstructions side by side.
    Also adds `radius_95` and `box` (the latent bounding box) to each entry's row."""
    from vaelab.analysis.subject import load_subject

    loaded, notes = [], []
    for e in entries[:MAX_FIGURE_RUNS]:
        try:
            loaded.append((e, load_subject(e.path, limit=limit, classifier_limit=0)))
        except (ValueError, OSError) as err:  # no model, a damaged or unreadable one
            notes.append(f"{e.label}: no figures ({err})")
    if len(entries) > MAX_FIGURE_RUNS:
        notes.append(f"figures show the first {MAX_FIGURE_RUNS} of {len(entries)} runs")
    if not loaded:
        return [], notes
    subjects = [s for _, s in loaded]
    shared = _same_data(subjects) and len({s.images.shape[1:] for s in subjects}) == 1
    panels, boxes, two_d, dropped = {}, {}, True, False
    for e, s in loaded:
        try:
            ok, note = embedding.finite_rows(s.codes[0])
        except embedding.DegenerateCodes as err:
            notes.append(f"{e.label}: latent codes skipped ({err})")
            continue
        if note:
            notes.append(f"{e.label}: {note}")
            dropped = True
        z = s.codes[0][ok]  # (N, D) finite test z_mean
        stats = embedding.confinement_stats(z)
        e.values["radius_95"] = stats["radius_95"]
        e.values["box"] = " x ".join(f"[{a:.1f}, {b:.1f}]" for a, b in zip(stats["min"][:2], stats["max"][:2],
                                                                          strict=True))
        idx = embedding.subsample(len(z), 2000, seed)
        two_d = two_d and z.shape[1] == 2
        panels[e.label] = z[idx] if z.shape[1] == 2 else embedding.project_2d(z[idx], "pca", seed)
        if z.shape[1] == 2:
            boxes[e.label] = (stats["min"], stats["max"], stats["radius_95"])
    colours, names, what = subjects[0].colour_labels() if shared and not dropped else (None, None, "")
    if colours is not None:
        colours = colours[embedding.subsample(len(subjects[0].images), 2000, seed)]
    figures = []
    if panels:
        figures.append(("latent codes", f"Test z_mean per run ({'shared axes' if two_d else 'PCA where D > 2'}); "
                        f"colour: {what or 'none'}. Dashed: bounding box; red circle: radius holding 95% of the "
                        "codes.", png_bytes(plots.plot_latent_scatter(panels, colours, names, share_axes=two_d,
                                                                      boxes=boxes))))
    same_shape = len({s.images.shape[1:] for s in subjects}) == 1
    if same_shape:
        from vaelab.priors import decode_samples, label, resolve

        drawn = {e.label: (s.model, resolve(s.run_dir, "auto", s.model.latent_dim)) for e, s in loaded}
        rows = {name: decode_samples(model, prior, n, seed=seed) for name, (model, prior) in drawn.items()}
        named = "; ".join(f"{name}: z ~ {label(model, prior)}" for name, (model, prior) in drawn.items())
        figures.append(("prior samples", f"{n} decoded prior samples per run (seed {seed}), each from the run's newest "
                        f"fitted prior, else its own training prior ({named}).", png_bytes(plots.plot_strips(rows))))
    if shared:
        x = subjects[0].images[:n]
        rows = {"original": x, **{e.label: s.model.reconstruct(x, deterministic=True) for e, s in loaded}}
        figures.append(("reconstructions", f"The first {n} test images and each run's reconstruction (z = z_mean).",
                        png_bytes(plots.plot_strips(rows))))
    return figures, notes


def render(title: str, entries: list[Entry], figures, notes: list[str], extra_columns: list[str],
           sections: list[str]) -> str:
    columns = ["name", *extra_columns, *[c for c in COLUMNS if c != "name"], "kl_loss", "val_reconstruction_loss",
               "radius_95", "box"]
    rows = [e.values | e.extra for e in entries]
    columns = [c for c in columns if c == "name" or any(r.get(c) is not None for r in rows)]  # drop empty ones
    parts = [page_head(title), "<h2>runs</h2>", _html_rows(rows, columns),
             "<p class='caption'>kl_loss: final training KL (nats); val_reconstruction_loss: final "
             "reconstruction loss on the validation images (data.validation_images of the test split); "
             "radius_95 / box: spread of the test z_mean codes; iw_nll, fd, fid from "
             "metrics.json (vaelab evaluate) when present.</p>"]
    parts += [figure_html(name, caption, png) for name, caption, png in figures]
    parts += [f"<p class='err'>{html.escape(n)}</p>" for n in notes]
    parts += sections
    parts.append("<h2>run directories</h2><ul>" + "".join(f"<li>{html.escape(e.label)}: "
                                                          f"{html.escape(str(e.path))}</li>" for e in entries)
                 + "</ul></body></html>")
    return "\n".join(parts)


def build_compare(run_dirs: list[str | Path], out: str | Path, title: str | None = None, limit: int = 500,
                  entries: list[Entry] | None = None, extra_columns: list[str] | None = None,
                  sections: list[str] | None = None) -> Path:
    """Writes the comparison page of `run_dirs` to `out`; returns its path."""
    out = check_output(out, (".html", ".htm"), "-o")
    entries = entries if entries is not None else entries_of(run_dirs)
    if not entries:
        raise ValueError("compare: expected at least one readable run directory, received none"
                         + (f" (of {len(run_dirs)} given, all were skipped: see the warnings)" if run_dirs else ""))
    histories = {e.label: runs.read_history(e.path) for e in entries[:MAX_FIGURE_RUNS]}
    figures, notes = model_figures(entries, limit)
    if any(histories.values()):
        try:
            figures.insert(0, ("training curves", "Per-epoch curves of every run (history.csv).",
                               png_bytes(plots.plot_history_overlay(histories))))
        except ValueError as e:  # histories without any curve (runs stopped before an epoch ended)
            notes.insert(0, f"training curves skipped: {e}")
    for note in notes:
        warnings.warn(note, stacklevel=1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    page = render(title or f"vaelab comparison of {len(entries)} runs", entries, figures, notes,
                  extra_columns or [], sections or [])
    write_atomic(out, page)
    return out


# ---------------------------------------------------------------------------- sweeps


def sweep_sections(sweep, study) -> list[str]:
    """Objective against each parameter, parameter importances, and the table of every trial."""
    import optuna

    from vaelab.sweep.study import trial_rows

    spec = sweep.spec
    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    parts = [f"<h2>sweep {html.escape(spec.name)}</h2><p>objective: {html.escape(spec.objective.metric)} "
             f"({spec.objective.reduce if spec.objective.from_history else 'metrics.json'}, "
             f"{spec.objective.direction}); {len(done)} completed of {len(study.trials)} trials; "
             f"sampler {spec.sampler}, pruner {spec.pruner.kind}.</p>"]
    if done:
        points = {p.key: [(t.params[p.key], t.value) for t in done if p.key in t.params] for p in spec.space}
        log_params = tuple(p.key for p in spec.space if p.type == "log_float" or p.log
                           or (p.type == "grid" and _spans_decades(p.choices)))
        fig = plots.plot_objective_vs_params(points, spec.objective.metric, log_params)
        parts.append(figure_html("objective against each parameter", "Completed trials only.", png_bytes(fig)))
    try:
        importances = optuna.importance.get_param_importances(study)
        parts.append(figure_html("parameter importances", "optuna.importance.get_param_importances "
                                 "(its default evaluator) over the completed trials.",
                                 png_bytes(plots.plot_importances(importances))))
    except (RuntimeError, ValueError) as e:
        parts.append(f"<p class='err'>parameter importances: not available ({html.escape(str(e))})</p>")
    rows = trial_rows(study)
    cols = list(dict.fromkeys(c for r in rows for c in r))
    parts.append("<h2>trials</h2>" + _html_rows(rows, cols))
    return parts


def _spans_decades(values) -> bool:
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(nums) == len(values) and min(nums) > 0 and max(nums) / min(nums) >= 100


def compare_sweep(sweep, study, out: str | Path | None = None, limit: int = 500,
                  extra_entries: list[Entry] | None = None) -> Path:
    """The comparison page of a sweep's trials (those whose run directory is on this machine), plus
    `extra_entries` (other runs to set beside them)."""
    import optuna

    keys = [p.key for p in sweep.spec.space]
    ended = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    trials = [t for t in study.get_trials(deepcopy=False, states=ended)
              if t.user_attrs.get("run_dir") and (Path(t.user_attrs["run_dir"]) / runs.CONFIG).is_file()]
    reverse = sweep.spec.objective.direction == "maximize"
    trials.sort(key=lambda t: (t.value is None, (-t.value if reverse else t.value) if t.value is not None else 0))
    entries = []
    for t in trials:
        found = entries_of([t.user_attrs["run_dir"]])
        if not found:  # damaged: skipped with a warning
            continue
        (e,) = found
        e.label = f"trial {t.number}: " + ", ".join(f"{k.split('.')[-1]}={_short(t.params.get(k))}" for k in keys)
        e.values["name"] = e.label
        e.extra = {"trial": t.number, "state": t.state.name, "objective": t.value}
        entries.append(e)
    entries += extra_entries or []
    if not entries:
        raise ValueError(f"sweep {sweep.spec.name}: no trial has a run directory on this machine yet")
    return build_compare([], out or sweep.dir / "compare.html", f"vaelab sweep {sweep.spec.name}", limit,
                         entries, ["trial", "state", "objective"], sweep_sections(sweep, study))


def _short(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
