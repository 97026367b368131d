"""Experiment 5: CelebA faces at 64x64 on a CPU: reconstructions, random faces, scored attribute arithmetic.

    python benchmarks/experiments/celeba_faces.py         # ~10 min on 2 shared CPU cores

Trains the preset experiments/celeba_cpu (5 epochs on the 5,340 training faces of the subset),
writes the run report, and saves docs/figures/celeba_*.png. Attribute vectors and the scoring
classifier (logistic regression on 16x16-pooled pixels) use the 5,340 labelled training faces.
"""

from __future__ import annotations

from common import save_figure, save_results, train

from vaelab.analysis import Options, load_subject, make_view

ATTRIBUTES = ["Smiling", "Eyeglasses", "Blond_Hair"]


def main():
    run_dir, model, history = train("celeba_cpu", "celeba-cpu")
    subject = load_subject(run_dir, model=model, limit=None, classifier_limit=None)
    results = {"run_dir": str(run_dir), "history": {k: history[k] for k in ("loss", "reconstruction_loss",
                                                                              "kl_loss", "val_loss", "time")}}
    opts = Options(n=12, attributes=ATTRIBUTES, factors=(0.0, 1.0, 2.0), seed=0)
    for name in ("recon", "samples", "interpolate", "latent", "arithmetic"):
        view = make_view(name, subject, opts)
        save_figure(view.figure, f"celeba_{name}", dpi=70)
        results[name] = view.metrics
        print(name, view.caption)
    save_results("celeba_faces", results)


if __name__ == "__main__":
    main()
