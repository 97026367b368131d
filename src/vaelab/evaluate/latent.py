"""Latent statistics: active units (Burda et al. 2016) and KL per dimension, with a collapse warning."""

from __future__ import annotations

import math

from vaelab import metrics
from vaelab.evaluate.sections import SECTIONS, Context

THRESHOLD = 0.01


@SECTIONS.register("latent", order=40)
class Latent:
    @staticmethod
    def fits(ctx: Context):
        return ctx.has_posterior()

    @staticmethod
    def compute(ctx: Context) -> dict:
        t = ctx.elbo_terms()
        n_active, variances = metrics.active_units(t["z_mean"], threshold=THRESHOLD)
        d = int(ctx.model.latent_dim)
        warn = None
        if n_active < max(1, math.ceil(d / 2)):
            warn = (
                f"posterior collapse: only {n_active}/{d} latent units are active (Cov_x E_q[z_u] > {THRESHOLD}); "
                "the others carry ~0 KL and ignore the input"
            )
            ctx.notes.append(warn)
        out = {
            "kl_per_dim": None,
            "active_units": n_active,
            "latent_dim": d,
            "activity": variances.tolist(),
            "threshold": THRESHOLD,
            "collapse_warning": warn,
        }
        if ctx.model.standard_normal_prior:
            out["kl_per_dim"] = metrics.kl_per_dim(t["z_mean"], t["z_log_var"]).tolist()
        else:
            out["kl_per_dim_note"] = f"model.kind {ctx.model.kind!r}: the prior is not N(0, I), no per-dim KL"
        return out

    @staticmethod
    def rows(lt: dict) -> list[tuple[str, str, str]]:
        rows = [("active units", f"{lt['active_units']}/{lt['latent_dim']}", "Cov_x(E_q[z_u]) > 0.01 (Burda 2016)")]
        if lt["kl_per_dim"] is not None:
            kl = ", ".join(f"{v:.2f}" for v in sorted(lt["kl_per_dim"], reverse=True)[:8])
            rows.append(("KL per dim (top)", kl, "nats"))
        return rows
