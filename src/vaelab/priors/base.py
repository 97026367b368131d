"""The prior interface, its registry, where a run keeps its fitted priors, and the one fitting and sampling path.

A fitted prior is two plain-value files next to the model: `prior_<kind>.npz` (arrays, no pickle) and
`prior_<kind>.json` (what it is and how it was fitted), each written atomically, the JSON last. A prior that
is part of the model (`in_model`: a VQ-VAE's PixelCNN) is saved in model.keras and has the JSON only.

What a prior fits to (`fits_to`) must be one of the model's `prior_inputs`: "z_mean" (the continuous codes
of any encoder) or "codes" (a model's discrete code grids). The model's own training prior ("standard")
needs no fitting (`fitted = False`).
"""

from __future__ import annotations

import io
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vaelab.registry import Registry

PRIORS = Registry("prior")
AUTO = "auto"  # the most recently fitted prior of the run, else the model's own
INPUTS = {"z_mean": "a continuous z_mean", "codes": "discrete code grids"}  # what a prior can fit to (fits_to)


class Prior:
    """A density over latent codes (D,) that can be sampled. Subclasses register with `PRIORS`.

    Implement `fit(z, seed, **options)` (classmethod), `sample(n, seed, std)`, `to_arrays()`,
    `from_arrays(arrays, info)` (classmethod) and `describe()`; `info` holds plain values only.
    """

    kind = "?"
    fitted = True  # False: the model's own training prior, which needs no fitting and has no files
    fits_to = "z_mean"  # what `fit` takes: "z_mean" (N, D) or "codes" (a model's discrete code grids)
    in_model = False  # True: fitting trains part of the model (saved in model.keras); sampled by model.sample

    def __init__(self, latent_dim: int, info: dict | None = None):
        self.latent_dim = int(latent_dim)
        self.info = dict(info or {})

    @classmethod
    def fit(cls, z: np.ndarray, seed: int = 0, **options) -> Prior:
        raise ValueError(f"prior {cls.kind!r} needs no fitting")

    @classmethod
    def fit_model(cls, model, inputs: np.ndarray, seed: int = 0, **options) -> Prior:
        """Fits this prior for `model` to `inputs` (what `fits_to` names). Default: `fit` on the codes alone;
        an `in_model` prior trains the model's own part instead."""
        return cls.fit(inputs, seed=seed, **options)

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
    from vaelab.runs import RunDir

    return RunDir(run_dir).prior(kind)


def save_prior(prior: Prior, run_dir: str | Path, model_hash: str | None = None) -> Path:
    """Writes prior_<kind>.npz then prior_<kind>.json (each atomically); returns the JSON. The JSON records
    `model_hash`, the hash of the model file whose codes the prior was fitted to."""
    from vaelab.atomic import write_atomic
    from vaelab.runs import MODEL_HASH

    arrays_file, info_file = prior_files(run_dir, prior.kind)
    if not prior.in_model:  # an in-model prior's weights are in model.keras
        buf = io.BytesIO()
        np.savez(buf, **prior.to_arrays())
        write_atomic(arrays_file, buf.getvalue())
    info = {"kind": prior.kind, "latent_dim": prior.latent_dim, **prior.info}
    if model_hash is not None:
        info[MODEL_HASH] = model_hash
    write_atomic(info_file, json.dumps(info, indent=2, default=float))
    return info_file


def _read_info(info_file: Path) -> dict:
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{info_file} is damaged ({' '.join(str(e).split())[:80]}); refit the prior with: "
                         f"vaelab fit-prior {info_file.parent} --kind {info_file.stem[len('prior_'):]}") from None
    if not isinstance(info, dict):
        raise ValueError(f"{info_file} is damaged (expected a JSON object); refit the prior with vaelab fit-prior")
    return info


