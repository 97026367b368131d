"""vaelab export: each format round-trips in its own runtime (outputs equal to the Keras model's), export.json
describes what the runtime sees, and bad requests are refused in one line with nothing left behind.

Runtimes (the `export` extra) are skipped when missing on a developer's machine and fail the test under CI=true.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from helpers import error_line, require, tiny_config

from vaelab.cli import main

TOL = 1e-5  # float32 graphs in every runtime (OpenVINO compiled with INFERENCE_PRECISION_HINT f32)
FAMILIES = {"vae": {}, "cvae": {}, "vqvae": {"codebook_size": 8, "latent_dim": 4}}
RUNTIME = {"savedmodel": "tensorflow", "onnx": "onnxruntime", "openvino": "openvino", "litert": "ai_edge_litert"}
CONVERTER = {"onnx": "tf2onnx"}


def _require(fmt: str) -> None:
    for module in (CONVERTER.get(fmt), RUNTIME[fmt]):
        if module:
            require(find_spec(module) is not None, module, "install the export extra: pip install -e '.[export]'")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """kind -> a tiny run trained for one epoch, trained once per module on first use."""
    from vaelab.train import fit

    root, done = tmp_path_factory.mktemp("export-runs"), {}

    def get(kind: str, **train) -> Path:
        name = "-".join([kind, *train.values()])
        if name not in done:
            cfg = tiny_config(root, model={"kind": kind, **FAMILIES.get(kind, {})}, data={"train_limit": 64},
                              train={"epochs": 1, "run_name": name, **train})
            done[name] = fit(cfg).run_dir
        return done[name]

    return get


# ---------------------------------------------------------------------------------------------- runtimes
def _run_artifact(fmt: str, path: Path, feeds: dict) -> tuple[list[str], list[str], dict]:
    """The artifact at `path` loaded in the format's own runtime and called by input name: (the input names and
    output names it lists, {output name: array}). Signatures list names sorted: they are called by name."""
    if fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # kept alive while its signature runs
        sig = loaded.signatures["serving_default"]
        out = sig(**{k: tf.constant(v) for k, v in feeds.items()})
        return sorted(sig.structured_input_signature[1]), sorted(sig.structured_outputs), {
            k: v.numpy() for k, v in out.items()}
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path))
        names = [o.name for o in session.get_outputs()]
        return [i.name for i in session.get_inputs()], names, dict(zip(names, session.run(names, feeds), strict=True))
    if fmt == "openvino":
        import openvino

        compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        result = compiled(feeds)
        names = [o.any_name for o in compiled.outputs]
        return [i.any_name for i in compiled.inputs], names, {o.any_name: result[o] for o in compiled.outputs}
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(path))
    sig = interpreter.get_signature_list()["serving_default"]
    return sorted(sig["inputs"]), sorted(sig["outputs"]), dict(interpreter.get_signature_runner()(**feeds))


# ---------------------------------------------------------------------------------------------- expected values
def _feeds_and_expected(model, n: int = 5) -> dict[str, tuple[dict, dict]]:
    """part -> (inputs by name, the Keras model's own outputs by name), from the model's numpy helpers."""
    from vaelab.data.synthetic import make_images

    rng = np.random.default_rng(1)
    images, labels = make_images(n, size=model.image_shape[0], seed=2)
    x = images.astype("float32") / 255.0  # (n, H, W, C)
    if "codes" in model.prior_inputs:
        codes = rng.integers(0, model.cfg.codebook_size, (n, *model.grid)).astype("int32")  # (n, h, w)
        return {"decoder": ({"codes": codes}, {"image": model.decode(np.asarray(model.embed(codes)))}),
                "encoder": ({"image": x}, {"codes": model.encode_codes(x)})}
    z = rng.standard_normal((n, model.latent_dim)).astype("float32")  # (n, D)
    given = {}
    if model.needs_labels:
        c = np.array(model.conditions(labels % len(model.label_names)))  # (n, K+1), a writable copy
        c[-1] = model.null_conditions(1)[0]  # one row with the null condition
        given = {"condition": c}
    z_mean, z_log_var = model.encode(x, **given)  # an AE: z_log_var None
    encoded = {"z_mean": z_mean, **({"z_log_var": z_log_var} if z_log_var is not None else {})}
    return {"decoder": ({"z": z, **given}, {"image": model.decode(z, **given)}),
            "encoder": ({"image": x, **given}, encoded)}


def max_diffs(run_dir: Path, out: Path, fmt: str) -> dict[str, float]:
    """{part/output: max |runtime - Keras|} over every exported part, after checking the names in export.json."""
    from vaelab.runs import load_run

    spec = json.loads((out / "export.json").read_text())
    model = load_run(run_dir).model
    diffs = {}
    for part, (feeds, expected) in _feeds_and_expected(model).items():
        if part not in spec["parts"]:
            continue
        info, path = spec["parts"][part], out / spec["parts"][part]["file"]
        ins, outs, got = _run_artifact(fmt, path, feeds)
        listed = [i["name"] for i in info["inputs"]]
        assert ins == (sorted(listed) if fmt in ("savedmodel", "litert") else listed)  # signatures: by name
        assert outs == [o["name"] for o in info["outputs"]]
        assert sorted(got) == sorted(expected)
        for name, want in expected.items():
            spec_out = next(o for o in info["outputs"] if o["name"] == name)
            assert got[name].dtype == np.dtype(spec_out["dtype"]), (part, name)
            assert got[name].shape == want.shape and list(want.shape[1:]) == spec_out["shape"][1:]
            diffs[f"{part}/{name}"] = float(np.max(np.abs(got[name].astype("float64") - want)))
    return diffs


def _export(run_dir, fmt, out, *extra) -> int:
    return main(["export", str(run_dir), "--format", fmt, "-o", str(out), *extra])


# ---------------------------------------------------------------------------------------------- round trips
def test_savedmodel_round_trip_spec_and_overwrite(trained, tmp_path, capsys):
    from vaelab.runs import file_hash, model_hash

    run, out = trained("vae"), tmp_path / "exports" / "vae"  # the parent folder is made
    assert _export(run, "savedmodel", out, "--part", "decoder") == 0
    assert "decoder:" in capsys.readouterr().out
    spec = json.loads((out / "export.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["decoder", "export.json"]
    assert spec["family"] == "vae" and spec["latent_dim"] == 2 and spec["likelihood"] == "bernoulli"
    assert spec["model_sha256"] == model_hash(run) and spec["config_sha256"] == file_hash(run / "config.yaml")
    assert spec["dtype"] == "float32" and spec["vaelab"]
    assert spec["parts"]["decoder"]["inputs"][0] == {"name": "z", "shape": [None, 2], "dtype": "float32",
                                                     "meaning": "latent vectors (2 values each)"}
    assert max(max_diffs(run, out, "savedmodel").values()) <= TOL
    assert _export(run, "savedmodel", out, "--part", "encoder", "--overwrite") == 0  # replaced whole
    assert sorted(p.name for p in out.iterdir()) == ["encoder", "export.json"]
    assert max(max_diffs(run, out, "savedmodel").values()) <= TOL
    assert [p.name for p in out.parent.iterdir()] == ["vae"]  # no temp or set-aside folder left


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(FAMILIES))
@pytest.mark.parametrize("fmt", list(RUNTIME))
def test_round_trip_in_the_formats_own_runtime(trained, tmp_path, kind, fmt):
    _require(fmt)
    run, out = trained(kind), tmp_path / "out"
    assert _export(run, fmt, out) == 0
    spec = json.loads((out / "export.json").read_text())
    assert set(spec["parts"]) == {"decoder", "encoder"} and spec["family"] == kind
    diffs = max_diffs(run, out, fmt)
    assert set(diffs) == ({"decoder/image", "encoder/codes"} if kind == "vqvae"
                          else {"decoder/image", "encoder/z_mean", "encoder/z_log_var"})
    assert max(diffs.values()) <= TOL, diffs
    if kind == "cvae":
        assert spec["condition"]["size"] == 11 and [i["name"] for i in spec["parts"]["decoder"]["inputs"]] == [
            "z", "condition"]
    if kind == "vqvae":
        assert spec["parts"]["decoder"]["inputs"][0]["dtype"] == "int32" and diffs["encoder/codes"] == 0


@pytest.mark.slow
def test_mixed_bfloat16_run_exports_a_float32_graph_even_under_a_mixed_policy(trained, tmp_path):
    import keras

    _require("onnx")
    import onnx
    run, out = trained("vae", precision="mixed_bfloat16"), tmp_path / "out"
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        assert _export(run, "onnx", out) == 0
    finally:
        keras.config.set_dtype_policy("float32")
    spec = json.loads((out / "export.json").read_text())
    assert spec["dtype"] == "float32" and spec["trained_precision"] == "mixed_bfloat16"
    for part in ("decoder", "encoder"):
        graph = onnx.load(str(out / f"{part}.onnx")).graph
        types = {t.data_type for t in graph.initializer} | {
            v.type.tensor_type.elem_type for v in [*graph.input, *graph.output, *graph.value_info]}
        assert onnx.TensorProto.BFLOAT16 not in types and onnx.TensorProto.FLOAT in types
    assert max(max_diffs(run, out, "onnx").values()) <= TOL


# ---------------------------------------------------------------------------------------------- refusals
def test_a_non_empty_folder_is_refused_unless_overwrite_and_then_only_an_export(tmp_path, capsys):
    """Refused before the run is read (this one does not exist), so before any work."""
    run, out = tmp_path / "run", tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _export(run, "savedmodel", out) == 2
    line = error_line(capsys)
    assert "-o:" in line and "is not empty; pass --overwrite" in line
    assert _export(run, "savedmodel", out, "--overwrite") == 2
    assert "no export.json" in error_line(capsys)
    (tmp_path / "file").write_text("x")
    assert _export(run, "savedmodel", tmp_path / "file") == 2
    assert "is a file" in error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken"]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_a_missing_converter_is_named_with_the_extra(tmp_path, capsys, monkeypatch):
    import vaelab.export

    monkeypatch.setattr(vaelab.export, "find_spec", lambda name: None if name == "tf2onnx" else object())
    assert _export(tmp_path / "run", "onnx", tmp_path / "out") == 2  # before the run is read
    line = error_line(capsys)
    assert "--format onnx" in line and "tf2onnx" in line and "vaelab[export]" in line
    assert list(tmp_path.iterdir()) == []


def test_unknown_format_and_part_are_refused_by_the_parser(tmp_path, capsys):
    for args in (["--format", "tflite"], ["--format", "onnx", "--part", "prior"]):
        with pytest.raises(SystemExit) as e:
            main(["export", str(tmp_path), "-o", str(tmp_path / "o"), *args])
        assert e.value.code == 2 and "invalid choice" in error_line(capsys)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "openvino", "litert"])
def test_a_graph_the_format_cannot_express_is_refused_and_nothing_is_left(trained, tmp_path, capsys, monkeypatch,
                                                                          fmt):
    """keras.ops.argmin on TensorFlow bit-casts floats (for -0.0): no ONNX/OpenVINO/built-in LiteRT op does that."""
    import keras

    from vaelab.export import parts

    _require(fmt)

    def keras_argmin(z_e, book):
        d2 = keras.ops.sum(keras.ops.square(z_e[..., None, :] - book), -1)  # (B, h, w, K)
        return keras.ops.cast(keras.ops.argmin(d2, axis=-1), "int32")

    monkeypatch.setattr(parts, "nearest_code", keras_argmin)
    assert _export(trained("vqvae"), fmt, tmp_path / "out") == 2  # the decoder converts first, then the encoder
    line = error_line(capsys)
    assert f"--format {fmt} cannot express the vqvae encoder" in line and "choose another --format" in line
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temp twin
