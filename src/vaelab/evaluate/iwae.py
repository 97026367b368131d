"""The importance-weighted bound L_k (Burda et al. 2016) as a test NLL, labelled with what it is."""

from __future__ import annotations

import math

from vaelab import metrics
from vaelab.evaluate.sections import SECTIONS, Context


@SECTIONS.register("iwae", order=30)
class Iwae:
    @staticmethod
    def fits(ctx: Context):
        if not ctx.model.has_likelihood_bound and ctx.model.likelihood_bound_note:  # the family says why
            return f"model.kind {ctx.model.kind!r} {ctx.model.likelihood_bound_note}"
        posterior = ctx.has_posterior()
        if posterior is not True:
            return posterior
        return True if ctx.model.has_likelihood_bound else (
            f"model.kind {ctx.model.kind!r} has no importance-weighted likelihood bound")

    @staticmethod
    def compute(ctx: Context) -> dict:
        o = ctx.opts
        bound = metrics.iwae_bound(ctx.model, ctx.x, k=o.k, seed=o.seed, image_chunk=o.image_chunk,
                                   sample_chunk=o.sample_chunk, verbose=o.verbose)
        nll = float(-bound.mean())
        return {
            "k": o.k,
            "nll": nll,
            "proper_discrete_nll": ctx.proper,
            "label": ctx.label,
            "bits_per_dim": metrics.bits_per_dim(nll, ctx.x.shape[1:]) if ctx.proper else None,
            "nll_stderr": float(bound.std(ddof=1) / math.sqrt(len(bound))) if len(bound) > 1 else None,
        }

    @staticmethod
    def rows(w: dict) -> list[tuple[str, str, str]]:
        what = "proper discrete NLL" if w["proper_discrete_nll"] else "NOT a proper discrete NLL"
        rows = [(f"IWAE NLL (k={w['k']})", f"{w['nll']:.2f}", f"nats/image, {what}")]
        if w["bits_per_dim"] is not None:
            rows.append(("  bits/dim", f"{w['bits_per_dim']:.4f}", "NLL / (H*W*C * ln 2)"))
        return rows
