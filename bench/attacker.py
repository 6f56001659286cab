"""The attacker of the hardening benchmark (``bench.hardening``), in a process of its own:
``python -m bench.attacker URL`` attacks regdeploy at URL until its standard input closes, then
prints the answers it got, by status, as one JSON line.

``POSTERS`` posters of the Distribution source ``registry``, with its token, post the bodies of
the security review in turn (a megabyte of records, random bytes, a Harbor push with a 200 KB
operator and 200 resources, 300 pushes with 3,000-byte ids), one after another, ignoring every
Retry-After; a credential stuffer on an address of its own (``STUFFER``) tries wrong API tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bench import pushes
from bench.wire import Connection, Endpoint, WireError

POSTERS = 2
STUFFER = "127.0.0.2"  # the loopback network is all of 127.0.0.0/8
ANSWER_SECONDS = 60.0  # how long any one answer is waited for


def harbor_push(*, operator: str, resources: list[dict[str, str]], repository: str) -> bytes:
    return json.dumps(
        {
            "type": "PUSH_ARTIFACT",
            "occur_at": int(datetime.now(UTC).timestamp()),
            "operator": operator,
            "event_data": {"resources": resources, "repository": {"repo_full_name": repository}},
        }
    ).encode()


def hostile_bodies() -> list[bytes]:
    """The review's bodies: amplification, random bytes, giant fields."""
    resources = [
        {"digest": f"sha256:{n:064x}", "tag": f"1.{n}", "resource_url": "r.test/a/b:1"}
        for n in range(200)
    ]
    # Tagged manifest pushes but for their ids, so that the cap on an id is what refuses them.
    target = {"mediaType": pushes.MANIFEST, "digest": f"sha256:{0:064x}", "tag": "1.0.0"}
    record = {"id": "x" * 3_000, "timestamp": "2026-01-01T00:00:00Z", "action": "push"}
    long_ids = [{**record, "target": {**target, "repository": "team/hostile"}}] * 300
    return [
        json.dumps({"events": [1] * 300_000}).encode(),
        random.Random(7).randbytes(64 * 1024),
        harbor_push(operator="o" * 200_000, resources=resources, repository="a/b"),
        json.dumps({"events": long_ids}).encode(),
    ]


def get_request(endpoint: Endpoint, path: str, headers: Mapping[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {endpoint.host}:{endpoint.port}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return "\r\n".join([*lines, "", ""]).encode("latin-1")


class Attacker:
    """The hostile source's posters and the credential stuffer, until ``stop`` is set; the
    answers each got, by status (``failed``: no answer)."""

    def __init__(self, url: str) -> None:
        self.webhook = Endpoint.parse(url + pushes.WEBHOOK_PATH)
        self.bodies = hostile_bodies()
        self.posts: Counter[str] = Counter()
        self.stuffed: Counter[str] = Counter()
        self.stop = asyncio.Event()

    async def post(self, first: int) -> None:
        """Post the bodies in turn from the ``first``, each as soon as the last is answered."""
        connection, n, opener = None, first, partial(Connection.open, self.webhook)
        while not self.stop.is_set():
            body = self.bodies[n % len(self.bodies)]
            n += 1
            head = self.webhook.head(pushes.headers(), len(body))
            connection = await self._send(connection, opener, head, body, self.posts)

    async def stuff(self) -> None:
        """Wrong API tokens from ``STUFFER``, one after another."""
        connection, n = None, 0
        while not self.stop.is_set():
            head = get_request(
                self.webhook, "/api/v1/repos", {"Authorization": f"Bearer guess-{n}"}
            )
            n += 1
            connection = await self._send(
                connection, self._open_as_stuffer, head, b"", self.stuffed
            )

    async def _send(
        self,
        connection: Connection | None,
        opener: Callable[[], Coroutine[Any, Any, Connection]],
        head: bytes,
        body: bytes,
        tally: Counter[str],
    ) -> Connection | None:
        """One request on ``connection`` (a new one if it cannot be reused); the connection to
        use next, None after a failure."""
        try:
            async with asyncio.timeout(ANSWER_SECONDS):
                if connection is None or not connection.reusable:
                    connection = await opener()
                answer = await connection.post(head, body)
        except (WireError, TimeoutError):
            tally["failed"] += 1
            if connection is not None:
                connection.close()
            await asyncio.sleep(0.01)  # a refused connection must not spin
            return None
        tally[str(answer.status)] += 1
        return connection

    async def _open_as_stuffer(self) -> Connection:
        try:
            reader, writer = await asyncio.open_connection(
                self.webhook.host, self.webhook.port, local_addr=(STUFFER, 0)
            )
        except OSError as exc:
            raise WireError(f"connect from {STUFFER}: {exc}") from exc
        return Connection(reader, writer)


async def attack(url: str, *, posters: int) -> dict[str, dict[str, int]]:
    """Attack regdeploy at ``url`` until standard input closes; the answers, by status."""
    attacker = Attacker(url)
    tasks = [asyncio.create_task(attacker.post(first)) for first in range(posters)]
    tasks.append(asyncio.create_task(attacker.stuff()))
    print("attacking", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    attacker.stop.set()
    await asyncio.gather(*tasks)
    return {"posts": dict(attacker.posts), "stuffed": dict(attacker.stuffed)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description="The hostile source and the credential stuffer of the hardening benchmark, "
        "until standard input closes; prints their answers by status as one JSON line."
    )
    parser.add_argument("url", help="http://HOST:PORT of regdeploy")
    parser.add_argument("--posters", type=int, default=POSTERS)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(attack(args.url, posters=args.posters))), flush=True)


if __name__ == "__main__":
    main()
