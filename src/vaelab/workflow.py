"""What happens after training: the run report, logged to the run's MLflow run when tracked (used by `train`,
`demo` and sweep trials)."""

from __future__ import annotations

from vaelab import runs
from vaelab.report import REPORT, build_report
from vaelab.train import FitResult


def after_training(result: FitResult) -> list[str]:
    """Writes the run report (when `train.report`) and logs it with metrics.json to the MLflow run (when
    `train.track`); returns lines to print."""
    lines = []
    h = result.history
    if h.get("loss"):
        terms = (*result.model.history_terms, "val_loss")  # the family's own terms
        last = {k: h[k][-1] for k in terms if h.get(k)}
        lines.append("final " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
    if result.config.train.report:
        lines.append(f"report: {build_report(result.run_dir, model=result.model)}")
    if result.tracker is not None and result.tracker.active:
        result.tracker.log_files(result.run_dir / REPORT, result.run_dir / runs.METRICS)
        lines.append(f"tracked: {result.tracker.describe()}")
    lines.append(f"run directory: {result.run_dir}")
    return lines
