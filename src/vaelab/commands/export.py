"""vaelab export: a run's decoder and/or encoder as a SavedModel, ONNX, OpenVINO IR or LiteRT file (+ export.json)."""

from __future__ import annotations

from vaelab.commands.base import COMMANDS


@COMMANDS.register("export")
class Export:
    help = "export a run's decoder/encoder for inference: savedmodel, onnx, openvino or litert, with export.json"

    @staticmethod
    def register(p):
        from vaelab.export import FORMATS, PARTS

        p.add_argument("run_dir", metavar="RUN_DIR", help="a vaelab run directory")
        p.add_argument("--format", required=True, choices=FORMATS.names(),
                       help="artifact format; onnx and openvino convert with the export extra, which also brings "
                            "the runtimes (docs/export.md)")
        p.add_argument("--part", choices=(*PARTS, "both"), default="both",
                       help="decoder (z -> image), encoder (image -> z_mean, z_log_var) or both (default)")
        p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (new, or empty)")
        p.add_argument("--overwrite", action="store_true", help="replace DIR when it holds an earlier export")
        p.add_argument("--checkpoint", choices=("last", "best"), default=None,
                       help="export checkpoints/<name>.keras instead of model.keras; needed for a run that has "
                            "not finished")

    @staticmethod
    def run(args) -> int:
        import json

        from vaelab.export import SPEC, export_run

        out = export_run(args.run_dir, args.format, args.out, part=args.part, overwrite=args.overwrite,
                         checkpoint=args.checkpoint)
        spec = json.loads((out / SPEC).read_text(encoding="utf-8"))
        for name, part in spec["parts"].items():
            ins = ", ".join(i["name"] for i in part["inputs"])
            outs = ", ".join(o["name"] for o in part["outputs"])
            print(f"{name}: {out / part['file']} ({ins} -> {outs})")
        print(f"{SPEC}: {out / SPEC} ({spec['family']}, {spec['dtype']}, model sha256 {spec['model_sha256'][:12]})")
        return 0
