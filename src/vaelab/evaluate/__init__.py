"""`evaluate_run_dir(run_dir)`: test-set numbers for a trained run, written to metrics.json["evaluation"].

Every number says what it measures: the ELBO is split into reconstruction and KL (nats per image) with
the likelihood and the beta in force; the IWAE NLL is labelled a proper discrete NLL only for a
Bernoulli likelihood on binarised pixels; a family without a posterior or prior gets reconstruction
metrics and the reasons the rest are absent. The numbers come from the registered sections
(`evaluate/sections.py`, one file each); the maths lives in `vaelab.metrics`.

    >>> result = evaluate_run_dir("runs/mnist-vae", EvalOptions(k=1000))
    >>> print(result.table())
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vaelab import runs
from vaelab.data import evaluation_images
from vaelab.evaluate.sections import SECTIONS, Context, ordered
from vaelab.likelihoods import LIKELIHOODS

from vaelab.evaluate import disentanglement, elbo, frechet, iwae, latent, reconstruction  # noqa: E402,F401  isort: skip

SECTION = "evaluation"


@dataclass
class EvalOptions:
    split: str = "test"
    k: int = 1000  # importance samples for the IWAE bound
    limit: int | None = None  # first N images of the split
    seed: int = 0  # sampled z, test-set binarisation, generated images
    frechet: bool = True
    inception: bool = True  # standard FID/KID/precision-recall (the optional `fid` extra)
    fid_samples: int = 10_000  # generated and reference images for them (10k: the standard protocol)
    prior: str = "auto"  # generated samples: standard | a fitted kind (gmm, ...) | auto (newest fitted)
    image_chunk: int = 50
    sample_chunk: int = 200
    disentanglement: bool = True  # the five scores, on datasets with ground-truth factors (dsprites, shapes3d)
    factor_samples: int = 10_000  # their training points (evaluation points: half); 10k: disentanglement_lib's
    factor_batch: int = 64  # observations per beta-VAE / FactorVAE point (64: disentanglement_lib's)
    verbose: bool = False  # estimates and progress of the long parts on stderr

    def problems(self) -> dict[str, str]:
        """{option: what it expects} for each invalid option; {} when all are valid. `vaelab evaluate` and a
        sweep spec's `objective.evaluate` are checked with this before any work."""
        from vaelab.priors import PRIORS

        def integer(v, low):
            return isinstance(v, int) and not isinstance(v, bool) and v >= low

        checks = {
            "split": (self.split in ("train", "test"), "'train' or 'test'"),
            "k": (integer(self.k, 1), "an integer >= 1 (importance samples per image)"),
            "limit": (self.limit is None or integer(self.limit, 1), "an integer >= 1 (images), or null for all"),
            "seed": (integer(self.seed, 0), "an integer >= 0"),
            "frechet": (isinstance(self.frechet, bool), "true or false"),
            "inception": (isinstance(self.inception, bool), "true or false"),
            "fid_samples": (integer(self.fid_samples, 2), "an integer >= 2 (generated and reference images)"),
            "prior": (self.prior == "auto" or (isinstance(self.prior, str) and self.prior in PRIORS),
                      f"auto or one of {PRIORS.names()}"),
            "image_chunk": (integer(self.image_chunk, 1), "an integer >= 1"),
            "sample_chunk": (integer(self.sample_chunk, 1), "an integer >= 1"),
            "disentanglement": (isinstance(self.disentanglement, bool), "true or false"),
            "factor_samples": (integer(self.factor_samples, 2), "an integer >= 2 (points per score)"),
            "factor_batch": (integer(self.factor_batch, 2), "an integer >= 2 (observations per point)"),
        }
        return {name: expected for name, (ok, expected) in checks.items() if not ok}

    def check(self) -> EvalOptions:
        """These options, or a ValueError naming every invalid one."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(f"{k}: expected {v}, received {getattr(self, k)!r}"
                                       for k, v in problems.items()))
        return self


@dataclass
class EvalResult:
    metrics: dict
    metrics_path: Path
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        return format_table(self.metrics)


def pixel_protocol(binarize: str, likelihood: str) -> tuple[bool, str]:
    """(is the IWAE number a proper discrete NLL?, the label saying what it is)."""
    return LIKELIHOODS.get(likelihood).protocol(binarize in ("static", "dynamic"))


def evaluate_model(
    model,
    images: np.ndarray,
    binarize: str,
    opts: EvalOptions | None = None,
    run_dir: Path | None = None,
    train: tuple | None = None,
    frechet_images=None,
    model_hash: str | None = None,
    split=None,
) -> dict:
    """The `evaluation` section for `model` on `images` (N, H, W, C) in [0, 1] (continuous).

    Args:
        binarize: the run's `data.binarize`; when not "none" the likelihood is scored on one fixed
            Bernoulli draw of `images` (seeded by `opts.seed`).
        train: (train images, train labels) for the feature classifier (Fréchet distance).
        split: the `data.Split` the images come from; its ground-truth factors feed the disentanglement scores.
    """
    opts = opts or EvalOptions()
    t0 = time.perf_counter()
    x = evaluation_images(images, binarize, opts.seed)
    proper, label = pixel_protocol(binarize, model.likelihood)
    ctx = Context(model=model, images=images, x=x, binarize=binarize, opts=opts, proper=proper, label=label,
                  run_dir=run_dir, train=train, frechet_images=frechet_images, model_hash=model_hash, split=split)
    out: dict = {
        "split": opts.split,
        "n_images": int(len(x)),
        "seed": opts.seed,
        "model": {"kind": model.kind, "likelihood": model.likelihood, "latent_dim": int(model.latent_dim)},
        "pixels": "binarised (one fixed Bernoulli draw)" if binarize != "none" else "continuous in [0, 1]",
        "likelihood_label": label,
    }
    absent: dict = {}
    for name in ordered():
        section = SECTIONS.get(name)
        fits = section.fits(ctx)
        if fits is True:
            out[name] = section.compute(ctx)
        elif fits:  # a reason
            absent[name] = fits
    out["absent"] = absent
    out["notes"] = ctx.notes
    out["elapsed_s"] = time.perf_counter() - t0
    return out


def evaluate_run_dir(run_dir: str | Path, opts: EvalOptions | None = None,
                     checkpoint: str | None = None) -> EvalResult:
    """Loads a run, evaluates it on `opts.split` and merges the results into its metrics.json, recording the
    hash of the model file they come from. An unfinished run (no model.keras) needs `checkpoint` ("last",
    "best"): its numbers would describe a model that --resume replaces. A damaged metrics.json is replaced
    (with a warning)."""
    from vaelab.data import load_arrays

    opts = (opts or EvalOptions()).check()
    run = runs.load_run(run_dir, checkpoint=checkpoint, require_final=True)
    cfg = run.config
    images, split = load_arrays(cfg.data, opts.split, limit=opts.limit)
    run.check_images(images)
    train = None
    if opts.frechet and run.model.has_prior:
        train_images, train_split = load_arrays(cfg.data, "train", limit=20_000)
        train = (train_images, train_split.labels)
    values = evaluate_model(run.model, images, cfg.data.binarize, opts, run.path, train, model_hash=run.model_hash,
                            split=split)
    values[runs.MODEL_HASH] = run.model_hash  # the model these numbers describe (readers check it)
    values["checkpoint"] = run.model_file.relative_to(run.path).as_posix() if run.model_file.is_relative_to(
        run.path) else str(run.model_file)
    values["run"] = {
        "dataset": cfg.data.name,
        "binarize": cfg.data.binarize,
        "strategy": cfg.loss.strategy,
        "beta_config": cfg.loss.beta,
        "beta_schedule": cfg.loss.beta_schedule,
    }
    runs.update_metrics(run.path, SECTION, values, model_hash=run.model_hash, damaged="replace")
    return EvalResult(values, run.path / runs.METRICS, values["notes"])


def format_table(m: dict) -> str:
    """The evaluation section as a readable table: metric | value | meaning (each section supplies its rows)."""
    rows = [
        ("images", f"{m['n_images']} ({m['split']})", m["pixels"]),
        ("likelihood", m["model"]["likelihood"], m["likelihood_label"]),
    ]
    if m.get("checkpoint"):
        rows.insert(0, ("model file", m["checkpoint"], "the weights these numbers describe"))
    for name in ordered():
        if name in m:
            rows += SECTIONS.get(name).rows(m[name])
    for key, why in m.get("absent", {}).items():
        rows.append((key, "absent", why))
    w0, w1 = max(len(a) for a, _, _ in rows), max(len(b) for _, b, _ in rows)
    lines = [f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    lines += [f"WARNING: {n}" for n in m.get("notes", [])]
    return "\n".join(lines)
