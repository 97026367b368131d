"""Training throughput of one reference conv VAE: vaelab vs the keras-io VAE example vs PyTorch, same machine.

The net is Foster's Fashion-MNIST VAE (Generative Deep Learning, ch. 3): Conv 32/64/128 (kernel 3,
stride 2, same padding, ReLU) -> z = 2 -> Dense -> mirrored Conv2DTranspose 128/64/32 -> 1 channel,
cropped 32 -> 28; batch 128, 28x28x1 Bernoulli images, Adam 1e-3. Every contender builds exactly this.

Each contender runs in its own worker process (own thread pools, own env such as oneDNN flags). The
parent runs them strictly one at a time, interleaved round-robin, `--rounds` times, and reports the
median images/s of each: the machine is shared, so alternating spreads background load evenly.

    python benchmarks/throughput.py                       # vaelab, keras_io, torch; 7 rounds
    python benchmarks/throughput.py --contenders vaelab,vaelab_jit,vaelab_intra2 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import bench

BATCH, STEPS_PER_ROUND, IMAGE = 128, 30, (28, 28, 1)
FILTERS = (32, 64, 128)


def forward_flops() -> int:
    """2 x multiply-adds of one forward pass (conv: 2*Ho*Wo*k*k*Cin*Cout; transposed: per input pixel)."""
    f, h, cin, total = FILTERS, IMAGE[0], 1, 0
    for cout in f:  # encoder, stride 2 same: 28 -> 14 -> 7 -> 4
        h = -(-h // 2)
        total += 2 * h * h * 9 * cin * cout
        cin = cout
    total += 2 * (h * h * cin) * 2 * 2  # z_mean, z_log_var heads
    total += 2 * 2 * (h * h * cin)  # decoder Dense
    for cout in reversed(f):  # 4 -> 8 -> 16 -> 32
        total += 2 * h * h * 9 * cin * cout
        cin, h = cout, h * 2
    return total + 2 * h * h * 9 * cin * 1  # logits ConvTranspose, stride 1


def data(n: int, seed: int = 0):
    import numpy as np

    return (np.random.default_rng(seed).random((n, *IMAGE)) < 0.3).astype("float32")


# ------------------------------------------------------------------------------------------- contenders
def setup_vaelab(jit: str = "auto", strategy: str = "train_step", autotune: str = "auto",
                 precision: str = "float32"):
    """vaelab's default path: build_model + prepare_training (as `train.fit`) on its tf.data pipeline.

    `autotune`: `data.autotune` (auto = off on CPU-only machines: with the tf.data autotuner on, this
    2-core machine's steps snap to multiples of ~64 ms, 70 ms of compute -> 128 ms).
    `precision`: `train.precision` (e.g. mixed_bfloat16: oneDNN AMX/AVX512-BF16 kernels).
    """
    import numpy as np

    from vaelab import precision as precisions
    from vaelab.config import RunConfig
    from vaelab.data import Split, make_dataset
    from vaelab.models.kinds import build_model
    from vaelab.train import make_optimizer, resolve_jit

    cfg = RunConfig.from_dict(
        {
            "data": {"name": "synthetic", "autotune": autotune},
            "loss": {"strategy": strategy},
            "model": {"filters": list(FILTERS), "kernel_sizes": [3] * 3, "strides": [2] * 3, "latent_dim": 2},
            "train": {"batch_size": BATCH, "jit_compile": jit, "precision": precision},
        }
    )
    split = Split(image_shape=IMAGE, images=(data(BATCH * 40) * 255).astype(np.uint8), name="bench")
    chosen = precisions.resolve(cfg, IMAGE, jit_compile=resolve_jit(jit))  # `auto`: measured once, cached
    print(f"vaelab precision {precision}: {chosen.describe()}", file=sys.stderr, flush=True)
    with precisions.policy(chosen.precision):
        model = build_model(cfg, IMAGE)
    model.prepare_training(make_optimizer(cfg, 10_000), resolve_jit(jit))
    ds = make_dataset(split, cfg.data, BATCH, training=True, drop_remainder=True).repeat()
    ds = ds.map(lambda x: (x, model.targets(x)))
    return lambda steps: model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)


def setup_keras_io(jit="auto", bf16=False):
    """keras-io examples/generative/vae.py: subclassed VAE, GradientTape train_step, fit on numpy arrays.

    `bf16`: a what-if for vaelab, mixed_bfloat16 (oneDNN AMX/AVX512-BF16 kernels) with the noise drawn
    in the compute dtype and the sigmoid output (hence the loss) in float32.
    """
    import keras
    import tensorflow as tf
    from keras import layers, ops

    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    class Sampling(layers.Layer):
        def call(self, inputs):
            z_mean, z_log_var = inputs
            eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype)
            return z_mean + ops.exp(0.5 * z_log_var) * eps

    x_in = keras.Input(IMAGE)
    h = x_in
    for f in FILTERS:
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Flatten()(h)
    z_mean, z_log_var = layers.Dense(2)(h), layers.Dense(2)(h)
    encoder = keras.Model(x_in, [z_mean, z_log_var, Sampling()([z_mean, z_log_var])])
    z_in = keras.Input((2,))
    h = layers.Reshape((4, 4, 128))(layers.Dense(4 * 4 * 128, activation="relu")(z_in))
    for f in reversed(FILTERS):
        h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(h)
    h = layers.Conv2DTranspose(1, 3, padding="same")(h)
    decoder = keras.Model(z_in, layers.Activation("sigmoid", dtype="float32")(layers.Cropping2D(2)(h)))

    class VAE(keras.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

        def train_step(self, data):
            with tf.GradientTape() as tape:
                z_mean, z_log_var, z = self.encoder(data)
                z_mean, z_log_var = ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")
                reconstruction = self.decoder(z)
                reconstruction_loss = ops.mean(
                    ops.sum(keras.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
                )
                kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
                kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
                total_loss = reconstruction_loss + kl_loss
            grads = tape.gradient(total_loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {m.name: m.result() for m in self.metrics}

    vae = VAE(encoder, decoder)
    vae.compile(optimizer=keras.optimizers.Adam(), jit_compile=jit)
    x = data(BATCH * STEPS_PER_ROUND)
    return lambda steps: vae.fit(x[: steps * BATCH], epochs=1, batch_size=BATCH, verbose=0)


def setup_torch(channels_last=False):
    """The same net in PyTorch (CPU), a plain training loop over a pre-made tensor."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(
                nn.Conv2d(1, 32, 3, 2, 1),
                nn.ReLU(),
                nn.Conv2d(32, 64, 3, 2, 1),
                nn.ReLU(),
                nn.Conv2d(64, 128, 3, 2, 1),
                nn.ReLU(),
                nn.Flatten(),
            )
            self.heads = nn.Linear(4 * 4 * 128, 4)
            self.fc = nn.Linear(2, 4 * 4 * 128)
            up = lambda i, o: nn.ConvTranspose2d(i, o, 3, 2, 1, output_padding=1)  # noqa: E731
            self.dec = nn.Sequential(
                up(128, 128),
                nn.ReLU(),
                up(128, 64),
                nn.ReLU(),
                up(64, 32),
                nn.ReLU(),
                nn.ConvTranspose2d(32, 1, 3, 1, 1),
            )

        def forward(self, x):
            z_mean, z_log_var = self.heads(self.enc(x)).chunk(2, dim=1)
            z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
            h = torch.relu(self.fc(z)).view(-1, 128, 4, 4)
            return self.dec(h)[:, :, 2:30, 2:30], z_mean, z_log_var  # logits (B, 1, 28, 28)

    model, x = VAE(), torch.from_numpy(data(BATCH * 40)).permute(0, 3, 1, 2).contiguous()
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    bce = nn.BCEWithLogitsLoss(reduction="sum")

    def run(steps):
        for i in range(steps):
            xb = x[(i % 40) * BATCH : (i % 40 + 1) * BATCH]
            logits, m, lv = model(xb)
            loss = (bce(logits, xb) - 0.5 * torch.sum(1 + lv - m**2 - lv.exp())) / BATCH
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def _threads(intra, inter, then=None):
    def setup():
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
        return (then or setup_vaelab)()

    return setup


