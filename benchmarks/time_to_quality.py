"""Time to quality on Fashion-MNIST: the keras-io VAE recipe vs vaelab, in one interleaved run.

    python benchmarks/time_to_quality.py --data-dir $VAELAB_DATA_DIR                # full: 30 recipe epochs
    python benchmarks/time_to_quality.py --data-dir $VAELAB_DATA_DIR --quick        # end-to-end check, ~3 min

Contender `keras_recipe` is the recipe of the keras-io VAE example, written here from its description
(not copied): encoder Conv2D 32 and 64 (kernel 3, stride 2, ReLU) -> Dense 16 -> z = 2; decoder Dense
7*7*64 -> Conv2DTranspose 64 and 32 (stride 2) -> Conv2DTranspose 1 (sigmoid); loss = binary cross-entropy
summed over pixels + KL, a custom `train_step`, Adam (default learning rate), batch 128, 30 epochs. It
trains on the 60,000 training images (the example also mixes in the test images; here they are held out).

Its final test -ELBO is the quality target; each vaelab contender trains until its test -ELBO (checked
after every epoch, the checks counted in its time) reaches the target. Both are scored by one function:
-ELBO = BCE(x, decoder(z)) summed over pixels + closed-form KL, one sampled z per test image, fixed noise.

Each contender runs in its own process, one at a time; a contender's time runs from its process start
(interpreter, imports, data loading included) to the end of the epoch that reached the target (the
recipe: to the end of its last epoch). Rounds alternate the order of the vaelab contenders. Prints one
line per contender and the verdict (vaelab time <= half the recipe's), with the load average; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

T_START = time.time()  # before the heavy imports: a worker's clock starts at its process start

VAELAB_CONTENDERS = {
    # name: (config overrides on the recipe's net in vaelab, what it is)
    "vaelab_recipe": ({"train": {"precision": "float32"}},
                      "the recipe's net and settings (z = 2), float32: the control"),
    "vaelab_bf16": ({"model": {"latent_dim": 16, "extra_dense": 0}, "train": {"precision": "mixed_bfloat16"}},
                    "conv 32/64 trunk without the Dense-16 bottleneck, z = 16, mixed_bfloat16"),
    "vaelab_fp32": ({"model": {"latent_dim": 16, "extra_dense": 0}, "train": {"precision": "float32"}},
                    "conv 32/64 trunk without the Dense-16 bottleneck, z = 16, float32"),
    "vaelab_dense_bf16": ({"model": {"architecture": "dense", "hidden_units": [512, 256], "extra_dense": 0,
                                     "latent_dim": 16}, "train": {"precision": "mixed_bfloat16"}},
                          "dense 784-512-256-z16 preset, mixed_bfloat16"),
    "vaelab_dense_fp32": ({"model": {"architecture": "dense", "hidden_units": [512, 256], "extra_dense": 0,
                                     "latent_dim": 16}, "train": {"precision": "float32"}},
                          "dense 784-512-256-z16 preset, float32"),
    # the recipe's latent size (z = 2, what users plot), vaelab's default precision (auto: measured per machine)
    "vaelab_dense_z2": ({"model": {"architecture": "dense", "hidden_units": [512, 256], "extra_dense": 0},
                         "train": {"precision": "auto"}}, "dense 784-512-256, z = 2, train.precision=auto"),
    "vaelab_conv_z2": ({"model": {"extra_dense": 0}, "train": {"precision": "auto"}},
                       "the recipe's conv 32/64 trunk without its Dense-16 bottleneck, z = 2, train.precision=auto"),
}


def load_fashion(data_dir: str | None, split: str, limit: int | None = None):
    from vaelab.config import DataConfig
    from vaelab.data import load_arrays

    images, _ = load_arrays(DataConfig(name="fashion_mnist", data_dir=data_dir), split, limit=limit)
    return images  # (N, 28, 28, 1) float32 in [0, 1]


def test_neg_elbo(encoder, decoder, x, seed: int = 0) -> float:
    """Mean over images of BCE(x, p) summed over pixels + KL(q(z|x) || N(0, I)), one z ~ q per image."""
    import numpy as np

    z_mean, z_log_var = (np.asarray(a, "float64") for a in encoder.predict(x, batch_size=1000, verbose=0)[:2])
    eps = np.random.default_rng(seed).standard_normal(z_mean.shape)
    z = (z_mean + np.exp(0.5 * z_log_var) * eps).astype("float32")
    p = np.clip(np.asarray(decoder.predict(z, batch_size=1000, verbose=0), "float64"), 1e-7, 1 - 1e-7)
    xf = np.asarray(x, "float64").reshape(len(x), -1)
    p = p.reshape(len(x), -1)
    bce = -np.sum(xf * np.log(p) + (1 - xf) * np.log(1 - p), axis=1)
    kl = -0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=1)
    return float(np.mean(bce + kl))


def keras_recipe(args) -> dict:
    """The keras-io VAE recipe in TF/Keras 3: functional encoder/decoder, a custom train_step."""
    import keras

    keras.utils.set_random_seed(args.seed)
    x_train = load_fashion(args.data_dir, "train", args.train_limit)
    x_test = load_fashion(args.data_dir, "test")
    vae = build_keras_recipe(args.seed)
    vae.fit(x_train, epochs=args.epochs, batch_size=128, verbose=0)
    seconds = time.time() - args.t0
    return {"seconds": seconds, "epochs": args.epochs, "test_neg_elbo": test_neg_elbo(vae.encoder, vae.decoder, x_test)}


def build_keras_recipe(seed: int = 0):
    """The recipe's compiled model (`.encoder`, `.decoder`); train it with `.fit(x, batch_size=128)`."""
    import keras
    import tensorflow as tf
    from keras import layers, ops

    class Sampling(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.seeds = keras.random.SeedGenerator(seed)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            return z_mean + ops.exp(0.5 * z_log_var) * keras.random.normal(ops.shape(z_mean), seed=self.seeds)

    inp = keras.Input((28, 28, 1))
    h = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inp)
    h = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Dense(16, activation="relu")(layers.Flatten()(h))
    z_mean, z_log_var = layers.Dense(2, name="z_mean")(h), layers.Dense(2, name="z_log_var")(h)
    encoder = keras.Model(inp, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])], name="encoder")
    zin = keras.Input((2,))
    h = layers.Reshape((7, 7, 64))(layers.Dense(7 * 7 * 64, activation="relu")(zin))
    h = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    decoder = keras.Model(zin, layers.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(h), name="decoder")

    class RecipeVAE(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.encoder, self.decoder = encoder, decoder
            self.trackers = [keras.metrics.Mean(name=n) for n in ("loss", "reconstruction_loss", "kl_loss")]

        @property
        def metrics(self):
            return self.trackers

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                x_hat = self.decoder(z)
                rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(data, x_hat), axis=(1, 2)))
                kl = ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))
                loss = rec + kl
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
            for tracker, value in zip(self.trackers, (loss, rec, kl), strict=True):
                tracker.update_state(value)
            return {t.name: t.result() for t in self.trackers}

    vae = RecipeVAE()
    vae.compile(optimizer=keras.optimizers.Adam())
    return vae


