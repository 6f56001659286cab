"""What every benchmark shares: its options, its work directory and PostgreSQL, a fresh
regdeploy on a fresh database, single pushes with their ack time, and figures over rounds."""

from __future__ import annotations

import http.client
import shutil
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
    postgres = Postgres(workdir / "pgdata")
    try:
        yield Options(rounds=rounds, quick=quick, workdir=workdir, postgres=postgres)
    finally:
        postgres.stop()
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


def post_push(url: str, body: bytes) -> tuple[int, float]:
    """Post one notification; its status, and when its answer had arrived (``time.time()``)."""
    endpoint = url.removeprefix("http://")
    host, _, rest = endpoint.partition("/")
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        connection.request("POST", "/" + rest, body=body, headers=pushes.headers())
        response = connection.getresponse()
        response.read()
        return response.status, time.time()
    finally:
        connection.close()


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


def run_rounds(options: Options, one: RoundRunner) -> tuple[Rounds, list[Count]]:
    """``one(options, index, rounds, counts)`` for each round, numbered from 1."""
    rounds, counts = Rounds(), list[Count]()
    for index in range(1, options.rounds + 1):
        one(options, index, rounds, counts)
    return rounds, counts
