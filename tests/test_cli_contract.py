"""The command-line contract: every numeric flag of every command declares its range (`vaelab.commands.args`), and
a value outside it is refused with one line naming the flag, exit code 2, no traceback, nothing written, at once.

The flags are found by walking the parser (`build_parser`), so a new command or flag joins these tests by itself;
a flag typed with a plain `int` / `float` fails `test_every_numeric_flag_declares_its_range`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pytest
from helpers import tiny_config

from vaelab.cli import build_parser, main
from vaelab.commands.args import Number
from vaelab.limits import BUDGET_ENV

TRIES = ("0", "-1", "HUGE", "nan", "inf")
HUGE = {int: str(10**12), float: "1e300"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _numeric_flags():
    """(command, its parser, the flag's action) for every flag that takes a number."""
    for name, p in _commands().items():
        for action in p._actions:
            if action.option_strings and (action.type in (int, float) or isinstance(action.type, Number)):
                yield name, p, action


def _positionals(p: argparse.ArgumentParser) -> list[str]:
    """Placeholder values for a command's required positionals (never read: a bad flag stops the parse)."""
    out = []
    for a in p._actions:
        if not a.option_strings and a.nargs not in ("?", "*", argparse.SUPPRESS) and a.dest != "help":
            out.append(a.choices[0] if a.choices else "RUN_DIR")
    return out


def _cases():
    for name, _, action in _numeric_flags():
        if not isinstance(action.type, Number):
            continue
        for t in TRIES:
            value = HUGE[action.type.kind] if t == "HUGE" else t
            if not action.type.accepts(value):  # only what the declared range refuses (0 is a valid --seed)
                yield pytest.param(name, action.option_strings[-1], value, id=f"{name} {action.option_strings[-1]} {t}")


def test_every_numeric_flag_declares_its_range():
    flags = list(_numeric_flags())
    plain = [f"{name} {a.option_strings[-1]}" for name, _, a in flags if not isinstance(a.type, Number)]
    assert not plain, f"declare a range with vaelab.commands.args (count, real, SEED, ...) for: {plain}"
    assert len(flags) >= 25  # the walk finds them (every command module is registered)
    assert {"generate", "evaluate", "compare-strategies", "sweep", "plot", "explore", "fit-prior"} <= {
        name for name, _, _ in flags}


def test_the_walk_would_catch_a_plain_int_flag():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int)
    assert any(a.type is int and not isinstance(a.type, Number) for a in p._actions)  # what the test above refuses


