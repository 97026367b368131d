"""Numeric command-line flags with a declared range: argparse `type=` objects built on config's `check_bounds`.

Every number a command takes is declared with one of these where the flag is defined, so its meaning and range
live in one place, a bad value is refused while parsing (before TensorFlow starts or anything is written) with
one line, and the contract test (tests/test_cli_contract.py) finds every flag by its type:

    p.add_argument("--steps", type=count(1, 100_000), default=20)       # integers 1..100000
    p.add_argument("--std", type=real(gt=0), default=1.0)                # finite floats > 0 (no NaN, no inf)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--epochs", type=setting("train.epochs"))            # the config field's own bounds

An upper bound that depends on the machine is a callable (`hi=lambda: ...`), evaluated when the flag is parsed;
one that also depends on the run (its image size) is checked by the command after loading the run's config and
before any heavy work, with `check_fits`:

    check_fits("--scale", args.scale, most, "for 8x8 images on this machine (a grid of 64 x (8*N)^2 pixels)")
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from vaelab.config import ConfigError, check_bounds


class OneLineParser(argparse.ArgumentParser):
    """argparse with errors as one line (`vaelab CMD: error: --flag: expected ..., received ...`), exit code 2."""

    def error(self, message: str):
        # argparse says "argument -o/--out: ..."; name the flag as the user would type it
        message = re.sub(r"^argument (\S+): ", lambda m: m.group(1).split("/")[-1] + ": ", message)
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


class Number:
    """An argparse type for a finite int or float in a range: ge/gt <= value <= le (None = unbounded).

    `le` may be a callable returning the bound (machine-derived, e.g. from the memory budget); `why` says what
    the upper bound protects and may be a callable of that bound.
    """

    def __init__(self, kind: type, *, gt: float | None = None, ge: float | None = None,
                 le: float | Callable[[], float] | None = None, why: str | Callable[[float], str] = "",
                 meaning: str = ""):
        self.kind, self.gt, self.ge, self._le, self._why, self.meaning = kind, gt, ge, le, why, meaning
        self.__name__ = kind.__name__  # argparse names the type in some messages

    @property
    def le(self) -> float | None:
        return self._le() if callable(self._le) else self._le

    def expected(self) -> str:
        """'an integer in 1..100000 (why)', 'an integer >= 0', 'a finite number > 0', ..."""
        lo, op = (self.ge, ">=") if self.gt is None else (self.gt, ">")
        le, fmt = self.le, (lambda v: str(v)) if self.kind is int else (lambda v: f"{v:g}")
        noun = "an integer" if self.kind is int else "a finite number"
        if lo is not None and le is not None:
            text = f"{noun} in {fmt(lo)}..{fmt(le)}" if op == ">=" else f"{noun} > {fmt(lo)} and <= {fmt(le)}"
        elif lo is not None:
            text = f"{noun} {op} {fmt(lo)}"
        elif le is not None:
            text = f"{noun} <= {fmt(le)}"
        else:
            text = noun
        why = self._why(le) if callable(self._why) else self._why
        return f"{text} {why}" if why else text

    def parse(self, text: str) -> float:
        """The text as this kind of number, or ConfigError (no range check)."""
        try:
            return self.kind(text)
        except (TypeError, ValueError):
            raise ConfigError(f"expected {self.expected()}, received {text!r}") from None

    def check(self, value: float, key: str = "value", received=None) -> None:
        """ConfigError naming `key` when `value` is outside the declared range (or not finite)."""
        check_bounds(value, key, gt=self.gt, ge=self.ge, le=self.le, expected=self.expected(),
                     received=value if received is None else received)

    def accepts(self, text: str) -> bool:
        """Whether the flag takes `text` (the contract test asks this of every flag)."""
        try:
            self.check(self.parse(text))
        except ConfigError:
            return False
        return True

    def __call__(self, text: str) -> float:
        try:
            value = self.parse(text)
            self.check(value, "value")
        except ValueError as e:  # ConfigError, or the memory budget's; argparse prints an ArgumentTypeError as is
            raise argparse.ArgumentTypeError(str(e).removeprefix("value: ")) from None
        return value

    def __repr__(self) -> str:  # argparse takes it eagerly: no machine-derived bound evaluated here
        return f"Number({self.kind.__name__}, gt={self.gt}, ge={self.ge}, le={self._le})"


def count(lo: int = 1, hi: int | Callable[[], int] | None = None, why: str | Callable[[int], str] = "") -> Number:
    """Integers lo..hi (hi None: no upper bound; a callable: computed when parsed)."""
    return Number(int, ge=lo, le=hi, why=why)


def real(*, gt: float | None = None, ge: float | None = None, le: float | None = None, why: str = "") -> Number:
    """Finite floats in the given bounds (NaN and inf are always refused)."""
    return Number(float, gt=gt, ge=ge, le=le, why=why)


SEED = count(0, 2**32 - 1)  # what numpy and keras.utils.set_random_seed take
PORT = count(0, 65535)


def setting(key: str) -> Number:
    """The type of a shortcut flag for a config field, with the field's own `bounded` range (e.g. train.epochs)."""
    import dataclasses
    import typing

    from vaelab.config import RunConfig

    section, name = key.split(".")
    cls = typing.get_type_hints(RunConfig)[section]
    tp = typing.get_type_hints(cls)[name]
    meta = {f.name: f for f in dataclasses.fields(cls)}[name].metadata
    kind = int if int in (typing.get_args(tp) or (tp,)) else float
    return Number(kind, gt=meta.get("gt"), ge=meta.get("ge"), le=meta.get("le"), meaning=f"--set {key}=N")


def check_fits(flag: str, value: int, most: int, why: str, lo: int = 1) -> None:
    """ValueError when `value` exceeds `most`, the largest value the run and the machine allow (a run-time bound):
    `--scale: expected 0..12 for 64 8x8 images on this machine (...), received 1000`."""
    if value > most:
        raise ValueError(f"{flag}: expected {lo}..{most} {why}, received {value}")


def memory_why(each: str) -> str:
    """'on this machine (<each>; a budget of X of memory)': the reason of a machine-derived upper bound."""
    from vaelab.limits import BUDGET_ENV, human_bytes, memory_budget

    return f"on this machine ({each}; a memory budget of {human_bytes(memory_budget())}, ${BUDGET_ENV} sets it)"


def image_shape_of(cfg) -> tuple[int, int, int] | None:
    """(H, W, C) of a run's images from its config alone (no model, no data); a folder dataset's channels are
    taken as 3 (the upper estimate); None when only the images can tell (a folder without data.image_size)."""
    from vaelab.data import DATASETS

    info = DATASETS.info(cfg.data.name)
    shape, size = info.get("image_shape"), cfg.data.image_size
    if size and info.get("resizable"):
        return (size, size, shape[2] if shape else 3)
    return tuple(shape) if shape else None
