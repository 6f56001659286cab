"""Group commit: notifications that arrive while writes are in flight go together in the next
write, at most ``writers`` writes run at once, and each request learns its own outcome only once
the write that holds it is done."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from handlers.events import Action, Event
from receiver.errors import StoreError
from receiver.store.ingest import GroupCommit, Notification, WriteOutcome
from receiver.store.records import IngestResult


def notification(n: int) -> Notification:
    event = Event(
        source="registry",
        event_id=f"e{n}",
        action=Action.PUSH,
        registry="registry.test:5000",
        repository="team/app",
        tag=f"1.0.{n}",
        digest=f"sha256:{n:064x}",
        media_type=None,
        actor=None,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    return Notification(events=[event])


class Writes:
    """A store whose writes each wait until the test lets them end."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.release = asyncio.Event()

    async def write(self, group: list[Notification]) -> list[WriteOutcome]:
        self.groups.append([n.events[0].event_id for n in group])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await self.release.wait()
        self.in_flight -= 1
        return [IngestResult(accepted=1) for _ in group]


async def test_a_lone_notification_is_written_at_once() -> None:
    writes = Writes()
    writes.release.set()
    group = GroupCommit(writes.write, writers=2)

    assert await group.submit(notification(1)) == IngestResult(accepted=1)
    assert writes.groups == [["e1"]]


async def turns() -> None:
    """Let every task that can run, run."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_what_arrives_while_writes_are_in_flight_goes_in_one_write() -> None:
    writes = Writes()
    group = GroupCommit(writes.write, writers=2)
    submitted = [asyncio.create_task(group.submit(notification(1)))]
    await turns()
    submitted.append(asyncio.create_task(group.submit(notification(2))))
    await turns()
    submitted += [asyncio.create_task(group.submit(notification(n))) for n in range(3, 13)]
    await turns()

    assert writes.groups == [["e1"], ["e2"]]  # two in flight, the rest waits for one of them
    assert not any(task.done() for task in submitted)  # nothing answered before its write
    writes.release.set()
    results = await asyncio.gather(*submitted)

    assert results == [IngestResult(accepted=1)] * 12
    assert writes.groups == [["e1"], ["e2"], [f"e{n}" for n in range(3, 13)]]
    assert writes.most_in_flight == 2


async def test_a_failed_write_fails_only_the_requests_it_held() -> None:
    calls = 0

    async def write(group: list[Notification]) -> list[WriteOutcome]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StoreError("database error XX000: InternalError")
        return [IngestResult(accepted=1) for _ in group]

    group = GroupCommit(write, writers=1)
    with pytest.raises(StoreError):
        await group.submit(notification(1))
    assert await group.submit(notification(2)) == IngestResult(accepted=1)
