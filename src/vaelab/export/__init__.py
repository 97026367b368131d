"""A trained run's decoder and/or encoder as standalone inference artifacts, through Keras's `Model.export`.

    DIR/decoder.onnx  (or decoder/ SavedModel, decoder.xml + .bin OpenVINO IR, decoder.tflite LiteRT)
    DIR/encoder.onnx
    DIR/export.json   per part: file, input/output names, shapes, dtypes, meaning; the run's family,
                      likelihood, latent size, model/config sha256, vaelab version; how to call each file

Each part is a small functional model with named inputs and outputs (`parts.py`), so every runtime calls it
by name: the decoder z [, condition] -> image (a discrete-code model's: code indices -> image), the encoder image
[, condition] -> z_mean, z_log_var (a discrete-code model's: image -> code indices).

The batch dimension is dynamic in all four formats (LiteRT's signature runner resizes its inputs by itself).
Graphs are float32 whatever the run trained in: the run is loaded under the float32 policy. The files are
written into a temp folder beside DIR and moved into place at the end: a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from vaelab.registry import Registry

PARTS = ("decoder", "encoder")
INSTALL = "pip install 'vaelab[export]'"
SPEC = "export.json"


@dataclass(frozen=True)
class Format:
    keras: str  # Model.export's format name
    suffix: str  # the artifact's file suffix ("": a folder)
    needs: tuple[str, ...]  # modules the conversion imports
    usage: str  # one line of Python calling a part in its runtime ({file}, {feed}, {kwargs}, {out})
    runtime: str  # the package that runs it
    note: str = ""


FORMATS = Registry("export format")
FORMATS.register("savedmodel")(Format(
    "tf_saved_model", "", (), 'm = tf.saved_model.load("{file}"); '
    'm.signatures["serving_default"]({tf_kwargs})["{out}"]', "tensorflow",
    "keep the loaded object `m` alive while calling its signature (it holds the variables)"))
FORMATS.register("onnx")(Format(
    "onnx", ".onnx", ("tf2onnx", "onnx"), 'onnxruntime.InferenceSession("{file}").run(["{out}"], {feed})[0]',
    "onnxruntime"))
FORMATS.register("openvino")(Format(
    "openvino", ".xml", ("openvino",), 'openvino.Core().compile_model("{file}", "CPU", '
    '{{"INFERENCE_PRECISION_HINT": "f32"}})({feed})["{out}"]', "openvino",
    "without INFERENCE_PRECISION_HINT f32, OpenVINO's CPU plugin computes in bfloat16 on CPUs that support it "
    "(about 1e-3 from the float32 results)"))
FORMATS.register("litert")(Format(
    "litert", ".tflite", (), 'ai_edge_litert.interpreter.Interpreter("{file}").get_signature_runner()({kwargs})'
    '["{out}"]', "ai-edge-litert", "built-in LiteRT ops only (no Flex/Select TF ops)"))


def check_format(name: str) -> Format:
    """The format `name`, or a ValueError (unknown name; a conversion package missing)."""
    fmt = FORMATS.get(name)
    missing = [m for m in fmt.needs if find_spec(m) is None]
    if missing:
        raise ValueError(f"--format {name}: the conversion needs {', '.join(missing)}, which is not installed; "
                         f"install the export extra: {INSTALL}")
    return fmt


def check_out(out: str | Path, overwrite: bool) -> Path:
    """The output folder if it may be written: missing, empty, or an earlier export with `overwrite`."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"-o: {out} is a file; give a folder for the export")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"-o: {out} is not empty; pass --overwrite to replace it, or choose another folder")
        if not (out / SPEC).is_file():
            raise ValueError(f"-o: {out} holds files that are not an export (no {SPEC}); --overwrite replaces only "
                             "an earlier `vaelab export`'s folder: choose another folder")
    return out


