"""The test-set ELBO split into reconstruction and KL, with one sampled z per image."""

from __future__ import annotations

import numpy as np

from vaelab.evaluate.sections import SECTIONS, Context


@SECTIONS.register("elbo", order=20)
class Elbo:
    @staticmethod
    def fits(ctx: Context):
        return ctx.has_posterior()

    @staticmethod
    def compute(ctx: Context) -> dict:
        t = ctx.elbo_terms()
        beta = float(np.asarray(ctx.model.beta))
        rec, kl = float(t["reconstruction"].mean()), float(t["kl"].mean())
        how = "KL in closed form" if ctx.model.standard_normal_prior else "KL as log q(z|x) - log p(z) at that z"
        return {
            "elbo": -(rec + kl),
            "reconstruction": rec,
            "kl": kl,
            "beta": beta,
            "beta_objective": rec + beta * kl,
            "single_sample_log_w": float(t["log_w"].mean()),
            "z": f"one sampled z ~ q(z|x) per image (not z_mean); {how}",
            "units": "nats/image",
        }

    @staticmethod
    def rows(e: dict) -> list[tuple[str, str, str]]:
        closed = "closed form" in e["z"]
        return [
            ("-ELBO", f"{-e['elbo']:.2f}", "nats/image = reconstruction + KL (beta = 1)"),
            ("  reconstruction", f"{e['reconstruction']:.2f}", "-log p(x|z), one sampled z per image"),
            ("  KL", f"{e['kl']:.2f}", "KL(q(z|x) || p(z)), " + ("closed form" if closed else "one-sample estimate")),
            ("beta objective", f"{e['beta_objective']:.2f}", f"reconstruction + beta*KL, beta in force {e['beta']:g}"),
        ]
