"""What saving a model costs vaelab: Keras's `.keras` save and load with and without `vaelab.saving.warm`, and a
run's per-epoch checkpoint and resume state before and after they became one serialisation; interleaved.

    python benchmarks/saving.py --rounds 8

Models: each preset named by --presets, built as `vaelab train` builds it (its image shape from its dataset) with
its optimizer's slots created, and the tiny conv net of the test suite. Per round and model, in this order:
a save and a load with Keras's attribute-skip lists cleared from this thread (what Keras alone does: it never
reads back the lists it computes), then a save and a load after `warm()`; then a 4-epoch `fit` of the tiny config
with the resume state written by `save_weights` (before) and as a hard link of the epoch's `last.keras` (now).
CPU seconds (this process); medians over the rounds after one warm-up round. Prints the CPU, the load before and
after, and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bench

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3), "celeba": (64, 64, 3)}


def _cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def models(presets: list[str]) -> dict:
    import keras
    from helpers import tiny_config

    from vaelab import optimizers
    from vaelab.config import load_config
    from vaelab.models.kinds import build_model

    out = {}
    for name in presets:
        cfg = load_config(name)
        out[name] = build_model(cfg, SHAPES.get(cfg.data.name, (28, 28, 1)), n_train=1000)
    out["tests' tiny net"] = build_model(tiny_config(Path(tempfile.mkdtemp())), (16, 16, 1), n_train=256)
    for model in out.values():
        model.prepare_training(optimizers.get("adam", learning_rate=1e-3))  # slots exist, as in a checkpoint
        keras.utils.set_random_seed(0)
    return out


def save_load(model, folder: Path) -> dict[str, float]:
    import keras
    from helpers import cool_keras_saving

    from vaelab import saving

    f = folder / "m.keras"
    out = {}
    for state in ("keras", "warm"):
        cool_keras_saving() if state == "keras" else saving.warm()
        out[f"save {state}"] = _cpu(lambda: model.save(f))
        out[f"load {state}"] = _cpu(lambda: keras.saving.load_model(f, compile=False))
    return out


def fits(folder: Path, epochs: int) -> dict[str, float]:
    """CPU s of a tiny `fit`: the resume state by `save_weights` (before) and linked to `last.keras` (now)."""
    from helpers import tiny_config

    from vaelab import callbacks, train

    class Before(callbacks.AtomicBackupAndRestore):
        def __init__(self, backup_dir, checkpoint=None):
            super().__init__(backup_dir, None)

        def _save_model(self):  # what it wrote before: the weights and slots again, by save_weights
            os.makedirs(self.backup_dir, exist_ok=True)
            name = f"epoch-{self._current_epoch:05d}.weights.h5"
            self.model.save_weights(os.path.join(self.backup_dir, name), overwrite=True)
            meta = {"epoch": self._current_epoch, "batch": 0, "weights": name}
            callbacks.write_atomic(os.path.join(self.backup_dir, self.METADATA), json.dumps(meta))

    out = {}
    for name, cls in (("fit before", Before), ("fit now", callbacks.AtomicBackupAndRestore)):
        train.AtomicBackupAndRestore = cls
        cfg = tiny_config(Path(tempfile.mkdtemp(dir=folder)), train={"epochs": epochs})
        out[name] = _cpu(lambda cfg=cfg: train.fit(cfg))
    train.AtomicBackupAndRestore = callbacks.AtomicBackupAndRestore
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=8, help="timed rounds after one warm-up round (default 8)")
    p.add_argument("--presets", default="celeba_vae,mnist_vae", help="presets whose models are saved and loaded")
    p.add_argument("--epochs", type=int, default=4, help="epochs of the tiny fit (default 4)")
    args = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from vaelab.precision import cpu_description

    print(f"cpu: {cpu_description()}; load average before: {bench.load()}", flush=True)
    folder = Path(tempfile.mkdtemp())
    built = models(args.presets.split(","))
    times: dict[str, dict[str, list[float]]] = {}
    for r in range(args.rounds + 1):
        for name, model in built.items():
            for k, v in save_load(model, folder).items():
                if r:  # round 0 warms everything up
                    times.setdefault(name, {}).setdefault(k, []).append(v)
        for k, v in fits(folder, args.epochs).items():
            if r:
                times.setdefault(f"tiny fit, {args.epochs} epochs", {}).setdefault(k, []).append(v)
    result = {"cpu": cpu_description(), "date": time.strftime("%Y-%m-%d"), "rounds": args.rounds,
              "median_cpu_ms": {m: {k: round(1000 * statistics.median(v), 1) for k, v in d.items()}
                                for m, d in times.items()}}
    for m, d in result["median_cpu_ms"].items():
        print(f"{m}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in d.items()))
    return bench.finish(result)


if __name__ == "__main__":
    sys.exit(main())
