"""The disentangling families on procedural dSprites: the five scores, mean +- std over seeds (Locatello et al.
2019: seeds matter as much as models -- the spread is the point).

    python benchmarks/disentanglement.py                                  # the table in docs/models.md
    python benchmarks/disentanglement.py --models vae,factorvae --seeds 0 --steps 200 --points 300 --no-docs

Budget (the same for every model; the options change it and the table states it): the `dsprites_vae` preset's
network (disentanglement_lib's conv 32-32-64-64 4x4/2, dense 256, z = 10, Bernoulli, Adam 1e-4, batch 64)
trained for `--steps` steps on the procedurally rendered grid, then `vaelab.metrics.disentanglement.scores` on
z_mean with `--points` points per score (disentanglement_lib uses 10,000; fewer points make each score noisier:
the table says how many). Only each model's defining setting differs (MODELS below). Writes --json, prints a
markdown table with the machine's CPU and load, and (unless --no-docs) rewrites the table in docs/models.md
between `<!-- disentanglement-table:start -->` and `<!-- disentanglement-table:end -->`. Not part of the tests.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- disentanglement-table:start -->", "<!-- disentanglement-table:end -->"

MODELS = {  # name -> overrides of the dsprites_vae preset (beta = 4 there)
    "vae": ["loss.beta=1"],
    "beta_vae": ["loss.beta=4"],
    "tcvae": ["model.kind=tcvae", "loss.beta=6"],
    "factorvae": ["model.kind=factorvae", "loss.beta=1", "loss.factor_gamma=10"],
    "dipvae": ["model.kind=dipvae", "loss.beta=1", "loss.dip_type=i", "loss.dip_lambda_od=10"],
    "annealed_vae": ["model.kind=annealed_vae"],  # capacity_steps is set to --steps below
}
SCORES = [("beta-VAE", ("beta_vae", "eval_accuracy")), ("FactorVAE", ("factor_vae", "eval_accuracy")),
          ("MIG", ("mig", "mig")), ("SAP", ("sap", "sap")), ("DCI-D", ("dci", "disentanglement")),
          ("DCI-C", ("dci", "completeness")), ("DCI-I", ("dci", "informativeness_test"))]


def run_one(name: str, seed: int, args, out_dir: Path) -> dict:
    from vaelab.config import load_config
    from vaelab.data import load_split
    from vaelab.metrics import disentanglement
    from vaelab.train import fit

    steps_per_epoch = min(args.steps, 1000)
    epochs = max(1, round(args.steps / steps_per_epoch))
    sets = [*MODELS[name], f"train.seed={seed}", f"train.epochs={epochs}", f"train.steps_per_epoch={steps_per_epoch}",
            "train.verbose=0", "train.report=false", "data.validation=false", f"train.output_dir={out_dir}",
            f"train.run_name={name}-{seed}"]
    if name == "annealed_vae":
        sets.append(f"loss.capacity_steps={epochs * steps_per_epoch}")
    cfg = load_config("dsprites_vae", sets)
    t0 = time.perf_counter()
    result = fit(cfg)
    train_s = time.perf_counter() - t0
    split = load_split(cfg.data, "train")

    def codes_of(factors):
        return result.model.encode(split.observe(factors).astype("float32") / 255.0)[0]

    t0 = time.perf_counter()
    s = disentanglement.scores(codes_of, tuple(split.factor_sizes), seed=seed,
                               samples=disentanglement.Samples.scaled(args.points, args.batch))
    row = {"model": name, "seed": seed, "train_seconds": round(train_s, 1),
           "score_seconds": round(time.perf_counter() - t0, 1), "load": os.getloadavg()[0]}
    row.update({label: s[a][b] for label, (a, b) in SCORES})
    print(json.dumps(row), flush=True)
    return row


def table(rows: list[dict], budget: str) -> str:
    lines = [budget, "", "| model | " + " | ".join(label for label, _ in SCORES) + " | train s / run |",
             "| --- |" + " ---: |" * (len(SCORES) + 1)]
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]

        def cell(key, mine=mine):
            vals = [r[key] for r in mine if r[key] is not None]
            if not vals:
                return "n/a"
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):.3f} ± {sd:.3f}"

        seconds = statistics.mean(r["train_seconds"] for r in mine)
        lines.append(f"| {name} | " + " | ".join(cell(label) for label, _ in SCORES) + f" | {seconds:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=3000, help="training steps per run (batch 64)")
    p.add_argument("--points", type=int, default=1000, help="points per score (disentanglement_lib: 10000)")
    p.add_argument("--batch", type=int, default=32, help="observations per beta-VAE / FactorVAE point (dl: 64)")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/disentanglement.json")
    p.add_argument("--docs", type=Path, default=ROOT / "docs/models.md")
    p.add_argument("--no-docs", action="store_true")
    p.add_argument("--table-only", action="store_true",
                   help="no training: the table (and docs) from the rows already in --json")
    args = p.parse_args(argv)
    models = args.models.split(",")
    for m in models:
        if m not in MODELS:
            raise SystemExit(f"--models: unknown {m!r}; choose from {list(MODELS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    sys.path.insert(0, str(ROOT / "src"))
    from vaelab.precision import cpu_description

    load0, start = os.getloadavg(), time.perf_counter()
    rows: list[dict] = []
    args.json.parent.mkdir(parents=True, exist_ok=True)

    def budget_line(done: float) -> str:
        return (f"Procedural dSprites, {args.steps} steps of batch 64 per run, {args.points} points per score "
                f"({args.batch} observations per beta-VAE/FactorVAE point), seeds {seeds}; mean ± std over seeds. "
                f"{datetime.date.today().isoformat()}, {cpu_description()}, load {load0[0]:.2f} -> "
                f"{os.getloadavg()[0]:.2f}, {done:.0f} min in all (`benchmarks/disentanglement.py`).")

    if args.table_only:
        saved = json.loads(args.json.read_text())
        rows, budget = saved["rows"], saved["budget"]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            for seed in seeds:  # interleaved: every model once per seed, so load drifts hit all alike
                for m in models:
                    rows.append(run_one(m, seed, args, Path(tmp)))
                    budget = budget_line((time.perf_counter() - start) / 60)  # each row kept as it comes
                    args.json.write_text(json.dumps({"budget": budget, "rows": rows}, indent=2) + "\n")
    text = table(rows, budget)
    print(text)
    if not args.no_docs:
        doc = args.docs.read_text()
        if START in doc and END in doc:
            head, rest = doc.split(START, 1)
            doc = head + START + "\n" + text + "\n" + END + rest.split(END, 1)[1]
            args.docs.write_text(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
