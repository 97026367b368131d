"""Streamed loaders: CelebA (tiny JPEGs + attribute/partition files in the real formats) and image folders,
decoded inside tf.data; corrupt files skipped with a warning, bad metadata refused with a clear error."""

from __future__ import annotations

import numpy as np
import pytest
from data_support import (
    cfg,
    face,
    isolated_fixture,  # noqa: F401  (registers the `isolated` fixture)
    jpeg_bytes,
    write_celeba,
    write_png,
)
from PIL import Image

from vaelab.data import DataFormatError, DataNotFoundError, load_arrays, load_split, make_dataset


def _images(split, config, **kw):
    return np.concatenate([b.numpy() for b in make_dataset(split, config, 5, training=False, **kw)])


def _pil_reference(path, crop=140, size=64):
    im = Image.open(path).convert("RGB")
    left, top = (im.width - crop) // 2, (im.height - crop) // 2
    im = im.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BILINEAR)
    return np.asarray(im, np.float32) / 255.0


def test_celeba_splits_attributes_and_pixels(isolated, tmp_path):
    meta = write_celeba(tmp_path / "celeba", n=12)
    train, test = (load_split(cfg("celeba", tmp_path), s) for s in ("train", "test"))
    # partition k % 3: 0/1 -> train, 2 -> test
    assert len(train) == 8 and len(test) == 4
    assert train.image_shape == (64, 64, 3) and train.labels.shape == (8, 40)
    assert train.labels.dtype == np.uint8
    assert train.label_names[:2] == ["Attr_0", "Attr_1"] and train.is_attributes
    want = {n: a for n, a, p in zip(meta["names"], meta["attrs"], meta["partition"], strict=True) if p == 2}
    got = {f.rsplit("/", 1)[1]: a for f, a in zip(test.files, test.labels, strict=True)}
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
    images = _images(test, cfg("celeba", tmp_path))
    assert images.shape == (4, 64, 64, 3) and images.dtype == np.float32
    for img, path in zip(images, test.files, strict=True):
        diff = np.abs(img - _pil_reference(path))
        assert diff.mean() < 2.5 / 255 and np.percentile(diff, 99) < 12 / 255


def test_celeba_crop_and_size_options(isolated, tmp_path):
    write_celeba(tmp_path, n=6)
    s = load_split(cfg("celeba", tmp_path, image_size=32, crop=100), "test")
    assert s.image_shape == (32, 32, 3)
    img = _images(s, cfg("celeba", tmp_path))[0]
    assert np.abs(img - _pil_reference(s.files[0], crop=100, size=32)).mean() < 3 / 255


def test_celeba_without_partition_is_deterministic(isolated, tmp_path):
    write_celeba(tmp_path, n=30, partition=False)
    a = [load_split(cfg("celeba", tmp_path), s).files for s in ("train", "test")]
    b = [load_split(cfg("celeba", tmp_path), s).files for s in ("train", "test")]
    assert a == b and len(a[0]) + len(a[1]) == 30 and not set(a[0]) & set(a[1])


def test_celeba_image_without_attribute_row_is_reported(isolated, tmp_path):
    write_celeba(tmp_path, n=6, extra_rows=0)
    (tmp_path / "img_align_celeba" / "999999.jpg").write_bytes(jpeg_bytes(face(1)))
    with pytest.warns(UserWarning, match=r"skipping 1 images with no attribute row \(first: 999999\.jpg\)"):
        s = load_split(cfg("celeba", tmp_path), "train")
    assert len(s) == 4


def test_celeba_attribute_file_out_of_step(isolated, tmp_path):
    write_celeba(tmp_path, n=4)
    for p in (tmp_path / "img_align_celeba").iterdir():
        p.rename(p.with_name("5" + p.name[1:]))
    with pytest.raises(DataFormatError, match=r"list_attr_celeba\.txt: none of the 4 images .* has an "
                                              r"attribute row \(first: 500001\.jpg"):
        load_split(cfg("celeba", tmp_path), "train")


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace("17\r\n", "20\r\n", 1), r"header says 20 rows, file holds 17 \(truncated\?\)"),
    (lambda t: t.replace("000003.jpg  1", "000003.jpg  7", 1).replace("000003.jpg -1", "000003.jpg  7", 1),
     r"line 4: expected 40 values in \{-1, 1\}"),
])
def test_celeba_bad_attribute_file(isolated, tmp_path, edit, match):
    write_celeba(tmp_path, n=12)
    p = tmp_path / "list_attr_celeba.txt"
    p.write_bytes(edit(p.read_bytes().decode()).encode())
    with pytest.raises(DataFormatError, match=r"list_attr_celeba\.txt: " + match):
        load_split(cfg("celeba", tmp_path), "train")