def load_prior(run_dir: str | Path, kind: str, model_hash: str | None = None) -> Prior:
    """The fitted prior of `kind`; a ValueError when it was fitted to another model than `model_hash`."""
    from vaelab.runs import is_current

    cls = PRIORS.get(kind)
    arrays_file, info_file = prior_files(run_dir, kind)
    if not _is_stored(run_dir, kind):
        raise FileNotFoundError(f"{run_dir}: no fitted {kind!r} prior ({info_file.name} and {arrays_file.name}); "
                                f"fit one with: vaelab fit-prior {run_dir} --kind {kind}")
    info = _read_info(info_file)
    if model_hash is not None and not is_current(info, model_hash):
        raise ValueError(f"{info_file} was fitted to another model than the run's current one (the run was "
                         f"resumed, overwritten or refitted since); refit it with: vaelab fit-prior {run_dir} "
                         f"--kind {kind}")
    if cls.in_model:
        return cls(info.get("latent_dim", 0), info)
    try:
        with np.load(arrays_file, allow_pickle=False) as z:
            return cls.from_arrays(dict(z), info)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{arrays_file} is damaged ({type(e).__name__}); refit the prior with: "
                         f"vaelab fit-prior {run_dir} --kind {kind}") from None


def _is_stored(run_dir: str | Path, kind: str) -> bool:
    arrays_file, info_file = prior_files(run_dir, kind)
    return info_file.is_file() and (PRIORS.get(kind).in_model or arrays_file.is_file())


def fitted_priors(run_dir: str | Path | None, model_hash: str | None = None) -> list[str]:
    """Kinds with a fitted prior in the run directory, most recently fitted first; with `model_hash`, those
    fitted to another model are left out (with a warning)."""
    from vaelab.runs import is_current

    if run_dir is None or not Path(run_dir).is_dir():
        return []
    found = [f for f in Path(run_dir).glob("prior_*.json") if f.stem[len("prior_"):] in PRIORS]
    found = [f for f in found if _is_stored(run_dir, f.stem[len("prior_"):])]
    if model_hash is not None:
        stale = [f for f in found if not is_current(_read_info(f), model_hash)]
        for f in stale:
            warnings.warn(f"{f} was fitted to another model than the run's current one; ignoring it (refit it "
                          f"with vaelab fit-prior {run_dir} --kind {f.stem[len('prior_'):]})", stacklevel=3)
        found = [f for f in found if f not in stale]
    return [f.stem[len("prior_"):] for f in sorted(found, key=lambda f: f.stat().st_mtime, reverse=True)]


def own_prior() -> str:
    """The name of the model's own training prior (the registered prior with `fitted = False`)."""
    return next(k for k in PRIORS.names() if not PRIORS.get(k).fitted)


def fittable(model=None) -> list[str]:
    """Priors that can be fitted (to `model`'s `prior_inputs` when given)."""
    return [k for k in PRIORS.names() if PRIORS.get(k).fitted
            and (model is None or PRIORS.get(k).fits_to in model.prior_inputs)]


def resolve(run_dir: str | Path | None, name: str, latent_dim: int, model_hash: str | None = None) -> Prior:
    """The prior called `name` for a run: the model's own, a fitted kind, or "auto" (newest fitted, else the
    model's own). A fitted prior must come from the model hashed `model_hash` (default: the run's current model)."""
    cls = PRIORS.get(name) if name != AUTO else None
    if model_hash is None and run_dir is not None and (cls is None or cls.fitted):
        from vaelab.runs import model_hash as current_hash

        model_hash = current_hash(run_dir) if Path(run_dir).is_dir() else None
    if name == AUTO:
        fitted = fitted_priors(run_dir, model_hash)
        name = fitted[0] if fitted else own_prior()
    cls = PRIORS.get(name)
    prior = load_prior(run_dir, name, model_hash) if cls.fitted else cls(latent_dim)
    if not cls.in_model and prior.latent_dim != latent_dim:
        raise ValueError(f"prior_{name}.json: latent_dim {prior.latent_dim} does not match the model's "
                         f"{latent_dim}; refit it with: vaelab fit-prior {run_dir} --kind {name}")
    return prior