def vaelab_contender(args) -> dict:
    """vaelab.train.fit on the contender's config; stops at the first epoch whose test -ELBO <= target."""
    import tempfile

    import keras

    from vaelab.config import RunConfig
    from vaelab.train import fit

    x_test = load_fashion(args.data_dir, "test")
    overrides, _ = VAELAB_CONTENDERS[args.worker]
    reached: dict = {}

    class UntilTarget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            value = test_neg_elbo(self.model.encoder, self.model.decoder, x_test)
            reached.update(epochs=epoch + 1, test_neg_elbo=value, seconds=time.time() - args.t0)
            if value <= args.target or time.time() - args.t0 > args.max_seconds:
                self.model.stop_training = True

    d = {
        "data": {"name": "fashion_mnist", "data_dir": args.data_dir, "validation": False,
                 "train_limit": args.train_limit},
        "model": {"filters": [32, 64], "kernel_sizes": [3, 3], "strides": [2, 2], "extra_dense": 16,
                  "likelihood": "bernoulli"},
        "train": {"epochs": args.epochs, "batch_size": 128, "seed": args.seed, "verbose": 0, "report": False,
                  "output_dir": tempfile.mkdtemp(prefix="ttq-"), "overwrite": True},
    }
    for section, values in overrides.items():
        d[section] = {**d.get(section, {}), **values}
    fit(RunConfig.from_dict(d), argv=[], extra_callbacks=[UntilTarget()])
    return {**reached, "reached": reached.get("test_neg_elbo", float("inf")) <= args.target}


