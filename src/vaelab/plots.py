"""Matplotlib only lives here: each function takes arrays and returns a Figure (never `plt.show()`).

Images are float arrays in [0, 1], shaped (N, H, W, C) with C = 1 (grey) or 3 (RGB); latent codes
are (N, D). Figures are plain `matplotlib.figure.Figure` objects, not registered with pyplot (so
nothing accumulates in notebooks or loops); save them with `savefig(fig, path)` (atomic, like every output).
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from vaelab import atomic
from vaelab.atomic import check_output

_LAID_OUT: weakref.WeakSet = weakref.WeakSet()  # figures `_lay_out` fitted: saved without a crop
BOOKKEEPING = ("epoch", "time", "learning_rate", "lr")  # history.csv columns that are not curves of the objective


def tile_images(images, ncols: int | None = None, pad: int = 1) -> np.ndarray:
    """(N, H, W, C) -> one (rows*(H+pad)-pad, ncols*(W+pad)-pad, C) mosaic, row-major, padding white."""
    images = np.asarray(images, "float32")
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"images: expected (N, H, W, 1|3), received shape {images.shape}")
    n, h, w, c = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    out = np.ones((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), "float32")
    for i, img in enumerate(images):
        r, col = divmod(i, ncols)
        out[r * (h + pad): r * (h + pad) + h, col * (w + pad): col * (w + pad) + w] = img
    return np.clip(out, 0, 1)


def _show(ax, mosaic: np.ndarray, title: str | None = None) -> None:
    if mosaic.shape[-1] == 1:
        ax.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9, loc="left")


def _lay_out(fig: Figure) -> None:
    """Fits the panels, titles and tick labels of a figure of charts into it once (`tight_layout`) and marks it
    laid out, so that saving does not measure every text again for a tight bounding box (see `bbox_inches`).
    Figures of images keep that crop: an image's fixed aspect leaves margins that only the crop removes."""
    fig.tight_layout()
    _LAID_OUT.add(fig)


def bbox_inches(fig: Figure) -> str | None:
    """How to crop `fig` when saving it: a figure laid out by `_lay_out` is saved as it is; any other (images of
    a fixed aspect, a scatter whose colour bar took room from its panels, a caller's own figure) is cropped to
    what it draws ("tight": a whole extra layout pass, ~20% of the 16-panel histogram figure's time)."""
    return None if fig in _LAID_OUT else "tight"


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kw):
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes.ravel()


def plot_image_grid(images, ncols: int | None = None, title: str | None = None) -> Figure:
    """One panel: the images tiled in a grid."""
    mosaic = tile_images(images, ncols)
    scale = 6.0 / max(mosaic.shape[:2])
    fig, (ax,) = _figure(max(2.5, mosaic.shape[1] * scale), max(2.5, mosaic.shape[0] * scale) + 0.4)
    _show(ax, mosaic, title)
    fig.tight_layout()  # then cropped on saving: images of a fixed aspect leave margins
    return fig


