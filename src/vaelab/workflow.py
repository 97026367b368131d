"""What happens after training: final figures and the run report (used by `train` and `demo`)."""

from __future__ import annotations

from vaelab.train import FitResult


def after_training(result: FitResult) -> list[str]:
    """Writes the run report (when `train.report`); returns lines to print."""
    lines = []
    h = result.history
    if h.get("loss"):
        last = {k: v[-1] for k, v in h.items() if k in ("loss", "reconstruction_loss", "kl_loss", "val_loss")}
        lines.append("final " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()))
    cfg_report = True
    try:
        from vaelab import runs

        cfg_report = runs.read_run_config(result.run_dir).train.report
    except Exception:  # pragma: no cover - the run dir was just written
        pass
    if cfg_report:
        try:
            from vaelab.report import build_report
        except ImportError:
            build_report = None
        if build_report is not None:
            lines.append(f"report: {build_report(result.run_dir, model=result.model)}")
    lines.append(f"run directory: {result.run_dir}")
    return lines