def run_worker(name: str, args, target: float | None = None, max_seconds: float | None = None) -> dict:
    """One contender in a fresh process; returns its JSON line."""
    cmd = [sys.executable, __file__, "--worker", name, "--t0", repr(time.time()), "--epochs", str(args.epochs),
           "--seed", str(args.seed), "--max-seconds", str(max_seconds or args.max_seconds)]
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    cmd += ["--train-limit", str(args.train_limit)] if args.train_limit else []
    cmd += ["--target", repr(target)] if target is not None else []
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST directory (else $VAELAB_DATA_DIR)")
    p.add_argument("--epochs", type=int, default=30, help="recipe epochs, and the vaelab maximum (default 30)")
    p.add_argument("--train-limit", type=int, default=None, help="first N training images (quick checks)")
    p.add_argument("--contenders", default="vaelab_dense_bf16,vaelab_dense_fp32,vaelab_bf16",
                   help=f"comma-separated, of {list(VAELAB_CONTENDERS)}")
    p.add_argument("--rounds", type=int, default=1, help="recipe + contenders, order alternating (default 1)")
    p.add_argument("--quick", action="store_true", help="end-to-end check: 2 epochs on 6000 images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=1800.0,
                   help="a vaelab contender gives up after this, or after the recipe's time if shorter")
    p.add_argument("--out", default="benchmarks/results/time_to_quality.json")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--t0", type=float, default=T_START, help=argparse.SUPPRESS)
    p.add_argument("--target", type=float, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        fn = keras_recipe if args.worker == "keras_recipe" else vaelab_contender
        print(json.dumps({"contender": args.worker, **fn(args)}), flush=True)
        return 0
    if args.quick:
        args.epochs, args.train_limit = 2, args.train_limit or 6000
    names = [c for c in args.contenders.split(",") if c]
    for c in names:
        if c not in VAELAB_CONTENDERS:
            raise SystemExit(f"--contenders: unknown {c!r}; choose from {list(VAELAB_CONTENDERS)}")
    load0, rows = os.getloadavg(), []

    def save() -> None:  # after every contender, so a stopped run keeps what it measured
        result = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_average_start": load0,
                  "load_average_end": os.getloadavg(), "cpu_count": os.cpu_count(), "epochs": args.epochs,
                  "train_limit": args.train_limit, "rows": rows}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))

    for r in range(args.rounds):
        recipe = run_worker("keras_recipe", args)
        rows.append({"round": r, **recipe})
        save()
        print(f"round {r}: keras_recipe {recipe['epochs']} epochs: test -ELBO {recipe['test_neg_elbo']:.2f} "
              f"in {recipe['seconds']:.0f} s (load {os.getloadavg()[0]:.2f})", flush=True)
        for name in names if r % 2 == 0 else names[::-1]:
            res = run_worker(name, args, target=recipe["test_neg_elbo"],
                             max_seconds=min(args.max_seconds, recipe["seconds"]))
            ratio = res["seconds"] / recipe["seconds"]
            rows.append({"round": r, **res, "target": recipe["test_neg_elbo"], "time_ratio": ratio})
            save()
            print(f"round {r}: {name} ({VAELAB_CONTENDERS[name][1]}): test -ELBO {res['test_neg_elbo']:.2f} "
                  f"after {res['epochs']} epochs, {res['seconds']:.0f} s = {ratio:.2f} x the recipe's time "
                  f"({'target reached' if res['reached'] else 'target NOT reached'}; "
                  f"{'<= 0.5: met' if res['reached'] and ratio <= 0.5 else '> 0.5 or unreached: missed'}) "
                  f"(load {os.getloadavg()[0]:.2f})", flush=True)
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
