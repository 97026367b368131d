"""The package's layers (pyproject.toml [tool.importlinter], docs/architecture.md) hold: no module imports a
higher layer, so there is no import circle between layers."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> str | None:
    found = shutil.which("lint-imports") or shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("lint-imports (import-linter, in the dev extra) is missing; CI must check the layers")
    return found


def test_layers_contract_is_kept():
    exe = _lint_imports()
    if exe is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def test_every_module_is_in_a_layer():
    """A new top-level module or package must be placed in the contract, or it escapes the check."""
    import tomllib

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    src = ROOT / "src" / "vaelab"
    top = {f"vaelab.{p.stem}" for p in src.glob("*.py") if p.stem not in ("__init__", "__main__")}
    top |= {f"vaelab.{p.name}" for p in src.iterdir() if (p / "__init__.py").is_file()}
    assert top - named == set(), f"add these to [tool.importlinter] layers in pyproject.toml: {sorted(top - named)}"


def test_code_outside_the_models_never_names_a_family():
    """Families describe themselves (settings, history terms, capabilities as class attributes); code outside
    models/ decides by those, never by a family's name, so a new family touches no other source file."""
    import re

    from vaelab.models.kinds import MODEL_KINDS

    names = [k for k in MODEL_KINDS.names() if k not in ("ae", "vae")]  # the two base kinds are generic words
    quoted = re.compile(r"""["']({})["']""".format("|".join(map(re.escape, names))))  # a name as a string
    allowed = {("evaluate/iwae.py", "iwae"): "the section of the IWAE bound (Burda et al.), not the family"}
    src = ROOT / "src" / "vaelab"
    found = []
    for f in src.rglob("*.py"):
        rel = f.relative_to(src).as_posix()
        if rel.startswith("models/"):
            continue
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{rel}:{i}: {m.group(0)}" for m in quoted.finditer(line) if (rel, m.group(1)) not in allowed]
    assert found == [], "family names outside models/ (use the family's attributes instead):\n" + "\n".join(found)


def test_every_family_setting_is_documented():
    """docs/models.md lists each family's own settings (declared beside the model) with its section."""
    from vaelab.models.kinds import family_settings

    docs = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    missing = [f"{section}.{name}" for section, settings in family_settings().items() for name in settings
               if f"`{section}.{name}`" not in docs]
    assert missing == [], f"document these family settings in docs/models.md: {missing}"
