"""An authenticated source turned hostile, replayed against a real ``regdeploy serve``: for a
while it posts, as fast as it may and faster, the bodies a security review used (a megabyte of
records, random bytes, giant fields), and another address tries tokens by the thousand. Meanwhile
a well-behaved source pushes and ``/ping`` is asked, as a load balancer would.

What must hold, read from the database and the process afterwards: every good push is stored,
the rejected bodies kept are within the retention and each within its cap, no stored reason is
over its cap, the process stayed small, the stuffer got 429s after its budget, and ``/ping`` was
never held up (no answer took a second: a stall of the event loop is what this looks for; the
latency figures themselves are ``python -m bench hardening``'s)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import aiohttp

from tests.support.cluster import StartCluster, cluster_config
from tests.support.history import rows
from tests.support.settings import API_TOKEN, HARBOR_TOKEN, REGISTRY_TOKEN

ATTACK_SECONDS = 15.0
KEEP = 100
REASON_BYTES = 2048
BODY_BYTES = 4096
RSS_LIMIT = 150 * 1024**2
# The credential stuffer's own address (the loopback network is all of 127.0.0.0/8).
STUFFER = "127.0.0.2"


def hostile_bodies(rng: random.Random) -> list[bytes]:
    """The bodies the review posted: amplification, random bytes, giant fields."""
    operator = "o" * 200_000
    harbor_like = {
        "type": "PUSH_ARTIFACT",
        "occur_at": 1_700_000_000,
        "operator": operator,
        "event_data": {
            "resources": [
                {"digest": f"sha256:{n:064x}", "tag": f"1.{n}", "resource_url": "r.test/a/b:1"}
                for n in range(200)
            ],
            "repository": {"repo_full_name": "a/b"},
        },
    }
    # A tagged manifest push but for its id, so that the cap on an id is what refuses it.
    long_id = {
        "id": "x" * 3_000,
        "timestamp": "2026-01-01T00:00:00Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": f"sha256:{0:064x}",
            "tag": "1.0.0",
            "repository": "team/hostile",
        },
    }
    return [
        json.dumps({"events": [1] * 300_000}).encode(),  # 900 KB of records
        rng.randbytes(64 * 1024),
        json.dumps(harbor_like).encode(),
        json.dumps({"events": [long_id] * 300}).encode(),
    ]


def good_push(n: int) -> bytes:
    return json.dumps(
        {
            "type": "PUSH_ARTIFACT",
            "occur_at": 1_700_000_000 + n,
            "operator": "ci",
            "event_data": {
                "resources": [
                    {
                        "digest": f"sha256:{n + 1:064x}",
                        "tag": f"2.0.{n}",
                        "resource_url": f"registry.test:5000/team/good:2.0.{n}",
                    }
                ],
                "repository": {"repo_full_name": "team/good"},
            },
        }
    ).encode()


async def flood(session: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> dict[int, int]:
    """The hostile source, ignoring every Retry-After; statuses counted."""
    bodies = hostile_bodies(random.Random(7))
    seen: dict[int, int] = {}
    n = 0
    while not stop.is_set():
        n += 1
        async with session.post(
            f"{base}/webhooks/registry",
            data=bodies[n % len(bodies)],
            headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"},
        ) as answer:
            seen[answer.status] = seen.get(answer.status, 0) + 1
    return seen


async def stuff(base: str, stop: asyncio.Event) -> list[int]:
    """Wrong API tokens from an address of its own (127.0.0.2), one after another, then the
    right one."""
    connector = aiohttp.TCPConnector(local_addr=(STUFFER, 0))
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        return await _stuffed(session, base, stop)


async def _stuffed(session: aiohttp.ClientSession, base: str, stop: asyncio.Event) -> list[int]:
    statuses: list[int] = []
    while not stop.is_set() and len(statuses) < 1_000:
        headers = {"Authorization": f"Bearer guess-{len(statuses)}"}
        async with session.get(f"{base}/api/v1/repos", headers=headers) as answer:
            statuses.append(answer.status)
    async with session.get(
        f"{base}/api/v1/repos", headers={"Authorization": f"Bearer {API_TOKEN}"}
    ) as answer:
        statuses.append(answer.status)
    return statuses


async def behave(
    session: aiohttp.ClientSession, base: str, stop: asyncio.Event
) -> tuple[list[float], list[int]]:
    """``/ping`` every 50 ms and a good push every second: the answers' times, the pushes'
    statuses."""
    pings: list[float] = []
    pushes: list[int] = []
    last_push = 0.0
    while not stop.is_set():
        began = time.monotonic()
        async with session.get(f"{base}/ping") as answer:
            assert answer.status == 200
        pings.append(time.monotonic() - began)
        if began - last_push >= 1.0:
            last_push = began
            async with session.post(
                f"{base}/webhooks/harbor",
                data=good_push(len(pushes)),
                headers={"Authorization": HARBOR_TOKEN},
            ) as answer:
                pushes.append(answer.status)
        await asyncio.sleep(max(0.0, 0.05 - (time.monotonic() - began)))  # a probe's pace
    return pings, pushes


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


async def test_a_hostile_source_at_full_rate_holds_up_nobody_and_fills_nothing(
    start_cluster: StartCluster, db_uri: str
) -> None:
    config = cluster_config(db_uri=db_uri, registry="registry.test:5000", repositories=[])
    config["retention"] = {"rejected_payloads": {"keep": KEEP, "days": 14}}
    config["rates"] = {  # the defaults, written out
        "per_source": {"requests_per_second": 200, "bytes_per_second": "1MB", "burst": "2s"},
        "failed_auth_per_address": {"per_minute": 30},
    }
    cluster = start_cluster(config, serve=1, workers=0)
    await cluster.ready()
    [member] = cluster.members
    base = member.base
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as session:
        tasks = (
            asyncio.create_task(flood(session, base, stop)),
            asyncio.create_task(flood(session, base, stop)),
            asyncio.create_task(stuff(base, stop)),
            asyncio.create_task(behave(session, base, stop)),
        )
        await asyncio.sleep(ATTACK_SECONDS)  # the attack lasts its time, on purpose
        peak = rss_bytes(member.pid)
        stop.set()
        first, second, stuffed, (pings, pushes) = await asyncio.gather(*tasks)

    flooded = {k: first.get(k, 0) + second.get(k, 0) for k in {*first, *second}}
    assert set(flooded) <= {202, 413, 429}, flooded
    assert flooded.get(429, 0) > 0, flooded  # the source was held to its rate
    assert pushes and set(pushes) == {202}
    [(good,)] = rows(db_uri, "SELECT count(*) FROM events WHERE repository = 'team/good'")
    assert good == len(pushes)
    [(kept, longest_body, longest_reason)] = rows(
        db_uri,
        "SELECT count(*), max(octet_length(body)), max(octet_length(reason)) "
        "FROM rejected_payloads",
    )
    assert kept <= KEEP
    assert longest_body <= BODY_BYTES and longest_reason <= REASON_BYTES
    [(longest_actor,)] = rows(db_uri, "SELECT coalesce(max(octet_length(actor)), 0) FROM events")
    assert longest_actor <= 1024
    # 30 tries, then one more every two seconds: the rest waits.
    assert stuffed[:31] == [401] * 30 + [429]
    assert stuffed.count(401) <= 30 + ATTACK_SECONDS / 2 + 1
    assert set(stuffed) <= {401, 429}
    assert peak < RSS_LIMIT, f"RSS {peak / 1024**2:.0f} MB"
    assert max(pings) < 1.0, f"/ping took {max(pings):.2f} s once during the attack"
    assert member.proc is not None and member.proc.poll() is None  # serving after the attack