@pytest.mark.parametrize("command, flag, value", list(_cases()))
def test_out_of_range_values_are_refused_with_one_line(command, flag, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    p = _commands()[command]
    action = next(a for a in p._actions if flag in a.option_strings)
    n = action.nargs if isinstance(action.nargs, int) else 1
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        main([command, *_positionals(p), flag, *[value] * n])
    assert time.perf_counter() - t0 < 5
    assert e.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith(f"vaelab {command}: error: {flag}: expected "), lines[0]
    assert ", received " in lines[0], lines[0]
    assert not os.listdir(tmp_path)


def test_ranges_say_what_is_valid():
    flags = {(name, a.option_strings[-1]): a.type for name, _, a in _numeric_flags()}
    assert flags["generate", "--scale"].accepts("0")  # 0: automatic
    assert flags["evaluate", "--seed"].accepts("0")
    assert flags["explore", "--port"].accepts("0")  # 0: a free port
    assert flags["plot", "--factors"].accepts("-1")
    assert not flags["generate", "--std"].accepts("inf") and not flags["generate", "--std"].accepts("nan")
    assert flags["train", "--epochs"].expected() == "an integer >= 1"  # the config field's own bound


# ---------------------------------------------------------------------------- the table, as a user types it


@pytest.mark.parametrize("args, flag", [
    (["compare-strategies", "--steps", "0"], "--steps"),
    (["compare-strategies", "--steps", "-3"], "--steps"),
    (["generate", "RUN_DIR", "--std", "inf"], "--std"),
    (["evaluate", "RUN_DIR", "--fid-samples", "100000000"], "--fid-samples"),
    (["evaluate", "RUN_DIR", "--k", "1000000000"], "--k"),
    (["evaluate", "RUN_DIR", "--limit", "0"], "--limit"),
    (["fit-prior", "RUN_DIR", "--limit", "0"], "--limit"),
])
def test_the_reported_cases_answer_in_one_line_at_once(args, flag, tmp_path):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vaelab", *args], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, BUDGET_ENV: "1e9"}, timeout=60)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"vaelab {args[0]}: error: {flag}: expected")
    assert time.perf_counter() - t0 < 10  # parsed before TensorFlow starts (about a second in all)
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------------- bounds that need the run


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from vaelab.train import fit

    return fit(tiny_config(tmp_path_factory.mktemp("contract"), train={"epochs": 1})).run_dir  # 16x16x1 images


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _files(run_dir) -> set:
    return {p.relative_to(run_dir) for p in run_dir.rglob("*")}


def test_generate_scale_is_bounded_by_the_images_and_the_machine(tiny_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(BUDGET_ENV, str(10**9))
    monkeypatch.chdir(tmp_path)
    before = _files(tiny_run)
    assert main(["generate", str(tiny_run), "--scale", "1000", "--out", "g.png"]) == 2
    line = _one_error(capsys)
    # 64 x (16 N)^2 pixels x 9 bytes <= 1e9  ->  N <= 82
    assert line.startswith("vaelab generate: error: --scale: expected 0..82 (0: automatic) for 64 16x16 images "
                           "on this machine (an image grid of 64 x (16*N)x(16*N) pixels"), line
    assert line.endswith("received 1000")
    assert main(["generate", str(tiny_run), "-n", "100000", "--out", "g.png"]) == 2  # the automatic scale 4
    assert _one_error(capsys).startswith("vaelab generate: error: -n: expected 1..27126 for 16x16 images at scale 4")
    assert not os.listdir(tmp_path) and _files(tiny_run) == before
    assert main(["generate", str(tiny_run), "-n", "4", "--scale", "82", "--out", "g.png"]) == 0  # what fits


def test_evaluate_fid_samples_is_bounded_by_the_run_images(tiny_run, tmp_path, monkeypatch, capsys):
    from vaelab.commands.evaluate import FID_FIXED, fid_bytes_per_sample

    monkeypatch.setenv(BUDGET_ENV, str(10**9))
    before = _files(tiny_run)
    most = (10**9 - FID_FIXED) // fid_bytes_per_sample((16, 16, 1))
    assert (10**9 - FID_FIXED) // fid_bytes_per_sample() > most  # the run refines the bound checked while parsing
    assert main(["evaluate", str(tiny_run), "--fid-samples", str(most + 1)]) == 2
    line = _one_error(capsys)
    assert line.startswith(f"vaelab evaluate: error: --fid-samples: expected 4..{most} on this machine"), line
    assert _files(tiny_run) == before  # metrics.json untouched


def test_evaluate_fid_samples_is_bounded_by_the_free_disk(tiny_run, monkeypatch, capsys):
    """The standard scores spill their features to disk (RUN/evaluation while scored, the reference cache)."""
    from vaelab import limits
    from vaelab.commands.evaluate import CACHED_PER_SAMPLE, SPILLED_PER_SAMPLE

    monkeypatch.setattr(limits, "disk_room", lambda path: (1, 100 * 2**20))  # one file system, 100 MiB free
    before = _files(tiny_run)
    most = 100 * 2**20 // (SPILLED_PER_SAMPLE + CACHED_PER_SAMPLE)  # 32 KiB per sample: 3200
    assert main(["evaluate", str(tiny_run), "--fid-samples", str(most + 1)]) == 2
    line = _one_error(capsys)
    assert line.startswith(f"vaelab evaluate: error: --fid-samples: expected 4..{most} on this disk (32.0 KiB of "
                           "features per sample in "), line
    assert "100.0 MiB free there" in line and line.endswith(f"received {most + 1}"), line
    assert _files(tiny_run) == before


def test_compare_strategies_steps_are_bounded_by_their_batches(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(BUDGET_ENV, str(10**8))
    monkeypatch.chdir(tmp_path)
    # the smoke preset: batches of B images held in memory, all of them
    assert main(["compare-strategies", "--config", "smoke", "--steps", "90000"]) == 2
    line = _one_error(capsys)
    assert "--steps: expected 1.." in line and "per batch of" in line and line.endswith("received 90000"), line
    assert not os.listdir(tmp_path)


def test_a_bad_memory_budget_is_named(monkeypatch, capsys):
    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(SystemExit):
        main(["evaluate", "RUN_DIR", "--fid-samples", "100"])
    assert f"${BUDGET_ENV}: expected a number of bytes" in _one_error(capsys)
