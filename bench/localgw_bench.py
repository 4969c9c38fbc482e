"""Benchmark of the local API Gateway (infra/localgw) against the targets of issue 3.

    .venv/bin/python bench/localgw_bench.py [--posts 2000] [--connections 1000]

Starts `python -m infra.localgw` as a subprocess on the example Chalice app of the
gateway's own tests, then measures:

1. latency: one `post_to_connection` through boto3's real client, from the call to
   the frame arriving at a `websockets` client (timestamped by the client's reader
   thread), sequentially, after a warm-up. Target: p50 < 2 ms. The same over a bare
   keep-alive HTTP connection shows how much of it is boto3's own overhead.
2. memory: the gateway's resident set (/proc/PID/status VmRSS) with N idle WebSocket
   connections open. Target: < 200 MB for 1,000.
3. throughput (information only): posts per second from 8 threads.
4. oversize REST bodies (information only): the gateway's RSS before and after two
   50 MB POSTs, which it must refuse with 413 without holding them.

Prints a report and one JSON line; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.config import Config
from websockets.asyncio.client import ClientConnection as AsyncClientConnection
from websockets.asyncio.client import connect as async_connect
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_APP = REPO / "tests" / "e2e" / "localgw" / "example_app"
P50_TARGET_MS = 2.0
RSS_TARGET_MB = 200.0


class Gateway:
    """The gateway in its own process, as `make dev` runs it."""

    def __init__(self, app_dir: Path) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        ready_file = Path(self._tmp.name) / "ready.json"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "infra.localgw", "--app-dir", str(app_dir), "--port", "0",
             "--ready-file", str(ready_file), "--log-level", "WARNING"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        self.urls: dict[str, Any] = json.loads(ready_file.read_text())

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._tmp.cleanup()


def management_client(endpoint_url: str) -> Any:
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 -- dummy, the gateway ignores it
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16),
    )


def _raw_poster(management_url: str) -> Callable[[str, bytes], None]:
    """PostToConnection over a bare keep-alive http.client connection: the gateway's share
    of the latency, without boto3's request building and signing."""
    parts = urlsplit(management_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port)

    def post(connection_id: str, data: bytes) -> None:
        connection.request("POST", f"{parts.path}/@connections/{connection_id}", body=data)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"raw post answered {response.status}")

    return post


def measure_latency(
    gw: Gateway, posts: int, warmup: int = 200, raw: bool = False
) -> dict[str, float]:
    if raw:
        post = _raw_poster(gw.urls["management_url"])
    else:
        client = management_client(gw.urls["management_url"])

        def post(connection_id: str, data: bytes) -> None:
            client.post_to_connection(ConnectionId=connection_id, Data=data)

    arrivals: dict[str, float] = {}
    arrived = threading.Condition()
    with connect(gw.urls["ws_url"], compression=None) as ws:
        ws.send(json.dumps({"action": "whoami"}))
        connection_id = json.loads(ws.recv(timeout=5))["connection_id"]

        def read() -> None:
            for frame in ws:
                stamp = time.perf_counter()
                with arrived:
                    arrivals[str(frame)] = stamp
                    arrived.notify()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        samples: list[float] = []
        for n in range(warmup + posts):
            data = f"lat-{n}"
            started = time.perf_counter()
            post(connection_id, data.encode())
            with arrived:
                if not arrived.wait_for(lambda: data in arrivals, timeout=5):  # noqa: B023
                    raise RuntimeError("frame lost")
            if n >= warmup:
                samples.append((arrivals[data] - started) * 1000)
    samples.sort()
    return {
        "p50_ms": statistics.median(samples),
        "p90_ms": samples[int(len(samples) * 0.9)],
        "p99_ms": samples[int(len(samples) * 0.99)],
        "max_ms": samples[-1],
    }