def fit_prior(run_dir: str | Path, kind: str, limit: int | None = None, seed: int = 0,
              checkpoint: str | None = None, **options) -> Path:
    """Encodes the run's training images to what the prior fits to (z_mean, or code grids), fits `kind` and
    saves it next to the model, recording the model's hash; returns the prior's JSON file. An unfinished run
    needs `checkpoint` ("last"), as in `evaluate_run_dir`; a prior kept in the model needs a finished run."""
    from vaelab import runs
    from vaelab.atomic import save_model_atomic
    from vaelab.data import evaluation_images, load_arrays

    cls = PRIORS.get(kind)
    if not cls.fitted:
        raise ValueError(f"--kind: {kind!r} is the model's own training prior and needs no fitting; choose from "
                         f"{fittable()}")
    if cls.in_model and checkpoint:
        raise ValueError(f"--checkpoint: --kind {kind} is saved in model.keras, so it needs a finished run; finish "
                         "it with `vaelab train --resume RUN`, then drop --checkpoint")
    run = runs.load_run(run_dir, checkpoint=checkpoint, require_final=True)
    if cls.fits_to not in run.model.prior_inputs:
        has = " and ".join(INPUTS[i] for i in run.model.prior_inputs)
        raise ValueError(f"--kind {kind}: it fits to {INPUTS[cls.fits_to]}, and model.kind {run.model.kind!r} has "
                         f"{has}; choose from {fittable(run.model)}")
    images, _ = load_arrays(run.config.data, "train", limit=limit)
    run.check_images(images)
    x = evaluation_images(images, run.config.data.binarize, seed)  # the pixels the encoder was trained on
    t0 = time.perf_counter()
    inputs = run.model.encode(x)[0] if cls.fits_to == "z_mean" else run.model.encode_codes(x)  # (N, D) | (N, h, w)
    try:
        prior = cls.fit_model(run.model, inputs, seed=seed, **options)
    except TypeError as e:
        raise ValueError(f"prior {kind!r}: unsupported option ({e})") from None
    prior.info.update({
        "fitted_on": f"{cls.fits_to} of the first {len(inputs)} {run.config.data.name} training images",
        "n_fit": int(len(inputs)), "seed": seed, "fit_seconds": round(time.perf_counter() - t0, 2),
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "model_file": run.model_file.name,
    })
    model_hash = run.model_hash
    if cls.in_model:  # the model changed: save it, and record the hash of the new file
        save_model_atomic(run.model, run.model_file)
        model_hash = runs.file_hash(run.model_file)
    return save_prior(prior, run.path, model_hash)


def label(model, prior: Prior) -> str:
    """What samples are drawn from: the model's own training prior, else the fitted one."""
    return prior.describe() if prior.fitted else model.prior_label


def _draws(model, prior: Prior, n: int, seed: int | None, std: float):
    """(the n latent draws, the function decoding rows of them): small arrays, decoded when asked."""
    if n < 1:
        raise ValueError(f"-n: expected at least 1 image, received {n}")
    if not prior.fitted or prior.in_model:  # the model's own prior (N(0, I), a VampPrior, p(z1|z2), a PixelCNN)
        return model.prior_draws(n, std=std, seed=seed), model.decode_draws
    return prior.sample(n, seed=seed, std=std), model.decode


def decode_samples(model, prior: Prior, n: int, seed: int | None = None, std: float = 1.0) -> np.ndarray:
    """n images (N, H, W, C) decoded from the prior's latent draws."""
    draws, decode = _draws(model, prior, n, seed, std)
    return decode(draws)


def sample_batches(model, prior: Prior, n: int, seed: int | None = None, std: float = 1.0,
                   batch_size: int = 512) -> Iterator[np.ndarray]:
    """The images of `decode_samples(model, prior, n, seed, std)` as (<= batch_size, H, W, C) batches, in order:
    only the latent draws are held for all n, never the images."""
    draws, decode = _draws(model, prior, n, seed, std)
    return (decode(draws[i : i + batch_size]) for i in range(0, n, batch_size))
