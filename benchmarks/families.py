"""Every model family of `MODEL_KINDS` on MNIST and Fashion-MNIST under one budget: one table, one figure each.

    python benchmarks/families.py --data-dir DIR            # DIR/mnist, DIR/fashion-mnist (else $VAELAB_DATA_DIR)
    python benchmarks/families.py --families vae,iwae --datasets mnist --epochs 2 --k 100 --test-limit 200 \
        --no-docs --json /tmp/families.json --figures /tmp/families-figures

Budget (the same for every family and dataset; the options change it and the table states it): one shared
dense net, 784-256-256-z16 (ReLU) and the mirror decoder, Bernoulli likelihood, Adam 1e-3, batch 128,
constant beta = 1, the first `--train-limit` training images for `--epochs` epochs, no validation.
MNIST is dynamically binarised (a fresh draw each epoch; the test set binarised once, seed 0), so its
IW-NLL is a proper discrete NLL; Fashion-MNIST stays continuous in [0, 1], where the Bernoulli bound is
a cross-entropy, NOT a proper NLL (the table says so). Only each family's defining setting differs
(each family's `reference_settings`); a family added to the registry later joins by itself.

Evaluation is `vaelab.evaluate.evaluate_model` (what `vaelab evaluate` computes, InceptionV3 off) on the
first `--test-limit` test images: IW-NLL with `--k` importance samples (families with a likelihood bound),
-ELBO = reconstruction + KL (one sampled z), reconstruction error at z = z_mean, active units, and the
Fréchet distance of as many prior samples as test images in the features of one small classifier per
dataset (trained once on the same training images and shared by all families, so the FDs compare).
images/s is the median training throughput over epochs 2.. (epoch 1 includes tracing).

Writes --json, one PNG of 40 prior samples per family and dataset under --figures, prints a markdown
table with the machine's load average and (unless --no-docs) rewrites the table in docs/models.md between
`<!-- families-table:start -->` and `<!-- families-table:end -->`. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- families-table:start -->", "<!-- families-table:end -->"

# The dataset names vaelab's registry uses -> how the pixels are treated.
DATASETS = {"mnist": {"data.binarize": "dynamic"}, "fashion_mnist": {"data.binarize": "none"}}

NET = {  # the one trunk every family shares
    "model.architecture": "dense",
    "model.hidden_units": [256, 256],
    "model.latent_dim": 16,
    "model.activation": "relu",
    "model.likelihood": "bernoulli",
    "loss.strategy": "train_step",
    "loss.beta": 1.0,
    "train.learning_rate": 1e-3,
    "train.optimizer": "adam",
}

def objective(kind: str) -> dict:
    """What makes a family itself (its `reference_settings`, from its preset scaled to the shared net)."""
    from vaelab.models.kinds import MODEL_KINDS

    return dict(MODEL_KINDS.get(kind).reference_settings)


def family_config(kind: str, dataset: str, args):
    """The RunConfig of one cell of the table (raises ValueError when the family cannot use it)."""
    from vaelab.config import load_config

    sets = {**NET, **DATASETS[dataset], **objective(kind)}
    sets.update({
        "model.kind": kind,
        "data.name": dataset,
        "data.data_dir": args.data_dir,
        "data.train_limit": args.train_limit,
        "data.validation": False,
        "train.epochs": args.epochs,
        "train.batch_size": args.batch_size,
        "train.seed": 0,
        "train.output_dir": str(args.work_dir),
        "train.run_name": f"{dataset}-{kind}",
        "train.overwrite": True,
        "train.verbose": 0,
        "train.report": False,
    })
    return load_config(None, list(sets.items()))


def images_per_s(history: dict, n_images: int) -> float | None:
    """Median training throughput over epochs 2.. (the first epoch includes tracing the graphs)."""
    times = history.get("time", [])[1:] or history.get("time", [])
    return n_images / statistics.median(times) if times else None


def run_cell(kind: str, dataset: str, args, classifier: dict) -> dict:
    """Trains and evaluates one family on one dataset; returns its row."""
    from vaelab.data import load_arrays
    from vaelab.evaluate import EvalOptions, evaluate_model
    from vaelab.models.kinds import model_class
    from vaelab.plots import save_grid
    from vaelab.train import fit

    cfg = family_config(kind, dataset, args)
    model_class(cfg)  # ValueError here = the family cannot train with these settings
    t0 = time.perf_counter()
    result = fit(cfg, argv=["benchmarks/families.py"])
    train_s = time.perf_counter() - t0
    n_train = min(args.train_limit, 60_000)
    if dataset not in classifier:  # one feature classifier per dataset, shared by every family
        train_images, split = load_arrays(cfg.data, "train")
        classifier[dataset] = (train_images, split.labels)
    test, _ = load_arrays(cfg.data, "test", limit=args.test_limit)
    opts = EvalOptions(k=args.k, limit=args.test_limit, seed=0, inception=False)
    t1 = time.perf_counter()
    ev = evaluate_model(result.model, test, cfg.data.binarize, opts,
                        run_dir=args.work_dir / f"classifier-{dataset}", train=classifier[dataset])
    eval_s = time.perf_counter() - t1
    figure = args.figures / f"{dataset}_{kind}.png"
    save_grid(result.model.sample(40, seed=0), figure, scale=1, ncols=8)  # 8 x 5 grid
    iw, el, rec, lat = (ev.get(s) for s in ("iwae", "elbo", "reconstruction", "latent"))
    fd = ((ev.get("frechet") or {}).get("classifier") or {}).get("fd")
    return {
        "family": kind,
        "dataset": dataset,
        "epochs": len(result.history.get("loss", [])),
        "final_loss": result.history["loss"][-1],
        "images_per_s": images_per_s(result.history, n_train),
        "train_s": train_s,
        "eval_s": eval_s,
        "iw_nll": iw["nll"] if iw else None,
        "iw_nll_stderr": iw["nll_stderr"] if iw else None,
        "iw_proper": iw["proper_discrete_nll"] if iw else None,
        "neg_elbo": -el["elbo"] if el else None,
        "elbo_reconstruction": el["reconstruction"] if el else None,
        "kl": el["kl"] if el else None,
        "kl_how": el["z"] if el else None,
        "rec_bce": rec["bce_per_image"],
        "rec_mse_per_pixel": rec["mse_per_pixel"],
        "active_units": lat["active_units"] if lat else None,
        "latent_dim": int(result.model.latent_dim),
        "fd": fd,
        "absent": ev.get("absent", {}),
        "notes": ev.get("notes", []),
        "figure": str(figure.relative_to(ROOT)) if figure.is_relative_to(ROOT) else str(figure),
        "settings": objective(kind),
    }


def _num(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def format_table(result: dict) -> str:
    """The markdown table (one row per family and dataset) with the budget, date, commit and load above it."""
    b = result["budget"]
    lines = [
        f"{result['date']}, commit `{result['commit']}`, {result['machine']}; load average "
        f"{' / '.join(f'{x:.1f}' for x in result['loadavg_before'])} before, "
        f"{' / '.join(f'{x:.1f}' for x in result['loadavg_after'])} after (1 / 5 / 15 min); "
        f"{result['wall_min']:.1f} min wall in all.",
        "",
        f"Budget: {b['net']}; the first {b['train_limit']:,} training images, {b['epochs']} epochs, batch "
        f"{b['batch_size']}; {b['pixels']}. Evaluation on the first {b['test_limit']:,} test images: IW-NLL "
        f"with k = {b['k']}, Fréchet distance of {b['test_limit']:,} prior samples in the features of one "
        "classifier per dataset (vaelab's own, not InceptionV3).",
        "",
        "| dataset | family | IW-NLL | -ELBO | KL | rec. BCE (z_mean) | rec. MSE/pixel | active units "
        "| FD (own classifier) | train images/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["results"]:
        nll = _num(r["iw_nll"], ".2f")
        if r["iw_nll"] is not None and not r["iw_proper"]:
            nll += "*"
        au = "—" if r["active_units"] is None else f"{r['active_units']}/{r['latent_dim']}"
        lines.append(
            f"| {r['dataset']} | `{r['family']}` | {nll} | {_num(r['neg_elbo'], '.2f')} | {_num(r['kl'], '.2f')} "
            f"| {r['rec_bce']:.2f} | {r['rec_mse_per_pixel']:.4f} | {au} | {_num(r['fd'], '.2f')} "
            f"| {_num(r['images_per_s'], ',.0f')} |"
        )
    for s in result.get("skipped", []):
        lines.append(f"| {s['dataset']} | `{s['family']}` | skipped: {s['reason']} | | | | | | | |")
    lines += [
        "",
        "nats per image. \\* continuous pixels under a Bernoulli likelihood: a cross-entropy bound, not a "
        "proper NLL. — : the family has no such quantity (`ae`: no posterior, prior or likelihood bound). "
        "KL is closed form for N(0, I) priors and a one-sample estimate for `hvae` and `vamp`. "
        "images/s: median over epochs 2.. on the shared, loaded machine (compare within one run only).",
    ]
    return "\n".join(lines)


def write_docs(table: str, path: Path) -> None:
    """Replaces what lies between the two marker comments of `path` with `table`."""
    text = path.read_text()
    if START not in text or END not in text or text.index(START) > text.index(END):
        raise ValueError(f"{path}: expected the markers {START} ... {END} (in that order); add them and rerun")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+uncommitted changes" if dirty else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--families", help="comma-separated kinds (default: every registered kind)")
    p.add_argument("--datasets", default="mnist,fashion_mnist", help=f"comma-separated, from {list(DATASETS)}")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--train-limit", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--k", type=int, default=1000, help="importance samples of the IW-NLL")
    p.add_argument("--test-limit", type=int, default=1000)
    p.add_argument("--data-dir", help="folder with mnist/ and fashion-mnist/ (else $VAELAB_DATA_DIR)")
    p.add_argument("--work-dir", type=Path, default=Path("runs/families"), help="run directories (not committed)")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/families.json")
    p.add_argument("--figures", type=Path, default=ROOT / "docs/figures/families")
    p.add_argument("--docs", type=Path, default=ROOT / "docs/models.md")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in --docs")
    args = p.parse_args(argv)

    from vaelab.models.kinds import MODEL_KINDS

    kinds = args.families.split(",") if args.families else MODEL_KINDS.names()
    for kind in kinds:
        MODEL_KINDS.get(kind)  # unknown kind: one line naming the choices
    datasets = args.datasets.split(",")
    for d in datasets:
        if d not in DATASETS:
            raise SystemExit(f"--datasets: unknown {d!r}; choose from {list(DATASETS)}")
    result = {
        "date": datetime.date.today().isoformat(),
        "commit": git_commit(),
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), shared",
        "loadavg_before": list(os.getloadavg()),
        "budget": {
            "net": "dense 784-256-256-z16 (ReLU) + mirror decoder, Bernoulli, Adam 1e-3, beta 1 "
                   "(family settings: " + "; ".join(f"{k} {objective(k)}" for k in kinds if objective(k)) + ")",
            "train_limit": args.train_limit, "epochs": args.epochs, "batch_size": args.batch_size,
            "pixels": "MNIST dynamically binarised, Fashion-MNIST continuous",
            "k": args.k, "test_limit": args.test_limit,
        },
        "results": [],
        "skipped": [],
    }
    t0 = time.perf_counter()
    classifier: dict = {}
    for dataset in datasets:
        for kind in kinds:
            print(f"[{time.perf_counter() - t0:6.0f}s] {dataset} {kind} (load {os.getloadavg()[0]:.1f})", flush=True)
            try:
                row = run_cell(kind, dataset, args, classifier)
            except ValueError as e:  # the family cannot train with the shared settings: say why, go on
                result["skipped"].append({"family": kind, "dataset": dataset, "reason": str(e)})
                print(f"  skipped: {e}", flush=True)
                continue
            result["results"].append(row)
            print(f"  IW-NLL {_num(row['iw_nll'], '.2f')}, -ELBO {_num(row['neg_elbo'], '.2f')}, "
                  f"FD {_num(row['fd'], '.2f')}, {_num(row['images_per_s'], '.0f')} images/s, "
                  f"train {row['train_s']:.0f}s, eval {row['eval_s']:.0f}s", flush=True)
    result["loadavg_after"] = list(os.getloadavg())
    result["wall_min"] = (time.perf_counter() - t0) / 60
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    table = format_table(result)
    print(table)
    print(f"load average now: {os.getloadavg()}")
    if not args.no_docs:
        write_docs(table, args.docs)
        print(f"table written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