def test_celeba_partition_missing_rows(isolated, tmp_path):
    write_celeba(tmp_path, n=6)
    p = tmp_path / "list_eval_partition.txt"
    p.write_bytes(b"\r\n".join(p.read_bytes().split(b"\r\n")[2:]))
    with pytest.raises(DataFormatError, match=r"list_eval_partition\.txt: 2 images have no partition row "
                                              r"\(first: 000001\.jpg, 000003\.jpg\)"):
        load_split(cfg("celeba", tmp_path), "train")


def test_celeba_corrupt_jpegs_skipped_never_crash(isolated, tmp_path):
    meta = write_celeba(tmp_path, n=12)
    folder = tmp_path / "img_align_celeba"
    (folder / meta["names"][0]).write_bytes(jpeg_bytes(face(0))[:2000])  # truncated: caught up front
    (folder / meta["names"][3]).write_bytes(b"")  # empty: caught up front
    # header and end marker intact, garbage inside: only decoding can tell, so tf.data drops it
    (folder / meta["names"][1]).write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8 + b"\xff\xd9")
    with pytest.warns(UserWarning, match=r"celeba train .*skipping 2 of 8 corrupt or unreadable images "
                                         r"\(000001\.jpg: truncated JPEG .*; 000007\.jpg: empty file\)"):
        s = load_split(cfg("celeba", tmp_path), "train")
    assert len(s) == 6
    batches = list(make_dataset(s, cfg("celeba", tmp_path), 4, training=True, with_labels=True))
    images = np.concatenate([x.numpy() for x, _ in batches])
    labels = np.concatenate([y.numpy() for _, y in batches])
    assert len(images) == 5  # the undecodable one dropped mid-stream, with its label
    by_name = dict(zip(meta["names"], meta["attrs"], strict=True))
    expected = {tuple(by_name[f.rsplit("/", 1)[1]]) for f in s.files if not f.endswith(meta["names"][1])}
    assert {tuple(r) for r in labels} == expected
    with pytest.warns(UserWarning, match="skipping 2 of 8"):
        arrays, kept = load_arrays(cfg("celeba", tmp_path), "train")
    assert len(arrays) == len(kept) == len(kept.labels) == 5


def test_celeba_disk_cache(isolated, tmp_path):
    write_celeba(tmp_path / "data", n=9)
    cache = tmp_path / "cache"
    config = cfg("celeba", tmp_path / "data", cache=str(cache))
    s = load_split(config, "train")
    first = _images(s, config)
    assert any(p.name.endswith(".index") for p in cache.iterdir())
    (tmp_path / "data" / "img_align_celeba").rename(tmp_path / "data" / "gone")  # later epochs skip decoding
    np.testing.assert_array_equal(_images(s, config), first)
    shuffled = np.concatenate([b.numpy() for b in make_dataset(s, config, 4, training=True, seed=3)])
    def rows(x):
        return sorted(map(bytes, np.round(x * 255).astype(np.uint8)))

    assert rows(shuffled) == rows(first)


def test_celeba_cache_key_depends_on_crop(isolated, tmp_path):
    from vaelab.data.pipeline import cache_path

    write_celeba(tmp_path, n=6)
    a = load_split(cfg("celeba", tmp_path, crop=140), "train")
    b = load_split(cfg("celeba", tmp_path, crop=120), "train")
    config = cfg("celeba", tmp_path, cache=str(tmp_path / "c"))
    assert cache_path(a, config) != cache_path(b, config)


def _folder(root, classes=("cat", "dog"), n=3, size=(10, 12), mode=None):
    out = {}
    rng = np.random.default_rng(0)
    for c in classes:
        for i in range(n):
            img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            path = write_png(root / c / f"{c}_{i}.png", img, mode)
            out[str(path)] = np.asarray(Image.open(path).convert("RGB" if mode != "L" else "L"))
    return out


