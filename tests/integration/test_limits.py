"""What a hostile body costs, against a real PostgreSQL: every notification, however large and
however many records it holds, is stored within the budget of ``limits:`` and ``retention:``,
and every list answers within its own bound."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from receiver.app import init_app
from receiver.background.pruner import Pruner
from receiver.bounds import EXCERPT_CHARS
from receiver.config.limits import Kept
from receiver.reloading import services_of
from tests.support.api import ClientFactory
from tests.support.clock import ManualClock
from tests.support.console_forms import sign_in
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.history import rows
from tests.support.postgres import admin_sql
from tests.support.settings import HARBOR_TOKEN, REGISTRY_TOKEN, api_headers, make_config

Client = TestClient[Any, Any]
PUSH = FIXTURES / "distribution" / "03-push-oci-manifest-push-manifest.json"
HARBOR_PUSH = FIXTURES / "harbor" / "harbor_docs_default_artifact_pushed.json"
LIMITS = {
    "records_per_notification": 50,
    "field_bytes": 256,
    "reason_bytes": 1024,
    "rejected_body_bytes": 512,
}


async def started(aiohttp_client: ClientFactory, db_uri: str, **sections: Any) -> Client:
    config = make_config(db_uri, limits=LIMITS, **sections)
    return await aiohttp_client(init_app(config))


def record(event_id: str, **target: str) -> dict[str, Any]:
    _, raw = load_recorded(PUSH)
    good: dict[str, Any] = json.loads(raw)["events"][0]
    return {**good, "id": event_id, "target": {**good["target"], **target}}


async def post(client: Client, body: bytes, *, source: str = "registry") -> dict[str, int]:
    token = REGISTRY_TOKEN if source == "registry" else HARBOR_TOKEN
    response = await client.post(
        f"/webhooks/{source}",
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status == 202, await response.text()
    answer: dict[str, int] = await response.json()
    return answer


async def get(client: Client, path: str) -> Any:
    response = await client.get(path, headers=api_headers())
    assert response.status == 200, await response.text()
    return await response.json()


async def test_more_records_than_a_notification_may_hold_are_rejected_whole(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri)
    body = json.dumps({"events": [1] * 200_000}).encode()  # 600 KB, 200,000 records

    assert await post(client, body) == {"accepted": 0, "duplicate": 0, "ignored": 0, "rejected": 1}

    [listed] = (await get(client, "/api/v1/rejections"))["rejections"]
    assert listed["reason"] == (
        "200000 records, more than the 50 one notification may hold "
        "(limits.records_per_notification)"
    )
    assert (listed["size"], listed["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    whole = await get(client, f"/api/v1/rejections/{listed['id']}")
    assert whole["prefix"].encode() == body[: LIMITS["rejected_body_bytes"]]
    [(kept,)] = rows(db_uri, "SELECT octet_length(body) FROM rejected_payloads")
    assert kept == LIMITS["rejected_body_bytes"]


async def test_a_reason_names_the_first_problems_and_counts_the_rest_within_its_cap(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri)
    body = json.dumps({"events": [record(f"bad-{i}", repository="Bad/Name") for i in range(45)]})

    assert (await post(client, body.encode()))["rejected"] == 1

    [(reason,)] = rows(db_uri, "SELECT reason FROM rejected_payloads")
    assert reason.count("invalid repository name") <= 20
    assert "and 25 more" in reason or reason.endswith("…")
    assert len(reason.encode()) <= LIMITS["reason_bytes"]
    [listed] = (await get(client, "/api/v1/rejections"))["rejections"]
    assert len(listed["reason"]) <= EXCERPT_CHARS
    detail = await get(client, f"/api/v1/rejections/{listed['id']}")
    assert detail["reason"] == reason


async def test_fields_over_their_cap_are_cut_or_refused(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri)
    _, raw = load_recorded(HARBOR_PUSH)
    document = json.loads(raw)
    document["operator"] = "o" * 200_000
    resource = document["event_data"]["resources"][0]
    document["event_data"]["resources"] = [
        {**resource, "tag": f"1.0.{i}", "digest": "sha256:" + f"{i:064x}"} for i in range(40)
    ]
    long_id = record("i" * 1000, tag="1.0.0")

    harbor = await post(client, json.dumps(document).encode(), source="harbor")
    distribution = await post(client, json.dumps({"events": [long_id]}).encode())

    assert (harbor["accepted"], distribution["rejected"]) == (40, 1)
    [(longest_actor, total)] = rows(
        db_uri, "SELECT max(octet_length(actor)), sum(pg_column_size(events.*)) FROM events"
    )
    assert longest_actor <= LIMITS["field_bytes"]
    assert total < 40 * 4 * LIMITS["field_bytes"]  # not 40 times the 200 KB operator
    [(reason,)] = rows(db_uri, "SELECT reason FROM rejected_payloads")
    assert "an id longer than 256 bytes" in reason


async def test_each_source_keeps_its_newest_rejections_and_none_past_their_days(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    retention = {"rejected_payloads": {"keep": 3, "days": 1}}
    client = await started(aiohttp_client, db_uri, retention=retention)
    for n in range(8):
        await post(client, f"not json {n}".encode())
    await post(client, b"not json either", source="harbor")

    listed = (await get(client, "/api/v1/rejections?limit=100"))["rejections"]
    assert [r["source"] for r in listed] == ["harbor", "registry", "registry", "registry"]
    admin_sql(db_uri, "UPDATE rejected_payloads SET received_at = now() - interval '2 days'")
    store = services_of(client.app).store
    pruner = Pruner(
        events=store.events,
        leases=store.leases,
        kept=Kept(keep=3, days=1),
        holder="test",
        clock=ManualClock(at=datetime.now(UTC)),
    )
    assert await pruner.prune_once() == 4
    assert (await get(client, "/api/v1/rejections"))["rejections"] == []


async def test_lists_are_pages_of_a_bounded_size(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri)
    for n in range(5):
        await post(client, json.dumps({"events": [record(f"e{n}", tag=f"1.0.{n}")]}).encode())
        await post(client, f"junk {n}".encode())

    first = (await get(client, "/api/v1/events?limit=2"))["events"]
    second = (await get(client, f"/api/v1/events?limit=2&before={first[-1]['id']}"))["events"]
    assert [e["event_id"] for e in first + second] == ["e4", "e3", "e2", "e1"]
    rejections = (await get(client, "/api/v1/rejections?limit=3"))["rejections"]
    older = await get(client, f"/api/v1/rejections?limit=3&before={rejections[-1]['id']}")
    assert len(rejections) + len(older["rejections"]) == 5
    page = (await get(client, "/api/v1/catalog?limit=1"))["repositories"]
    assert len(page) == 1
    after = f"{page[0]['registry']}/{page[0]['repository']}"
    assert (await get(client, f"/api/v1/catalog?limit=1&after={after}"))["repositories"] == []
    bad = await client.get("/api/v1/events?before=x", headers=api_headers())
    assert (bad.status, (await bad.json())["field"]) == (400, "before")


async def test_a_console_page_stays_small_whatever_was_posted(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    """Ten bodies of a hundred bad records each: the events page shows excerpts, not reasons
    of a hundred problems each."""
    client = await started(aiohttp_client, db_uri)
    bad = [record(f"bad-{i}-" + "x" * 200, repository="Bad/Name") for i in range(45)]
    for n in range(10):
        await post(client, json.dumps({"events": bad, "n": n}).encode())
    await sign_in(client)

    page = await client.get("/events")
    text = await page.text()
    assert page.status == 200
    assert len(text) < 120_000
    older = await client.get("/rejections")
    assert older.status == 200 and len(await older.text()) < 120_000


async def test_an_old_rejection_is_shown_from_before_the_cap(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    """Rows stored before the size and digest were kept (schema 7) still list."""
    client = await started(aiohttp_client, db_uri)
    admin_sql(
        db_uri,
        "INSERT INTO rejected_payloads (source, reason, content_type, body, received_at) "
        f"VALUES ('registry', 'old', NULL, 'abc', now() - interval '{timedelta(hours=1)}')",
    )
    [listed] = (await get(client, "/api/v1/rejections"))["rejections"]
    assert (listed["size"], listed["sha256"]) == (3, hashlib.sha256(b"abc").hexdigest())
