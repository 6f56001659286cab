"""What every benchmark shares: its options, its work directory and PostgreSQL, a fresh
regdeploy on a fresh database, single pushes with their ack time, and figures over rounds."""

from __future__ import annotations

import http.client
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import pushes
from bench.database import EVENTS, PENDING, Postgres, Sql
from bench.processes import Process, start_regdeploy
from bench.report import Count, Figure
from bench.stats import Spread

LATE_NOTE = (
    "generator late by: how late the open-loop generator started a push, at worst. More than "
    "a few ms means the machine did not give the generator the CPU to hold its rate: the "
    "other figures of that load were then taken at a lower rate than the one named."
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    rounds: int
    quick: bool
    workdir: Path
    postgres: Postgres

    def pick(self, full: float, quick: float) -> float:
        """``full`` normally, ``quick`` in the quick (smoke-test) mode."""
        return quick if self.quick else full


@contextmanager
def session(name: str, *, rounds: int, quick: bool, keep: bool = False) -> Iterator[Options]:
    """A temporary directory with an embedded PostgreSQL, for one benchmark."""
    workdir = Path(tempfile.mkdtemp(prefix=f"rd-bench-{name}-", dir="/tmp"))
    try:
        postgres = Postgres(workdir / "pgdata")
        try:
            yield Options(rounds=rounds, quick=quick, workdir=workdir, postgres=postgres)
        finally:
            postgres.stop()
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def regdeploy(options: Options, config_for: Any, *, name: str) -> Iterator[tuple[Process, Sql]]:
    """``regdeploy serve`` on a fresh database, with a connection to count its rows.

    ``config_for(db_uri)`` gives the configuration.
    """
    uri = options.postgres.database(name.replace("-", "_"))
    process = start_regdeploy(options.workdir, config_for(uri), name=name)
    try:
        with Sql(uri) as sql:
            yield process, sql
    finally:
        process.stop()


def settle(sql: Sql, *, limit: float) -> float | None:
    """Wait until no event is pending; when that was (wall clock), None if not in ``limit``."""
    return sql.wait_until_none(PENDING, limit=limit)


def count(sql: Sql, run: str, answered: int) -> Count:
    return Count(run=run, stored=sql.count(EVENTS), answered=answered)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """How a push went: its last status, when that answer arrived (``time.time()``), and how
    many times it was posted."""

    status: int
    acked: float
    attempts: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def post_push(url: str, body: bytes) -> tuple[int, float]:
    """Post one notification; its status (0 if the connection failed), and when its answer had
    arrived (``time.time()``)."""
    endpoint = url.removeprefix("http://")
    host, _, rest = endpoint.partition("/")
    connection = http.client.HTTPConnection(host, timeout=60)
    try:
        connection.request("POST", "/" + rest, body=body, headers=pushes.headers())
        response = connection.getresponse()
        response.read()
        return response.status, time.time()
    except OSError:
        return 0, time.time()
    finally:
        connection.close()


def deliver(url: str, body: bytes, *, attempts: int = 30, pause: float = 0.5) -> Delivery:
    """Post a notification as a registry does: again after a pause while it is not answered
    2xx, up to ``attempts`` times."""
    for attempt in range(1, attempts + 1):
        status, acked = post_push(url, body)
        if 200 <= status < 300 or attempt == attempts:
            break
        time.sleep(pause)
    return Delivery(status=status, acked=acked, attempts=attempt)


@dataclass
class Rounds:
    """The figures of each round, by key."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, **figures: float) -> None:
        for key, value in figures.items():
            self.values.setdefault(key, []).append(value)

    def spread(self, key: str) -> Spread:
        return Spread.of(self.values.get(key, []))

    def figure(self, name: str, unit: str, key: str, reference: str | None = None) -> Figure:
        return Figure(
            name=name,
            unit=unit,
            measured=self.spread(key),
            reference=self.spread(reference) if reference else None,
        )


RoundRunner = Callable[[Options, int, Rounds, list[Count]], None]


def run_rounds(options: Options, name: str, one: RoundRunner) -> tuple[Rounds, list[Count]]:
    """``one(options, index, rounds, counts)`` for each round, numbered from 1."""
    rounds, counts = Rounds(), list[Count]()
    for index in range(1, options.rounds + 1):
        progress(f"{name}: round {index} of {options.rounds}")
        one(options, index, rounds, counts)
    return rounds, counts


def progress(message: str) -> None:
    """A line on standard error, so that a long run shows where it is (the tables go to
    standard output)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
