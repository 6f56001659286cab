"""The outbox against a real PostgreSQL: routing by level, grouping, retries, failures."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deployers.base import Target
from handlers.events import Action, Event
from handlers.references import parse_reference
from notifiers.base import Level, Notice
from receiver.app import init_app
from receiver.background.outbox import Outbox
from receiver.clock import SystemClock
from receiver.config.notifiers import NotifierConfig, OutboxConfig
from receiver.decide.announcer import Announcer
from receiver.errors import NoticeFailed
from receiver.secret import Secret
from receiver.store import Store
from receiver.store.records import DeploymentStatus, Plan
from tests.support.api import ClientFactory
from tests.support.decisions import record_plans
from tests.support.settings import api_headers, make_config


@dataclass
class ScriptedNotifier:
    name: str
    failures: list[NoticeFailed] = field(default_factory=list)
    sent: list[list[Notice]] = field(default_factory=list)

    async def send(self, notices: Sequence[Notice]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(list(notices))


CONFIGS = (
    NotifierConfig(name="everything", type="slack", url=Secret("u" * 20), started=True),
    NotifierConfig(name="trouble", type="teams", url=Secret("v" * 20), level=Level.FAILURES),
)
FAST = OutboxConfig(group_seconds=0, retry_base_seconds=0, retry_max_seconds=0, max_attempts=3)


async def pushed(store: Store) -> int:
    """Store one push event; its id."""
    event = Event(
        source="registry",
        event_id=str(uuid.uuid4()),
        action=Action.PUSH,
        registry="r.test",
        repository="team/app",
        tag="1.1.0",
        digest=f"sha256:{'2' * 64}",
        media_type=None,
        actor=None,
        occurred_at=datetime.now(UTC),
    )
    await store.events.record_notification(events=[event])
    return (await store.events.list_events(limit=1))[0].id


async def finished(store: Store, status: DeploymentStatus, *, targets: int = 1) -> list[int]:
    """Plan deploys of one push to ``targets`` targets and finish them with ``status``."""
    announcer = Announcer(CONFIGS)
    event_id = await pushed(store)
    plans = [
        Plan(
            target=Target(kind="recording", name=f"web{i}"),
            repository_name="team/app",
            image=parse_reference(f"r.test/team/app:1.1.0@sha256:{'2' * 64}"),
            deploy=True,
            reason="1.1.0 is newer than running 1.0.0",
            trigger="push",
            previous_image=f"r.test/team/app:1.0.0@sha256:{'1' * 64}",
            notify=("everything", "trouble", "unknown"),
            event_id=event_id,
        )
        for i in range(targets)
    ]
    ids = await record_plans(store, plans)
    for _ in ids:
        deployment = await store.deployments.claim_deployment(worker="w", now=datetime.now(UTC))
        assert deployment is not None
        await store.notices.enqueue_notices(announcer.started(deployment))
        await store.deployments.finish_deployment(
            deployment,
            worker="w",
            status=status,
            message="said the engine",
            announce=functools.partial(announcer.outcome, deployment, finished=datetime.now(UTC)),
        )
    return ids


def outbox(store: Store, *notifiers: ScriptedNotifier) -> Outbox:
    return Outbox(
        notices=store.notices,
        notifiers={n.name: n for n in notifiers},
        config=FAST,
        listen=lambda: store.listener("notices"),
        clock=SystemClock(),
        reason_bytes=2048,
    )


async def test_levels_route_outcomes_and_started_notices(store: Store) -> None:
    everything, trouble = ScriptedNotifier("everything"), ScriptedNotifier("trouble")
    await finished(store, DeploymentStatus.SUCCEEDED)
    await outbox(store, everything, trouble).send_due()
    kinds = sorted(n.kind.value for batch in everything.sent for n in batch)
    assert kinds == ["outcome", "started"]
    assert trouble.sent == []

    await finished(store, DeploymentStatus.ROLLED_BACK)
    await outbox(store, everything, trouble).send_due()
    [[notice]] = trouble.sent
    assert (notice.outcome, notice.message, notice.from_tag) == (
        "rolled_back",
        "said the engine",
        "1.0.0",
    )


async def test_the_deploys_of_one_push_share_one_message(store: Store) -> None:
    everything = ScriptedNotifier("everything")
    await finished(store, DeploymentStatus.SUCCEEDED, targets=3)
    await outbox(store, everything, ScriptedNotifier("trouble")).send_due()
    outcomes_per_message = [
        len([n for n in batch if n.kind.value == "outcome"]) for batch in everything.sent
    ]
    assert outcomes_per_message == [3]


async def test_retries_then_records_the_failure_with_its_error(store: Store) -> None:
    flaky = ScriptedNotifier(
        "trouble",
        failures=[
            NoticeFailed("Teams notifier 'trouble': 503"),
            NoticeFailed("Teams notifier 'trouble': 429", retry_after=0),
        ],
    )
    await finished(store, DeploymentStatus.FAILED)
    box = outbox(store, flaky, ScriptedNotifier("everything"))
    for _ in range(3):
        await box.send_due()
    assert len(flaky.sent) == 1
    sent = await store.notices.list_notices(limit=10, status="sent")
    assert {n.notifier: n.attempts for n in sent}["trouble"] == 3

    refused = ScriptedNotifier("trouble", failures=[NoticeFailed("400 bad card", permanent=True)])
    await finished(store, DeploymentStatus.FAILED)
    await outbox(store, refused, ScriptedNotifier("everything")).send_due()
    [failed] = await store.notices.list_notices(limit=10, status="failed")
    assert (failed.notifier, failed.last_error) == ("trouble", "400 bad card")


async def test_the_api_lists_notices_and_masks_notifier_urls(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    url = "https://hooks.slack.example/services/T000/B000/SECRETTOKEN0123"
    config = make_config(db_uri, notifiers=[{"name": "chat", "type": "slack", "url": url}])
    client = await aiohttp_client(init_app(config))

    listed = await client.get("/api/v1/notices", params={"status": "failed"}, headers=api_headers())
    wrong = await client.get("/api/v1/notices", params={"status": "lost"}, headers=api_headers())
    notifiers = await client.get("/api/v1/notifiers", headers=api_headers())

    assert (listed.status, await listed.json()) == (200, {"notices": []})
    assert wrong.status == 400
    [shown] = (await notifiers.json())["notifiers"]
    assert shown == {
        "name": "chat",
        "type": "slack",
        "level": "all",
        "started": False,
        "url": "***23",
    }
    assert "SECRETTOKEN" not in await notifiers.text()
