"""Reconstruction error at z = z_mean: Bernoulli cross-entropy, squared error, and the model's own NLL."""

from __future__ import annotations

import math

import numpy as np

from vaelab.evaluate.sections import SECTIONS, Context
from vaelab.likelihoods import LIKELIHOODS


@SECTIONS.register("reconstruction", order=10)
class Reconstruction:
    @staticmethod
    def fits(ctx: Context):
        return True

    @staticmethod
    def compute(ctx: Context) -> dict:
        model, x = ctx.model, ctx.x
        z_mean, _ = model.encode(x)  # deterministic: z = z_mean
        bce, sse, nll = [], [], []
        for i in range(0, len(x), 500):
            xb = x[i : i + 500]
            logits = model.decode_logits(z_mean[i : i + 500])  # (B, H, W, C)
            bce.append(LIKELIHOODS.get("bernoulli").nll(xb, logits).numpy())
            nll.append(model.p_x.nll(xb, logits).numpy())
            x_hat = model.p_x.mean(logits).numpy()  # (B, H, W, C), the decoded image
            sse.append(np.sum(np.reshape((xb - x_hat) ** 2, (len(xb), -1)), axis=1))
        bce, sse, nll = np.concatenate(bce), np.concatenate(sse), np.concatenate(nll)
        return {
            "z": "z_mean (deterministic)",
            "bce_per_image": float(bce.mean()),
            "sse_per_image": float(sse.mean()),
            "mse_per_pixel": float(sse.mean() / math.prod(x.shape[1:])),
            "nll_per_image": float(nll.mean()),
            "likelihood": model.likelihood,
        }

    @staticmethod
    def rows(r: dict) -> list[tuple[str, str, str]]:
        rows = [
            ("reconstruction BCE", f"{r['bce_per_image']:.2f}", "nats/image, z = z_mean"),
            ("reconstruction MSE", f"{r['mse_per_pixel']:.5f}", f"per pixel (SSE/image {r['sse_per_image']:.2f})"),
        ]
        if "nll_per_image" in r and r.get("likelihood") != "bernoulli":
            rows.append(("reconstruction NLL", f"{r['nll_per_image']:.2f}", f"nats/image, {r['likelihood']}"))
        return rows
