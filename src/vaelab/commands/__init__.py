"""CLI subcommands. Adding one = a module here defining `help`, `register(parser)`, `run(args)`,
registered with `@COMMANDS.register("name")` on a class or module-level object, plus an import below."""

from vaelab.commands.base import COMMANDS  # noqa: F401

from vaelab.commands import (  # noqa: E402,F401  isort: skip
    compare, config, datasets, demo, env, evaluate, explore, generate, plot, report, train,
)
from vaelab.commands import vq_prior  # noqa: E402,F401  isort: skip  (after any other fit-prior)
