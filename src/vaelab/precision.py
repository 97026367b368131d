"""`train.precision=auto`: the faster of float32 and mixed bf16 on *this* machine, decided by measuring.

A CPU flag is not evidence: bf16 was 1.4x faster than float32 on a CPU with AMX and 26% slower on one with
AVX512-BF16 but no AMX. So on first use on a machine `auto` times a few training steps of the actual model
in each candidate precision, interleaved, keeps the faster, and caches the verdict with the measured times in
`$VAELAB_CACHE_DIR/precision.json`, keyed by what the verdict depends on:

    machine_key = CPU model | CPU architecture | TensorFlow and vaelab versions | accelerator | workload
    workload    = model architecture, image shape and batch size ("conv models on 28x28x1 images, batch 128")

The workload is in the key because the verdict depends on it: on one AVX512-BF16 CPU float32 won for a conv net
on 8x8 digits at batch 64 while mixed bf16 was 1.20x faster for the same architecture on 28x28 images at batch
128. So `vaelab demo` on the digits does not decide how a Fashion-MNIST run trains.

Candidates: float32 always; mixed_bfloat16 on a CPU that lists bf16 units (amx_bf16 / avx512_bf16) or a GPU
with bf16 units (compute capability >= 8.0). A mixed policy must be at least `MARGIN` faster to be chosen:
float32 is the exact reference, so a tie keeps it. An explicit `train.precision` is never probed.

    >>> resolve(cfg, image_shape=(28, 28, 1))         # -> Verdict(precision="float32", source="measured", ...)
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vaelab.cache import cache_root

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
MARGIN = 0.05  # a mixed policy is chosen only when its step is >= 5% faster than float32's
CACHE_FILE = "precision.json"
PROBE_SECONDS = 1.0  # timed steps per candidate (after one traced warm-up step each)
MIN_ROUNDS, MAX_ROUNDS = 5, 200


@dataclass
class Verdict:
    """What `auto` trains in on this machine, and why."""

    precision: str  # float32 | mixed_bfloat16 | mixed_float16
    source: str  # measured | cached | set (train.precision) | rule (no measurement possible)
    ms_per_step: dict[str, float] = field(default_factory=dict)  # candidate -> median ms per training step
    key: str = ""
    measured: str = ""  # date of the measurement
    note: str = ""

    def describe(self) -> str:
        """One line for `vaelab env` and the training log."""
        if self.source == "set":
            return f"{self.precision} (set by train.precision)"
        if not self.ms_per_step:
            return f"{self.precision} ({self.note or self.source})"
        f32 = self.ms_per_step.get("float32")
        parts = [f"{name} {ms:.1f} ms/step" for name, ms in self.ms_per_step.items()]
        ratios = [f"{name} {f32 / ms:.2f}x float32's speed" for name, ms in self.ms_per_step.items()
                  if name != "float32" and f32]
        when = f"measured {self.measured}" if self.measured else "measured"
        origin = when if self.source == "measured" else f"{self.source}, {when}"
        return f"{self.precision} ({origin}: {', '.join(parts)}; {', '.join(ratios)})"


def cpu_bf16_units() -> list[str]:
    """The CPU's bfloat16 instruction sets (Linux /proc/cpuinfo flags), e.g. ['amx_bf16', 'avx512_bf16']."""
    return [flag for flag in BF16_CPU_FLAGS if flag in _cpuinfo().get("flags", "").split()]


def cpu_description() -> str:
    """'MODEL (N cores; flags that matter for speed)', for `vaelab env` and the benchmarks' records."""
    info = _cpuinfo()
    flags = info.get("flags", "").split()
    keep = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{info.get('model name') or platform.processor() or '?'} ({os.cpu_count()} cores; {' '.join(keep)})"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none, e.g. macOS)."""
    out: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break
                if ":" in line:
                    k, v = line.split(":", 1)
                    out[k.strip()] = v.strip()
    except OSError:
        pass
    return out


def _gpus() -> list[dict]:
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(d) or {} for d in tf.config.list_physical_devices("GPU")]


def candidates() -> list[str]:
    """Precisions worth timing here: float32, plus mixed_bfloat16 where the hardware has bf16 units."""
    gpus = _gpus()
    if gpus:
        bf16 = all((g.get("compute_capability") or (0, 0)) >= (8, 0) for g in gpus)
    else:
        bf16 = bool(cpu_bf16_units())
    return ["float32", "mixed_bfloat16"] if bf16 else ["float32"]


