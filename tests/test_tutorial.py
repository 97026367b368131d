"""docs/tutorial.ipynb runs top to bottom on its tiny settings, and the committed file keeps its outputs.

Executing it needs nbclient, nbformat and ipykernel (the dev extra): skipped where they are missing, a
failure under CI=true.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path

import pytest
from helpers import require

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"
RUNNERS = ("nbclient", "nbformat", "ipykernel")


def outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def test_committed_notebook_has_its_figures_and_no_machine_paths():
    text = NOTEBOOK.read_text(encoding="utf-8")
    nb = json.loads(text)
    assert len(text.encode()) < 2 * 2**20  # the file stays readable on the web
    pngs = [base64.b64decode(o["data"]["image/png"]) for o in outputs(nb) if "image/png" in o.get("data", {})]
    assert len(pngs) >= 8 and all(p.startswith(b"\x89PNG") for p in pngs)
    assert not [o for o in outputs(nb) if o["output_type"] == "error"]
    assert not re.search(r"/(tmp|home|root|work|Users)/", "".join(json.dumps(o) for o in outputs(nb)))
    parameters = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(parameters) == 1 and "VAELAB_TUTORIAL_TINY" in "".join(parameters[0]["source"])


@pytest.mark.slow
def test_tutorial_runs_top_to_bottom_on_tiny_settings(tmp_path, monkeypatch):
    require(all(importlib.util.find_spec(m) for m in RUNNERS), "nbclient/nbformat/ipykernel",
            "pip install -e '.[dev]'")
    import nbformat
    from ipykernel.kernelspec import write_kernel_spec
    from nbclient import NotebookClient

    # the kernel runs this interpreter (a `python3` kernel installed elsewhere could be another Python)
    write_kernel_spec(tmp_path / "jupyter" / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("VAELAB_TUTORIAL_TINY", "1")
    monkeypatch.setenv("VAELAB_TUTORIAL_DIR", str(tmp_path / "runs"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError (naming the cell) on any error
    assert not [o for o in outputs(nb) if o["output_type"] == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs(nb)) >= 8  # the figures are drawn
    for name in ("ae", "vae", "iwae"):
        assert (tmp_path / "runs" / name / "model.keras").is_file(), name
