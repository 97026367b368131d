"""The standard-FID feature network: images/s of each runtime, interleaved, and their exactness on real images.

    pip install "vaelab[fid]"                       # torch (the reference) + openvino (the default runtime)
    pip install onnxruntime onnx                    # only to measure the runtime that was not chosen
    python benchmarks/fid_speed.py --data-dir DIR --dataset fashion_mnist --images 200 --rounds 3

Contenders, each on the same uint8 batches of real test images, in rounds (torch, openvino, onnxruntime,
torch, ...), so load changes hit all alike:
  torch        the reference path: TorchScript InceptionV3 + grid_sample resize (vaelab.metrics.inception)
  openvino     vaelab's default: the same weights converted by OpenVINO, float32 hint, matrix resize
  onnxruntime  measured only (not in the product): the same weights exported to ONNX, ORT_ENABLE_ALL
Exactness: max |f - f_torch| / max |f_torch| over the first --exact images, per dataset in --datasets, and the
FID of (first half vs second half) of those features from each runtime, which must agree to 0.01.
Ceiling: the network's multiply-adds are counted from its convolutions (2 FLOP each) and this CPU's float32
matrix-multiply rate is measured (`bench.sgemm_gflops`: the faster of numpy and TensorFlow, all cores, best of 8
at 2048^3, before and after the rounds), so each runtime's rate is also printed as GFLOP/s and as a share of that
rate, with the images/s a runtime would reach at 100% of it: no float32 runtime that computes every convolution
directly can go faster.
Prints the CPU, the load before and after, and a JSON line. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import bench
import numpy as np


def cpu() -> str:
    from vaelab.precision import cpu_description

    return cpu_description()


def network_gflop() -> float:
    """FLOP of one image through the network (2 per multiply-add of every convolution), counted from the converted
    graph (the cached IR that `inception.openvino_network` reads)."""
    import openvino as ov

    from vaelab.metrics import inception

    inception.openvino_network()  # converts and caches the IR if needed
    model = ov.Core().read_model(str(inception._converted_path()))
    model.reshape([1, 3, inception.OUT, inception.OUT])
    total = 0
    for op in model.get_ordered_ops():
        if op.get_type_name() == "Convolution":  # weights (O, I, kh, kw), output (1, O, h, w)
            out, weights = op.output(0).get_shape(), op.input(1).get_shape()
            total += 2 * int(np.prod(list(out))) * int(np.prod(list(weights)[1:]))
    return total / 1e9


def onnxruntime_contender(batch: int):
    """The same TorchScript weights exported to ONNX (legacy exporter) and run by ONNX Runtime, or None."""
    try:
        import onnxruntime as ort
        import torch
    except ImportError:
        return None
    from vaelab.metrics import inception

    net = torch.jit.load(str(inception.weights_file()), map_location="cpu").eval()
    path = os.path.join(tempfile.mkdtemp(), "inception.onnx")
    torch.onnx.export(net, (torch.zeros(2, 3, 299, 299),), path, input_names=["x"], output_names=["f"],
                      dynamic_axes={"x": {0: "b"}}, dynamo=False, opset_version=17)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])

    def run(u8):
        return session.run(None, {"x": inception.prepare(u8)})[0]
    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="folder with the datasets' files (else $VAELAB_DATA_DIR)")
    p.add_argument("--dataset", default="fashion_mnist", help="the speed test's images (default fashion_mnist)")
    p.add_argument("--datasets", default="mnist,fashion_mnist", help="the exactness test's datasets")
    p.add_argument("--images", type=int, default=200, help="images per timed burst (default 200)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--batch", type=int, default=50, help="batch size of every runtime (default 50)")
    p.add_argument("--exact", type=int, default=200, help="images for the exactness check (default 200)")
    p.add_argument("--contenders", default="torch,openvino,onnxruntime")
    args = p.parse_args()
    if not (1 <= args.images <= 10_000 and 1 <= args.rounds <= 20 and 1 <= args.batch <= 500
            and 4 <= args.exact <= 10_000):
        p.error("expected 1..10000 images, 1..20 rounds, batch 1..500, 4..10000 exact images")

    from vaelab.config import DataConfig
    from vaelab.metrics import inception
    from vaelab.metrics.frechet import frechet_distance_of_features as fid

    print(f"cpu: {cpu()}; load average before: {bench.load()}", flush=True)
    from vaelab.data import load_arrays

    def real(name: str, n: int):
        return inception.quantise(load_arrays(DataConfig(name=name, data_dir=args.data_dir), "test", limit=n)[0])

    t = time.perf_counter()
    inception.openvino_network()
    first = time.perf_counter() - t
    inception.openvino_network.cache_clear()
    t = time.perf_counter()
    inception.openvino_network()
    print(f"openvino network ready in {first:.1f} s (first: converted or read from the cache), "
          f"{time.perf_counter() - t:.1f} s from the cache", flush=True)
    runners = {"torch": inception._batch_function("torch"), "openvino": inception._batch_function("openvino")}
    if "onnxruntime" in args.contenders:
        ort = onnxruntime_contender(args.batch)
        if ort is None:
            print("onnxruntime: not installed (pip install onnxruntime onnx); left out", flush=True)
        else:
            runners["onnxruntime"] = ort
    names = [n for n in args.contenders.split(",") if n in runners]

    def features(name, u8):
        return np.concatenate([runners[name](u8[i : i + args.batch]) for i in range(0, len(u8), args.batch)])

    result = {"cpu": cpu(), "date": time.strftime("%Y-%m-%d"), "batch": args.batch, "exact": {}, "rate": {}}
    for ds in args.datasets.split(","):
        u8 = real(ds, args.exact)
        ref = features("torch", u8)
        half = len(ref) // 2
        fid_ref = fid(ref[:half], ref[half:])
        for name in names:
            if name == "torch":
                continue
            f = features(name, u8)
            rel = float(abs(f - ref).max() / abs(ref).max())
            row = {"max_rel": rel, "fid_halves": [float(fid_ref), float(fid(f[:half], f[half:]))]}
            result["exact"].setdefault(ds, {})[name] = row
            print(f"exactness {ds} ({len(u8)} test images) {name} vs torch: max rel {rel:.2e}; FID(first half, "
                  f"second half) torch {row['fid_halves'][0]:.4f}, {name} {row['fid_halves'][1]:.4f}", flush=True)

    gflop = network_gflop()
    sgemm = [max(bench.sgemm_gflops(repeats=8).values())]  # the faster of numpy's and TensorFlow's
    print(f"network: {gflop:.2f} GFLOP an image; this CPU's SGEMM: {sgemm[0]:.0f} GFLOP/s, so at most "
          f"{sgemm[0] / gflop:.1f} images/s for any float32 direct-convolution runtime", flush=True)
    u8 = real(args.dataset, args.images)
    for name in names:
        features(name, u8[: args.batch])  # warm-up
    times = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names:
            t = time.perf_counter()
            features(name, u8)
            times[name].append(len(u8) / (time.perf_counter() - t))
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.1f} images/s" for n in names), flush=True)
    sgemm.append(max(bench.sgemm_gflops(repeats=8).values()))
    peak = max(sgemm)
    for name in names:
        result["rate"][name] = statistics.median(times[name])
    base = result["rate"]["torch"]
    print(f"median images/s ({args.dataset}, {len(u8)} images, batch {args.batch}): "
          + ", ".join(f"{n} {result['rate'][n]:.1f} ({result['rate'][n] / base:.2f}x torch, "
                      f"{result['rate'][n] * gflop:.0f} GFLOP/s = {100 * result['rate'][n] * gflop / peak:.0f}% "
                      "of SGEMM)" for n in names))
    print(f"ceiling: SGEMM {sgemm[0]:.0f} / {sgemm[1]:.0f} GFLOP/s (before / after the rounds) = "
          f"{peak / gflop:.1f} images/s = {peak / gflop / base:.2f}x torch")
    result.update(network_gflop=gflop, sgemm_gflops=sgemm, ceiling_vs_torch=peak / gflop / base)
    return bench.finish(result)


if __name__ == "__main__":
    sys.exit(main())
