"""Named figures of a trained model on a test batch: each returns a `View` (figure, numbers, caption).

`FIGURES` maps a name (`vaelab plot --what NAME`) to `fn(subject, options) -> View`; its metadata
`fits(subject) -> bool` says whether the figure makes sense for the data (the report uses it:
no class paths without class labels, no manifold grid above two latent dims, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vaelab import plots
from vaelab.analysis import arithmetic, grids, latent, paths
from vaelab.analysis.subject import PREFERRED_ATTRIBUTES, Subject
from vaelab.registry import Registry

FIGURES = Registry("figure")

@dataclass
class Options:
    """Settings shared by the figures (CLI flags of `vaelab plot`)."""

    n: int = 16  # images per strip/grid side
    std: float = 1.0  # prior samples from N(0, std^2 I)
    prior: str = "auto"  # standard | a fitted kind (gmm, ...) | auto: the run's newest fitted prior, else standard
    dims: tuple[int, int] = (0, 1)  # manifold dims
    grid: int = 15  # manifold grid side
    indices: tuple[int, int] | None = None  # interpolation endpoints (test-image indices); None: auto
    classes: tuple[str, str] | None = None  # interpolate between two class centroids instead
    steps: int = 10
    attributes: list[str] | None = None
    factors: tuple[float, ...] = (0.0, 1.0, 2.0)
    combo: dict[str, float] | None = None  # arithmetic: also add sum_a w_a * v_a, e.g. {"Smiling": 1}
    max_points: int = 2000  # cap for scatter plots and t-SNE
    seed: int = 0


@dataclass
class View:
    name: str
    figure: object  # matplotlib Figure
    metrics: dict = field(default_factory=dict)
    caption: str = ""


@FIGURES.register("latent", fits=lambda s: True)
def latent_view(s: Subject, o: Options) -> View:
    """Scatter of test z_mean (2-D directly; else PCA and t-SNE) with confinement statistics."""
    z, _ = s.codes
    stats = latent.confinement_stats(z)
    idx = latent.subsample(len(z), o.max_points, o.seed)
    colours, names, what = s.colour_labels()
    colours = None if colours is None else colours[idx]
    d = z.shape[1]
    if d == 2:
        panels = {"z_mean": z[idx]}
        boxes = {"z_mean": (stats["min"], stats["max"], stats["radius_95"])}
        fig = plots.plot_latent_scatter(panels, colours, names, boxes=boxes)
    elif d == 1:
        jitter = np.random.default_rng(o.seed).uniform(-0.3, 0.3, len(idx))
        y = (colours if colours is not None else np.zeros(len(idx))) + jitter
        fig = plots.plot_latent_scatter({"z_mean (1-D)": np.stack([z[idx, 0], y], 1)}, colours, names,
                                        axis_labels=("z[0]", what or "jitter"))
    else:
        panels = {latent.PROJECTIONS.info(m)["title"]: latent.project_2d(z[idx], m, o.seed)
                  for m in ("pca", "tsne")}
        fig = plots.plot_latent_scatter(panels, colours, names, axis_labels=("component 1", "component 2"))
    r95 = stats["radius_95"]
    fig.suptitle(f"test z_mean ({len(idx)} points, D={d}); 95% of codes within |z| < {r95:.2f}", fontsize=10)
    caption = (f"Bounding box per dim: {_fmt_box(stats)}. Colour: {what or 'none (no labels)'}. "
               "Dashed: bounding box; red circle: radius holding 95% of the codes.")
    return View("latent", fig, {"confinement": stats}, caption)


def _fmt_box(stats: dict, max_dims: int = 4) -> str:
    pairs = zip(stats["min"][:max_dims], stats["max"][:max_dims], strict=True)
    parts = [f"[{a:.2f}, {b:.2f}]" for a, b in pairs]
    return " x ".join(parts) + (" x ..." if stats["latent_dim"] > max_dims else "")


@FIGURES.register("histograms", fits=lambda s: True)
def histograms_view(s: Subject, o: Options) -> View:
    """Histogram of each latent dim of test z_mean against N(0, 1)."""
    z, _ = s.codes
    caption = "Test-set z_mean per dim; red: prior density."
    return View("histograms", plots.plot_latent_histograms(z), {}, caption)


@FIGURES.register("recon", fits=lambda s: True)
def recon_view(s: Subject, o: Options) -> View:
    """The first n test images above their deterministic reconstructions (z = z_mean)."""
    x = s.images[: o.n]
    x_hat = s.model.reconstruct(x, deterministic=True)
    mse = float(np.mean((x - x_hat) ** 2))
    title = f"first {len(x)} test images / reconstructions (z = z_mean)"
    fig = plots.plot_reconstructions(x, x_hat, title=title)
    return View("recon", fig, {"recon_mse_batch": mse}, f"Per-pixel MSE on this batch: {mse:.4f}.")


@FIGURES.register("samples", fits=lambda s: True)
def samples_view(s: Subject, o: Options) -> View:
    """n images decoded from prior samples: N(0, std^2 I) or a prior fitted to the run (`vaelab fit-prior`)."""
    from vaelab.priors import decode_samples, label, resolve

    n = max(o.n, 1)
    prior = resolve(s.run_dir, o.prior, s.model.latent_dim)
    images = decode_samples(s.model, prior, n, seed=o.seed, std=o.std)
    name = label(s.model, prior)
    fig = plots.plot_image_grid(images, title=f"{n} samples, z ~ {name}, std {o.std:g}, seed {o.seed}")
    return View("samples", fig, {"prior": name}, f"Decoded prior samples, z ~ {name}, std {o.std:g}.")


@FIGURES.register("conditional", fits=lambda s: getattr(s.model, "needs_labels", False))
def conditional_view(s: Subject, o: Options) -> View:
    """Conditional models: one row of samples per class (or per attribute set to 1), the same z in each column."""
    model, n = s.model, min(max(o.n, 1), 10)
    z = np.random.default_rng(o.seed).standard_normal((n, model.latent_dim)).astype("float32") * o.std
    names = model.label_names[:20]
    if model.attributes:  # CelebA has 40: the chosen or preferred ones
        names = o.attributes or [a for a in PREFERRED_ATTRIBUTES if a in names] or names[:3]
    conditions = {name: model.parse_condition(name if not model.attributes else f"{name}=1") for name in names}
    rows = {f"{'class' if not model.attributes else 'attribute'} {name}": model.decode(z, condition=c)
            for name, c in conditions.items()}
    rows["no label (null condition)"] = model.decode(z, condition=None)
    fig = plots.plot_strips(rows, title=f"samples per condition; column j shares z_j ~ N(0, {o.std:g}^2 I)")
    caption = ("Each row decodes the same latents under one condition"
               + (" (that attribute 1, the others 0)." if model.attributes else "."))
    return View("conditional", fig, {}, caption)


@FIGURES.register("manifold", fits=lambda s: s.model.latent_dim <= 2)
def manifold_view(s: Subject, o: Options) -> View:
    """Decoded grid on normal quantiles of linspace(0.05, 0.95) over two dims (others 0)."""
    d = s.model.latent_dim
    z = grids.manifold_latents(o.grid, d, o.dims)
    values = grids.normal_quantile_grid(o.grid)
    images = s.model.decode(z)
    fig = plots.plot_manifold(images, values, None if d == 1 else values, o.dims,
                              title=f"decoded latent grid, N(0,1) quantiles 0.05..0.95 (D={d})")
    caption = "Other dims fixed at 0." if d > 2 else ""
    return View("manifold", fig, {}, caption)


def _endpoints(s: Subject, o: Options) -> tuple[np.ndarray, np.ndarray, str]:
    z, _ = s.codes
    if o.classes is not None:
        if not s.has_classes:
            raise ValueError("interpolating between class centroids needs class labels; this data has none")
        classes, centroids = paths.class_centroids(z, s.labels)
        names = list(s.label_names or [str(c) for c in classes])
        try:
            a, b = (names.index(str(c)) for c in o.classes)
        except ValueError:
            raise ValueError(f"unknown class in {list(o.classes)}; choose from {names}") from None
        return centroids[a], centroids[b], f"centroid of {o.classes[0]} -> centroid of {o.classes[1]}"
    i, j = o.indices or _two_different(s)
    if not (0 <= i < len(z) and 0 <= j < len(z)):
        raise ValueError(f"indices: expected two test-image indices in [0, {len(z)}), received {(i, j)}")
    return z[i], z[j], f"test image {i} -> test image {j}"


def _two_different(s: Subject) -> tuple[int, int]:
    """Image 0 and the first image with another label (else image 1): a more telling default path."""
    if s.labels is None or len(s.images) < 2:
        return 0, min(1, len(s.images) - 1)
    flat = np.asarray(s.labels).reshape(len(s.labels), -1)
    other = np.flatnonzero((flat != flat[0]).any(axis=1))
    return 0, int(other[0]) if len(other) else 1


@FIGURES.register("interpolate", fits=lambda s: True)
def interpolate_view(s: Subject, o: Options) -> View:
    """Linear and spherical interpolation between two test images (or two class centroids)."""
    a, b, what = _endpoints(s, o)
    rows, metrics = {}, {}
    for method in ("linear", "slerp"):
        path = paths.interpolate(a, b, o.steps, method)  # (S, D)
        rows[method] = s.model.decode(path)
        metrics[f"{method}_mean_norm"] = float(np.linalg.norm(path, axis=1).mean())
    fig = plots.plot_strips(rows, title=f"interpolation: {what}")
    caption = (f"Mean |z| along the path: linear {metrics['linear_mean_norm']:.2f}, "
               f"slerp {metrics['slerp_mean_norm']:.2f}.")
    return View("interpolate", fig, metrics, caption)


@FIGURES.register("path", fits=lambda s: s.has_classes)
def path_view(s: Subject, o: Options) -> View:
    """The decoded straight path visiting every class centroid in turn (one strip per segment)."""
    if not s.has_classes:
        raise ValueError("the centroid path needs class labels; this data has none")
    z, _ = s.codes
    classes, centroids = paths.class_centroids(z, s.labels)
    names = s.label_names or [str(c) for c in classes]
    steps = max(o.steps // 2 + 1, 3)
    rows = {f"{names[classes[k]]} -> {names[classes[k + 1]]}":
            s.model.decode(paths.interpolate(centroids[k], centroids[k + 1], steps, "linear"))
            for k in range(len(classes) - 1)}
    fig = plots.plot_strips(rows, title="decoded path between class centroids (mean test z_mean per class)")
    centres = {str(names[c]): v.tolist() for c, v in zip(classes, centroids, strict=True)}
    return View("path", fig, {"centroids": centres})


@FIGURES.register("arithmetic", fits=lambda s: s.labels is not None)
def arithmetic_view(s: Subject, o: Options) -> View:
    """Adds attribute vectors to codes of images without the attribute; scored by a pixel classifier."""
    if s.labels is None:
        raise ValueError("feature arithmetic needs labels; this data has none")
    z, _ = s.codes
    attrs, names = arithmetic.as_attributes(s.labels, s.label_names)
    chosen = o.attributes or [a for a in PREFERRED_ATTRIBUTES if a in names] or names[:3]
    if s.train_images is not None:  # more labelled images: better vectors and classifier
        clf_images, (clf_attrs, _) = s.train_images, arithmetic.as_attributes(s.train_labels, names)
        vectors = arithmetic.attribute_vectors(s.model.encode(clf_images)[0], clf_attrs)  # (A, D)
    else:
        clf_images, clf_attrs = s.images, attrs
        vectors = arithmetic.attribute_vectors(z, attrs)  # (A, D)
    clf = arithmetic.fit_attribute_classifier(clf_images, clf_attrs, names, chosen, seed=o.seed)
    rows, metrics, notes = {}, {}, []
    for name in chosen:
        idx, originals, edits = arithmetic.attribute_edit(s.model, s.images, attrs, names, name, vectors,
                                                          o.factors, n=200)
        base = edits[0.0] if 0.0 in edits else edits[min(edits)]  # the plain reconstruction if asked for
        scores = {f"x{f:g}": float(np.mean(clf.predict_proba(imgs, name))) for f, imgs in edits.items()}
        p_orig = float(np.mean(clf.predict_proba(originals, name)))
        target = edits[1.0] if 1.0 in edits else edits[max(edits)]
        shift = arithmetic.score_shift(clf, base, target, name)
        metrics[name] = {"n": int(len(idx)), "p_original": p_orig, "p_by_factor": scores, **shift,
                         "classifier_accuracy": clf.accuracy[name]}
        rows[f"{name}: original"] = originals[: min(o.n, 8)]
        for f, imgs in edits.items():
            rows[f"{name}: {f:+g} v"] = imgs[: min(o.n, 8)]
        notes.append(f"{name}: p {shift['p_before']:.2f} -> {shift['p_after']:.2f}")
    if o.combo:
        rows_c, metrics["combination"], note = _combination(s, o, names, vectors, clf_images, clf_attrs)
        rows.update(rows_c)
        notes.append(note)
    caption = (f"Vectors and classifier from {len(clf_images)} labelled images. Scored by {clf.description} "
               f"(held-out accuracy {', '.join(f'{k} {v:.2f}' for k, v in clf.accuracy.items())}); "
               "mean P(attribute) "
               f"over up to 200 images without it, reconstruction (+0 v) vs +1 v: " + "; ".join(notes) + ".")
    fig = plots.plot_strips(rows, title="latent arithmetic: z + f * (mean z with attribute - mean z without)",
                            caption="; ".join(notes) + f"  [{clf.description}]")
    return View("arithmetic", fig, {"classifier": clf.description, "attributes": metrics}, caption)


def _combination(s: Subject, o: Options, names, vectors, clf_images, clf_attrs):
    """Adds sum_a w_a * v_a to the first n images; scores each attribute of the combination."""
    label = " ".join(f"{w:+g} {a}" for a, w in o.combo.items())
    v = arithmetic.combine_vectors(vectors, names, o.combo)  # (D,)
    clf = arithmetic.fit_attribute_classifier(clf_images, clf_attrs, names, list(o.combo), seed=o.seed)
    x = s.images[:200]
    z_mean, _ = s.model.encode(x)
    before, after = s.model.decode(z_mean), s.model.decode(z_mean + v)
    scores = {a: arithmetic.score_shift(clf, before, after, a) for a in o.combo}
    rows = {"combo: original": x[: min(o.n, 8)], "combo: recon": before[: min(o.n, 8)],
            f"combo: {label}": after[: min(o.n, 8)]}
    note = "combo " + ", ".join(f"{a} {m['p_before']:.2f} -> {m['p_after']:.2f}" for a, m in scores.items())
    return rows, {"weights": dict(o.combo), "n": len(x), "scores": scores}, note


def make_view(name: str, subject: Subject, options: Options | None = None) -> View:
    """The figure `name` (one of `FIGURES.names()`) for `subject`."""
    return FIGURES.get(name)(subject, options or Options())
