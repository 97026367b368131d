"""CLI subcommands. Adding one = a module here defining `help`, `register(parser)`, `run(args)`,
registered with `@COMMANDS.register("name")` on a class or module-level object, plus an import below."""

from vaelab.commands.base import COMMANDS  # noqa: F401

from vaelab.commands import (  # noqa: E402,F401  isort: skip
    compare, compare_strategies, config, datasets, demo, env, evaluate, explore, export, fit_prior, generate, plot,
    report, runs, sweep, train,
)