WORKLOAD_MARK = " models on "  # in every `workload`; a key's last field without it is an older version's


def workload(architecture: str, image_shape, batch_size: int) -> str:
    """What a verdict was measured on: "conv models on 28x28x1 images, batch 128"."""
    shape = "x".join(str(int(d)) for d in image_shape)
    return f"{architecture}{WORKLOAD_MARK}{shape} images, batch {int(batch_size)}"


def machine_key(what: str) -> str:
    """CPU model | CPU architecture | TensorFlow and vaelab versions | accelerator | `what` (a `workload`)."""
    import tensorflow as tf

    cpu = _cpuinfo().get("model name") or platform.processor() or "unknown CPU"
    gpus = _gpus()
    device = ",".join(g.get("device_name", "GPU") for g in gpus) if gpus else "cpu"
    from vaelab import __version__

    return f"{cpu}|{platform.machine()}|tf {tf.__version__}|vaelab {__version__}|{device}|{what}"


def decide(ms_per_step: dict[str, float], margin: float = MARGIN) -> str:
    """The faster precision: a mixed one only if its step takes <= (1 - margin) x float32's."""
    best = min(ms_per_step, key=ms_per_step.get)
    if best != "float32" and "float32" in ms_per_step and ms_per_step[best] > (1 - margin) * ms_per_step["float32"]:
        return "float32"
    return best


# ---------------------------------------------------------------------------- cache


def cache_path() -> Path:
    return cache_root() / CACHE_FILE


def read_cache() -> dict[str, dict]:
    """{machine_key: verdict fields}; a damaged file is ignored with one warning (and rewritten later)."""
    path = cache_path()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        verdicts = data["verdicts"]
        if not isinstance(verdicts, dict) or not all(isinstance(v, dict) and "precision" in v
                                                     for v in verdicts.values()):
            raise ValueError("unexpected layout")
        return verdicts
    except (OSError, ValueError, KeyError, TypeError) as e:
        warnings.warn(f"{path}: damaged precision cache ignored ({type(e).__name__}: {e}); "
                      "train.precision=auto measures again and rewrites it", stacklevel=2)
        return {}


def write_cache(key: str, verdict: Verdict) -> None:
    from vaelab.atomic import write_atomic

    path = cache_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read_cache already warned about a damaged file
        verdicts = read_cache()
    verdicts[key] = {k: v for k, v in asdict(verdict).items() if k not in ("source", "key")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"version": 1, "verdicts": verdicts}, indent=2))
    except OSError as e:  # a read-only home must not stop training: the verdict is only not remembered
        warnings.warn(f"{path}: cannot save the precision verdict ({e.strerror}); it is measured again next time",
                      stacklevel=2)


def cached_verdicts() -> dict[str, Verdict]:
    """{workload: verdict} for every verdict cached for this machine's hardware and TensorFlow."""
    prefix = machine_key("").rstrip("|")
    verdicts = {}
    for key, fields in read_cache().items():
        machine, _, what = key.rpartition("|")
        if machine == prefix and WORKLOAD_MARK in what:
            verdicts[what] = _cached(key, fields)
    return verdicts


def _cached(key: str, fields: dict) -> Verdict:
    """A cached verdict; fields this version does not know (a newer vaelab's) are ignored."""
    known = {f for f in Verdict.__dataclass_fields__ if f not in ("source", "key")}
    return Verdict(source="cached", key=key, **{k: v for k, v in fields.items() if k in known})


# ---------------------------------------------------------------------------- measuring


