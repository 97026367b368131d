"""Fréchet distances of generated images: features of a small classifier trained on the dataset, and InceptionV3."""

from __future__ import annotations

from pathlib import Path

from vaelab import metrics
from vaelab.evaluate.sections import SECTIONS, Context
from vaelab.metrics.features import ClassifierFeatures, FeatureUnavailable, inception_features, load_inception

CACHE = "evaluation"  # sub-directory of the run dir for the feature classifier


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
        generated = ctx.model.sample(n, seed=opts.seed)  # decoder means at z ~ the model's prior
        try:
            feats = ClassifierFeatures.load_or_train(Path(ctx.run_dir) / CACHE, *ctx.train, seed=opts.seed)
            out["classifier"] = {
                "fd": metrics.frechet_distance_of_features(feats(generated), feats(images)),
                "n": n,
                "features": "penultimate layer (128-d) of a small CNN trained offline on this dataset's labels",
                "classifier_file": str(Path(CACHE) / "feature_classifier.keras"),
            }
        except FeatureUnavailable as e:
            out["classifier"] = {"fd": None, "note": str(e)}
        if opts.inception:
            m = min(n, opts.inception_n)
            try:
                net = load_inception(opts.inception_weights, opts.inception_size)
                fid = metrics.frechet_distance_of_features(
                    inception_features(net, generated[:m]), inception_features(net, images[:m])
                )
                out["inception"] = {
                    "fid": fid,
                    "n": m,
                    "weights": opts.inception_weights or "random (wiring only)",
                    "note": "InceptionV3 pool features; n < 10k biases FID upwards",
                }
            except FeatureUnavailable as e:
                out["inception"] = {"fid": None, "note": str(e)}
                ctx.notes.append("standard FID skipped: " + str(e))
        out["images"] = "generated: decoder means at z ~ the prior; reference: continuous test images"
        return out

    @staticmethod
    def rows(f: dict) -> list[tuple[str, str, str]]:
        rows = []
        if "classifier" in f:
            c = f["classifier"]
            val = "n/a" if c.get("fd") is None else f"{c['fd']:.3f}"
            rows.append(("FD (own classifier)", val, c.get("note") or "offline classifier features, not FID"))
        if "inception" in f:
            c = f["inception"]
            rows.append(("FID (InceptionV3)", "n/a" if c["fid"] is None else f"{c['fid']:.2f}", c["note"][:90]))
        return rows
