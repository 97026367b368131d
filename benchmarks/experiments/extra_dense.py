"""Experiment 3: an extra Dense layer before z_mean/z_log_var (`model.extra_dense`) in the CelebA net.

    python benchmarks/experiments/extra_dense.py          # ~6 min (reuses celeba_faces.py's run)

Parameter counts (total and in the encoder's heads), peak resident memory of a process that builds
the model and runs 20 training steps on a (64, 64, 64, 3) batch, and the loss after the same short
CelebA training (the preset experiments/celeba_cpu) with extra_dense 256 and 0.
"""

from __future__ import annotations

import json
import subprocess
import sys

from common import save_results, train

PROBE = """
import json, resource, sys, numpy as np, keras
from vaelab.config import load_config
from vaelab.models.kinds import build_model
cfg = load_config(sys.argv[1], ["model.extra_dense=" + sys.argv[2]])
model = build_model(cfg, (64, 64, 3))
model.compile_for_training(keras.optimizers.Adam(5e-4))
x = np.random.default_rng(0).random((64, 64, 64, 3)).astype("float32")
model.fit(x, model.targets(x), batch_size=64, epochs=20, verbose=0)
names = ("extra_dense", "z_mean", "z_log_var")
heads = sum(layer.count_params() for layer in model.encoder.layers if layer.name in names)
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"params": model.count_params(), "encoder_params": model.encoder.count_params(),
                  "head_params": heads, "peak_rss_mb": peak_mb}))
"""


def probe(extra_dense: int) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, "experiments/celeba_cpu", str(extra_dense)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    results = {}
    for extra, run_name in ((256, "celeba-cpu"), (0, "celeba-cpu-no-extra-dense")):
        _, _, h = train("celeba_cpu", run_name, [f"model.extra_dense={extra}"], report=False)
        results[f"extra_dense={extra}"] = {**probe(extra), "final_loss": h["loss"][-1],
                                           "final_val_loss": h["val_loss"][-1],
                                           "final_reconstruction_loss": h["reconstruction_loss"][-1],
                                           "final_kl": h["kl_loss"][-1],
                                           "median_epoch_s": sorted(h["time"])[len(h["time"]) // 2]}
    save_results("extra_dense", results)


if __name__ == "__main__":
    main()
