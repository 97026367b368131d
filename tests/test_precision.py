"""train.precision=auto: decided by timing the model here (faster wins), cached per machine, never overriding
an explicit setting. The decision logic runs on fake timings; one test times a real tiny model."""

from __future__ import annotations

import json

import keras
import pytest
from helpers import tiny_config

from vaelab import precision
from vaelab.cli import main
from vaelab.train import fit

BOTH = ["float32", "mixed_bfloat16"]


@pytest.fixture
def bf16_machine(tmp_path, monkeypatch):
    """A machine with bf16 units and an empty cache; `calls` records every (fake) measurement."""
    monkeypatch.setenv("VAELAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "candidates", lambda: list(BOTH))
    calls = []

    def fake(ms):
        def measure(cfg, image_shape, names, **kwargs):
            calls.append((tuple(names), tuple(image_shape)))
            return {n: ms[n] for n in names}
        return measure
    return calls, fake


def test_decide_keeps_the_faster_and_float32_on_a_tie():
    assert precision.decide({"float32": 10.0, "mixed_bfloat16": 7.0}) == "mixed_bfloat16"
    assert precision.decide({"float32": 10.0, "mixed_bfloat16": 13.0}) == "float32"
    assert precision.decide({"float32": 10.0, "mixed_bfloat16": 9.8}) == "float32"  # < 5% faster: keep float32
    assert precision.decide({"float32": 10.0}) == "float32"


def test_auto_measures_once_then_reuses_the_cached_verdict(tmp_path, bf16_machine):
    calls, fake = bf16_machine
    cfg = tiny_config(tmp_path, train={"precision": "auto"})
    first = precision.resolve(cfg, (16, 16, 1), measure_fn=fake({"float32": 10.0, "mixed_bfloat16": 6.0}))
    assert (first.precision, first.source) == ("mixed_bfloat16", "measured")
    assert calls == [(tuple(BOTH), (16, 16, 1))]
    again = precision.resolve(cfg, (16, 16, 1), measure_fn=fake({"float32": 1.0, "mixed_bfloat16": 9.0}))
    assert (again.precision, again.source) == ("mixed_bfloat16", "cached") and len(calls) == 1
    assert again.ms_per_step == {"float32": 10.0, "mixed_bfloat16": 6.0}
    # the verdict is per workload: another architecture, image shape or batch size is measured on its own
    dense = tiny_config(tmp_path, train={"precision": "auto"}, model={"architecture": "dense"})
    assert precision.resolve(dense, (16, 16, 1), measure_fn=fake({"float32": 5.0, "mixed_bfloat16": 8.0})
                             ).precision == "float32"
    assert precision.resolve(cfg, (8, 8, 1), measure_fn=fake({"float32": 5.0, "mixed_bfloat16": 8.0})
                             ).precision == "float32"
    bigger_batch = tiny_config(tmp_path, train={"precision": "auto", "batch_size": 2 * cfg.train.batch_size})
    assert precision.resolve(bigger_batch, (16, 16, 1), measure_fn=fake({"float32": 5.0, "mixed_bfloat16": 8.0})
                             ).precision == "float32"
    assert calls[1:] == [(tuple(BOTH), (16, 16, 1)), (tuple(BOTH), (8, 8, 1)), (tuple(BOTH), (16, 16, 1))]
    # ... and the first one's verdict still stands
    assert precision.resolve(cfg, (16, 16, 1), measure_fn=fake({"float32": 1.0, "mixed_bfloat16": 9.0})
                             ).precision == "mixed_bfloat16" and len(calls) == 4
    saved = json.loads(precision.cache_path().read_text())["verdicts"]
    assert sorted(v["precision"] for v in saved.values()) == ["float32"] * 3 + ["mixed_bfloat16"]
    assert {k.rsplit("|", 1)[-1] for k in saved} == {
        f"conv models on 16x16x1 images, batch {cfg.train.batch_size}",
        f"dense models on 16x16x1 images, batch {cfg.train.batch_size}",
        f"conv models on 8x8x1 images, batch {cfg.train.batch_size}",
        f"conv models on 16x16x1 images, batch {2 * cfg.train.batch_size}"}


def test_an_explicit_precision_is_never_probed(tmp_path, bf16_machine):
    calls, fake = bf16_machine
    for name in ("float32", "mixed_bfloat16"):
        verdict = precision.resolve(tiny_config(tmp_path, train={"precision": name}),
                                    (16, 16, 1), measure_fn=fake({"float32": 1.0, "mixed_bfloat16": 1.0}))
        assert (verdict.precision, verdict.source) == (name, "set")
    assert calls == [] and not precision.cache_path().exists()


def test_no_bf16_units_means_float32_without_measuring(tmp_path, monkeypatch):
    monkeypatch.setenv("VAELAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(precision, "candidates", lambda: ["float32"])
    verdict = precision.resolve(tiny_config(tmp_path, train={"precision": "auto"}), (16, 16, 1),
                                measure_fn=lambda *a, **k: pytest.fail("measured without a candidate"))
    assert (verdict.precision, verdict.source) == ("float32", "rule")


def test_a_damaged_cache_is_ignored_with_one_warning_and_rewritten(tmp_path, bf16_machine):
    calls, fake = bf16_machine
    precision.cache_path().parent.mkdir(parents=True)
    precision.cache_path().write_bytes(b"\xa1{ not json")
    cfg = tiny_config(tmp_path, train={"precision": "auto"})
    with pytest.warns(UserWarning, match="damaged precision cache") as caught:
        verdict = precision.resolve(cfg, (16, 16, 1), measure_fn=fake({"float32": 4.0, "mixed_bfloat16": 8.0}))
    assert len(caught) == 1 and str(precision.cache_path()) in str(caught[0].message)
    assert (verdict.precision, verdict.source) == ("float32", "measured") and len(calls) == 1
    assert json.loads(precision.cache_path().read_text())["verdicts"]  # rewritten whole


def test_fit_trains_in_the_measured_precision_and_a_resume_keeps_it(tmp_path, bf16_machine, monkeypatch):
    calls, fake = bf16_machine
    monkeypatch.setattr(precision, "measure", fake({"float32": 10.0, "mixed_bfloat16": 5.0}))

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated crash")

    cfg = tiny_config(tmp_path, train={"precision": "auto", "epochs": 2, "run_name": "r"})
    with pytest.raises(KeyboardInterrupt):
        fit(cfg, extra_callbacks=[Crash()])
    run_dir = tmp_path / "runs" / "r"
    env = json.loads((run_dir / "env.json").read_text())
    assert env["precision"] == "mixed_bfloat16" and "measured" in env["precision_decision"]
    assert keras.config.dtype_policy().name == "float32"
    # the cached verdict changes (say, measured again); the resumed run still trains in what it started in
    key = precision.machine_key(precision.workload("conv", (16, 16, 1), cfg.train.batch_size))
    assert key in json.loads(precision.cache_path().read_text())["verdicts"]
    precision.write_cache(key, precision.Verdict("float32", "measured"))
    resumed = fit(cfg, resume=run_dir)
    assert json.loads((run_dir / "env.json").read_text())["precision"] == "mixed_bfloat16"
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in resumed.model.encoder.layers)
    assert len(calls) == 1


def test_env_shows_the_verdict(tmp_path, bf16_machine, capsys):
    assert main(["env"]) == 0
    assert "not measured on this machine yet" in capsys.readouterr().out
    precision.write_cache(precision.machine_key("conv"),  # an older vaelab's key (no workload): not shown
                          precision.Verdict("mixed_bfloat16", "measured", {"float32": 8.0, "mixed_bfloat16": 6.0}))
    precision.write_cache(precision.machine_key(precision.workload("conv", (28, 28, 1), 128)),
                          precision.Verdict("float32", "measured", {"float32": 8.0, "mixed_bfloat16": 10.0},
                                            measured="2026-12-03"))
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    assert ("train.precision=auto for conv models on 28x28x1 images, batch 128: float32 (cached, measured "
            "2026-12-03") in out
    assert "1.33x" not in out and out.count("train.precision=auto for ") == 1
    assert "mixed_bfloat16 0.80x float32's speed" in out


def test_the_real_probe_times_both_and_leaves_names_and_seeds_as_they_were(tmp_path):
    from keras.src.backend.common import global_state

    from vaelab.models.kinds import build_model

    cfg = tiny_config(tmp_path, train={"precision": "auto", "seed": 3})
    keras.utils.set_random_seed(3)
    plain = [w.copy() for w in build_model(cfg, (16, 16, 1)).get_weights()]
    uids = dict(global_state.get_global_attribute("object_name_uids"))
    ms = precision.measure(cfg, (16, 16, 1), names=BOTH, seconds=0.2)
    assert set(ms) == set(BOTH) and all(v > 0 for v in ms.values())
    assert dict(global_state.get_global_attribute("object_name_uids")) == uids  # layer names as without it
    assert keras.config.dtype_policy().name == "float32"
    after = build_model(cfg, (16, 16, 1)).get_weights()  # re-seeded with train.seed: the same initial weights
    for a, b in zip(plain, after, strict=True):
        assert (a == b).all()


def test_a_cached_verdict_with_fields_from_a_newer_version_still_loads(tmp_path, bf16_machine):
    calls, fake = bf16_machine
    cfg = tiny_config(tmp_path, train={"precision": "auto"})
    key = precision.machine_key(precision.workload("conv", (16, 16, 1), cfg.train.batch_size))
    precision.cache_path().parent.mkdir(parents=True)
    precision.cache_path().write_text(json.dumps({"version": 2, "verdicts": {
        key: {"precision": "mixed_bfloat16", "ms_per_step": {"float32": 9.0, "mixed_bfloat16": 6.0},
              "energy_joules": 3.5}}}))
    verdict = precision.resolve(cfg, (16, 16, 1), measure_fn=fake({"float32": 1.0, "mixed_bfloat16": 9.0}))
    assert (verdict.precision, verdict.source) == ("mixed_bfloat16", "cached") and calls == []
