"""End to end: `vaelab explore` in a subprocess on 127.0.0.1, the page in real headless Chromium.

Needs Debian's chromium (`.ci/install-browser.sh` installs it) and Playwright for Python from the dev extra;
Playwright drives the system browser (`executable_path`), it never downloads one.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
from helpers import require, tiny_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# [img id, previous src, expected width]: the <img> shows a new blob: image of that width, fully loaded
LOADED_NEW = """([id, old, width]) => { const img = document.getElementById(id);
  return img.src.startsWith('blob:') && img.src !== old && img.complete && img.naturalWidth === width; }"""
# Playwright gives every launch a fresh, empty user-data dir of its own.


pytestmark = pytest.mark.slow  # a real browser against a real server


@pytest.fixture(autouse=True, scope="module")
def _chromium():
    require(CHROMIUM is not None, "Debian chromium", "run .ci/install-browser.sh")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory):
    """Trains a tiny run, starts `vaelab explore RUN --port 0` and yields the URL it prints."""
    from vaelab.train import fit

    cfg = tiny_config(tmp_path_factory.mktemp("explore-e2e"), model={"latent_dim": 3}, train={"epochs": 1})
    run_dir = fit(cfg).run_dir
    cmd = [sys.executable, "-m", "vaelab", "explore", str(run_dir), "--host", "127.0.0.1", "--port", "0",
           "--limit", "64"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen = []
    try:
        while True:
            try:
                line = lines.get(timeout=180)
            except queue.Empty:
                pytest.fail(f"vaelab explore printed no URL within 180 s; output: {''.join(seen)}")
            seen.append(line)
            match = re.search(r"http://127\.0\.0\.1:\d+/", line)
            if match:
                break
            if proc.poll() is not None and lines.empty():
                pytest.fail(f"vaelab explore exited with {proc.returncode}: {''.join(seen)}")
        yield match.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(page, predicate: str, arg=None, timeout: float = 30.0) -> None:
    """Polls a JS predicate from Python: `wait_for_function` evals strings, which the page CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate, arg):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {predicate}")
        time.sleep(0.05)


def test_click_in_scatter_decodes_an_image(server_url):
    from playwright.sync_api import sync_playwright

    problems, requests = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(server_url)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            wait_until(page, "() => document.getElementById('decoded').src.startsWith('blob:')")
            before = page.eval_on_selector("#decoded", "img => img.src")

            box = page.locator("#scatter").bounding_box()
            page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.35 * box["height"])
            wait_until(page, LOADED_NEW, ["decoded", before, 16])
            page.mouse.click(box["x"] + 0.7 * box["width"], box["y"] + 0.6 * box["height"])  # point B
            wait_until(page, LOADED_NEW, ["strip", "", 10 * 17 - 1])  # 10 steps of 16 px + 1 px gaps
            assert page.eval_on_selector("#samples", "img => img.naturalWidth") == 8 * 17 - 1
        finally:
            browser.close()
    assert not problems, problems
    offsite = [u for u in requests if not u.startswith((server_url, "blob:", "data:"))]
    assert not offsite, f"the page fetched something off the local server: {offsite}"


@pytest.fixture(scope="module")
def attribute_url(tmp_path_factory):
    """An in-process server for a run with (N, A) attribute labels; one attribute nobody has (no vector)."""
    import numpy as np

    from vaelab.data.base import Split
    from vaelab.explore import Explorer
    from vaelab.explore.server import bind, make_server, url_of
    from vaelab.runs import load_run
    from vaelab.train import fit

    cfg = tiny_config(tmp_path_factory.mktemp("explore-attrs"), model={"latent_dim": 3}, train={"epochs": 1})
    model = load_run(fit(cfg).run_dir).model
    images = np.random.default_rng(0).random((40, 16, 16, 1)).astype("float32")
    attrs = np.zeros((40, 3), "int64")
    attrs[::2, 0], attrs[::3, 1] = 1, 1  # Smiling, Eyeglasses; nobody has Blond_Hair
    split = Split(image_shape=(16, 16, 1), images=(images * 255).astype("uint8"), labels=attrs,
                  label_names=["Smiling", "Eyeglasses", "Blond_Hair"], name="fake_celeba")
    sock = bind("127.0.0.1", 0)
    server = make_server(Explorer.build(model, images, split, name="attrs"), sock)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    yield url_of(sock)
    server.should_exit = True
    thread.join(timeout=10)


def test_attribute_sliders_edit_the_picked_face(attribute_url):
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
            page.goto(attribute_url)
            page.wait_for_selector("body[data-ready='1']", timeout=30_000)
            assert page.is_visible("#attr-panel") and page.is_visible("#colour-by")
            assert page.locator("#colour-by option").all_inner_texts() == [
                "Smiling (20)", "Eyeglasses (14)", "Blond_Hair (0)"]
            disabled = page.eval_on_selector_all("#attr-sliders input", "els => els.map(e => e.disabled)")
            assert disabled == [False, False, True]  # no vector for an attribute nobody has

            box = page.locator("#scatter").bounding_box()
            page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
            wait_until(page, LOADED_NEW, ["attr-result", "", 16])
            before = page.eval_on_selector("#attr-result", "img => img.src")
            page.eval_on_selector("#attr-sliders input",  # Smiling to +3
                                  "el => { el.value = 3; el.dispatchEvent(new Event('input')); }")
            wait_until(page, LOADED_NEW, ["attr-result", before, 16])
        finally:
            browser.close()
    assert not problems, problems
