"""Each figure is produced with the expected panels, for AE/VAE, 1/3 channels and latent dims 1, 2, 5."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from vaelab import plots
from vaelab.analysis import FIGURES, Options, Subject, make_view
from vaelab.config import RunConfig
from vaelab.data.synthetic import make_images
from vaelab.models.kinds import build_model


def _subject(kind="vae", latent_dim=2, channels=1, labels="classes", n=48) -> Subject:
    cfg = RunConfig.from_dict({"model": {"kind": kind, "latent_dim": latent_dim, "filters": [4, 8]}})
    model = build_model(cfg, (16, 16, channels))  # untrained: the figures' mechanics, not their beauty
    images, y = make_images(n, size=16, channels=channels, seed=1)
    x = images.astype("float32") / 255.0
    if labels == "classes":
        return Subject(model, x, y, [f"c{i}" for i in range(10)])
    if labels == "attributes":
        attrs = np.stack([y % 2, (y > 4).astype(int)], 1)  # (N, 2) {0, 1}
        return Subject(model, x, attrs, ["Smiling", "Eyeglasses"])
    return Subject(model, x)


def _images(n=6, channels=1):
    return np.random.default_rng(0).random((n, 8, 8, channels)).astype("float32")


def test_tile_images_layout():
    mosaic = plots.tile_images(np.zeros((5, 4, 3, 1)), ncols=3, pad=1)
    assert mosaic.shape == (2 * 5 - 1, 3 * 4 - 1, 1)
    assert mosaic[4, 0, 0] == 1.0 and mosaic[0, 0, 0] == 0.0  # white padding row
    with pytest.raises(ValueError, match=r"expected \(N, H, W, 1\|3\), received shape \(4, 4\)"):
        plots.tile_images(np.zeros((4, 4)))


@pytest.mark.parametrize("channels", [1, 3])
def test_image_plots_have_the_expected_panels(channels):
    x = _images(channels=channels)
    assert len(plots.plot_image_grid(x).axes) == 1
    fig = plots.plot_reconstructions(x, x)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["original", "reconstruction"]
    assert len(plots.plot_reconstructions(_images(20, channels), _images(20, channels), ncols=8).axes) == 2
    fig = plots.plot_strips({"a": x, "b": x[:3]}, title="t", caption="c")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="one shape"):
        plots.plot_reconstructions(x, x[:2])


def test_latent_plots_and_history():
    z = np.random.default_rng(0).normal(size=(50, 3))
    fig = plots.plot_latent_scatter({"A": z[:, :2], "B": z[:, 1:]}, labels=np.arange(50) % 10,
                                    share_axes=True, boxes={"A": ([-2, -2], [2, 2], 1.5)})
    assert len(fig.axes) == 3  # two panels + colour bar
    assert len(plots.plot_latent_histograms(z).axes) == 3
    assert len(plots.plot_latent_histograms(np.zeros((10, 20))).axes) == 16  # capped at 16 dims
    history = {"loss": [3.0, 2.0], "val_loss": [3.1, 2.2], "kl_loss": [1.0, 1.1], "beta": [1.0, 1.0]}
    assert [a.get_title() for a in plots.plot_history(history).axes] == ["loss", "kl_loss", "beta"]
    with pytest.raises(ValueError, match="expected at least one of"):
        plots.plot_history({"time": [1.0]})


def test_save_grid_and_images(tmp_path):
    x = _images(5, channels=3)
    grid = plots.save_grid(x, tmp_path / "g.png", scale=2)
    assert grid.is_file()
    paths = plots.save_images(x, tmp_path / "each", scale=1)
    assert [p.name for p in paths][:2] == ["sample_0000.png", "sample_0001.png"]
    assert all(p.is_file() for p in paths)


@pytest.mark.parametrize("kind,latent_dim,channels,labels", [
    ("vae", 2, 1, "classes"), ("ae", 5, 3, "attributes"), ("vae", 1, 1, "none"), ("ae", 2, 3, "classes"),
])
def test_every_fitting_figure_works(kind, latent_dim, channels, labels):
    s = _subject(kind, latent_dim, channels, labels)
    opts = Options(n=6, grid=5, steps=5, max_points=48)
    fitting = [n for n in FIGURES.names() if FIGURES.info(n)["fits"](s)]
    assert {"latent", "recon", "samples", "interpolate", "histograms"} <= set(fitting)
    assert ("manifold" in fitting) == (latent_dim <= 2)
    assert ("path" in fitting) == (labels == "classes")
    assert ("arithmetic" in fitting) == (labels != "none")
    for name in fitting:
        view = make_view(name, s, opts)
        assert isinstance(view.figure, Figure) and view.figure.axes, name


def test_latent_view_numbers_and_panels():
    s = _subject("vae", 5, 1, "classes")
    view = make_view("latent", s, Options(max_points=40))
    assert [a.get_title() for a in view.figure.axes[:2]] == ["PCA", "t-SNE"]
    z, _ = s.codes
    stats = view.metrics["confinement"]
    np.testing.assert_allclose(stats["max"], z.max(axis=0), rtol=1e-5)
    assert stats["latent_dim"] == 5 and stats["n"] == 48
    assert len(make_view("latent", _subject("vae", 2), Options()).figure.axes) == 2  # scatter + colour bar


def test_interpolation_and_arithmetic_views():
    s = _subject("vae", 2, 1, "classes")
    view = make_view("interpolate", s, Options(classes=("c1", "c2"), steps=4))
    assert [t.get_text() for t in view.figure.axes[0].get_yticklabels()] == ["linear", "slerp"]
    with pytest.raises(ValueError, match=r"unknown class in \['c1', 'x'\]; choose from"):
        make_view("interpolate", s, Options(classes=("c1", "x")))
    with pytest.raises(ValueError, match=r"indices: expected two test-image indices in \[0, 48\)"):
        make_view("interpolate", s, Options(indices=(0, 99)))
    view = make_view("arithmetic", _subject("ae", 3, 3, "attributes"), Options(n=4, factors=(0.0, 1.0)))
    m = view.metrics["attributes"]
    assert set(m) == {"Smiling", "Eyeglasses"}
    assert set(m["Smiling"]) >= {"p_before", "p_after", "shift", "classifier_accuracy", "p_by_factor"}
    assert "logistic regression" in view.caption
    with pytest.raises(ValueError, match="unknown figure 'nope'; choose from"):
        make_view("nope", s)


def test_arithmetic_combination_is_scored():
    s = _subject("vae", 3, 3, "attributes")
    weights = {"Smiling": 1.0, "Eyeglasses": -1.0}
    view = make_view("arithmetic", s, Options(n=4, factors=(0.0, 1.0), combo=weights))
    combo = view.metrics["attributes"]["combination"]
    assert combo["weights"] == weights and set(combo["scores"]) == set(weights)
    labels = [t.get_text() for t in view.figure.axes[0].get_yticklabels()]
    assert "combo: +1 Smiling -1 Eyeglasses" in labels
    with pytest.raises(ValueError, match="unknown attribute"):
        make_view("arithmetic", s, Options(combo={"Bald": 1.0}))


def test_charts_are_laid_out_once_and_figures_of_images_are_cropped(tmp_path):
    """A chart figure is fitted by tight_layout and saved at its own size (no second layout pass for a crop);
    a figure of fixed-aspect images is cropped to what it draws, so no caption is cut and no margin is left."""
    from PIL import Image

    chart = plots.plot_latent_histograms(np.random.default_rng(0).normal(size=(200, 8)))
    strip = plots.plot_strips({"row": np.full((6, 8, 8, 1), 0.5)}, title="t",
                              caption="a caption long enough to run past the panel's width of images")
    assert plots.bbox_inches(chart) is None and plots.bbox_inches(strip) == "tight"
    assert plots.bbox_inches(Figure()) == "tight"  # a caller's own figure: cropped as before
    for name, fig in (("chart", chart), ("strip", strip)):
        plots.savefig(fig, tmp_path / f"{name}.png", dpi=50)
    w, h = chart.get_size_inches() * 50
    assert Image.open(tmp_path / "chart.png").size == (round(w), round(h))
    w, h = strip.get_size_inches() * 50
    cropped = Image.open(tmp_path / "strip.png").size
    assert cropped != (round(w), round(h))
    extent = strip.get_tightbbox().extents * 50  # inches -> pixels: the caption's right end is inside the file
    assert cropped[0] >= round(extent[2] - extent[0]) - 1
