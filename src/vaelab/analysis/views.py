"""Named figures of a trained model on a test batch: each returns a `View` (figure, numbers, caption).

`FIGURES` maps a name (`vaelab plot --what NAME`) to `fn(subject, options) -> View`; its metadata
`fits(subject) -> bool` says whether the figure makes sense for the run (no class paths without class
labels, no manifold grid above two latent dims, ...) and `needs` says what it needs, for the line
that reports a skipped figure.

Figures degrade, never crash: `draw(name, subject, options)` raises `Skipped` (one line: what and why)
when the inputs cannot give the figure at all (no fit, every code NaN, one class for a class path), and
a drawn figure lists the parts it left out in `View.notes` (NaN codes dropped, t-SNE of constant codes).
`draw_all` is what the report and `vaelab plot --what all` use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vaelab import plots
from vaelab.analysis import arithmetic, embedding, grids, paths
from vaelab.analysis.subject import PREFERRED_ATTRIBUTES, Subject
from vaelab.registry import Registry

FIGURES = Registry("figure")


class Skipped(ValueError):
    """A figure its inputs cannot give; the message says why (one line)."""

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
    notes: list[str] = field(default_factory=list)  # parts left out, and why (one line each)


def unfit_reason(name: str, s: Subject) -> str | None:
    """Why figure `name` does not apply to the subject (its registered `needs`), or None when it fits."""
    info = FIGURES.info(name)
    return None if info["fits"](s) else f"needs {info.get('needs', 'other data')}"


def draw(name: str, s: Subject, o: Options | None = None) -> View:
    """The figure `name`, or `Skipped` saying why it cannot be drawn for this subject."""
    reason = unfit_reason(name, s)
    if reason:
        raise Skipped(f"figure {name!r} does not apply to this run: it {reason}")
    if len(s.images) == 0:
        raise Skipped(f"figure {name!r} skipped: no test images to draw from")
    try:
        return FIGURES.get(name)(s, o or Options())
    except (Skipped, embedding.DegenerateCodes) as e:  # the inputs cannot give this figure
        raise Skipped(f"figure {name!r} skipped: {e}") from None


def draw_all(s: Subject, o: Options | None = None, names: list[str] | None = None
             ) -> tuple[list[View], dict[str, str], dict[str, str]]:
    """(views, {name: why skipped}, {name: error}) for every figure in `names` (default: all registered).

    A figure that does not fit or whose inputs are degenerate is skipped; any other failure is collected
    as an error (one broken figure must not cost the others)."""
    views, skipped, errors = [], {}, {}
    for name in names or FIGURES.names():
        try:
            views.append(draw(name, s, o))
        except Skipped as e:
            skipped[name] = str(e)
        except Exception as e:  # noqa: BLE001
            errors[name] = f"{type(e).__name__}: {' '.join(str(e).split())}"
    return views, skipped, errors


def _finite_codes(s: Subject) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(mask (N,) of finite codes, those codes z_mean (M, D), notes): `Skipped` when none is finite."""
    z, _ = s.codes
    try:
        ok, note = embedding.finite_rows(z)
    except embedding.DegenerateCodes as e:
        raise Skipped(f"test z_mean: {e}") from None
    return ok, np.asarray(z)[ok], [f"test z_mean: {note}"] if note else []


def _nan_note(images, what: str) -> list[str]:
    """A note when decoded images hold NaN (they are drawn blank)."""
    bad = int((~np.isfinite(np.asarray(images, "float64")).all(axis=(1, 2, 3))).sum())
    return [f"{bad} of {len(images)} {what} are NaN (drawn blank)"] if bad else []


@FIGURES.register("latent", fits=lambda s: True)
def latent_view(s: Subject, o: Options) -> View:
    """Scatter of test z_mean (2-D directly; else PCA and t-SNE) with confinement statistics."""
    ok, z, notes = _finite_codes(s)
    stats = embedding.confinement_stats(z)
    idx = embedding.subsample(len(z), o.max_points, o.seed)
    colours, names, what = s.colour_labels()
    colours = None if colours is None else np.asarray(colours)[ok][idx]
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
        panels = {}
        for m in ("pca", "tsne"):
            try:
                panels[embedding.PROJECTIONS.info(m)["title"]] = embedding.project_2d(z[idx], m, o.seed)
            except embedding.DegenerateCodes as e:
                title = embedding.PROJECTIONS.info(m)["title"]
                notes.append(f"{title} panel skipped: {str(e).removeprefix(title + ': ')}")
        fig = plots.plot_latent_scatter(panels, colours, names, axis_labels=("component 1", "component 2"))
    r95 = stats["radius_95"]
    fig.suptitle(f"test z_mean ({len(idx)} points, D={d}); 95% of codes within |z| < {r95:.2f}", fontsize=10)
    caption = (f"Bounding box per dim: {_fmt_box(stats)}. Colour: {what or 'none (no labels)'}. "
               "Dashed: bounding box; red circle: radius holding 95% of the codes.")
    return View("latent", fig, {"confinement": stats}, caption, notes)


