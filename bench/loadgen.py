"""The load generator, run as its own process: distinct pushes, open or closed loop.

    python -m bench.loadgen URL --run RUN --rate 1000 --duration 20      # open loop
    python -m bench.loadgen URL --run RUN --count 100000 --concurrency 32  # closed loop

Open loop: push number i is due at start + i / rate whether or not earlier ones were answered
(a new connection is opened when none is idle), and its latency counts from when it was due, so
a server that falls behind shows it in full rather than slowing the generator down. Closed loop:
``concurrency`` clients each post the next push as soon as the previous one is answered.

Every push is waited for (up to ``--timeout`` seconds, 600 by default: long enough that a push
the service will still answer is never given up, since a push given up may yet be stored) before
the generator exits, and it prints
one JSON line: pushes sent, answered 2xx, answered otherwise, failed, ack latency p50/p99/max
in ms, the achieved rate, and the wall-clock times of the first push and the last answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field

from bench import pushes
from bench.stats import percentile
from bench.wire import Endpoint, Pool, WireError

POOL_LIMIT = 512


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    first_sent: float = 0.0  # wall clock
    last_answer: float = 0.0
    send_lag: float = 0.0  # how late the open loop sent its latest push, at worst

    def summary(self, sent: int, seconds: float) -> dict[str, object]:
        ok = sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        answered = sum(self.statuses.values())
        return {
            "sent": sent,
            "ok": ok,
            "non_2xx": answered - ok,
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "failed": sum(self.failures.values()),
            "failures": dict(self.failures),
            "p50_ms": percentile(self.latencies, 0.50) * 1000,
            "p95_ms": percentile(self.latencies, 0.95) * 1000,
            "p99_ms": percentile(self.latencies, 0.99) * 1000,
            "max_ms": max(self.latencies, default=float("nan")) * 1000,
            "rate": ok / seconds if seconds > 0 else 0.0,
            "send_lag_ms": self.send_lag * 1000,
            "started_at": self.first_sent,
            "ended_at": self.last_answer,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Stream:
    """The pushes to send: which run, spread over which repositories."""

    run: str
    prefix: str
    repositories: int

    def body(self, i: int) -> bytes:
        return pushes.numbered_push(
            run=self.run, index=i, prefix=self.prefix, repositories=self.repositories
        )


class Generator:
    """Posts the pushes of ``stream`` through ``pool``; each may take ``limit`` seconds."""

    def __init__(self, pool: Pool, stream: Stream, *, limit: float) -> None:
        self.pool = pool
        self.stream = stream
        self.limit = limit
        self.tally = Tally()

    async def post(self, i: int, due: float) -> None:
        body = self.stream.body(i)
        head = self.pool.endpoint.head(pushes.headers(), len(body))
        try:
            async with asyncio.timeout(self.limit):
                answer = await self.pool.post(head, body)
        except (WireError, TimeoutError) as exc:
            self.tally.failures[type(exc).__name__] += 1
            return
        self.tally.latencies.append(time.perf_counter() - due)
        self.tally.statuses[answer.status] += 1
        self.tally.last_answer = max(self.tally.last_answer, time.time())

    async def open_loop(self, *, rate: float, duration: float) -> tuple[int, float]:
        """Push i is due at start + i / rate; pushes sent, seconds until the last answer."""
        tasks = []
        total = round(rate * duration)
        start = time.perf_counter()
        self.tally.first_sent = time.time()
        for i in range(total):
            due = start + i / rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            self.tally.send_lag = max(self.tally.send_lag, time.perf_counter() - due)
            tasks.append(asyncio.create_task(self.post(i, due)))
        await asyncio.gather(*tasks)
        return total, time.perf_counter() - start

    async def closed_loop(self, *, count: int, concurrency: int) -> tuple[int, float]:
        """``concurrency`` clients post ``count`` pushes in all, each after the last answer."""
        numbers = iter(range(count))

        async def client() -> None:
            for i in numbers:
                await self.post(i, time.perf_counter())

        start = time.perf_counter()
        self.tally.first_sent = time.time()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return count, time.perf_counter() - start


async def generate(args: argparse.Namespace) -> dict[str, object]:
    pool = Pool(Endpoint.parse(args.url), limit=POOL_LIMIT)
    stream = Stream(run=args.run, prefix=args.prefix, repositories=args.repositories)
    generator = Generator(pool, stream, limit=args.timeout)
    try:
        if args.rate:
            sent, seconds = await generator.open_loop(rate=args.rate, duration=args.duration)
        else:
            sent, seconds = await generator.closed_loop(
                count=args.count, concurrency=args.concurrency
            )
    finally:
        pool.close()
    return {**generator.tally.summary(sent, seconds), "connections": pool.opened}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="http://HOST:PORT/webhooks/SOURCE")
    parser.add_argument("--run", required=True, help="run id: 8 hex digits")
    parser.add_argument("--prefix", default="team/app", help="repository name prefix")
    parser.add_argument("--repositories", type=int, default=50)
    parser.add_argument("--rate", type=float, help="open loop: pushes per second")
    parser.add_argument("--duration", type=float, default=10.0, help="open loop: seconds")
    parser.add_argument("--count", type=int, default=1000, help="closed loop: pushes")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loop: clients")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per push")
    return parser


def main() -> None:
    args = _parser().parse_args()
    print(json.dumps(asyncio.run(generate(args))), flush=True)


if __name__ == "__main__":
    main()
