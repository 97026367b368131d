"""The explorer's API on a tiny trained run: answers, shapes, and 4xx JSON for every bad input."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from conftest import tiny_config
from PIL import Image

pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx (pip install -e '.[dev]')")

from starlette.testclient import TestClient  # noqa: E402

from vaelab.data.base import Split  # noqa: E402
from vaelab.explore import Explorer, create_app  # noqa: E402
from vaelab.explore.explorer import attribute_vectors, pca_basis  # noqa: E402
from vaelab.explore.server import bind  # noqa: E402

D = 3  # > 2, so the page needs the PCA sliders


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    from vaelab.train import fit

    cfg = tiny_config(tmp_path_factory.mktemp("explore"), model={"latent_dim": D}, train={"epochs": 1})
    return Explorer.from_run_dir(fit(cfg).run_dir, limit=50)


@pytest.fixture(scope="module")
def client(explorer):
    return TestClient(create_app(explorer))


def png(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)))


def test_info_and_points(client, explorer):
    info = client.get("/api/info").json()
    assert info["latent_dim"] == D and info["count"] == 50 and info["image_shape"] == [16, 16, 1]
    assert np.asarray(info["pca"]["components"]).shape == (D, D) and info["attributes"] is None
    points = client.get("/api/points").json()
    assert np.asarray(points["xy"]).shape == (50, 2) and len(points["labels"]) == 50
    p = client.get("/api/points/7").json()
    np.testing.assert_allclose(p["z"], explorer.z[7], atol=1e-5)
    back = np.asarray(p["coords"]) @ explorer.components + explorer.mean  # PCA coordinates -> z
    np.testing.assert_allclose(back, p["z"], atol=1e-4)
    assert png(client.get("/api/images/7.png")).shape == (16, 16)


def test_decode_matches_model(client, explorer):
    z = np.random.default_rng(0).standard_normal((5, D)).round(3)
    expected = np.clip(explorer.model.decode(z)[..., 0] * 255 + 0.5, 0, 255).astype("uint8")
    single = png(client.get("/api/decode.png", params={"z": ",".join(map(str, z[0]))}))
    assert np.abs(single.astype(int) - expected[0]).max() <= 1
    urls = client.post("/api/decode", json={"z": z.tolist()}).json()["images"]
    assert len(urls) == 5 and all(u.startswith("data:image/png;base64,") for u in urls)


def test_interpolation_and_samples(client, explorer):
    a, b = ",".join(["-1"] * D), ",".join(["1"] * D)
    strip = png(client.get("/api/interpolate.png", params={"a": a, "b": b, "steps": 6}))
    assert strip.shape == (16, 6 * 17 - 1)
    first = png(client.get("/api/decode.png", params={"z": a}))
    assert np.abs(strip[:, :16].astype(int) - first).max() <= 1
    params = {"n": 10, "cols": 5, "std": 0.5, "seed": 3}
    grid = client.get("/api/samples.png", params=params)
    assert png(grid).shape == (2 * 17 - 1, 5 * 17 - 1)
    assert grid.content == client.get("/api/samples.png", params=params).content  # same seed, same samples


def test_page_is_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for path in ("/", "/static/explorer.js", "/static/explorer.css"):
        text = client.get(path).text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path


zeros = ",".join(["0"] * D)
BAD_GETS = [
    ("/api/decode.png", {"z": "nan,0,0"}, 422),
    ("/api/decode.png", {"z": "inf,0,0"}, 422),
    ("/api/decode.png", {"z": "0,0"}, 422),  # wrong latent size
    ("/api/decode.png", {"z": ",".join(["0"] * 10_000)}, 422),
    ("/api/decode.png", {"z": "1e9,0,0"}, 422),  # finite but absurd
    ("/api/decode.png", {"z": "../../etc/passwd"}, 422),
    ("/api/decode.png", {}, 422),
    ("/api/decode.png", {"z": zeros, "path": "/etc/passwd"}, 400),  # unknown parameter
    ("/api/interpolate.png", {"a": zeros, "b": zeros, "steps": 10_000}, 422),
    ("/api/interpolate.png", {"a": zeros, "steps": 4}, 422),
    ("/api/samples.png", {"n": 100_000}, 422),
    ("/api/samples.png", {"std": "nan"}, 422),
    ("/api/samples.png", {"std": "-1"}, 422),
    ("/api/samples.png", {"seed": "x"}, 422),
    ("/api/points/50", {}, 404),
    ("/api/points/-1", {}, 404),
    ("/api/images/..%2F..%2Fetc%2Fpasswd.png", {}, 404),
    ("/static/..%2F..%2Fexplorer.py", {}, 404),
    ("/etc/passwd", {}, 404),
]


@pytest.mark.parametrize("path,params,status", BAD_GETS)
def test_bad_get_is_4xx_json(client, path, params, status):
    r = client.get(path, params=params)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    assert r.json()["error"] and "Traceback" not in r.text


BAD_POSTS = [
    (b"not json", 400),
    (b'{"z": [[NaN, 0, 0]]}', 422),
    (b'{"z": [[Infinity, 0, 0]]}', 422),
    (b'{"z": [[0, 0]]}', 422),
    (b'{"z": [[true, 0, 0]]}', 422),
    (b'{"z": [["0", 0, 0]]}', 422),
    (b'{"z": []}', 422),
    (b'{"z": [[0, 0, 0]], "path": "/etc/passwd"}', 422),
    (b'[[0, 0, 0]]', 422),
    (b'{"z": ' + str([[0, 0, 0]] * 65).encode() + b"}", 413),  # batch too big
    (b'{"z": [' + b"0," * 200_000 + b"0]}", 413),  # body too big
]


@pytest.mark.parametrize("body,status", BAD_POSTS)
def test_bad_post_is_4xx_json(client, body, status):
    r = client.post("/api/decode", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and r.json()["error"] and "Traceback" not in r.text


def test_server_error_is_json_without_traceback(explorer, monkeypatch):
    client = TestClient(create_app(explorer), raise_server_exceptions=False)
    monkeypatch.setattr(explorer, "decode", lambda z: 1 / 0)
    r = client.get("/api/decode.png", params={"z": zeros})
    assert r.status_code == 500 and "error" in r.json() and "ZeroDivision" not in r.text


def test_attributes_give_feature_vectors(explorer):
    rng = np.random.default_rng(0)
    attrs = (rng.random((50, 2)) < 0.5).astype("int64")
    split = Split(image_shape=(16, 16, 1), images=(explorer.images * 255).astype("uint8"), labels=attrs,
                  label_names=["Smiling", "Eyeglasses"], name="fake_celeba")
    app = create_app(Explorer.build(explorer.model, explorer.images, split))
    info = TestClient(app).get("/api/info").json()
    assert info["is_attributes"] and info["attributes"]["names"] == ["Smiling", "Eyeglasses"]
    assert np.asarray(info["attributes"]["vectors"]).shape == (2, D)


def test_attribute_vectors_closed_form():
    z = np.array([[1.0, 2.0], [3.0, 2.0], [0.0, 0.0], [0.0, 4.0]])
    has = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])  # attribute 1: nobody has it -> zero vector
    vectors, counts = attribute_vectors(z, has)
    np.testing.assert_allclose(vectors, [[2.0, 0.0], [0.0, 0.0]])
    assert counts.tolist() == [2, 0]


def test_pca_basis_is_orthonormal_and_ordered():
    z = np.random.default_rng(1).standard_normal((400, 4)) * [3.0, 1.0, 0.5, 2.0]
    mean, components, std = pca_basis(z)
    np.testing.assert_allclose(components @ components.T, np.eye(4), atol=1e-10)
    assert np.all(np.diff(std) <= 0)
    np.testing.assert_allclose(std, ((z - mean) @ components.T).std(axis=0, ddof=1), rtol=1e-8)
    _, _, few = pca_basis(z[:2])  # fewer points than dimensions still gives a full (D, D) basis
    assert few.shape == (4,)


def test_bind_errors_name_the_port():
    with pytest.raises(ValueError, match="received 70000"):
        bind("127.0.0.1", 70000)
    taken = bind("127.0.0.1", 0)
    assert taken.proto == socket.IPPROTO_TCP  # else asyncio leaves Nagle on: +40 ms per keep-alive request
    try:
        with pytest.raises(OSError, match="pick another port"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def test_cli_registers_explore():
    from vaelab.cli import build_parser

    args = build_parser().parse_args(["explore", "runs/x", "--port", "0", "--limit", "10"])
    assert (args.run_dir, args.host, args.port, args.limit) == ("runs/x", "127.0.0.1", 0, 10)