def setup_vaelab_bf16(autotune: str = "auto"):
    """vaelab with `train.precision=mixed_bfloat16`."""
    return setup_vaelab(autotune=autotune, precision="mixed_bfloat16")


def setup_torch_channels_last():
    import torch

    torch.backends.mkldnn.enabled = True
    return setup_torch(channels_last=True)


CONTENDERS = {  # name -> (setup, extra environment)
    "vaelab": (setup_vaelab, {}),
    "vaelab_auto": (lambda: setup_vaelab(precision="auto"), {}),  # the default train.precision, decided here
    "keras_io": (setup_keras_io, {}),
    "torch": (setup_torch, {}),
    "vaelab_jit": (lambda: setup_vaelab("on"), {}),
    "keras_io_nojit": (lambda: setup_keras_io(False), {}),
    "vaelab_intra2": (_threads(2, 1), {}),
    "vaelab_intra1": (_threads(1, 1), {}),
    "vaelab_no_onednn": (setup_vaelab, {"TF_ENABLE_ONEDNN_OPTS": "0"}),
    "keras_io_bf16": (lambda: setup_keras_io(False, bf16=True), {}),
    "vaelab_bf16": (setup_vaelab_bf16, {}),
    "vaelab_autotune_on": (lambda: setup_vaelab(autotune="on"), {}),
    "torch_channels_last": (setup_torch_channels_last, {}),
    "vaelab_encoder_layer": (lambda: setup_vaelab(strategy="encoder_layer"), {}),
}


