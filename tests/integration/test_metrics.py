"""``GET /metrics`` on the app over a real PostgreSQL: open (or behind ``metrics.token``), the
answers it counts, and the backlog read from the database at each scrape."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from receiver.app import init_app
from tests.support.api import ClientFactory
from tests.support.metrics import count, scrape, value
from tests.support.pushes import push, push_body
from tests.support.settings import (
    READ_TOKEN,
    REGISTRY_TOKEN,
    api_headers,
    make_config,
)

Client = TestClient[Any, Any]
METRICS_TOKEN = "metrics-secret-token-42"


async def test_metrics_are_open_and_show_the_backlog_of_the_database(client: Client) -> None:
    await push(client, "1.1.0", 2)  # the worker is off: the event stays pending
    s = await scrape(client)
    assert value(s, "regdeploy_database_up") == 1
    assert value(s, "regdeploy_pending_events") == 1
    age = value(s, "regdeploy_oldest_pending_event_age_seconds")
    assert age is not None and 0 <= age < 60
    for gauge in ("planned_deploys", "running_deploys", "outbox_depth", "failed_notices"):
        assert value(s, f"regdeploy_{gauge}") == 0


async def test_webhooks_count_by_source_status_and_event_outcome(client: Client) -> None:
    registry = {"Authorization": f"Bearer {REGISTRY_TOKEN}"}
    body = push_body("1.1.0", 2)
    for headers, path in [
        (registry, "/webhooks/registry"),
        (registry, "/webhooks/registry"),  # the same event again: a duplicate
        ({"Authorization": "Bearer wrong"}, "/webhooks/registry"),
        (registry, "/webhooks/nobody"),
    ]:
        await client.post(path, data=body, headers=headers)
    await client.post("/webhooks/registry", data=b"not json", headers=registry)

    s = await scrape(client)
    assert count(s, "regdeploy_webhooks_total", source="registry", status="202") == 3
    assert count(s, "regdeploy_webhooks_total", source="registry", status="401") == 1
    assert count(s, "regdeploy_webhooks_total", source="_unknown", status="404") == 1
    assert count(s, "regdeploy_events_total", source="registry", outcome="accepted") == 1
    assert count(s, "regdeploy_events_total", source="registry", outcome="duplicate") == 1
    assert count(s, "regdeploy_events_total", source="registry", outcome="rejected") == 1
    assert count(s, "regdeploy_auth_failures_total", surface="webhook", status="401") == 1


async def test_api_refusals_count_as_auth_failures(client: Client) -> None:
    await client.get("/api/v1/events")
    await client.post("/tags/team/app", json={}, headers=api_headers(READ_TOKEN))
    s = await scrape(client)
    assert count(s, "regdeploy_auth_failures_total", surface="api", status="401") == 1
    assert count(s, "regdeploy_auth_failures_total", surface="api", status="403") == 1


async def test_a_metrics_token_protects_the_metrics(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    config = make_config(db_uri, metrics={"token": METRICS_TOKEN})
    client = await aiohttp_client(init_app(config))
    for headers in ({}, api_headers(), {"Authorization": METRICS_TOKEN}):
        response = await client.get("/metrics", headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    s = await scrape(client, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert count(s, "regdeploy_auth_failures_total", surface="metrics", status="401") == 3
