"""Load test for `vaelab explore`: N decode requests from C concurrent clients, on 127.0.0.1 only.

    python benchmarks/explore_load.py RUN_DIR [--requests 2000] [--clients 8] [--batch-requests 100]
    python benchmarks/explore_load.py RUN_DIR --soak 100000 [--clients 8]    # memory over many requests
    python benchmarks/explore_load.py RUN_DIR --slowloris 100                 # normal p50/p99 under slow clients

Starts the real server (`vaelab explore RUN_DIR --port 0`) in a subprocess, then:
  1. in-process: median time of one decode + PNG encode (the server's work per image);
  2. one client: 200 GET /api/decode.png in sequence (the latency a user sees while hovering);
  3. load: `--requests` GET /api/decode.png (random z ~ N(0, I)) from `--clients` keep-alive clients,
     while one more thread sends hostile requests (foreign Host, 1 GiB bodies, unicode digits, 401-digit
     integers, 50,000-deep JSON) and holds `--slow` half-open connections that send a header line every
     second (all bounded in count and time); each must get its 4xx or be closed by the server;
  4. batch: `--batch-requests` POST /api/decode with 16 latents each;
  5. connection cap: `--cap-probe` idle connections at once, how many the server closes straight away.
Any unexpected answer counts as an error. The server's RSS is read from /proc before and after.
`--soak N` instead runs `explorer_soak`: N requests of every kind, the RSS sampled as they go.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

HOST = "127.0.0.1"  # never anything else
GIB = 2**30


def percentiles(ms: list[float]) -> str:
    p = np.percentile(ms, [50, 90, 99])
    return f"p50 {p[0]:.1f} ms, p90 {p[1]:.1f} ms, p99 {p[2]:.1f} ms, max {max(ms):.1f} ms"


def in_process(run_dir: str, limit: int, repeats: int = 300) -> None:
    from vaelab.explore import Explorer
    from vaelab.explore.imaging import png_bytes

    ex = Explorer.from_run_dir(run_dir, limit=limit)
    z = np.random.default_rng(0).standard_normal((repeats, ex.latent_dim)).astype("float32")
    times = []
    for row in z:
        t = time.perf_counter()
        png_bytes(ex.decode(row[None])[0])
        times.append(1000 * (time.perf_counter() - t))
    batch = z[:64]
    t = time.perf_counter()
    for _ in range(20):
        [png_bytes(img) for img in ex.decode(batch)]
    per_image = 1000 * (time.perf_counter() - t) / (20 * len(batch))
    print(f"in-process decode+PNG, one image ({ex.images.shape[1:]}, z={ex.latent_dim}): "
          f"median {statistics.median(times):.2f} ms, {percentiles(times)}")
    print(f"in-process decode+PNG in batches of 64: {per_image:.3f} ms per image")


def start_server(run_dir: str, limit: int) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "vaelab", "explore", run_dir, "--host", HOST, "--port", "0",
           "--limit", str(limit)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        match = re.search(rf"http://{re.escape(HOST)}:\d+/", line)
        if match:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep draining
            return proc, match.group(0)
    raise RuntimeError(f"vaelab explore exited ({proc.wait()}) without printing a URL")


def load(url: str, dim: int, requests: int, clients: int, deadline: float) -> tuple[list[float], int]:
    """Each client sends its share of GETs over one keep-alive connection; returns (latencies ms, errors)."""
    def client(k: int):
        rng = np.random.default_rng(k)
        times, errors = [], 0
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(k, requests, clients):
                if time.monotonic() > deadline:
                    errors += 1
                    continue
                z = ",".join(f"{v:.4f}" for v in rng.standard_normal(dim))
                t = time.perf_counter()
                r = c.get("/api/decode.png", params={"z": z})
                times.append(1000 * (time.perf_counter() - t))
                errors += r.status_code != 200 or r.headers.get("content-type") != "image/png"
        return times, errors

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    return [t for ts, _ in results for t in ts], sum(e for _, e in results)


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident MB now, peak resident MB) of a process, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raw(url: str, data: bytes, read_timeout: float = 10.0) -> bytes:
    """Sends raw bytes to the server, returns the first bytes of its answer (b"" if it just closed)."""
    port = urlsplit(url).port
    with socket.create_connection((HOST, port), timeout=read_timeout) as s:
        s.sendall(data)
        try:
            return s.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return b""


def stream_gib(url: str, limit: int = GIB) -> tuple[bytes, int]:
    """POSTs a chunked body of up to `limit` bytes, stopping once an answer arrives: (answer, bytes sent)."""
    port = urlsplit(url).port
    chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
    sent, answer = 0, b""
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(f"POST /api/decode HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        try:
            while sent < limit and not answer:
                s.sendall(chunk)
                sent += len(chunk)
                if select.select([s], [], [], 0)[0]:
                    answer = s.recv(65536) or b"(closed)"
        except OSError as e:
            answer = answer or f"({type(e).__name__})".encode()
    return answer, sent


def slow_connections(url: str, count: int, max_seconds: float) -> list[float]:
    """`count` connections that send one header line a second and never finish: seconds until each is
    closed by the server (max_seconds if it never is). Bounded: all are closed by us after max_seconds."""
    port = urlsplit(url).port
    socks, opened, closed_at = [], time.monotonic(), {}
    for _ in range(count):
        s = socket.create_connection((HOST, port), timeout=5)
        s.sendall(f"GET /api/info HTTP/1.1\r\nHost: {HOST}:{port}\r\n".encode())
        s.setblocking(False)
        socks.append(s)
    try:
        while len(closed_at) < count and time.monotonic() - opened < max_seconds:
            for k, s in enumerate(socks):
                if k in closed_at:
                    continue
                try:
                    if s.recv(4096) == b"":
                        closed_at[k] = time.monotonic() - opened
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[k] = time.monotonic() - opened
                    continue
                try:
                    s.send(b"X-Slow: 1\r\n")
                except OSError:
                    closed_at[k] = time.monotonic() - opened
            time.sleep(1.0)
    finally:
        for s in socks:
            s.close()
    return [closed_at.get(k, max_seconds) for k in range(count)]


LOCAL = "Host: 127.0.0.1:{port}\r\n"
HOSTILE = [  # (what, request with {port}, expected status line start)
    ("foreign Host (DNS rebinding)", "GET /api/points/0 HTTP/1.1\r\nHost: rebind.attacker.com:{port}\r\n\r\n",
     b"HTTP/1.1 400"),
    ("foreign Origin", "GET /api/info HTTP/1.1\r\n" + LOCAL + "Origin: http://evil.example\r\n\r\n",
     b"HTTP/1.1 403"),
    ("text/plain POST", "POST /api/decode HTTP/1.1\r\n" + LOCAL + "Content-Type: text/plain\r\n"
                        "Content-Length: 12\r\n\r\n{{\"z\": [[0]]}}", b"HTTP/1.1 415"),
    ("Content-Length: 1 GiB, no body", "POST /api/decode HTTP/1.1\r\n" + LOCAL + "Content-Type: application/json"
                                       "\r\nContent-Length: 1073741824\r\n\r\n", b"HTTP/1.1 413"),
    ("/api/points/%C2%B2", "GET /api/points/%C2%B2 HTTP/1.1\r\n" + LOCAL + "\r\n", b"HTTP/1.1 404"),
    ("/api/images/%C2%B2.png", "GET /api/images/%C2%B2.png HTTP/1.1\r\n" + LOCAL + "\r\n", b"HTTP/1.1 404"),
]


def json_post(port: int, body: bytes) -> bytes:
    return (f"POST /api/decode HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def hostile(url: str, slow: int, slow_seconds: float) -> int:
    """Sends each hostile request once and holds `slow` half-open connections; returns the error count."""
    port, errors = urlsplit(url).port, 0
    cases = [(what, raw(url, req.format(port=port).encode()), want) for what, req, want in HOSTILE]
    cases += [
        ("401-digit JSON integer", raw(url, json_post(port, b'{"z": [[' + b"9" * 401 + b"]]}")), b"HTTP/1.1 422"),
        ("50,000-deep JSON", raw(url, json_post(port, b'{"z": ' + b"[" * 50_000 + b"]" * 50_000 + b"}")),
         b"HTTP/1.1 400"),
    ]
    t = time.perf_counter()
    answer, sent = stream_gib(url)
    what = f"chunked 1 GiB body: answered after {sent / 2**20:.1f} MiB in {time.perf_counter() - t:.2f} s"
    cases.append((what, answer, b"HTTP/1.1 413"))
    for what, answer, want in cases:
        ok = answer.startswith(want)
        errors += not ok
        print(f"  hostile: {what}: {answer[:12].decode(errors='replace')!r}{'' if ok else ' UNEXPECTED'}")
    if slow:
        closed = slow_connections(url, slow, slow_seconds)
        late = sum(c >= slow_seconds for c in closed)
        errors += late
        print(f"  hostile: {slow} slow half-open connections closed by the server after "
              f"{min(closed):.1f}-{max(closed):.1f} s ({late} still open after {slow_seconds:g} s)")
    return errors


def cap_probe(url: str, count: int) -> int:
    """Opens `count` idle connections at once: how many the server closes straight away."""
    port = urlsplit(url).port
    socks = [socket.create_connection((HOST, port), timeout=5) for _ in range(count)]
    time.sleep(0.5)
    closed = 0
    for s in socks:
        s.settimeout(0.05)
        try:
            closed += s.recv(10) == b""
        except TimeoutError:
            pass
        except OSError:
            closed += 1
    for s in socks:
        s.close()
    return closed


def soak_request(c: httpx.Client, rng: np.random.Generator, dim: int, count: int, k: int) -> bool:
    """One request of a fixed mix (most are decodes; every kind, and some bad ones); True if as expected."""
    z = lambda: ",".join(f"{v:.4f}" for v in rng.standard_normal(dim))  # noqa: E731
    kind = k % 20
    if kind < 10:
        r, want = c.get("/api/decode.png", params={"z": z()}), 200
    elif kind < 12:
        r, want = c.post("/api/decode", json={"z": rng.standard_normal((4, dim)).round(4).tolist()}), 200
    elif kind == 12:
        steps = int(rng.integers(2, 17))
        r, want = c.get("/api/interpolate.png", params={"a": z(), "b": z(), "steps": steps}), 200
    elif kind == 13:  # a new seed every time: would fill any cache keyed by request input
        params = {"n": int(rng.integers(1, 33)), "seed": int(rng.integers(2**31))}
        r, want = c.get("/api/samples.png", params=params), 200
    elif kind == 14:
        r, want = c.get(f"/api/points/{rng.integers(count)}"), 200
    elif kind == 15:
        r, want = c.get(f"/api/images/{rng.integers(count)}.png"), 200
    elif kind == 16:
        r, want = c.get("/api/decode.png", params={"z": "nan," + z()}), 422
    elif kind == 17:
        r, want = c.get(f"/api/points/{count + int(rng.integers(10**6))}"), 404
    elif kind == 18:
        r, want = c.get("/api/info", headers={"host": f"rebind{rng.integers(10**9)}.attacker.com"}), 400
    else:
        r, want = c.post("/api/decode", content=b'{"z": [[' + b"9" * 401 + b"]]}",
                         headers={"content-type": "application/json"}), 422
    return r.status_code == want


def per_10k(points: list[tuple[int, float]]) -> float:
    """Least-squares slope of MB against requests, in MB per 10,000 requests (nan with < 3 points)."""
    if len(points) < 3:
        return float("nan")
    n, mb = np.asarray(points, "float64").T
    return float(np.polyfit(n, mb, 1)[0] * 10_000)


def explorer_soak(run_dir: str, requests: int, clients: int, every: int = 2000, limit: int = 2000,
                  max_seconds: float = 1800) -> int:
    """`requests` requests of every kind (`soak_request`) from `clients` keep-alive clients against a real
    `vaelab explore` subprocess; its RSS is read every `every` requests. Prints the samples, the slope
    (MB per 10k requests, least squares over the second half) and the peak; returns the error count."""
    proc, url = start_server(run_dir, limit)
    try:
        info = httpx.get(url + "api/info", timeout=30).json()
        dim, count = info["latent_dim"], info["count"]
        done, errors, lock = 0, 0, threading.Lock()
        samples = [(0, *rss_mb(proc.pid), open_fds(proc.pid))]
        deadline, start = time.monotonic() + max_seconds, time.perf_counter()

        def client(k: int):
            nonlocal done, errors
            rng = np.random.default_rng(k)
            with httpx.Client(base_url=url, timeout=60) as c:
                for j in range(k, requests, clients):
                    if time.monotonic() > deadline:
                        return
                    ok = soak_request(c, rng, dim, count, j)
                    with lock:
                        done += 1
                        errors += not ok
                        if done % every == 0:
                            samples.append((done, *rss_mb(proc.pid), open_fds(proc.pid)))

        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(client, range(clients)))
        wall = time.perf_counter() - start
        samples.append((done, *rss_mb(proc.pid), open_fds(proc.pid)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    for n, rss, peak, fds in samples[:: max(1, len(samples) // 12)] + samples[-1:]:
        print(f"  after {n:>7} requests: RSS {rss:7.1f} MB (peak {peak:7.1f} MB), {fds} open fds")
    slope = per_10k([(n, rss) for n, rss, _, _ in samples if n >= done / 2])
    overall = per_10k([(n, rss) for n, rss, _, _ in samples])
    print(f"soak: {done} requests from {clients} clients in {wall:.0f} s ({done / wall:.0f} req/s), "
          f"errors {errors}; RSS slope {slope:+.2f} MB per 10k requests over the second half "
          f"({overall:+.2f} over all), peak {max(p for _, _, p, _ in samples):.1f} MB; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return errors


def slowloris(url: str, clients: int, seconds: float, every: float = 0.1) -> tuple[list[float], int, int]:
    """`clients` slow clients (a header line every 0.5 s, reconnecting at once when dropped) for `seconds`,
    while one normal client sends GET /api/info on a new connection every `every` s. Returns (normal
    latencies ms, normal errors, reconnects of the slow clients). Bounded in count and time; 127.0.0.1 only."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    stop = time.monotonic() + seconds
    reconnects = [0]

    def slow():
        while time.monotonic() < stop:
            try:
                with socket.create_connection((HOST, port), timeout=2) as s:
                    s.sendall(f"GET /api/info HTTP/1.1\r\nHost: {HOST}:{port}\r\n".encode())
                    k = 0
                    while time.monotonic() < stop:
                        time.sleep(0.5)
                        s.sendall(f"X-Slow-{k}: 1\r\n".encode())
                        k += 1
            except OSError:
                reconnects[0] += 1
                time.sleep(0.01)

    threads = [threading.Thread(target=slow, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the slow clients hold their slots first
    times, errors = [], 0
    while time.monotonic() < stop - 0.5:
        t0 = time.perf_counter()
        try:
            r = httpx.get(url + "api/info", timeout=10)
            errors += r.status_code != 200
        except httpx.HTTPError:
            errors += 1
        times.append(1000 * (time.perf_counter() - t0))
        time.sleep(every)
    for t in threads:
        t.join(timeout=5)
    return times, errors, reconnects[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--batch-requests", type=int, default=100)
    p.add_argument("--limit", type=int, default=2000, help="test images the server encodes (default 2000)")
    p.add_argument("--max-seconds", type=float, default=300, help="stop sending after (default 300)")
    p.add_argument("--slow", type=int, default=32, help="slow half-open connections, at most 48 (default 32)")
    p.add_argument("--slow-seconds", type=float, default=30, help="give up on them after (default 30)")
    p.add_argument("--cap-probe", type=int, default=100, help="idle connections opened at once (max 200)")
    p.add_argument("--soak", type=int, default=0, metavar="N", help="run explorer_soak with N requests instead")
    p.add_argument("--slowloris", type=int, default=0, metavar="N",
                   help="instead: N slow clients that reconnect (max 200) against normal requests, p50/p99")
    p.add_argument("--slowloris-seconds", type=float, default=20, help="length of the slowloris run (max 120)")
    args = p.parse_args(argv)
    if not (1 <= args.requests <= 100_000 and 1 <= args.clients <= 32 and 0 <= args.slow <= 48
            and 0 <= args.cap_probe <= 200 and 0 <= args.soak <= 1_000_000 and 0 <= args.slowloris <= 200
            and 0 < args.slowloris_seconds <= 120):
        p.error("expected 1..100000 requests, 1..32 clients, 0..48 slow connections, 0..200 cap probes, "
                f"0..1e6 soak requests; received {args.requests}, {args.clients}, {args.slow}, "
                f"{args.cap_probe}, {args.soak}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.soak:
        return 1 if explorer_soak(args.run_dir, args.soak, args.clients, limit=args.limit) else 0

    if args.slowloris:
        proc, url = start_server(args.run_dir, args.limit)
        try:
            httpx.get(url + "api/info", timeout=30)
            times, errors, reconnects = slowloris(url, args.slowloris, args.slowloris_seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        p = np.percentile(times, [50, 99])
        print(f"slowloris: {args.slowloris} slow clients ({reconnects} reconnects) for {args.slowloris_seconds:.0f} s; "
              f"{len(times)} normal GET /api/info: p50 {p[0]:.1f} ms, p99 {p[1]:.1f} ms, max {max(times):.1f} ms, "
              f"errors {errors}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 1 if errors or p[1] > 1000 else 0

    in_process(args.run_dir, args.limit)
    proc, url = start_server(args.run_dir, args.limit)
    try:
        dim = httpx.get(url + "api/info", timeout=30).json()["latent_dim"]
        httpx.get(url + "api/decode.png", params={"z": ",".join(["0"] * dim)}, timeout=30)  # warm-up
        rss0 = rss_mb(proc.pid)[0]
        one, errors = load(url, dim, min(200, args.requests), 1, time.monotonic() + args.max_seconds)
        print(f"one client: {len(one)} GET /api/decode.png one after another: {percentiles(one)}")
        t = time.perf_counter()
        with ThreadPoolExecutor(1) as side:  # hostile requests alongside the load
            bad = side.submit(hostile, url, args.slow, args.slow_seconds)
            times, more = load(url, dim, args.requests, args.clients, time.monotonic() + args.max_seconds)
            errors += more
            wall = time.perf_counter() - t
            hostile_errors = bad.result()
        print(f"load: {len(times)} GET /api/decode.png from {args.clients} clients in {wall:.1f} s "
              f"({len(times) / wall:.0f} req/s), errors {more}; hostile cases alongside: errors {hostile_errors}")
        print(f"load latency: {percentiles(times)}")
        errors += hostile_errors

        z = np.random.default_rng(1).standard_normal((16, dim)).round(4).tolist()
        batch_times = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for _ in range(args.batch_requests):
                t = time.perf_counter()
                r = c.post("/api/decode", json={"z": z})
                batch_times.append(1000 * (time.perf_counter() - t))
                errors += r.status_code != 200
        print(f"batch: {args.batch_requests} POST /api/decode x16 latents: {percentiles(batch_times)} "
              f"({statistics.median(batch_times) / 16:.2f} ms per image at the median)")
        if args.cap_probe:
            time.sleep(6)  # idle keep-alive connections from above are gone
            closed = cap_probe(url, args.cap_probe)
            print(f"connection cap: of {args.cap_probe} idle connections opened at once, {closed} were closed "
                  f"at once, {open_fds(proc.pid)} fds open in the server afterwards")
        rss, peak = rss_mb(proc.pid)
        print(f"server RSS: {rss0:.0f} MB after warm-up, {rss:.0f} MB at the end, peak {peak:.0f} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"total errors: {errors}; load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
