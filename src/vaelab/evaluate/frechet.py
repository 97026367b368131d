"""Fréchet distances of generated images: features of a small classifier trained on the dataset, and the
standard FID/KID/precision-recall on the InceptionV3 of the `fid` extra (docs/metrics.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaelab import metrics, priors, runs
from vaelab.evaluate.sections import SECTIONS, Context
from vaelab.metrics.features import ClassifierFeatures, FeatureUnavailable
from vaelab.metrics.frechet import Moments
from vaelab.metrics.inception import standard_scores

CACHE = "evaluation"  # sub-directory of the run dir for the feature classifier
BATCH = 512  # images per batch through the feature classifier


def _statistics(feats: ClassifierFeatures, batches) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of the classifier features of image batches, summed as they come."""
    moments = Moments()
    for images in batches:
        moments.update(feats(images))  # (B, 128)
    return moments.statistics()


@SECTIONS.register("frechet", order=50)
class Frechet:
    @staticmethod
    def fits(ctx: Context):
        if not ctx.opts.frechet:
            return False
        if not ctx.model.has_prior:
            return f"model.kind {ctx.model.kind!r} has no prior p(z): no generative model to sample from"
        if ctx.train is None or ctx.run_dir is None:
            return "no run directory / training data given for the feature classifier"
        return True

    @staticmethod
    def compute(ctx: Context) -> dict:
        opts, out = ctx.opts, {}
        images = ctx.images if ctx.frechet_images is None else ctx.frechet_images
        n = len(images)
        prior = priors.resolve(ctx.run_dir, opts.prior, ctx.model.latent_dim, model_hash=ctx.model_hash)
        try:
            feats = ClassifierFeatures.load_or_train(Path(ctx.run_dir) / CACHE, *ctx.train, seed=opts.seed)
            # decoder means at prior draws, streamed: a batch of images and its features at a time
            generated = _statistics(feats, priors.sample_batches(ctx.model, prior, n, seed=opts.seed))
            reference = _statistics(feats, (images[i : i + BATCH] for i in range(0, n, BATCH)))
            out["classifier"] = {
                "fd": metrics.frechet_distance(*generated, *reference),
                "n": n,
                "features": "penultimate layer (128-d) of a small CNN trained offline on this dataset's labels",
                "classifier_file": str(Path(CACHE) / "feature_classifier.keras"),
            }
        except FeatureUnavailable as e:
            out["classifier"] = {"fd": None, "note": str(e)}
        out["prior"] = priors.label(ctx.model, prior)
        if opts.inception:
            data_cfg = runs.read_run_config(ctx.run_dir).data
            scores = standard_scores(lambda m: priors.sample_batches(ctx.model, prior, m, seed=opts.seed), data_cfg,
                                     opts.fid_samples, split=opts.split, seed=opts.seed,
                                     folder=Path(ctx.run_dir) / CACHE)  # features spilled there while scored
            out["standard"] = {**scores, "prior": priors.label(ctx.model, prior)}
        out["images"] = "generated: decoder means at prior draws; reference: continuous test images"
        return out

    @staticmethod
    def rows(f: dict) -> list[tuple[str, str, str]]:
        rows = []
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
            n = f"{s['n_generated']} prior samples ({s['prior']}) vs the {s['reference']}"
            rows += [
                ("FID (standard)", f"{s['fid']:.2f}", f"InceptionV3 pool3, {n}"),
                ("KID x 1e3", f"{1e3 * s['kid']:.3f}", f"+- {1e3 * s['kid_std']:.3f} over {s['kid_subsets']} subsets"),
                ("precision", f"{s['precision']:.3f}", "share of samples inside the data manifold (k = 3)"),
                ("recall", f"{s['recall']:.3f}", "share of data inside the samples' manifold (k = 3)"),
            ]
        return rows
