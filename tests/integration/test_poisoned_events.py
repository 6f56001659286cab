"""An event whose decision can never succeed is failed with its reason, and holds nothing back:
pushes to other repositories sent after it are all decided."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from deployers.base import Target
from handlers.events import Action, Event
from receiver.reloading import services_of
from tests.support.app import StartApp
from tests.support.polling import until
from tests.support.postgres import admin_sql
from tests.support.pushes import REGISTRY, digest, push
from tests.support.recording import RecordingDeployer
from tests.support.settings import api_headers

Client = TestClient[Any, Any]
OTHERS = 100


def stored_push(repository: str, tag: str) -> Event:
    """A push as an older regdeploy (or a hand-written row) might have stored it."""
    return Event(
        source="registry",
        event_id=f"stored-{repository}",
        action=Action.PUSH,
        registry=REGISTRY,
        repository=repository,
        tag=tag,
        digest=digest(1),
        media_type=None,
        actor=None,
        occurred_at=datetime.now(UTC),
    )


async def events(client: Client) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/events?limit=1000", headers=api_headers())
    found: list[dict[str, Any]] = (await response.json())["events"]
    return found


@pytest.fixture
async def started(start_app: StartApp, db_uri: str) -> Client:
    repositories = [
        {
            "name": f"team/other-{i}",
            "image": f"{REGISTRY}/team/other-{i}",
            "targets": [{"kind": "recording", "name": f"other-{i}"}],
        }
        for i in range(OTHERS)
    ]
    for poisoned in ("team/app", "team/crash"):
        repositories.append(
            {
                "name": poisoned,
                "image": f"{REGISTRY}/{poisoned}",
                "targets": [{"kind": "recording", "name": poisoned.replace("/", "-")}],
            }
        )
    deployer = RecordingDeployer()
    deployer.run(Target(kind="recording", name="team-crash"), f"{REGISTRY}/team/crash:0.9.0")
    client, _ = await start_app(
        repositories=repositories,
        deployer=deployer,
        worker={"poll_interval_seconds": 0.2, "retry_base_seconds": 0.2, "retry_max_seconds": 1},
    )
    # A repository whose stored policy no regdeploy can read (written by hand, say): deciding
    # its events fails every time, for a reason that does not go away.
    admin_sql(db_uri, "UPDATE repositories SET policy = 'newest' WHERE name = 'team/crash'")
    return client


async def test_poisoned_events_fail_with_their_reason_and_hold_nothing_back(
    started: Client,
) -> None:
    store = services_of(started.app).store
    poison = "1.0." + "7" * 5000
    await store.events.record_notification(events=[stored_push("team/app", poison)])
    await store.events.record_notification(events=[stored_push("team/crash", "1.0.0")])
    sent = time.monotonic()
    for i in range(OTHERS):
        await push(started, "1.0.0", 100 + i, f"team/other-{i}")

    async def pending() -> list[dict[str, Any]]:
        return [e for e in await events(started) if e["status"] == "pending"]

    async def none_pending() -> bool:
        return not await pending()

    async def still_pending() -> str:
        return f"pending: {await pending()}"

    await until("every event decided", none_pending, seconds=60, explain=still_pending)
    print(f"{OTHERS} pushes after two poisoned events decided in {time.monotonic() - sent:.1f} s")

    by_repository = {e["repository"]: e for e in await events(started)}
    invalid = by_repository["team/app"]
    assert (invalid["status"], invalid["attempts"]) == ("failed", 0)
    assert invalid["reason"].startswith("invalid tag '1.0.777")
    crash = by_repository["team/crash"]
    assert (crash["status"], crash["attempts"]) == ("failed", 3)
    assert crash["reason"].startswith("PolicyError: unknown policy 'newest'")
    others = [by_repository[f"team/other-{i}"] for i in range(OTHERS)]
    assert {e["status"] for e in others} == {"done"}
    failed = await started.get("/api/v1/events?status=failed", headers=api_headers())
    assert {e["repository"] for e in (await failed.json())["events"]} == {"team/app", "team/crash"}
