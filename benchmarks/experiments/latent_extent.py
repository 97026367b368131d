"""Experiments 1 and 2: AE vs VAE latent extents (MNIST, z=2) and the tiny-KL sweep (beta 1 -> 1e-4).

    python benchmarks/experiments/latent_extent.py        # ~10 min on 2 shared CPU cores

Trains the preset experiments/mnist_z2_{ae,vae} (the VAE once per beta), then measures the
confinement of test z_mean (bounding box, 95% radius) and how digit-like prior samples are
(mean max-probability of a logistic-regression digit classifier on 16x16-pooled pixels, trained on
the MNIST training subset). Writes docs/figures/{ae_vs_vae,beta_sweep}.png and results/latent_extent.json.
"""

from __future__ import annotations

import numpy as np
from common import save_figure, save_results, train

from vaelab import plots
from vaelab.analysis import confinement_stats
from vaelab.analysis.arithmetic import pixel_features
from vaelab.data import load_arrays

BETAS = [1.0, 0.1, 0.01, 0.0001]


def digit_classifier(cfg_data):
    from sklearn.linear_model import LogisticRegression

    x, split = load_arrays(cfg_data, "train", limit=5000)
    return LogisticRegression(C=0.1, max_iter=300).fit(pixel_features(x), split.labels)


def bce(x, x_hat) -> float:
    """Mean Bernoulli negative log-likelihood per image (nats)."""
    x_hat = np.clip(x_hat, 1e-7, 1 - 1e-7)
    return float(-np.mean(np.sum(x * np.log(x_hat) + (1 - x) * np.log(1 - x_hat), axis=(1, 2, 3))))


def main():
    from matplotlib.figure import Figure

    runs = {"AE": train("mnist_z2_ae", "mnist-z2-ae")}
    for beta in BETAS:
        name = f"VAE beta={beta:g}"
        runs[name] = train("mnist_z2_vae", f"mnist-z2-vae-beta{beta:g}", [f"loss.beta={beta}"])
    from vaelab.runs import read_run_config

    cfg = read_run_config(runs["AE"][0])
    x, split = load_arrays(cfg.data, "test", limit=2000)
    clf = digit_classifier(cfg.data)
    results, codes, samples = {}, {}, {}
    for name, (run_dir, model, history) in runs.items():
        z, _ = model.encode(x)
        stats = confinement_stats(z)
        prior = model.sample(400, std=1.0, seed=0)
        p = clf.predict_proba(pixel_features(prior))  # (400, 10) p(y | sample)
        conf = float(p.max(axis=1).mean())
        p_y = p.mean(axis=0)  # (10,) class mix of the samples
        score = float(np.exp(np.mean(np.sum(p * (np.log(p + 1e-12) - np.log(p_y + 1e-12)), axis=1))))
        recon = model.reconstruct(x[:500])
        codes[name], samples[name] = z, prior[:25]
        results[name] = {
            "run_dir": str(run_dir),
            "box": [[round(a, 2), round(b, 2)] for a, b in zip(stats["min"], stats["max"], strict=True)],
            "radius_95": stats["radius_95"], "std": stats["std"],
            "prior_sample_classifier_confidence": conf,
            "prior_sample_class_score": score,  # exp E KL(p(y|x) || p(y)): 1 (one blurry class) .. 10
            "recon_bce_per_image": bce(x[:500], recon),
            "final_loss": history["loss"][-1], "final_kl": history.get("kl_loss", [None])[-1],
            "epoch_seconds": float(np.mean(history["time"])) if "time" in history else None,
        }
    boxes = {}
    for n, z in codes.items():
        s = confinement_stats(z)
        boxes[n] = (s["min"], s["max"], s["radius_95"])
    pair = {"AE": codes["AE"], "VAE beta=1": codes["VAE beta=1"]}
    fig = plots.plot_latent_scatter(pair, split.labels, split.label_names, boxes={k: boxes[k] for k in pair},
                                    title="MNIST test z_mean, z=2, same net: AE (left) vs VAE (right)")
    save_figure(fig, "ae_vs_vae")
    fig = plots.plot_latent_scatter(codes, split.labels, split.label_names, share_axes=True, boxes=boxes,
                                    title="test z_mean, shared axes: AE, and VAE with beta 1 ... 1e-4")
    save_figure(fig, "beta_sweep_latent", dpi=60)
    fig = Figure(figsize=(2.4 * len(samples), 2.9))
    for ax, (name, imgs) in zip(fig.subplots(1, len(samples)), samples.items(), strict=True):
        ax.imshow(plots.tile_images(imgs, 5)[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off()
        r = results[name]
        ax.set_title(f"{name}\nconf {r['prior_sample_classifier_confidence']:.2f}, "
                     f"score {r['prior_sample_class_score']:.1f}", fontsize=8)
    fig.suptitle("decoded prior samples z ~ N(0, I); pixel LogisticRegression: conf = mean max p(y|x), "
                 "score = exp E KL(p(y|x) || p(y))", fontsize=9)
    save_figure(fig, "beta_sweep_samples")
    save_results("latent_extent", results)


if __name__ == "__main__":
    main()
