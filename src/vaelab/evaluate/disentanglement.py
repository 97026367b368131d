"""Disentanglement scores (beta-VAE, FactorVAE, MIG, SAP, DCI) of the encoder's z_mean, on datasets whose
ground-truth factors are known (dsprites, shapes3d). The maths is in `vaelab.metrics.disentanglement`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from vaelab.evaluate.sections import SECTIONS, Context
from vaelab.metrics import disentanglement as scores


def samples_of(opts) -> scores.Samples:
    """disentanglement_lib's sample counts, or the scaled-down ones `--factor-samples/--factor-batch` ask for."""
    return scores.Samples.scaled(opts.factor_samples, opts.factor_batch)


@SECTIONS.register("disentanglement", order=60)
class Disentanglement:
    @staticmethod
    def fits(ctx: Context):
        if not ctx.opts.disentanglement:
            return False
        split = ctx.split
        if split is None or not split.has_factors:
            name = getattr(split, "name", "") or "these images"
            return f"{name!r} has no known ground-truth factors (datasets with them: dsprites, shapes3d)"
        return True

    @staticmethod
    def compute(ctx: Context) -> dict:
        split, model, opts = ctx.split, ctx.model, ctx.opts

        def codes_of(factors: np.ndarray) -> np.ndarray:  # factor classes (n, K) -> z_mean (n, D)
            images = split.observe(factors).astype("float32") / 255.0  # (n, H, W, C) in [0, 1]
            return model.encode(images)[0].reshape(len(factors), -1)

        log = (lambda line: print(line, file=sys.stderr, flush=True)) if opts.verbose else None
        out = scores.scores(codes_of, tuple(split.factor_sizes), seed=opts.seed, samples=samples_of(opts), log=log)
        out["factor_names"] = list(split.factor_names)
        out["ground_truth"] = split.source
        out["representation"] = "z_mean of the encoder (model.encode), images drawn from the factors' grid"
        if opts.factor_samples != scores.Samples().train or opts.factor_batch != scores.Samples().beta_vae_batch:
            ctx.notes.append(f"disentanglement scores with {opts.factor_samples} points of {opts.factor_batch} "
                             "observations: not disentanglement_lib's sample counts (10000 of 64)")
        return out

    @staticmethod
    def rows(d: dict) -> list[tuple[str, str, str]]:
        def num(v):
            return "n/a" if v is None else f"{v:.3f}"

        k = len(d["factor_sizes"])
        dci = d["dci"]
        return [
            ("beta-VAE score", num(d["beta_vae"]["eval_accuracy"]), f"Higgins 2017: eval accuracy (chance 1/{k})"),
            ("FactorVAE score", num(d["factor_vae"]["eval_accuracy"]),
             f"Kim & Mnih 2018: eval accuracy, {d['factor_vae']['active_dims']} active dims (chance ~1/{k})"),
            ("MIG", num(d["mig"]["mig"]), "Chen 2018: mutual information gap / H(factor), 20 bins"),
            ("SAP", num(d["sap"]["sap"]), "Kumar 2018: gap of the two best single-code classifiers"),
            ("DCI disentanglement", num(dci["disentanglement"]), "Eastwood & Williams 2018, gradient boosting"),
            ("DCI completeness", num(dci["completeness"]), "one code per factor"),
            ("DCI informativeness", num(dci["informativeness_test"]), "test accuracy, mean over factors"),
            ("  ground truth", Path(d["ground_truth"]).name if Path(d["ground_truth"]).is_file() else "generated",
             f"{d['ground_truth']}; {d['samples']['train']} points, seed {d['seed']}"),
        ]
