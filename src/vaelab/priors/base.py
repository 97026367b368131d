"""The prior interface, its registry, and where a run keeps its fitted priors.

A fitted prior is two plain-value files next to the model: `prior_<kind>.npz` (arrays, no pickle) and
`prior_<kind>.json` (what it is and how it was fitted), each written atomically, the JSON last.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from vaelab.registry import Registry

PRIORS = Registry("prior")
AUTO = "auto"  # the most recently fitted prior of the run, else the standard one


class Prior:
    """A density over latent codes (D,) that can be sampled. Subclasses register with `PRIORS`.

    Implement `fit(z, seed, **options)` (classmethod), `sample(n, seed, std)`, `to_arrays()`,
    `from_arrays(arrays, info)` (classmethod) and `describe()`; `info` holds plain values only.
    """

    kind = "?"

    def __init__(self, latent_dim: int, info: dict | None = None):
        self.latent_dim = int(latent_dim)
        self.info = dict(info or {})

    @classmethod
    def fit(cls, z: np.ndarray, seed: int = 0, **options) -> Prior:
        raise ValueError(f"prior {cls.kind!r} needs no fitting")

    def sample(self, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
        """(n, latent_dim) float32 draws; `std` scales the spread (a sampling temperature)."""
        raise NotImplementedError

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], info: dict) -> Prior:
        raise NotImplementedError

    def describe(self) -> str:
        return self.kind


def prior_files(run_dir: str | Path, kind: str) -> tuple[Path, Path]:
    return Path(run_dir) / f"prior_{kind}.npz", Path(run_dir) / f"prior_{kind}.json"


def save_prior(prior: Prior, run_dir: str | Path) -> Path:
    """Writes prior_<kind>.npz then prior_<kind>.json (each via a temp file + rename); returns the JSON."""
    from vaelab.runs import write_atomic

    arrays_file, info_file = prior_files(run_dir, prior.kind)
    tmp = arrays_file.with_name(f".{arrays_file.stem}.tmp.npz")
    np.savez(tmp, **prior.to_arrays())
    os.replace(tmp, arrays_file)
    info = {"kind": prior.kind, "latent_dim": prior.latent_dim, **prior.info}
    write_atomic(info_file, json.dumps(info, indent=2, default=float))
    return info_file


def load_prior(run_dir: str | Path, kind: str) -> Prior:
    cls = PRIORS.get(kind)
    arrays_file, info_file = prior_files(run_dir, kind)
    if not (arrays_file.is_file() and info_file.is_file()):
        raise FileNotFoundError(f"{run_dir}: no fitted {kind!r} prior ({info_file.name} and {arrays_file.name}); "
                                f"fit one with: vaelab fit-prior {run_dir} --kind {kind}")
    info = json.loads(info_file.read_text())
    with np.load(arrays_file, allow_pickle=False) as z:
        return cls.from_arrays(dict(z), info)


def fitted_priors(run_dir: str | Path | None) -> list[str]:
    """Kinds with a fitted prior in the run directory, most recently fitted first."""
    if run_dir is None or not Path(run_dir).is_dir():
        return []
    found = [f for f in Path(run_dir).glob("prior_*.json") if f.stem[len("prior_"):] in PRIORS]
    found = [f for f in found if prior_files(run_dir, f.stem[len("prior_"):])[0].is_file()]
    return [f.stem[len("prior_"):] for f in sorted(found, key=lambda f: f.stat().st_mtime, reverse=True)]


def resolve(run_dir: str | Path | None, name: str, latent_dim: int) -> Prior:
    """The prior called `name` for a run: "standard", a fitted kind, or "auto" (newest fitted, else standard)."""
    if name == AUTO:
        fitted = fitted_priors(run_dir)
        name = fitted[0] if fitted else "standard"
    cls = PRIORS.get(name)
    prior = cls(latent_dim) if name == "standard" else load_prior(run_dir, name)
    if prior.latent_dim != latent_dim:
        raise ValueError(f"prior_{name}.json: latent_dim {prior.latent_dim} does not match the model's "
                         f"{latent_dim}; refit it with: vaelab fit-prior {run_dir} --kind {name}")
    return prior


def fit_prior(run_dir: str | Path, kind: str, limit: int | None = None, seed: int = 0, **options) -> Path:
    """Encodes the run's training images (z = z_mean), fits `kind` to the codes and saves it next to the model."""
    from vaelab import runs
    from vaelab.data import load_arrays
    from vaelab.evaluate import evaluation_images

    if kind == "standard":
        raise ValueError("--kind: 'standard' is N(0, I) and needs no fitting; choose from "
                         f"{[k for k in PRIORS.names() if k != 'standard']}")
    cls = PRIORS.get(kind)
    run = runs.load_run(run_dir)
    if run.model.code_priors:
        raise ValueError(f"--kind {kind}: model.kind {run.model.kind!r} has discrete codes, not a continuous z_mean; "
                         f"choose from {list(run.model.code_priors)}")
    images, _ = load_arrays(run.config.data, "train", limit=limit)
    x = evaluation_images(images, run.config.data.binarize, seed)  # the pixels the encoder was trained on
    t0 = time.perf_counter()
    z_mean, _ = run.model.encode(x)  # (N, D)
    try:
        prior = cls.fit(z_mean, seed=seed, **options)
    except TypeError as e:
        raise ValueError(f"prior {kind!r}: unsupported option ({e})") from None
    prior.info.update({
        "fitted_on": f"z_mean of the first {len(z_mean)} {run.config.data.name} training images",
        "n_fit": int(len(z_mean)), "seed": seed, "fit_seconds": round(time.perf_counter() - t0, 2),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    })
    return save_prior(prior, run.path)


def label(model, prior: Prior) -> str:
    """What samples are drawn from: the model's own training prior for "standard", else the fitted one."""
    return model.prior_label if prior.kind == "standard" else prior.describe()


def decode_samples(model, prior: Prior, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
    """n images (N, H, W, C) decoded from the prior's latent draws."""
    if n < 1:
        raise ValueError(f"-n: expected at least 1 image, received {n}")
    if prior.kind == "standard":  # the model's own training prior (N(0, I), or a family's: VampPrior, p(z1|z2))
        return model.sample(n, std=std, seed=seed)
    return model.decode(prior.sample(n, seed=seed, std=std))
