"""Figures degrade, never crash: every registered figure (and the comparison page) on degenerate inputs draws
what it can and says in one line what it left out, or is skipped with one line saying why.

The matrix is generated from `FIGURES`, so a new figure joins it by itself."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest

from vaelab.analysis import embedding
from vaelab.analysis.subject import Subject
from vaelab.analysis.views import FIGURES, Options, Skipped, View, draw, draw_all
from vaelab.config import RunConfig
from vaelab.models.kinds import build_model

SHAPE = (8, 8, 1)
LABEL_NAMES = ["left", "right"]
N = 24


class Codes:
    """A model whose encoder returns chosen codes (and, optionally, a decoder that returns NaN)."""

    def __init__(self, model, codes=None, nan_decode: bool = False):
        self._model, self._codes, self._nan = model, codes, nan_decode

    def __getattr__(self, name):
        return getattr(self._model, name)

    def encode(self, x, batch_size: int = 512, **kw):
        z, log_var = self._model.encode(x, **kw)
        return (z if self._codes is None else self._codes(len(x), z.shape[1]).astype("float32")), log_var

    def decode(self, z, batch_size: int = 512, **kw):
        out = self._model.decode(np.nan_to_num(np.asarray(z, "float32")), **kw)
        return np.full_like(out, np.nan) if self._nan else out

    def reconstruct(self, x, deterministic: bool = True):
        return self.decode(self.encode(x)[0])


def _images(n: int = N, constant: bool = False) -> np.ndarray:
    if constant:
        return np.full((n, *SHAPE), 0.5, "float32")
    return np.random.default_rng(0).uniform(size=(n, *SHAPE)).astype("float32")


def _labels(n: int = N) -> np.ndarray:
    return np.arange(n) % 2


def _half_nan(n, d):
    z = np.random.default_rng(1).normal(size=(n, d))
    z[::2] = np.nan
    return z


CASES = {  # name -> (codes fn or None, subject keyword changes, NaN decoder)
    "constant codes": (lambda n, d: np.zeros((n, d)), {}, False),
    "NaN codes": (lambda n, d: np.full((n, d), np.nan), {}, False),
    "half NaN codes": (_half_nan, {}, False),
    "infinite codes": (lambda n, d: np.full((n, d), np.inf), {}, False),
    "two distinct codes": (lambda n, d: np.repeat(np.eye(2, d), (n + 1) // 2, 0)[:n], {}, False),
    "tiny codes": (lambda n, d: 1e-30 * np.random.default_rng(2).normal(size=(n, d)), {}, False),
    "one class": (None, {"labels": np.ones(N, "int64")}, False),
    "one image": (None, {"images": _images(1), "labels": np.zeros(1, "int64")}, False),
    "constant images": (None, {"images": _images(constant=True)}, False),
    "no labels": (None, {"labels": None, "label_names": None}, False),
    "attributes of one value": (None, {"labels": np.stack([np.ones(N), np.zeros(N)], 1).astype("int64")}, False),
    "NaN decoder": (None, {}, True),
}


@pytest.fixture(scope="module")
def models():
    """A dense VAE with D = 3 (PCA and t-SNE panels) and a conditional one with D = 2 (manifold, conditional)."""
    out = []
    for kind, d in (("vae", 3), ("cvae", 2)):
        keras.utils.set_random_seed(0)
        cfg = RunConfig.from_dict({"model": {"kind": kind, "architecture": "dense", "hidden_units": [16],
                                             "latent_dim": d}})
        out.append(build_model(cfg, SHAPE, label_names=LABEL_NAMES))
    return out


def _subject(model, case: str) -> Subject:
    codes, changes, nan = CASES[case]
    fields = {"images": _images(), "labels": _labels(), "label_names": LABEL_NAMES, **changes}
    return Subject(Codes(model, codes, nan), run_dir=None, **fields)


def _one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and "Traceback" not in text


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", FIGURES.names())
def test_every_figure_degrades_on_degenerate_inputs(models, name, case):
    opts = Options(n=4, grid=3, steps=3, max_points=200)
    for model in models:
        subject = _subject(model, case)
        try:
            view = draw(name, subject, opts)
        except Skipped as e:
            assert _one_line(str(e)) and name in str(e), str(e)
            continue
        assert isinstance(view, View) and view.name == name
        assert all(_one_line(n) for n in view.notes), view.notes
        view.figure.savefig(io.BytesIO(), format="png", dpi=20)  # it renders


def test_a_figure_that_does_not_fit_is_skipped_with_what_it_needs(models):
    vae = _subject(models[0], "constant images")
    with pytest.raises(Skipped, match="'conditional' does not apply to this run: it needs a conditional model"):
        draw("conditional", vae)
    views, skipped, errors = draw_all(vae, Options(n=4, grid=3, steps=3))
    assert errors == {}
    assert {"conditional", "manifold"} <= set(skipped)  # D = 3: no manifold grid
    assert {v.name for v in views} | set(skipped) == set(FIGURES.names())


def test_tsne_of_constant_codes_is_skipped_and_said_not_run(models, monkeypatch):
    import sklearn.manifold

    def never(*a, **k):
        raise AssertionError("t-SNE ran on constant codes")

    monkeypatch.setattr(sklearn.manifold, "TSNE", never)
    view = draw("latent", _subject(models[0], "constant codes"), Options())
    assert len(view.notes) == 1 and "t-SNE panel skipped" in view.notes[0] and "constant" in view.notes[0]


def test_nan_codes_are_left_out_and_counted(models):
    view = draw("latent", _subject(models[0], "half NaN codes"), Options(max_points=200))
    assert any(f"{N // 2} of {N} codes are NaN or infinite" in n for n in view.notes)
    assert view.metrics["confinement"]["n"] == N // 2
    with pytest.raises(Skipped, match="all 24 codes are NaN or infinite"):
        draw("histograms", _subject(models[0], "NaN codes"))


def test_one_class_has_no_path_and_no_arithmetic(models):
    s = _subject(models[0], "one class")
    with pytest.raises(Skipped, match="needs test images of two classes or more; .* all class right"):
        draw("path", s)
    with pytest.raises(Skipped, match="none of 2 attribute"):
        draw("arithmetic", s)


@pytest.mark.parametrize("z, why", [
    (np.ones((50, 4)), "constant"),
    (1 + 1e-12 * np.random.default_rng(0).normal(size=(50, 4)), "constant"),
    (np.repeat(np.eye(2, 4), 25, 0), "only 2 distinct codes"),
    (np.full((50, 4), np.nan), "NaN"),
    (np.ones((3, 4)), "only 3 codes"),
])
def test_tsne_refuses_codes_it_would_crash_on(z, why):
    assert why in embedding.tsne_problem(z)
    with pytest.raises(embedding.DegenerateCodes, match=why):
        embedding.tsne_2d(z)


def test_tsne_of_tiny_codes_is_rescaled_not_crashed():
    z = 1e-30 * np.random.default_rng(0).normal(size=(40, 4))  # segfaulted scikit-learn before rescaling
    assert embedding.tsne_problem(z) is None
    assert np.isfinite(embedding.tsne_2d(z)).all()


# ---------------------------------------------------------------------------- the comparison page


def test_comparison_page_degrades(models, tmp_path, monkeypatch):
    import vaelab.analysis.subject
    from vaelab.compare_runs import Entry, build_compare

    cases = ["NaN codes", "constant codes", "half NaN codes"]
    by_path = {str(tmp_path / c.replace(" ", "_")): _subject(models[0], c) for c in cases}
    for p in by_path:
        (tmp_path / p).mkdir()
    (tmp_path / "constant_codes" / "history.csv").write_text("epoch,time\n0,1.0\n")  # no curve to draw
    monkeypatch.setattr(vaelab.analysis.subject, "load_subject", lambda path, **kw: by_path[str(path)])
    entries = [Entry(tmp_path / p, c, {"name": c}) for p, c in zip(by_path, cases, strict=True)]
    with pytest.warns(UserWarning) as record:
        out = build_compare([], tmp_path / "c.html", entries=entries)
    lines = [str(w.message) for w in record]
    assert all(_one_line(m) for m in lines)
    assert any("NaN codes: latent codes skipped" in m for m in lines)
    assert any("training curves skipped" in m for m in lines)
    text = out.read_text()
    assert "latent codes" in text and "NaN codes: latent codes skipped" in text


# ---------------------------------------------------------------------------- the run report


def test_report_of_nan_codes_is_written_with_one_line_per_skipped_figure(tmp_path):
    import json

    from helpers import tiny_config

    from vaelab.report import build_report, history_figure
    from vaelab.train import fit

    result = fit(tiny_config(tmp_path, train={"epochs": 1}))
    model = Codes(result.model, CASES["NaN codes"][0])
    with pytest.warns(UserWarning) as record:
        path = build_report(result.run_dir, model=model, limit=32)
    lines = [str(w.message) for w in record if "figure" in str(w.message)]
    skipped = {"latent", "histograms", "interpolate", "path", "arithmetic"}
    assert all(_one_line(m) for m in lines) and len(lines) == len(skipped)
    assert all(any(f"figure '{n}' skipped" in m for m in lines) for n in skipped)
    figures = {p.stem for p in (result.run_dir / "figures").glob("*.png")}
    assert figures == {"training", "recon", "samples", "manifold"}
    metrics = json.loads((result.run_dir / "metrics.json").read_text())["figures"]
    assert metrics["errors"] == {} and sorted(metrics["skipped"]) == sorted(lines)
    assert "figure &#x27;latent&#x27; skipped" in path.read_text()
    assert history_figure({"epoch": [0.0], "time": [1.0]})[1].startswith("figure 'training' skipped: history")
