"""What happens after training: the run report (used by `train` and `demo`)."""

from __future__ import annotations

from vaelab.report import build_report
from vaelab.train import FitResult


def after_training(result: FitResult) -> list[str]:
    """Writes the run report (when `train.report`); returns lines to print."""
    lines = []
    h = result.history
    if h.get("loss"):
        terms = (*result.model.history_terms, "val_loss")  # the family's own terms
        last = {k: h[k][-1] for k in terms if h.get(k)}
        lines.append("final " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
    if result.config.train.report:
        lines.append(f"report: {build_report(result.run_dir, model=result.model)}")
    lines.append(f"run directory: {result.run_dir}")
    return lines