def plot_strips(rows: dict[str, np.ndarray], title: str | None = None, caption: str | None = None) -> Figure:
    """One panel of labelled image rows: {row label: images (S, H, W, C)}, each row left to right."""
    if not rows:
        raise ValueError("rows: expected at least one strip of images, received none")
    n = max(len(v) for v in rows.values())
    shape = np.shape(next(iter(rows.values())))[1:]
    blank = np.ones((1, *shape), "float32")  # fills short rows
    padded = [np.concatenate([np.asarray(v, "float32"), np.repeat(blank, n - len(v), 0)])
              for v in rows.values()]
    mosaic = tile_images(np.concatenate(padded), ncols=n)  # (R*(H+1)-1, n*(W+1)-1, C)
    width = min(max(0.55 * n, 4.0), 14.0) + 1.2
    height = width * mosaic.shape[0] / mosaic.shape[1] + 0.5 + (0.2 if caption else 0)
    fig, (ax,) = _figure(width, height)
    _show(ax, mosaic)
    h = shape[0] + 1
    ax.set_yticks([h * i + (h - 2) / 2 for i in range(len(rows))], list(rows), fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    if caption:
        ax.set_xlabel(caption, fontsize=7)
    fig.tight_layout()  # then cropped on saving (see `bbox_inches`)
    return fig


def plot_reconstructions(originals, reconstructions, title: str = "originals / reconstructions",
                         ncols: int | None = None) -> Figure:
    """Two panels: originals above their reconstructions, in the same order."""
    if np.shape(originals) != np.shape(reconstructions):
        shapes = f"{np.shape(originals)} and {np.shape(reconstructions)}"
        raise ValueError(f"expected originals and reconstructions of one shape, received {shapes}")
    ncols = ncols or min(len(originals), 16)
    if len(originals) <= ncols:
        return plot_strips({"original": originals, "reconstruction": reconstructions}, title=title)
    return _stacked_pair(originals, reconstructions, ncols, title)


def _stacked_pair(originals, reconstructions, ncols: int, title: str) -> Figure:
    a, b = tile_images(originals, ncols), tile_images(reconstructions, ncols)
    width = min(ncols * 0.7 + 1, 12)
    fig, axes = _figure(width, 2 * a.shape[0] / a.shape[1] * (width - 1) + 1, 2, 1)
    _show(axes[0], a, "originals")
    _show(axes[1], b, "reconstructions")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()  # then cropped on saving (see `bbox_inches`)
    return fig


def plot_latent_scatter(panels: dict[str, np.ndarray], labels=None, label_names: list[str] | None = None,
                        title: str | None = None, share_axes: bool = False, boxes: dict | None = None,
                        axis_labels: tuple[str, str] = ("z[0]", "z[1]")) -> Figure:
    """One scatter panel per entry of {panel title: points (N, 2)}, coloured by `labels` (N,) if given.

    `boxes` ({panel title: (min (2,), max (2,), radius)}) draws the bounding box and the circle around
    the origin holding 95% of the points (see `analysis.embedding.confinement_stats`).
    """
    fig, axes = _figure(4.2 * len(panels) + 0.8, 4.2, 1, len(panels), sharex=share_axes, sharey=share_axes)
    sc = None
    k = min(int(np.max(labels)) + 1, 10) if labels is not None else 0  # colours: one per class, at most 10
    cmap = ListedColormap(colormaps["tab10"].colors[:k]) if k else None
    for ax, (name, pts) in zip(axes, panels.items(), strict=False):
        pts = np.asarray(pts)
        kw = {"c": labels, "cmap": cmap, "vmin": -0.5, "vmax": k - 0.5} if labels is not None else {"c": "C0"}
        sc = ax.scatter(pts[:, 0], pts[:, 1], s=4, alpha=0.7, linewidths=0, **kw)
        if boxes and name in boxes:
            lo, hi, r = boxes[name]
            ax.add_patch(Rectangle(lo, hi[0] - lo[0], hi[1] - lo[1], fill=False, ls="--", lw=0.8, ec="k"))
            ax.add_patch(Circle((0, 0), r, fill=False, lw=0.8, ec="r"))
            ax.set_aspect("equal", adjustable="box" if share_axes else "datalim")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(axis_labels[0], fontsize=8)
        ax.set_ylabel(axis_labels[1], fontsize=8)
        ax.tick_params(labelsize=7)
    if labels is not None and sc is not None:
        cbar = fig.colorbar(sc, ax=list(axes), ticks=range(k), fraction=0.03)
        if label_names:
            cbar.ax.set_yticklabels([str(n) for n in label_names[:k]], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_latent_histograms(z, max_dims: int = 16, bins: int = 40) -> Figure:
    """One panel per latent dim (first `max_dims`): histogram of the codes against the N(0, 1) density."""
    z = np.asarray(z)
    d = min(z.shape[1], max_dims)
    ncols = min(d, 4)
    nrows = int(np.ceil(d / ncols))
    fig, axes = _figure(2.6 * ncols, 2.0 * nrows + 0.4, nrows, ncols)
    grid = np.linspace(-4, 4, 200)
    for j, ax in enumerate(axes):
        if j >= d:
            ax.set_visible(False)
            continue
        ax.hist(z[:, j], bins=bins, density=True, color="C0", alpha=0.7, histtype="stepfilled")  # one patch, not 40
        ax.plot(grid, np.exp(-grid**2 / 2) / np.sqrt(2 * np.pi), "r-", lw=1, label="N(0,1)")
        ax.set_title(f"z[{j}]  mean {z[:, j].mean():.2f}  std {z[:, j].std():.2f}", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.locator_params(nbins=4)  # 4 ticks a side are enough on a small panel, and each tick costs its layout
    axes[0].legend(fontsize=7)
    fig.suptitle("latent histograms (test z_mean) vs prior N(0, 1)", fontsize=10)
    _lay_out(fig)
    return fig


def plot_manifold(images, grid_x, grid_y=None, dims: tuple[int, int] = (0, 1),
                  title: str | None = None) -> Figure:
    """One panel: decoded images on a latent grid (top row = largest z[dims[1]]); ticks give z values."""
    images = np.asarray(images)
    n = len(grid_x)
    mosaic = tile_images(images, ncols=n)
    fig, (ax,) = _figure(6.5, 6.5 * mosaic.shape[0] / mosaic.shape[1] + 0.8)
    _show(ax, mosaic, title)
    h, w = images.shape[1] + 1, images.shape[2] + 1
    step = max(1, n // 8)
    ax.set_xticks([w * i + (w - 2) / 2 for i in range(0, n, step)], [f"{v:.2f}" for v in grid_x[::step]],
                  fontsize=7)
    ax.set_xlabel(f"z[{dims[0]}]", fontsize=8)
    if grid_y is not None:
        rows = list(grid_y)[::-1]
        ticks = [h * i + (h - 2) / 2 for i in range(0, len(rows), step)]
        ax.set_yticks(ticks, [f"{v:.2f}" for v in rows[::step]], fontsize=7)
        ax.set_ylabel(f"z[{dims[1]}]", fontsize=8)
    fig.tight_layout()  # then cropped on saving (see `bbox_inches`)
    return fig


def history_curves(history: dict[str, list[float]], order: tuple[str, ...] = ()) -> list[str]:
    """The curves of a history: every logged column except bookkeeping and the val_ twins (a family's own terms,
    e.g. beta-TCVAE's three KL parts or a VQ-VAE's codebook use, come with its history); those named in `order`
    (the family's `history_columns`) first, in that order."""
    curves = [c for c in history if not c.startswith("val_") and c not in BOOKKEEPING]
    return [c for c in order if c in curves] + [c for c in curves if c not in order]


def plot_history(history: dict[str, list[float]], curves: list[str] | None = None) -> Figure:
    """One panel per curve (default: `history_curves`), with `val_` curves dashed."""
    curves = history_curves(history) if curves is None else curves
    present = [c for c in curves if history.get(c)]
    if not present:
        raise ValueError(f"history: expected at least one of {list(curves)}, received {sorted(history)}")
    fig, axes = _figure(3.2 * len(present), 2.8, 1, len(present))
    for ax, key in zip(axes, present, strict=False):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], "C0-", lw=1.2, label="train")
        if history.get(f"val_{key}"):
            ax.plot(epochs[: len(history[f"val_{key}"])], history[f"val_{key}"], "C1--", lw=1.2, label="validation")
            ax.legend(fontsize=7)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    _lay_out(fig)
    return fig


def plot_history_overlay(histories: dict[str, dict[str, list[float]]],
                         curves: tuple[str, ...] = ("loss", "val_loss", "reconstruction_loss", "kl_loss")) -> Figure:
    """One panel per curve, one line per run ({run name: history}); runs share colours across panels."""
    present = [c for c in curves if any(h.get(c) for h in histories.values())]
    if not present:
        raise ValueError(f"histories: expected at least one of {list(curves)} in some run, received none")
    fig, axes = _figure(3.4 * len(present), 3.0, 1, len(present))
    for ax, key in zip(axes, present, strict=False):
        for i, (name, h) in enumerate(histories.items()):
            if h.get(key):
                ax.plot(np.arange(1, len(h[key]) + 1), h[key], color=f"C{i % 10}", lw=1.2, label=name)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="upper center", ncol=min(len(labels), 4), bbox_to_anchor=(0.5, 0))
    _lay_out(fig)
    return fig


def plot_objective_vs_params(points: dict[str, list[tuple[object, float]]], objective: str,
                             log_params: tuple[str, ...] = ()) -> Figure:
    """One panel per parameter: the objective of each completed trial against the parameter's value
    ({param: [(value, objective), ...]}); categorical values are placed at 0, 1, 2, ..."""
    if not points:
        raise ValueError("points: expected at least one parameter, received none")
    fig, axes = _figure(3.4 * len(points), 3.0, 1, len(points))
    for ax, (param, pairs) in zip(axes, points.items(), strict=False):
        xs = [x for x, _ in pairs]
        ys = [y for _, y in pairs]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
        if not numeric:
            cats = list(dict.fromkeys(str(x) for x in xs))
            ax.set_xticks(range(len(cats)), cats, fontsize=7)
            xs = [cats.index(str(x)) for x in xs]
        ax.scatter(xs, ys, s=18, c="C0")
        if numeric and param in log_params:
            ax.set_xscale("log")
        ax.set_xlabel(param, fontsize=8)
        ax.set_ylabel(objective, fontsize=8)
        ax.tick_params(labelsize=7)
    _lay_out(fig)
    return fig


def plot_importances(importances: dict[str, float]) -> Figure:
    """Horizontal bars: each parameter's share of the objective's variation (optuna importances)."""
    names = list(importances)[::-1]  # most important on top
    fig, (ax,) = _figure(5.0, 0.4 * len(names) + 1.0)
    ax.barh(range(len(names)), [importances[n] for n in names], color="C0")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("importance (normalised)", fontsize=8)
    ax.tick_params(labelsize=7)
    _lay_out(fig)
    return fig


def _upscale(images: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour upscaling of (N, H, W, C) so small images stay visible; scale 0 = to >= 64 px."""
    scale = scale or max(1, int(np.ceil(64 / images.shape[1])))
    return images.repeat(scale, axis=1).repeat(scale, axis=2)


def check_png_path(path: str | Path, option: str = "output") -> Path:
    """`path` if it names a .png file that can be written, else a ValueError saying what to pass."""
    return check_output(path, (".png",), option)


def savefig(fig: Figure, path: str | Path, **kwargs) -> Path:
    """Saves a figure as a PNG file, atomically (temp file + rename: never a half-written PNG); cropped as
    `bbox_inches` says unless the caller says otherwise."""
    path = check_png_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic.savefig(fig, path, **{"bbox_inches": bbox_inches(fig), **kwargs})


def _imsave(path: Path, image: np.ndarray) -> None:
    from matplotlib.image import imsave

    check_png_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    atomic.write_atomic(path, lambda f: imsave(f, pixels, cmap="gray", vmin=0, vmax=1, format="png"))


def save_grid(images, path: str | Path, scale: int = 0, ncols: int | None = None) -> Path:
    """Writes the images as one pixel-exact PNG mosaic (no axes); returns the path."""
    path = Path(path)
    _imsave(path, tile_images(_upscale(np.clip(np.asarray(images, "float32"), 0, 1), scale), ncols, pad=2))
    return path


def save_images(images, out_dir: str | Path, scale: int = 0, prefix: str = "sample") -> list[Path]:
    """Writes each image as out_dir/{prefix}_0000.png, ...; returns the paths."""
    images = _upscale(np.clip(np.asarray(images, "float32"), 0, 1), scale)
    paths = [Path(out_dir) / f"{prefix}_{i:04d}.png" for i in range(len(images))]
    for p, img in zip(paths, images, strict=True):
        _imsave(p, img)
    return paths