def measure_throughput(gw: Gateway, posts: int, threads: int = 8) -> float:
    with connect(gw.urls["ws_url"], compression=None, max_queue=None) as ws:
        ws.send(json.dumps({"action": "whoami"}))
        connection_id = json.loads(ws.recv(timeout=5))["connection_id"]
        clients = [management_client(gw.urls["management_url"]) for _ in range(threads)]

        def post(share: int) -> None:
            for n in range(share, posts, threads):
                clients[share].post_to_connection(ConnectionId=connection_id, Data=b"t%d" % n)

        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, range(threads)))
        for _ in range(posts):
            ws.recv(timeout=10)
        return posts / (time.perf_counter() - started)


async def _hold_idle(url: str, count: int, gw: Gateway, admin_url: str) -> dict[str, float]:
    connections: list[AsyncClientConnection] = []
    try:
        for start in range(0, count, 100):
            batch = [async_connect(url, compression=None) for _ in range(min(100, count - start))]
            connections += await asyncio.gather(*batch)
        await asyncio.sleep(1.0)
        async with httpx.AsyncClient() as http:
            open_count = (await http.get(f"{admin_url}/info")).json()["connections"]
        if open_count != count:
            raise RuntimeError(f"{open_count} connections registered, expected {count}")
        return {"rss_mb": gw.rss_mb(), "open": open_count}
    finally:
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


def measure_memory(gw: Gateway, connections: int) -> dict[str, float]:
    baseline = gw.rss_mb()
    held = asyncio.run(_hold_idle(gw.urls["ws_url"], connections, gw, gw.urls["admin_url"]))
    return {
        "baseline_rss_mb": baseline,
        "idle_rss_mb": held["rss_mb"],
        "per_connection_kb": (held["rss_mb"] - baseline) * 1024 / connections,
    }


def measure_oversize_posts(gw: Gateway, posts: int = 2, size_mb: int = 50) -> dict[str, float]:
    """RSS growth of the gateway over `posts` POSTs of `size_mb` MB each (413 expected)."""
    before = gw.rss_mb()
    statuses = []
    chunk = b"z" * (1024 * 1024)
    for _ in range(posts):
        body = (chunk for _ in range(size_mb))
        response = httpx.post(
            f"{gw.urls['rest_url']}/body-length",
            content=body,
            headers={"content-type": "application/octet-stream"},
            timeout=60,
        )
        statuses.append(response.status_code)
    if set(statuses) != {413}:
        raise RuntimeError(f"oversize POSTs answered {statuses}, expected 413")
    return {"rss_before_mb": before, "rss_after_mb": gw.rss_mb()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--app-dir", type=Path, default=EXAMPLE_APP)
    args = parser.parse_args()
    gw = Gateway(args.app_dir)
    try:
        latency = measure_latency(gw, args.posts)
        raw_p50 = measure_latency(gw, args.posts, raw=True)["p50_ms"]
        memory = measure_memory(gw, args.connections)
        throughput = measure_throughput(gw, args.posts)
        oversize = measure_oversize_posts(gw)
    finally:
        gw.stop()
    result = {
        **latency,
        "raw_http_p50_ms": raw_p50,
        **memory,
        "connections": args.connections,
        "throughput_posts_per_s": throughput,
        **oversize,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(f"post_to_connection -> frame at client, {args.posts} sequential posts:")
    print("  p50 {p50_ms:.3f} ms  p90 {p90_ms:.3f} ms  p99 {p99_ms:.3f} ms  max {max_ms:.3f} ms"
          .format(**latency))  # fmt: skip
    print(f"  same through a bare keep-alive HTTP connection (no boto3): p50 {raw_p50:.3f} ms")
    print(f"gateway RSS: {memory['baseline_rss_mb']:.1f} MB at start, "
          f"{memory['idle_rss_mb']:.1f} MB with {args.connections} idle connections "
          f"({memory['per_connection_kb']:.1f} KB each)")  # fmt: skip
    print(f"throughput: {throughput:.0f} posts/s from 8 threads (information only)")
    print(f"two 50 MB POSTs refused with 413: gateway RSS {oversize['rss_before_mb']:.1f} MB "
          f"before, {oversize['rss_after_mb']:.1f} MB after (information only)")  # fmt: skip
    print(json.dumps(result))
    ok = latency["p50_ms"] < P50_TARGET_MS and memory["idle_rss_mb"] < RSS_TARGET_MB
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
