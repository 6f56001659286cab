"""Measure webhook ingestion: notifications per second, latency and memory.

Starts an embedded PostgreSQL in a temporary directory and the regdeploy app in this process,
then posts N distinct Distribution push notifications (each a tagged manifest push, so each is
stored and updates the tag catalog) from C concurrent clients over loopback.

    .venv/bin/python bench/ingest.py [--notifications 2000] [--concurrency 8]

Prints one line per figure. The target is that one process keeps up with a registry's whole
notification stream: hundreds per second, each acknowledged well under a second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from receiver import logs
from receiver.app import init_app
from receiver.config import loading as configuration
from receiver.store.embedded import EmbeddedServer

TOKEN = "bench-token-0123456789"


def notification(index: int) -> bytes:
    event = {
        "id": str(uuid.uuid4()),
        "timestamp": "2026-11-22T13:17:58.167119017Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": 422,
            "digest": f"sha256:{index:064x}",
            "repository": f"team/app{index % 50}",
            "url": f"http://127.0.0.1:5000/v2/team/app/manifests/sha256:{index:064x}",
            "tag": f"1.0.{index}",
        },
        "request": {"host": "127.0.0.1:5000", "method": "PUT", "useragent": "bench"},
        "actor": {},
        "source": {"addr": "bench:5000"},
    }
    return json.dumps({"events": [event]}).encode()


async def post_all(base_url: str, bodies: list[bytes], concurrency: int) -> list[float]:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/vnd.docker.distribution.events.v1+json",
    }

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(
                f"{base_url}/webhooks/registry", data=body, headers=headers
            ) as response:
                assert response.status == 202, await response.text()
                await response.read()
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
    return latencies


async def run(notifications: int, concurrency: int, data_dir: Path) -> None:
    server = EmbeddedServer(pgdata=data_dir / "pgdata")
    uri = await asyncio.to_thread(server.start)
    config = configuration.parse(
        {
            "database": {"url": uri},
            "sources": [{"name": "registry", "format": "distribution", "token": TOKEN}],
            "api": {"tokens": [{"name": "bench", "token": TOKEN}]},
        },
        env={},
    )
    app_server = TestServer(init_app(config))
    await app_server.start_server()
    try:
        base_url = str(app_server.make_url("")).rstrip("/")
        bodies = [notification(i) for i in range(notifications)]
        await post_all(base_url, bodies[:50], concurrency)  # warm the pool and the code paths
        started = time.perf_counter()
        latencies = await post_all(base_url, bodies[50:], concurrency)
        elapsed = time.perf_counter() - started
    finally:
        await app_server.close()
        await asyncio.to_thread(server.stop)
    latencies.sort()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"notifications: {len(latencies)} (concurrency {concurrency})")
    print(f"throughput: {len(latencies) / elapsed:.0f} notifications/s")
    print(f"latency p50: {statistics.median(latencies) * 1000:.1f} ms")
    print(f"latency p99: {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms")
    print(f"latency max: {latencies[-1] * 1000:.1f} ms")
    print(f"max RSS of the benchmark process (app + client): {rss_mib:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    logs.configure(env={"LOG_LEVEL": "warning"})
    data_dir = Path(tempfile.mkdtemp(prefix="rd-bench-", dir="/tmp"))
    try:
        asyncio.run(run(args.notifications, args.concurrency, data_dir))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