# ---------------------------------------------------------------------------------------------- export
def _export_part(net, fmt_name: str, fmt: Format, path: Path, what: str) -> None:
    """`net.export` in the format, refused in one line when the converter cannot express the graph."""
    import tensorflow as tf

    specs = [tf.TensorSpec((None, *t.shape[1:]), t.dtype, name=t.name) for t in net.inputs]
    options = {"input_signature": [specs if len(specs) > 1 else specs[0]]}  # one argument: the inputs
    if fmt.keras == "litert":  # built-in ops only: what the plain ai-edge-litert interpreter runs
        options["target_spec"] = {"supported_ops": {tf.lite.OpsSet.TFLITE_BUILTINS}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf2onnx's numpy-2 patch and converters' deprecation notes
            net.export(str(path), format=fmt.keras, verbose=False, **options)
        if fmt.keras == "onnx":  # tf2onnx logs ops it cannot convert and writes them anyway: check the graph
            import onnx

            onnx.checker.check_model(str(path), full_check=True)
    except OSError:
        raise
    except Exception as e:  # converters raise many kinds (ConverterError, OpConversionFailure, ValidationError)
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        raise ValueError(f"--format {fmt_name} cannot express the {what} ({type(e).__name__}: {reason}); "
                         "choose another --format or --part") from None


def _usage(fmt: Format, file: str, part) -> str:
    names = [i["name"] for i in part.inputs]
    return fmt.usage.format(file=file, out=part.main, feed="{" + ", ".join(f'"{n}": {n}' for n in names)
                            + "}", kwargs=", ".join(f"{n}={n}" for n in names),
                            tf_kwargs=", ".join(f"{n}=tf.constant({n})" for n in names))


def _publish(tmp: Path, out: Path) -> None:
    """`tmp` becomes `out`; a replaced `out` is moved aside first and removed only once `tmp` is in place."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def export_run(run_dir: str | Path, format: str, out: str | Path, part: str = "both", overwrite: bool = False,
               checkpoint: str | None = None) -> Path:
    """Exports the run's `part` ("decoder", "encoder" or "both") in `format` (a FORMATS name) into the folder
    `out`, with export.json; returns `out`. Everything is checked before anything is written."""
    from vaelab import __version__, runs
    from vaelab.atomic import write_atomic
    from vaelab.export.parts import build_parts
    from vaelab.precision import policy

    fmt = check_format(format)
    if part not in (*PARTS, "both"):
        raise ValueError(f"--part: expected one of {[*PARTS, 'both']}, received {part!r}")
    out = check_out(out, overwrite)
    with policy("float32"):  # float32 graphs, whatever the run trained in
        run = runs.load_run(run_dir, checkpoint=checkpoint, require_final=True)
        parts = build_parts(run.model)
    model, chosen = run.model, PARTS if part == "both" else (part,)
    created = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # a folder like mkdir's (mkdtemp's is private)
    try:
        spec_parts = {}
        for name in chosen:
            file = f"{name}{fmt.suffix}"
            _export_part(parts[name].net, format, fmt, tmp / file, f"{model.kind} {name}")
            spec_parts[name] = {"file": file, "inputs": parts[name].inputs, "outputs": parts[name].outputs,
                                "usage": _usage(fmt, file, parts[name])}
        spec = {
            "vaelab": __version__, "format": format, "keras_format": fmt.keras, "runtime": fmt.runtime,
            "family": model.kind, "likelihood": model.likelihood, "latent_dim": int(model.latent_dim),
            "image_shape": list(model.image_shape), "dtype": "float32",
            "trained_precision": runs.read_environment(run.path).get("precision", run.config.train.precision),
            "run": run.path.name, "model_file": _relative(run.model_file, run.path),
            runs.MODEL_HASH: run.model_hash, "config_sha256": runs.file_hash(run.dir.config),
            "batch": "dynamic (the first dimension, null in the shapes)",
            **_family_info(model), "parts": spec_parts, "usage_note": "file names are relative to this folder; "
            "inputs are numpy arrays of the dtypes and shapes listed" + (f"; {fmt.note}" if fmt.note else ""),
        }
        write_atomic(tmp / SPEC, json.dumps(spec, indent=2) + "\n")
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in created:  # folders made for -o, deepest first
            if p.is_dir() and not any(p.iterdir()):
                p.rmdir()
        raise
    return out


def _relative(f: Path, root: Path) -> str:
    """`f` relative to the run (model.keras, checkpoints/last.keras); its name when it lies elsewhere."""
    try:
        return str(f.resolve().relative_to(root.resolve()))
    except ValueError:
        return f.name


def _family_info(model) -> dict:
    info = {}
    if model.needs_labels:
        info["condition"] = {"label_names": list(model.label_names), "attributes": bool(model.attributes),
                             "size": int(model.condition_dim)}
    if "codes" in model.prior_inputs:
        info["codes"] = {"codebook_size": int(model.cfg.codebook_size), "grid": list(model.grid),
                         "embedding_dim": int(model.embedding_dim),
                         "note": "latent_dim is the flattened quantised grid h*w*D; the exported parts take and "
                                 "give code indices instead (the PixelCNN prior is not exported)"}
    return info
