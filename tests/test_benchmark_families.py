"""benchmarks/families.py: the markdown table and the docs rewrite, on a fake result (no training)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def families():
    spec = importlib.util.spec_from_file_location("families", ROOT / "benchmarks" / "families.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(family, **kw):
    r = {"family": family, "dataset": "mnist", "iw_nll": None, "iw_proper": None, "neg_elbo": None, "kl": None,
         "rec_bce": 70.0, "rec_mse_per_pixel": 0.01234, "active_units": None, "latent_dim": 16, "fd": None,
         "images_per_s": 5000.4}
    return {**r, **kw}


FAKE = {
    "date": "2026-01-01", "commit": "abc1234", "machine": "2 CPU cores", "wall_min": 3.0,
    "loadavg_before": [1.0, 2.0, 3.0], "loadavg_after": [4.0, 5.0, 6.0],
    "budget": {"net": "dense", "train_limit": 10000, "epochs": 5, "batch_size": 128, "pixels": "binarised",
               "k": 100, "test_limit": 500},
    "results": [row("ae"), row("vae", iw_nll=95.123, iw_proper=True, neg_elbo=100.0, kl=25.0, active_units=12,
                                fd=3.456),
                row("vae", dataset="fashion_mnist", iw_nll=240.0, iw_proper=False, neg_elbo=245.0, kl=10.0,
                    active_units=8, fd=9.0)],
    "skipped": [{"family": "x", "dataset": "mnist", "reason": "needs labels"}],
}


def test_table_rows(families):
    lines = families.format_table(FAKE).splitlines()
    assert "| mnist | `ae` | — | — | — | 70.00 | 0.0123 | — | — | 5,000 |" in lines
    assert "| mnist | `vae` | 95.12 | 100.00 | 25.00 | 70.00 | 0.0123 | 12/16 | 3.46 | 5,000 |" in lines
    assert any(line.startswith("| fashion_mnist | `vae` | 240.00* |") for line in lines)  # not a proper NLL
    assert any("skipped: needs labels" in line for line in lines)
    assert "load average 1.0 / 2.0 / 3.0 before" in lines[0] and "abc1234" in lines[0]


def test_write_docs_replaces_only_between_markers(families, tmp_path):
    doc = tmp_path / "models.md"
    doc.write_text(f"intro\n{families.START}\nold table\n{families.END}\noutro\n")
    families.write_docs("new table", doc)
    families.write_docs("newer table", doc)
    assert doc.read_text() == f"intro\n{families.START}\nnewer table\n{families.END}\noutro\n"
    doc.write_text("no markers\n")
    with pytest.raises(ValueError, match="expected the markers"):
        families.write_docs("t", doc)