@contextlib.contextmanager
def policy(name: str):
    """Builds layers under the Keras dtype policy `name` (float32, mixed_bfloat16, ...; not `auto`, which
    `resolve` decides), restoring the global policy afterwards."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def measure(cfg, image_shape, label_names=None, attributes=False, n_train=None, jit_compile: bool = False,
            names: list[str] | None = None, seconds: float = PROBE_SECONDS) -> dict[str, float]:
    """Median ms per training step of `cfg`'s model in each precision of `names`, timed interleaved.

    Builds the model once per precision, traces its train step once (not timed), then alternates short
    timed steps between the candidates until each has had about `seconds` (at least MIN_ROUNDS steps). A
    mixed policy that fails to build or train the model is left out with a warning. Random images of the run's
    shape and batch size; Keras's random state and layer names are restored afterwards, so the run that
    follows builds the same weights as without the probe.
    """
    from vaelab import optimizers
    from vaelab.models.kinds import build_model

    names = names or candidates()
    rng = np.random.default_rng(0)
    b = cfg.train.batch_size
    x = rng.random((b, *image_shape), dtype=np.float32)  # (B, H, W, C) in [0, 1]
    labels = None
    if label_names:
        labels = (rng.integers(0, 2, (b, len(label_names))).astype("float32") if attributes
                  else rng.integers(0, len(label_names), b))
    steps: dict[str, tuple] = {}
    with _keras_state_kept(cfg.train.seed):
        for name in names:
            try:
                with policy(name):
                    model = build_model(cfg, image_shape, n_train=n_train, label_names=label_names,
                                        attributes=attributes)
                    optimizer = optimizers.get(cfg.train.optimizer, learning_rate=cfg.train.learning_rate)
                    model.prepare_training(optimizer, jit_compile)
                pair = model.training_pair(x, labels) if model.needs_labels else model.training_pair(x)
                model.train_on_batch(*pair)  # traces the step (not timed)
            except Exception as e:  # a mixed policy that cannot train this model is not a candidate
                if name == "float32":
                    raise
                warnings.warn(f"train.precision=auto: {name} cannot train this model here "
                              f"({type(e).__name__}: {' '.join(str(e).split())[:200]}); not a candidate",
                              stacklevel=2)
                continue
            steps[name] = (model, pair)
        times: dict[str, list[float]] = {name: [] for name in steps}
        while True:  # one step per candidate per round, interleaved
            for name, (model, pair) in steps.items():
                t0 = time.perf_counter()
                model.train_on_batch(*pair)
                times[name].append(1000 * (time.perf_counter() - t0))
            rounds = len(times["float32"])
            spent = sum(sum(ts) for ts in times.values()) / 1000
            if rounds >= MAX_ROUNDS or (rounds >= MIN_ROUNDS and spent >= seconds * len(steps)):
                break
    return {name: statistics.median(ts) for name, ts in times.items()}


@contextlib.contextmanager
def _keras_state_kept(seed: int):
    """Restores Keras's layer-name counters after building throwaway models, and re-seeds Keras's
    (Python, NumPy, TensorFlow) random state with `seed` (`train.seed`, as `fit` seeds it)."""
    import keras

    try:
        from keras.src.backend.common import global_state

        uids = dict(global_state.get_global_attribute("object_name_uids", {}) or {})
    except ImportError:  # pragma: no cover - another Keras layout: names may then differ, weights do not
        global_state, uids = None, None
    try:
        yield
    finally:
        if global_state is not None:
            counter = global_state.get_global_attribute("object_name_uids")
            if counter is not None:
                counter.clear()
                counter.update(uids)
        keras.utils.set_random_seed(seed)


def resolve(cfg, image_shape=None, label_names=None, attributes=False, n_train=None, jit_compile: bool = False,
            measure_fn=None) -> Verdict:
    """The precision `cfg.train.precision` trains in here, with where the decision came from.

    `auto` on a machine with only one candidate is float32 without measuring; otherwise a cached verdict for
    this machine and workload (architecture, image shape, batch size), else a measurement (`measure_fn`,
    default `measure`) that is cached.
    Distributed runs (`train.distribute` other than none) do not probe: every worker must train in the same
    precision, so `auto` is float32 there unless the user sets one.
    """
    setting = cfg.train.precision
    if setting != "auto":
        return Verdict(setting, "set")
    names = candidates()
    if len(names) == 1:
        return Verdict("float32", "rule", note="no bf16 units on this machine")
    if cfg.train.distribute != "none":
        return Verdict("float32", "rule", note="distributed runs train in float32 unless train.precision is set")
    if image_shape is None:
        return Verdict("float32", "rule", note="not measured yet: the first training on this machine measures")
    key = machine_key(workload(cfg.model.architecture, image_shape, cfg.train.batch_size))
    hit = read_cache().get(key)
    if hit is not None:
        return _cached(key, hit)
    ms = (measure_fn or measure)(cfg, image_shape, label_names=label_names, attributes=attributes,
                                 n_train=n_train, jit_compile=jit_compile, names=names)
    verdict = Verdict(decide(ms), "measured", {k: round(v, 3) for k, v in ms.items()}, key,
                      time.strftime("%Y-%m-%d"), note=f"{cfg.model.kind} on {cfg.data.name}, batch "
                                                      f"{cfg.train.batch_size}")
    write_cache(key, verdict)
    return verdict
