"""What happened, read from where it was recorded rather than from regdeploy's own view: the
events and leases tables (straight SQL), and the Nomad fake's log of registers and deployments.

The database functions block (psycopg2): call them from async tests with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import psycopg2

from tests.support.nomad_fake import FakeNomad, Registration, task_images

ENDED = frozenset({"successful", "failed", "cancelled"})


@dataclass(frozen=True, slots=True, kw_only=True)
class EventRow:
    source: str
    event_id: str
    repository: str
    tag: str | None
    digest: str | None
    status: str
    received_at: datetime
    recorded_by: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseRow:
    holder: str
    expires_at: datetime
    now: datetime  # the database's clock when it was read

    @property
    def pid(self) -> int:
        return worker_pid(self.holder)

    @property
    def expired(self) -> bool:
        return self.expires_at <= self.now


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """A register the fake answered with a new job version, and its deployment's span."""

    version: int
    images: dict[str, str]
    at: int  # ns, when the register came
    deployment_status: str | None
    deployment_ended: int | None  # ns, when its deployment ended


@contextmanager
def _cursor(db_uri: str) -> Iterator[Any]:
    conn = psycopg2.connect(db_uri)
    try:
        with conn, conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


def rows(db_uri: str, sql: str) -> list[tuple[Any, ...]]:
    """What ``sql`` selects, as the database holds it (for a figure the helpers here lack)."""
    with _cursor(db_uri) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def events(db_uri: str) -> list[EventRow]:
    """Every stored event, in the order stored."""
    with _cursor(db_uri) as cur:
        cur.execute(
            "SELECT source, event_id, repository, tag, digest, status, received_at, recorded_by"
            " FROM events ORDER BY id"
        )
        names = [column.name for column in cur.description]
        return [EventRow(**dict(zip(names, row, strict=True))) for row in cur.fetchall()]


def lease(db_uri: str, name: str = "reconciler") -> LeaseRow | None:
    with _cursor(db_uri) as cur:
        cur.execute(
            "SELECT holder, expires_at, clock_timestamp() FROM leases WHERE name = %s", (name,)
        )
        row = cur.fetchone()
    return None if row is None else LeaseRow(holder=row[0], expires_at=row[1], now=row[2])


def unsettled(db_uri: str) -> int:
    """Events still to decide and deployments planned or running: work not yet done."""
    with _cursor(db_uri) as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM events WHERE status IN ('pending', 'processing'))"
            " + (SELECT count(*) FROM deployments WHERE status IN ('planned', 'running'))"
        )
        row = cur.fetchone()
    return int(row[0])


def work_left(db_uri: str) -> list[tuple[str, str, str]]:
    """What is still to do: (table, row id, what) of pending events and of planned or running
    deployments."""
    with _cursor(db_uri) as cur:
        cur.execute(
            "SELECT 'events', id::text, concat_ws(' ', status, repository, tag, reason)"
            " FROM events WHERE status IN ('pending', 'processing')"
            " UNION ALL SELECT 'deployments', id::text, concat_ws(' ', status, target_key, tag,"
            " claimed_by, heartbeat_at, not_before, message)"
            " FROM deployments WHERE status IN ('planned', 'running') ORDER BY 1, 2"
        )
        return [(str(a), str(b), str(c)) for a, b, c in cur.fetchall()]


def deploying(db_uri: str) -> list[str]:
    """The worker ids of the processes running a deploy now."""
    with _cursor(db_uri) as cur:
        cur.execute("SELECT claimed_by FROM deployments WHERE status = 'running' ORDER BY id")
        return [str(row[0]) for row in cur.fetchall()]


def worker_pid(worker_id: str) -> int:
    """The process id in a worker id (``host:pid:random``): a lease holder, a deploy's claim."""
    return int(worker_id.rsplit(":", 2)[1])


def changes(fake: FakeNomad, job_id: str) -> list[Change]:
    """The registers of ``job_id`` that made a new version, oldest first, each with the span
    of the deployment of that version."""
    deployments = {d["JobVersion"]: d for d in fake.deployments(job_id)}
    versions = {v["Version"]: v for v in fake.versions(job_id)}
    made: list[Change] = []
    seen = {min(versions)} if versions else set()
    for registration in fake.registrations:
        version = registration.version
        if registration.job_id != job_id or version is None or version in seen:
            continue
        seen.add(version)
        deployment = deployments.get(version) or {}
        status = deployment.get("Status")
        made.append(
            Change(
                version=version,
                images=task_images(versions[version]),
                at=registration.at,
                deployment_status=status,
                deployment_ended=deployment.get("ModifyTime") if status in ENDED else None,
            )
        )
    return made


def overlaps(made: list[Change]) -> list[tuple[Change, Change]]:
    """Pairs of changes of one job where the later came before the earlier's rollout ended:
    two changes in flight at once."""
    return [
        (earlier, later)
        for earlier, later in pairwise(made)
        if earlier.deployment_ended is None or later.at < earlier.deployment_ended
    ]


def registers(fake: FakeNomad, job_id: str, digest: str) -> list[Registration]:
    """The registers of ``job_id`` the fake accepted (200) that put ``digest`` on one of its
    tasks, oldest first: how many times regdeploy wrote that image to the job, and when."""
    return [
        r
        for r in fake.registrations
        if r.job_id == job_id
        and r.status == 200
        and any(image.endswith(f"@{digest}") for image in task_images(r.body["Job"]).values())
    ]