def _fmt_box(stats: dict, max_dims: int = 4) -> str:
    pairs = zip(stats["min"][:max_dims], stats["max"][:max_dims], strict=True)
    parts = [f"[{a:.2f}, {b:.2f}]" for a, b in pairs]
    return " x ".join(parts) + (" x ..." if stats["latent_dim"] > max_dims else "")


@FIGURES.register("histograms", fits=lambda s: True)
def histograms_view(s: Subject, o: Options) -> View:
    """Histogram of each latent dim of test z_mean against N(0, 1)."""
    _, z, notes = _finite_codes(s)
    caption = "Test-set z_mean per dim; red: prior density."
    return View("histograms", plots.plot_latent_histograms(z), {}, caption, notes)


@FIGURES.register("recon", fits=lambda s: True)
def recon_view(s: Subject, o: Options) -> View:
    """The first n test images above their deterministic reconstructions (z = z_mean)."""
    x = s.images[: o.n]
    x_hat = s.model.reconstruct(x, deterministic=True)
    mse = float(np.mean((x - x_hat) ** 2))
    title = f"first {len(x)} test images / reconstructions (z = z_mean)"
    fig = plots.plot_reconstructions(x, x_hat, title=title)
    return View("recon", fig, {"recon_mse_batch": mse}, f"Per-pixel MSE on this batch: {mse:.4f}.",
                _nan_note(x_hat, "reconstructions"))


@FIGURES.register("samples", fits=lambda s: True)
def samples_view(s: Subject, o: Options) -> View:
    """n images decoded from prior samples: N(0, std^2 I) or a prior fitted to the run (`vaelab fit-prior`)."""
    from vaelab.priors import decode_samples, label, resolve

    n = max(o.n, 1)
    prior = resolve(s.run_dir, o.prior, s.model.latent_dim)
    images = decode_samples(s.model, prior, n, seed=o.seed, std=o.std)
    name = label(s.model, prior)
    fig = plots.plot_image_grid(images, title=f"{n} samples, z ~ {name}, std {o.std:g}, seed {o.seed}")
    return View("samples", fig, {"prior": name}, f"Decoded prior samples, z ~ {name}, std {o.std:g}.",
                _nan_note(images, "samples"))


@FIGURES.register("traversals", fits=lambda s: s.ground_truth is not None and "z_mean" in s.model.prior_inputs,
                  needs="a dataset with ground-truth factors (dsprites, shapes3d) and a continuous code")
def traversals_view(s: Subject, o: Options) -> View:
    """One row per latent dimension: that dimension swept over [-3, 3] with the others at a test image's code;
    beside it the factor it tells most about, by I(z_j; v_k) / H(v_k) on draws from the ground truth (MIG's
    discretised estimate)."""
    from vaelab.metrics import disentanglement as dis

    gt, cols = s.ground_truth, min(max(o.n, 3), 12)
    factors = dis.sample_factors(tuple(gt.factor_sizes), 2000, np.random.default_rng(o.seed))  # (N, K)
    z = s.model.encode(gt.observe(factors).astype("float32") / 255.0)[0].reshape(len(factors), -1)  # (N, D)
    h = dis.entropy(factors)  # (K,)
    score = np.divide(dis.mutual_information(dis.discretize(z), factors), h, out=np.zeros((z.shape[1], len(h))),
                      where=h > 0)  # (D, K)
    base = s.codes[0][0]  # (D,) the first test image's code
    sweep = np.linspace(-3.0, 3.0, cols).astype("float32")
    rows, best = {}, {}
    for j in range(min(z.shape[1], 16)):
        codes = np.repeat(base[None], cols, axis=0)  # (cols, D)
        codes[:, j] = sweep
        k = int(np.argmax(score[j]))
        best[f"z{j}"] = {"factor": gt.factor_names[k], "score": round(float(score[j, k]), 4)}
        rows[f"z{j}: {gt.factor_names[k]} {score[j, k]:.2f}"] = s.model.decode(codes)
    fig = plots.plot_strips(rows, title="latent traversals (z_j over -3..3, the others at a test image's code)")
    return View("traversals", fig, {"traversal_factors": best},
                "Each row sweeps one latent dimension; the label names the factor it best predicts and "
                "I(z_j; v_k)/H(v_k), its normalised mutual information (1: the dimension determines the factor).")


