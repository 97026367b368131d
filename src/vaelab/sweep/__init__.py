"""Sweeps: many runs, one question ("which beta, which z, which family?"), on Optuna.

    spec.py     the YAML spec and its validation; shipped specs in specs/
    storage.py  the Optuna storage (journal file or PostgreSQL), the study-wide lock, dead-worker detection
    study.py    sweep directory + study, samplers, pruner, the trial bookkeeping
    trial.py    one trial = one `vaelab.train.fit` run directory, its objective, per-epoch pruning
    worker.py   the worker loop and `run_sweep` (N local worker processes)

    >>> from vaelab.sweep.worker import run_sweep
    >>> sweep = run_sweep("beta_mnist", sets=["train.epochs=3"], workers=2)
"""