def worker(name: str) -> None:
    """Builds one contender, warms it up, then answers "run N" with the seconds N steps took."""
    step = CONTENDERS[name][0]()
    step(5)  # tracing / compilation / allocator warm-up
    for line in sys.stdin:
        n = int(line.split()[1])
        t0 = time.perf_counter()
        step(n)
        print(time.perf_counter() - t0, flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--contenders", default="vaelab,keras_io,torch", help=f"from {sorted(CONTENDERS)}")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=STEPS_PER_ROUND, help="training steps per contender per round")
    p.add_argument("--json", help="also write the results to this file")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    names = args.contenders.split(",")
    for n in names:
        if n not in CONTENDERS:
            raise SystemExit(f"unknown contender {n!r}; choose from {sorted(CONTENDERS)}")
    load = os.getloadavg()
    procs = {}
    for n in names:  # start one at a time: warm-up runs alone too
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **CONTENDERS[n][1]}
        procs[n] = subprocess.Popen(
            [sys.executable, __file__, "--worker", n],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        procs[n].stdin.write("run 1\n")
        procs[n].stdin.flush()
        procs[n].stdout.readline()  # ready
    times = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names if r % 2 == 0 else reversed(names):  # alternate order each round
            procs[n].stdin.write(f"run {args.steps}\n")
            procs[n].stdin.flush()
            times[n].append(args.steps * BATCH / float(procs[n].stdout.readline()))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    gemm = bench.sgemm_gflops()
    flops = 3 * forward_flops()  # forward + backward ~ 3x forward
    peak = max(gemm.values())
    ref = statistics.median(times[names[0]])
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; cores {os.cpu_count()}"
    )
    print("SGEMM 2048^3 float32: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in gemm.items()))
    print(f"model: {forward_flops() / 1e6:.1f} MFLOP forward, ~{flops / 1e6:.1f} MFLOP per training image")
    print(
        f"{'contender':<22}{'images/s (median)':>18}{'min':>9}{'max':>9}{names[0] + '/x':>12}{'GFLOP/s':>9}"
        f"{'% SGEMM':>9}"
    )
    results = {}
    for n in names:
        med = statistics.median(times[n])
        results[n] = {"median": med, "all": times[n], "gflops": med * flops / 1e9}
        print(
            f"{n:<22}{med:>18.0f}{min(times[n]):>9.0f}{max(times[n]):>9.0f}{ref / med:>12.2f}"
            f"{med * flops / 1e9:>9.1f}{100 * med * flops / 1e9 / peak:>8.1f}%"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "load": load,
                    "sgemm_gflops": gemm,
                    "train_flops_per_image": flops,
                    "results": results,
                    "rounds": args.rounds,
                    "steps": args.steps,
                },
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