@FIGURES.register("conditional", fits=lambda s: getattr(s.model, "needs_labels", False),
                  needs="a conditional model (a family that trains on labels)")
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


@FIGURES.register("manifold", fits=lambda s: s.model.latent_dim <= 2, needs="model.latent_dim 1 or 2")
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
    ok, _, _ = _finite_codes(s)
    z = np.asarray(s.codes[0])
    if o.classes is not None:
        if not s.has_classes:
            raise ValueError("interpolating between class centroids needs class labels; this data has none")
        classes, centroids = paths.class_centroids(z[ok], np.asarray(s.labels)[ok])
        names = list(s.label_names or [str(c) for c in classes])
        try:
            a, b = (names.index(str(c)) for c in o.classes)
        except ValueError:
            raise ValueError(f"unknown class in {list(o.classes)}; choose from {names}") from None
        return centroids[a], centroids[b], f"centroid of {o.classes[0]} -> centroid of {o.classes[1]}"
    if o.indices is None and ok.sum() < 2:
        raise Skipped(f"needs two test images with finite codes; {int(ok.sum())} of {len(z)} have one")
    i, j = o.indices or _two_different(s, ok)
    if not (0 <= i < len(z) and 0 <= j < len(z)):
        raise ValueError(f"indices: expected two test-image indices in [0, {len(z)}), received {(i, j)}")
    if not (ok[i] and ok[j]):
        raise Skipped(f"the code of test image {i if not ok[i] else j} is NaN or infinite")
    return z[i], z[j], f"test image {i} -> test image {j}"


def _two_different(s: Subject, ok: np.ndarray) -> tuple[int, int]:
    """The first image with a finite code and the next one with another label (else the second finite one)."""
    usable = np.flatnonzero(ok)
    first = int(usable[0])
    if s.labels is None:
        return first, int(usable[1])
    flat = np.asarray(s.labels).reshape(len(s.labels), -1)
    other = usable[(flat[usable] != flat[first]).any(axis=1)]
    return first, int(other[0]) if len(other) else int(usable[1])


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


