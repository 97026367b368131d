"""Where an epoch goes: the keras-io recipe's net trained by `vaelab.train.fit`, against the plain Keras recipe.

    python benchmarks/epoch_overhead.py --data-dir $VAELAB_DATA_DIR --train-limit 20000

The vaelab worker trains the recipe's net (time_to_quality.py's `vaelab_recipe`: conv 32/64, Dense 16, z = 2;
train.precision from --precision, default auto as a user runs it) on Fashion-MNIST for --epochs epochs exactly as
a user would: `fit` with its default callbacks, validation on the test split, checkpoints, TensorBoard, history.
One extra callback (`EpochProfiler`, passed through fit's `extra_callbacks`) wraps Keras' callback list and every
callback's hooks, and records per epoch: wall time, time inside train steps (on_train_batch_begin ->
on_train_batch_end, the first step apart: it traces the graph), pipeline start (on_epoch_begin -> first batch),
validation (on_test_begin -> on_test_end), each callback's own time in its hooks, Keras' dispatch of the logs, and
the rest. The recipe worker trains time_to_quality.py's `keras_recipe` model (imported) on the same images with
`fit(x, batch_size=128)` and times its epochs. Workers run in their own processes, alternating (recipe, vaelab,
recipe, ...), one at a time.

Prints the CPU, the load average before and after, one breakdown table per vaelab epoch (seconds and % of the
epoch), the epoch ratio vaelab / recipe, and a JSON line.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
         "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end")
TEST_HOOKS = tuple(h for h in HOOKS if "test" in h)


def make_profiler():
    """An `EpochProfiler` callback class (built lazily: keras is imported only in the workers)."""
    import keras
    from keras.callbacks import CallbackList

    class EpochProfiler(keras.callbacks.Callback):
        """Times every part of each epoch by wrapping Keras' CallbackList and the callbacks in it.

        It implements no batch hook of its own, so Keras' asynchronous dispatch of batch logs is decided by
        the other callbacks, as without it.
        """

        async_safe = True

        def __init__(self):
            super().__init__()
            self.epochs: list[dict] = []
            self.train_begin_end: dict[str, float] = defaultdict(float)  # callback -> seconds outside epochs
            self._epoch: dict | None = None
            self._t: dict[str, float] = {}

        # --- wiring: called right after Keras builds its CallbackList -----------------------------------
        def attach(self, cblist):
            for cb in cblist.callbacks:
                if cb is not self:
                    for hook in HOOKS:
                        self._wrap_callback(cb, hook)
            for hook in HOOKS:
                self._wrap_list(cblist, hook)

        def _wrap_callback(self, cb, hook):
            fn = getattr(cb, hook)
            name = type(cb).__name__

            @functools.wraps(fn)
            def timed(*a, **kw):
                t = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    dt = time.perf_counter() - t
                    if self._epoch is None:
                        self.train_begin_end[name] += dt
                    elif hook in TEST_HOOKS:
                        self._epoch["validation_callbacks"][name] += dt
                    else:
                        self._epoch["callbacks"][name] += dt
                    self._t["in_callbacks"] = self._t.get("in_callbacks", 0.0) + dt

            setattr(cb, hook, timed)

        def _wrap_list(self, cblist, hook):
            fn = getattr(cblist, hook)
            before, after = getattr(self, f"_before_{hook}", None), getattr(self, f"_after_{hook}", None)

            @functools.wraps(fn)
            def timed(*a, **kw):
                t = time.perf_counter()
                self._t["in_callbacks"] = 0.0
                if before:
                    before(t, *a)
                try:
                    return fn(*a, **kw)
                finally:
                    t2 = time.perf_counter()
                    if self._epoch is not None and hook not in TEST_HOOKS:
                        # Keras' own work around the callbacks (pythonify logs, async dispatch)
                        self._epoch["dispatch"] += (t2 - t) - self._t["in_callbacks"]
                    if after:
                        after(t2, *a)

            setattr(cblist, hook, timed)

        # --- the spans -------------------------------------------------------------------------------------
        def _before_on_epoch_begin(self, t, epoch, *_):
            self._epoch = {"epoch": epoch + 1, "start": t, "steps": [], "test_steps": [],
                           "callbacks": defaultdict(float), "validation_callbacks": defaultdict(float),
                           "dispatch": 0.0, "validation": 0.0, "pipeline_start": None}

        def _after_on_epoch_begin(self, t, *_):
            self._t["epoch_begun"] = t

        def _before_on_train_batch_begin(self, t, *_):
            if self._epoch["pipeline_start"] is None:
                self._epoch["pipeline_start"] = t - self._t["epoch_begun"]

        def _after_on_train_batch_begin(self, t, *_):
            self._t["step"] = t

        def _before_on_train_batch_end(self, t, *_):
            self._epoch["steps"].append(t - self._t["step"])

        def _before_on_test_begin(self, t, *_):
            self._t["test"] = t

        def _after_on_test_batch_begin(self, t, *_):
            self._t["test_step"] = t

        def _before_on_test_batch_end(self, t, *_):
            self._epoch["test_steps"].append(t - self._t["test_step"])

        def _after_on_test_end(self, t, *_):
            self._epoch["validation"] += t - self._t["test"]

        def _after_on_epoch_end(self, t, *_):
            e = self._epoch
            e["wall"] = t - e["start"]
            self.epochs.append(e)
            self._epoch = None

        def breakdown(self) -> list[dict]:
            """Per epoch: {part: seconds}, parts summing to `wall`."""
            out = []
            for e in self.epochs:
                steps, tests = e["steps"], e["test_steps"]
                typical = statistics.median(steps[1:]) if len(steps) > 1 else 0.0
                parts = {
                    "train steps": sum(steps) - (steps[0] - typical if steps else 0.0),
                    "first step's extra (tracing, pipeline)": steps[0] - typical if steps else 0.0,
                    "pipeline start (epoch begin -> first batch)": e["pipeline_start"] or 0.0,
                    "validation: test steps": sum(tests),
                    "validation: rest (tracing of first step included)": e["validation"] - sum(tests),
                }
                for name, s in sorted(e["callbacks"].items(), key=lambda kv: -kv[1]):
                    parts[f"callback {name}"] = s
                parts["Keras callback dispatch (logs to Python)"] = e["dispatch"]
                parts["rest"] = e["wall"] - sum(parts.values())
                out.append({"epoch": e["epoch"], "wall": e["wall"], "steps": len(steps),
                            "median_step_ms": 1000 * typical,
                            "first_test_step_ms": 1000 * tests[0] if tests else None,
                            "median_test_step_ms": 1000 * statistics.median(tests[1:]) if len(tests) > 1 else None,
                            "validation_callbacks": dict(e["validation_callbacks"]), "parts": parts})
            return out

    init = CallbackList.__init__

    @functools.wraps(init)
    def patched_init(self, *a, **kw):
        init(self, *a, **kw)
        for cb in self.callbacks:
            if isinstance(cb, EpochProfiler):
                cb.attach(self)

    CallbackList.__init__ = patched_init
    return EpochProfiler


def vaelab_worker(args) -> dict:
    from vaelab.config import RunConfig
    from vaelab.runs import read_environment
    from vaelab.train import fit

    profiler = make_profiler()()
    out = tempfile.mkdtemp(prefix="epoch-overhead-")
    d = {
        "data": {"name": "fashion_mnist", "data_dir": args.data_dir, "train_limit": args.train_limit,
                 **({} if args.validation_images is None else {"validation_images": _images(args.validation_images)})},
        "model": {"filters": [32, 64], "kernel_sizes": [3, 3], "strides": [2, 2], "extra_dense": 16,
                  "latent_dim": 2, "likelihood": "bernoulli"},
        "train": {"epochs": args.epochs, "batch_size": 128, "seed": args.seed, "precision": args.precision,
                  "output_dir": out, "overwrite": True, "verbose": args.verbose},
    }
    t = time.perf_counter()
    result = fit(RunConfig.from_dict(d), argv=[], extra_callbacks=[profiler])
    fit_seconds = time.perf_counter() - t
    files = sorted(str(p.relative_to(result.run_dir)) for p in result.run_dir.rglob("*") if p.is_file())
    return {"fit_seconds": fit_seconds, "epochs": profiler.breakdown(),
            "precision": read_environment(result.run_dir).get("precision"),  # what the run recorded
            "outside_epochs": dict(profiler.train_begin_end), "files": files}


def _images(value: str) -> int | None:
    """--validation-images: a count, or "all" (every test image)."""
    return None if value == "all" else int(value)


def recipe_worker(args) -> dict:
    import keras
    from time_to_quality import build_keras_recipe, load_fashion

    keras.utils.set_random_seed(args.seed)
    x_train = load_fashion(args.data_dir, "train", args.train_limit)
    walls: list[float] = []

    class EpochWall(keras.callbacks.Callback):  # epoch hooks only: Keras keeps its async batch dispatch
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            walls.append(time.perf_counter() - self.t)

    vae = build_keras_recipe(args.seed)
    t = time.perf_counter()
    vae.fit(x_train, epochs=args.epochs, batch_size=128, verbose=0, callbacks=[EpochWall()])
    return {"fit_seconds": time.perf_counter() - t, "epoch_walls": walls}


def run_worker(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs), "--seed", str(args.seed),
           "--verbose", str(args.verbose), "--precision", args.precision]
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    cmd += ["--train-limit", str(args.train_limit)] if args.train_limit else []
    cmd += ["--validation-images", args.validation_images] if args.validation_images else []
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{name} failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def print_table(epoch: dict) -> None:
    wall = epoch["wall"]
    print(f"\nvaelab epoch {epoch['epoch']}: {wall:.2f} s, {epoch['steps']} steps, median step "
          f"{epoch['median_step_ms']:.1f} ms; validation steps: first {epoch['first_test_step_ms'] or 0:.0f} ms, "
          f"median {epoch['median_test_step_ms'] or 0:.1f} ms")
    print(f"| {'part':<52} | {'s':>7} | {'% epoch':>7} |")
    print(f"|{'-' * 54}|{'-' * 9}:|{'-' * 9}:|")
    for part, s in epoch["parts"].items():
        print(f"| {part:<52} | {s:7.3f} | {100 * s / wall:6.1f}% |")
    if epoch["validation_callbacks"]:
        inside = ", ".join(f"{k} {v:.3f}" for k, v in epoch["validation_callbacks"].items() if v >= 0.001)
        print(f"(callbacks' own time inside validation, s: {inside or 'all < 1 ms'})")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("VAELAB_DATA_DIR"),
                   help="Fashion-MNIST directory (default $VAELAB_DATA_DIR)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-limit", type=int, default=None, help="first N training images (shorter runs)")
    p.add_argument("--rounds", type=int, default=1, help="recipe + vaelab per round, order alternating")
    p.add_argument("--only", choices=["vaelab", "recipe"], default=None, help="run one side only")
    p.add_argument("--verbose", type=int, default=1, help="train.verbose of the vaelab run (default 1, as a user)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-images", default=None,
                   help="data.validation_images of the vaelab run: a count or 'all' (default: the config's default)")
    p.add_argument("--precision", default="auto",
                   help="train.precision of the vaelab run (default auto, as a user runs it: measured per machine "
                        "and model, cached; float32 pins the recipe's own precision)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        fn = vaelab_worker if args.worker == "vaelab" else recipe_worker
        print(json.dumps({"worker": args.worker, **fn(args)}), flush=True)
        return 0
    from fid_speed import cpu

    load0 = os.getloadavg()
    print(f"cpu: {cpu()}; load average before: {' '.join(f'{x:.2f}' for x in load0)}", flush=True)
    rows = []
    for r in range(args.rounds):
        order = [w for w in ("keras_recipe", "vaelab") if args.only is None or w.endswith(args.only)]
        for name in order if r % 2 == 0 else order[::-1]:
            res = run_worker(name, args)
            rows.append({"round": r, "load_after": os.getloadavg()[0], **res})
            if name == "vaelab":
                for e in res["epochs"]:
                    print_table(e)
                outside = res["fit_seconds"] - sum(e["wall"] for e in res["epochs"])
                print(f"vaelab fit() (precision {res['precision']}): {res['fit_seconds']:.2f} s, of which "
                      f"{outside:.2f} s outside the epochs "
                      f"(build, run directory, on_train_begin/end, final save); callbacks' time outside epochs: "
                      + ", ".join(f"{k} {v:.3f}" for k, v in res["outside_epochs"].items() if v >= 0.001))
            else:
                print(f"\nkeras recipe epochs: {', '.join(f'{w:.2f}' for w in res['epoch_walls'])} s; "
                      f"fit() {res['fit_seconds']:.2f} s", flush=True)
            print(f"(load {os.getloadavg()[0]:.2f})", flush=True)
    recipes = [w for r in rows if r["worker"] == "keras_recipe" for w in r["epoch_walls"]]
    vaelabs = [e["wall"] for r in rows if r["worker"] == "vaelab" for e in r["epochs"]]
    n = len(vaelabs) and len(recipes)
    summary = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu(), "load_before": load0,
               "load_after": os.getloadavg(), "epochs": args.epochs, "train_limit": args.train_limit, "rows": rows}
    if n:
        summary["epoch_ratio_vaelab_over_recipe"] = [v / k for v, k in zip(vaelabs, recipes, strict=False)]
        print("\nepoch wall, vaelab / recipe: "
              + ", ".join(f"epoch {i + 1}: {v:.2f} / {k:.2f} = {v / k:.2f}"
                          for i, (v, k) in enumerate(zip(vaelabs, recipes, strict=False))))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    line = json.dumps(summary)
    print(line)
    if args.out:
        with open(args.out, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