def test_folder_classes_pixel_exact(isolated, tmp_path):
    root = tmp_path / "imgs"
    pixels = _folder(root / "train") | _folder(root / "test", n=2)
    train, test = (load_split(cfg("folder", root), s) for s in ("train", "test"))
    assert len(train) == 6 and len(test) == 4 and train.label_names == ["cat", "dog"]
    np.testing.assert_array_equal(train.labels, [0, 0, 0, 1, 1, 1])
    assert train.image_shape == (10, 12, 3)
    images = _images(train, cfg("folder", root))
    for img, f in zip(images, train.files, strict=True):
        np.testing.assert_array_equal(np.round(img * 255).astype(np.uint8), pixels[f])


def test_folder_flat_split_and_grey(isolated, tmp_path):
    _folder(tmp_path / "flat", classes=("",), n=25, mode="L")
    train, test = (load_split(cfg("folder", tmp_path / "flat"), s) for s in ("train", "test"))
    assert train.labels is None and len(train) + len(test) == 25 and train.image_shape == (10, 12, 1)


def test_folder_mixed_sizes_and_modes(isolated, tmp_path):
    _folder(tmp_path / "f", classes=("a",), size=(10, 12), mode="L")
    _folder(tmp_path / "f", classes=("b",), size=(20, 16))
    with pytest.raises(DataFormatError, match=r"images of mixed sizes \(a/a_0\.png is 10x12, b/b_0\.png is "
                                              r"20x16\); set data\.image_size"):
        load_split(cfg("folder", tmp_path / "f"), "train")
    s = load_split(cfg("folder", tmp_path / "f", image_size=8), "train")
    assert s.image_shape == (8, 8, 3)  # any colour image makes the whole folder RGB
    assert _images(s, cfg("folder", tmp_path / "f")).shape[1:] == (8, 8, 3)


def test_folder_corrupt_files_skipped(isolated, tmp_path):
    _folder(tmp_path / "f", n=10)
    (tmp_path / "f" / "cat" / "cat_0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    (tmp_path / "f" / "dog" / "notes.txt").write_text("ignored: not an image extension")
    (tmp_path / "f" / "dog" / "bad.jpg").write_text("not a jpeg")
    with pytest.warns(UserWarning, match=r"skipping 2 of 21 corrupt or unreadable images"):
        train = load_split(cfg("folder", tmp_path / "f"), "train")
    with pytest.warns(UserWarning):
        test = load_split(cfg("folder", tmp_path / "f"), "test")
    assert len(train) + len(test) == 19


def test_folder_names_that_are_not_utf8_are_skipped_with_one_warning(isolated, tmp_path):
    import os

    _folder(tmp_path / "f", n=30)
    root = os.fsencode(tmp_path / "f")
    for i in range(3):  # legal Linux names that TensorFlow, JSON and YAML cannot carry
        os.rename(root + b"/cat/cat_%d.png" % i, root + b"/cat/cat_%d_\xff\xfe.png" % i)
    os.rename(root + b"/dog", root + b"/d\xf6g")  # a Latin-1 class folder: its 30 images and the class go
    with pytest.warns(UserWarning, match=r"skipping 33 images whose file or folder names are not UTF-8 "
                                         r"\(first: b'cat/cat_0_\\xff\\xfe\.png'\); rename them") as caught:
        train = load_split(cfg("folder", tmp_path / "f"), "train")
    assert len([w for w in caught if "UTF-8" in str(w.message)]) == 1  # one line for the whole folder
    with pytest.warns(UserWarning, match="not UTF-8"):
        test = load_split(cfg("folder", tmp_path / "f"), "test")
    assert len(train) + len(test) == 27 and train.label_names == ["cat"] and set(train.labels) <= {0}
    assert len(_images(train, cfg("folder", tmp_path / "f"))) == len(train)


@pytest.mark.parametrize("setup, error, match", [
    (lambda p: p.mkdir(), DataFormatError, r"folder .*empty: empty, no images"),
    (lambda p: None, DataNotFoundError, r"empty is not a directory"),
    (lambda p: (p.mkdir(), (p / "x.png").write_bytes(b"")), DataFormatError,
     r"all 1 images are unusable, e\.g\. .*x\.png: empty file"),
])
def test_folder_errors(isolated, tmp_path, setup, error, match):
    setup(tmp_path / "empty")
    with pytest.raises(error, match=match):
        load_split(cfg("folder", tmp_path / "empty"), "train")


def test_folder_needs_data_dir(isolated):
    with pytest.raises(DataNotFoundError, match=r"folder: no directory given; set data\.data_dir"):
        load_split(cfg("folder"), "train")