@FIGURES.register("path", fits=lambda s: s.has_classes, needs="class labels")
def path_view(s: Subject, o: Options) -> View:
    """The decoded straight path visiting every class centroid in turn (one strip per segment)."""
    if not s.has_classes:
        raise ValueError("the centroid path needs class labels; this data has none")
    ok, z, notes = _finite_codes(s)
    classes, centroids = paths.class_centroids(z, np.asarray(s.labels)[ok])
    if len(classes) < 2:
        only = s.label_names[classes[0]] if s.label_names else classes[0]
        raise Skipped(f"needs test images of two classes or more; those with finite codes are all class {only}")
    names = s.label_names or [str(c) for c in classes]
    steps = max(o.steps // 2 + 1, 3)
    rows = {f"{names[classes[k]]} -> {names[classes[k + 1]]}":
            s.model.decode(paths.interpolate(centroids[k], centroids[k + 1], steps, "linear"))
            for k in range(len(classes) - 1)}
    fig = plots.plot_strips(rows, title="decoded path between class centroids (mean test z_mean per class)")
    centres = {str(names[c]): v.tolist() for c, v in zip(classes, centroids, strict=True)}
    return View("path", fig, {"centroids": centres}, notes=notes)


@FIGURES.register("arithmetic", fits=lambda s: s.labels is not None, needs="labels (classes or attributes)")
def arithmetic_view(s: Subject, o: Options) -> View:
    """Adds attribute vectors to codes of images without the attribute; scored by a pixel classifier."""
    if s.labels is None:
        raise ValueError("feature arithmetic needs labels; this data has none")
    _, names = arithmetic.as_attributes(s.labels, s.label_names)
    unknown = sorted(set(o.attributes or []) - set(names))
    if unknown:
        raise ValueError(f"unknown attribute(s) {unknown}; choose from {names}")
    preferred = [a for a in PREFERRED_ATTRIBUTES if a in names]
    wanted = o.attributes or preferred or names  # by default the preferred ones, else the first 3 usable
    usable, vectors, clf_images, clf_attrs, notes = _usable_attributes(s, names, wanted, o.seed,
                                                                       None if o.attributes or preferred else 3)
    chosen = list(usable)
    if not chosen:
        raise Skipped(f"none of {len(wanted)} attribute(s) can be shown: {notes[0]}"
                      + (f" (and {len(notes) - 1} more like it)" if len(notes) > 1 else ""))
    attrs = arithmetic.as_attributes(s.labels, s.label_names)[0]
    clf = arithmetic.AttributeClassifier(names=chosen)
    for name in chosen:  # one at a time: the same fit as all at once, and one failure costs one attribute
        clf.models[name], clf.accuracy[name] = usable[name].models[name], usable[name].accuracy[name]
    rows, metrics, lines = {}, {}, []
    for name in chosen:
        idx, originals, edits = arithmetic.attribute_edit(s.model, s.images, attrs, names, name, vectors,
                                                          o.factors, n=200)
        if not all(np.isfinite(imgs).all() for imgs in edits.values()):
            notes.append(f"{name}: the decoder returns NaN for the edited codes")
            continue
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
        lines.append(f"{name}: p {shift['p_before']:.2f} -> {shift['p_after']:.2f}")
    if not rows:
        raise Skipped("; ".join(notes))
    if o.combo:
        rows_c, metrics["combination"], note = _combination(s, o, names, vectors, clf_images, clf_attrs)
        rows.update(rows_c)
        lines.append(note)
    caption = (f"Vectors and classifier from {len(clf_images)} labelled images. Scored by {clf.description} "
               f"(held-out accuracy {', '.join(f'{k} {v:.2f}' for k, v in clf.accuracy.items())}); "
               "mean P(attribute) "
               f"over up to 200 images without it, reconstruction (+0 v) vs +1 v: " + "; ".join(lines) + ".")
    fig = plots.plot_strips(rows, title="latent arithmetic: z + f * (mean z with attribute - mean z without)",
                            caption="; ".join(lines) + f"  [{clf.description}]")
    return View("arithmetic", fig, {"classifier": clf.description, "attributes": metrics}, caption, notes)


def _usable_attributes(s: Subject, names: list[str], wanted: list[str], seed: int, limit: int | None = None):
    """({attribute: its fitted classifier}, vectors (A, D), classifier images, their attributes, notes) for the
    attributes in `wanted` that can be shown: a finite vector, test images without the attribute, and labelled
    images with and without it for the classifier; a note (one line) for each one left out. With `limit`, the
    first `limit` usable ones (the rest are not tried, and not noted)."""
    attrs = arithmetic.as_attributes(s.labels, s.label_names)[0]
    if s.train_images is not None:  # more labelled images: better vectors and classifier
        clf_images, (clf_attrs, _) = s.train_images, arithmetic.as_attributes(s.train_labels, names)
        codes = s.model.encode(clf_images)[0]  # (N, D)
    else:
        clf_images, clf_attrs, codes = s.images, attrs, s.codes[0]
    ok = np.isfinite(np.asarray(codes, "float64")).all(axis=1)
    vectors = arithmetic.attribute_vectors(np.asarray(codes)[ok], clf_attrs[ok])  # (A, D); NaN rows: no vector
    usable, notes = {}, []
    for name in wanted:
        if limit is not None and len(usable) >= limit:
            break
        a = names.index(name)
        if not np.isfinite(vectors[a]).all():
            notes.append(f"{name}: no attribute vector (the images with finite codes all have it, or none has it)")
        elif not (attrs[:, a] == 0).any():
            notes.append(f"{name}: every test image has it; nothing to add it to")
        else:
            try:
                usable[name] = arithmetic.fit_attribute_classifier(clf_images, clf_attrs, names, [name], seed=seed)
            except ValueError as e:  # one value only among the classifier's training images
                notes.append(f"{name}: no classifier ({e})")
    return usable, vectors, clf_images, clf_attrs, notes


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
    """The figure `name` (one of `FIGURES.names()`) for `subject`; `Skipped` when it cannot be drawn."""
    return draw(name, subject, options)
