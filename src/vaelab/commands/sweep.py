"""vaelab sweep: run a sweep spec (many trials, one study), then write its comparison page."""

from __future__ import annotations

from vaelab.commands.args import count, memory_why
from vaelab.commands.base import COMMANDS
from vaelab.config import TRACKERS

WORKER_BYTES = 2**29  # a worker is a Python + TensorFlow process training one trial: ~0.5 GiB for small models


def _most_workers() -> int:
    from vaelab.limits import most_that_fits

    return max(1, most_that_fits(WORKER_BYTES))


def _workers_why(most: int) -> str:
    return memory_why("about 0.5 GiB per worker process")


@COMMANDS.register("sweep")
class SweepCommand:
    help = "run a sweep spec on Optuna (grid / TPE / random, pruning, N workers, resumable); writes compare.html"

    @staticmethod
    def register(p):
        p.add_argument("spec", nargs="?", metavar="SPEC", help="a sweep spec YAML file or a shipped name (--list)")
        p.add_argument("--list", action="store_true", help="list the shipped sweep specs")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="a fixed override added to the spec's set: (repeatable)")
        p.add_argument("--data-dir", help="shortcut for --set data.data_dir=DIR")
        p.add_argument("--trials", type=count(1, 100_000),
                       help="budget of finished trials (overrides the spec's trials:)")
        p.add_argument("--dir", help="sweep directory (default sweeps/<name>)")
        p.add_argument("--storage", metavar="URL", help="shared Optuna storage, e.g. postgresql://user@host/db "
                       "(default: a journal file in the sweep directory)")
        p.add_argument("--workers", type=count(1, _most_workers, _workers_why), default=1,
                       help="local worker processes (default 1)")
        p.add_argument("--no-compare", action="store_true", help="do not write compare.html")
        p.add_argument("--track", choices=TRACKERS, help="shortcut for --set train.track=NAME: each trial an MLflow "
                       "run nested under one run of the sweep (store: train.tracking_uri, default <dir>/mlruns)")

    @staticmethod
    def run(args) -> int:
        from vaelab.sweep import specs

        if args.list:
            for name in specs.names():
                print(f"{name:<20} {specs.describe(name)}")
            return 0
        if not args.spec:
            raise ValueError("sweep: give a SPEC (a YAML file or a shipped name; vaelab sweep --list)")
        from vaelab.sweep.study import format_trials, trial_rows
        from vaelab.sweep.worker import run_sweep

        sets = list(args.overrides) + ([f"data.data_dir={args.data_dir}"] if args.data_dir else [])
        sets += [f"train.track={args.track}"] if args.track else []
        sweep = run_sweep(args.spec, sets, args.trials, args.dir, args.storage, args.workers)
        study = sweep.study()
        print(format_trials(trial_rows(study)))
        for lost in sweep.lost_workers:
            print(f"lost: {lost}; its trials were retried by the other workers")
        try:
            best = study.best_trial
            print(f"best: trial {best.number}, {sweep.spec.objective.metric} = {best.value:.5g}, {best.params}")
        except ValueError:
            print("best: none (no trial completed)")
        if not args.no_compare:
            from vaelab.compare_runs import compare_sweep

            try:
                print(f"comparison: {compare_sweep(sweep, study)}")
            except ValueError as e:  # e.g. every trial ran on another machine
                print(f"comparison: skipped ({e})")
        print(f"sweep directory: {sweep.dir}")
        return 0
