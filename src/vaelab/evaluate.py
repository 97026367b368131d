"""`evaluate_run_dir(run_dir)`: test-set numbers for a trained run, written to metrics.json["evaluation"].

Every number says what it measures: the ELBO is split into reconstruction and KL (nats per image) with
the likelihood and the beta in force; the IWAE NLL is labelled a proper discrete NLL only for a
Bernoulli likelihood on binarised pixels; an AE gets reconstruction metrics and the reasons the rest
are absent. The maths lives in `vaelab.metrics`; this module only loads, runs and reports.

    >>> result = evaluate_run_dir("runs/mnist-vae", EvalOptions(k=1000))
    >>> print(result.table())
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from vaelab import metrics, priors, runs
from vaelab.metrics.features import ClassifierFeatures, FeatureUnavailable
from vaelab.metrics.inception import standard_scores
from vaelab.metrics.likelihood import LOG_LIKELIHOODS, logits_model

SECTION = "evaluation"
CACHE = "evaluation"  # sub-directory of the run dir for the feature classifier


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


@dataclass
class EvalResult:
    metrics: dict
    metrics_path: Path
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        return format_table(self.metrics)


def pixel_protocol(binarize: str, likelihood: str) -> tuple[bool, str]:
    """(is the IWAE number a proper discrete NLL?, the label saying what it is)."""
    if likelihood == "bernoulli" and binarize in ("static", "dynamic"):
        return True, "Bernoulli likelihood on binarised pixels: a proper discrete NLL"
    if likelihood == "bernoulli":
        return False, (
            "Bernoulli 'likelihood' on continuous pixels in [0, 1] (binary cross-entropy): "
            "not a normalised likelihood, NOT a proper discrete NLL"
        )
    return False, (
        "Gaussian density (variance 1/2, the squared-error loss) on continuous pixels: "
        "a continuous density, NOT a proper discrete NLL"
    )


def evaluation_images(images: np.ndarray, binarize: str, seed: int) -> np.ndarray:
    """The pixels the likelihood is scored on: one fixed Bernoulli draw when the run trained binarised."""
    if binarize == "none":
        return images
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape) < images).astype("float32")  # one draw, fixed by seed


def _reconstruction(model, images: np.ndarray) -> dict:
    z_mean, _ = model.encode(images)  # deterministic: z = z_mean
    logits_of = logits_model(model.decoder)
    bce, sse = [], []
    for i in range(0, len(images), 500):
        x = images[i : i + 500]
        logits = logits_of(z_mean[i : i + 500], training=False)
        bce.append(-LOG_LIKELIHOODS.get("bernoulli")(x, logits).numpy())
        x_hat = tf.sigmoid(logits).numpy()  # (B, H, W, C)
        sse.append(np.sum(np.reshape((x - x_hat) ** 2, (len(x), -1)), axis=1))
    bce, sse = np.concatenate(bce), np.concatenate(sse)
    return {
        "z": "z_mean (deterministic)",
        "bce_per_image": float(bce.mean()),
        "sse_per_image": float(sse.mean()),
        "mse_per_pixel": float(sse.mean() / math.prod(images.shape[1:])),
    }


def _frechet(model, run_dir: Path, images, train, opts: EvalOptions, notes: list[str]) -> dict:
    out: dict = {}
    n = len(images)
    prior = priors.resolve(run_dir, opts.prior, model.latent_dim)
    generated = priors.decode_samples(model, prior, n, seed=opts.seed)  # decoder means at prior draws
    try:
        feats = ClassifierFeatures.load_or_train(run_dir / CACHE, *train, seed=opts.seed)
        out["classifier"] = {
            "fd": metrics.frechet_distance_of_features(feats(generated), feats(images)),
            "n": n,
            "features": "penultimate layer (128-d) of a small CNN trained offline on this dataset's labels",
            "classifier_file": str(Path(CACHE) / "feature_classifier.keras"),
        }
    except FeatureUnavailable as e:
        out["classifier"] = {"fd": None, "note": str(e)}
    out["prior"] = prior.describe()
    return out


def _standard(model, run_dir: Path, data_cfg, opts: EvalOptions) -> dict:
    """FID, KID, precision/recall of `opts.fid_samples` prior samples vs as many `opts.split` images
    ({"fid": None, "note": how to install the extra} without the `fid` extra)."""
    prior = priors.resolve(run_dir, opts.prior, model.latent_dim)
    scores = standard_scores(lambda n: priors.decode_samples(model, prior, n, seed=opts.seed), data_cfg,
                             opts.fid_samples, split=opts.split, seed=opts.seed)
    return {**scores, "prior": prior.describe()}


def evaluate_model(
    model,
    images: np.ndarray,
    binarize: str,
    opts: EvalOptions | None = None,
    run_dir: Path | None = None,
    train: tuple | None = None,
    frechet_images=None,
) -> dict:
    """The `evaluation` section for `model` on `images` (N, H, W, C) in [0, 1] (continuous).

    Args:
        binarize: the run's `data.binarize`; when not "none" the likelihood is scored on one fixed
            Bernoulli draw of `images` (seeded by `opts.seed`).
        train: (train images, train labels) for the feature classifier (Fréchet distance).
    """
    opts = opts or EvalOptions()
    t0, notes = time.perf_counter(), []
    x = evaluation_images(images, binarize, opts.seed)
    kind, likelihood = model.kind, model.likelihood
    proper, label = pixel_protocol(binarize, likelihood)
    out: dict = {
        "split": opts.split,
        "n_images": int(len(x)),
        "seed": opts.seed,
        "model": {"kind": kind, "likelihood": likelihood, "latent_dim": int(model.latent_dim)},
        "pixels": "binarised (one fixed Bernoulli draw)" if binarize != "none" else "continuous in [0, 1]",
        "likelihood_label": label,
        "reconstruction": _reconstruction(model, x),
        "absent": {},
        "notes": notes,
    }
    if kind == "ae":
        why = "a plain autoencoder has no posterior q(z|x) or prior p(z)"
        for key in ("elbo", "iwae", "latent", "frechet"):
            out["absent"][key] = why + (": no generative model to sample from" if key == "frechet" else "")
    else:
        beta = float(np.asarray(model.beta))
        t = metrics.elbo_terms(model, x, likelihood, seed=opts.seed)
        rec, kl = float(t["reconstruction"].mean()), float(t["kl"].mean())
        out["elbo"] = {
            "elbo": -(rec + kl),
            "reconstruction": rec,
            "kl": kl,
            "beta": beta,
            "beta_objective": rec + beta * kl,
            "single_sample_log_w": float(t["log_w"].mean()),
            "z": "one sampled z ~ q(z|x) per image (not z_mean); KL in closed form",
            "units": "nats/image",
        }
        bound = metrics.iwae_bound(
            model,
            x,
            likelihood,
            k=opts.k,
            seed=opts.seed,
            image_chunk=opts.image_chunk,
            sample_chunk=opts.sample_chunk,
        )
        nll = float(-bound.mean())
        out["iwae"] = {
            "k": opts.k,
            "nll": nll,
            "proper_discrete_nll": proper,
            "label": label,
            "bits_per_dim": metrics.bits_per_dim(nll, x.shape[1:]) if proper else None,
            "nll_stderr": float(bound.std(ddof=1) / math.sqrt(len(bound))) if len(bound) > 1 else None,
        }
        n_active, variances = metrics.active_units(t["z_mean"])
        d = int(model.latent_dim)
        warn = None
        if n_active < max(1, math.ceil(d / 2)):
            warn = (
                f"posterior collapse: only {n_active}/{d} latent units are active (Cov_x E_q[z_u] > 0.01); "
                "the others carry ~0 KL and ignore the input"
            )
            notes.append(warn)
        out["latent"] = {
            "kl_per_dim": metrics.kl_per_dim(t["z_mean"], t["z_log_var"]).tolist(),
            "active_units": n_active,
            "latent_dim": d,
            "activity": variances.tolist(),
            "threshold": 0.01,
            "collapse_warning": warn,
        }
        if opts.frechet and train is not None and run_dir is not None:
            ref = images if frechet_images is None else frechet_images
            out["frechet"] = _frechet(model, Path(run_dir), ref, train, opts, notes)
            out["frechet"]["images"] = (
                "generated: decoder means at prior draws; reference: continuous test images"
            )
        elif opts.frechet:
            out["absent"]["frechet"] = "no run directory / training data given for the feature classifier"
    out["elapsed_s"] = time.perf_counter() - t0
    return out


def evaluate_run_dir(run_dir: str | Path, opts: EvalOptions | None = None) -> EvalResult:
    """Loads a run, evaluates it on `opts.split` and merges the results into its metrics.json."""
    from vaelab.data import load_arrays

    opts = opts or EvalOptions()
    run = runs.load_run(run_dir)
    cfg = run.config
    images, _ = load_arrays(cfg.data, opts.split, limit=opts.limit)
    train = None
    if opts.frechet and run.model.kind == "vae":
        train_images, train_split = load_arrays(cfg.data, "train", limit=20_000)
        train = (train_images, train_split.labels)
    values = evaluate_model(run.model, images, cfg.data.binarize, opts, run.path, train)
    if opts.frechet and opts.inception and run.model.kind == "vae":
        values.setdefault("frechet", {})["standard"] = _standard(run.model, run.path, cfg.data, opts)
    values["run"] = {
        "dataset": cfg.data.name,
        "binarize": cfg.data.binarize,
        "strategy": cfg.loss.strategy,
        "beta_config": cfg.loss.beta,
        "beta_schedule": cfg.loss.beta_schedule,
    }
    runs.update_metrics(run.path, SECTION, values)
    return EvalResult(values, run.path / runs.METRICS, values["notes"])


def format_table(m: dict) -> str:
    """The evaluation section as a readable table: metric | value | meaning."""
    rows = [
        ("images", f"{m['n_images']} ({m['split']})", m["pixels"]),
        ("likelihood", m["model"]["likelihood"], m["likelihood_label"]),
    ]
    r = m["reconstruction"]
    rows += [
        ("reconstruction BCE", f"{r['bce_per_image']:.2f}", "nats/image, z = z_mean"),
        (
            "reconstruction MSE",
            f"{r['mse_per_pixel']:.5f}",
            f"per pixel (SSE/image {r['sse_per_image']:.2f})",
        ),
    ]
    if "elbo" in m:
        e = m["elbo"]
        rows += [
            (
                "-ELBO",
                f"{-e['elbo']:.2f}",
                "nats/image = reconstruction + KL (beta = 1)",
            ),
            ("  reconstruction", f"{e['reconstruction']:.2f}", "-log p(x|z), one sampled z per image"),
            ("  KL", f"{e['kl']:.2f}", "KL(q(z|x) || N(0, I)), closed form"),
            (
                "beta objective",
                f"{e['beta_objective']:.2f}",
                f"reconstruction + beta*KL, beta in force {e['beta']:g}",
            ),
        ]
    if "iwae" in m:
        w = m["iwae"]
        what = "proper discrete NLL" if w["proper_discrete_nll"] else "NOT a proper discrete NLL"
        rows.append((f"IWAE NLL (k={w['k']})", f"{w['nll']:.2f}", f"nats/image, {what}"))
        if w["bits_per_dim"] is not None:
            rows.append(("  bits/dim", f"{w['bits_per_dim']:.4f}", "NLL / (H*W*C * ln 2)"))
    if "latent" in m:
        lt = m["latent"]
        kl = ", ".join(f"{v:.2f}" for v in sorted(lt["kl_per_dim"], reverse=True)[:8])
        rows += [
            (
                "active units",
                f"{lt['active_units']}/{lt['latent_dim']}",
                "Cov_x(E_q[z_u]) > 0.01 (Burda 2016)",
            ),
            ("KL per dim (top)", kl, "nats"),
        ]
    f = m.get("frechet", {})
    if "classifier" in f:
        c = f["classifier"]
        val = "n/a" if c.get("fd") is None else f"{c['fd']:.3f}"
        rows.append(("FD (own classifier)", val, c.get("note") or "offline classifier features, not FID"))
    if "prior" in f:
        rows.append(("  samples from", f["prior"], "prior of the generated images"))
    s = f.get("standard")
    if s is not None and s["fid"] is None:
        rows.append(("FID (standard)", "n/a", s["note"]))
    elif s is not None:
        n = f"{s['n_generated']} prior samples ({s['prior']}) vs {s['n_reference']} {m['split']} images"
        rows += [
            ("FID (standard)", f"{s['fid']:.2f}", f"InceptionV3 pool3, {n}"),
            ("KID x 1e3", f"{1e3 * s['kid']:.3f}", f"+- {1e3 * s['kid_std']:.3f} over {s['kid_subsets']} subsets"),
            ("precision", f"{s['precision']:.3f}", "share of samples inside the data manifold (k = 3)"),
            ("recall", f"{s['recall']:.3f}", "share of data inside the samples' manifold (k = 3)"),
        ]
    for key, why in m.get("absent", {}).items():
        rows.append((key, "absent", why))
    w0, w1 = max(len(a) for a, _, _ in rows), max(len(b) for _, b, _ in rows)
    lines = [f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows]
    lines += [f"WARNING: {n}" for n in m.get("notes", [])]
    return "\n".join(lines)
