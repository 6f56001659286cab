"""The read API, health checks and a database outage, against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.app import init_app
from receiver.store.embedded import EmbeddedServer
from tests.support.api import ClientFactory
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.settings import READ_TOKEN, REGISTRY_TOKEN, api_headers, make_config

Client = TestClient[Any, Any]
PUSH_03 = FIXTURES / "distribution" / "03-push-oci-manifest-push-manifest.json"
PUSH_06 = FIXTURES / "distribution" / "06-push-docker-v2s2-push-manifest.json"


async def post(client: Client, path: Path) -> Any:
    headers, body = load_recorded(path)
    headers["Authorization"] = f"Bearer {REGISTRY_TOKEN}"
    return await client.post("/webhooks/registry", data=body, headers=headers)


async def test_ping_needs_no_token(client: Client) -> None:
    response = await client.get("/ping")
    assert response.status == 200
    assert await response.json() == {"message": "pong"}


async def test_healthz_reports_the_database(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "up"


@pytest.mark.parametrize("route", ["/api/v1/events", "/api/v1/catalog", "/api/v1/rejections"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": REGISTRY_TOKEN}],
    ids=["none", "wrong", "source-token"],
)
async def test_api_needs_an_api_token(client: Client, route: str, headers: dict[str, str]) -> None:
    response = await client.get(route, headers=headers)
    assert response.status == 401


async def test_read_token_may_read(client: Client) -> None:
    response = await client.get("/api/v1/events", headers=api_headers(READ_TOKEN))
    assert response.status == 200
    assert await response.json() == {"events": []}


async def test_api_sends_no_wildcard_cors_header(client: Client) -> None:
    response = await client.get(
        "/api/v1/events", headers={**api_headers(), "Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "100000", "9" * 5000, "0" * 5000])
async def test_bad_limit_is_400(client: Client, limit: str) -> None:
    response = await client.get("/api/v1/events", params={"limit": limit}, headers=api_headers())
    assert response.status == 400
    assert "limit" in (await response.json())["message"]


async def test_a_limit_with_leading_zeros_is_its_number(client: Client) -> None:
    response = await client.get("/api/v1/events?limit=0005", headers=api_headers())
    assert response.status == 200


@pytest.mark.parametrize("deployment", ["9" * 19, "9" * 5000, "1" + "0" * 5000])
async def test_a_deployment_id_of_any_number_of_digits_is_a_404(
    client: Client, deployment: str
) -> None:
    response = await client.get(f"/api/v1/deployments/{deployment}", headers=api_headers())
    assert response.status == 404


async def test_events_show_normalised_fields_and_status(client: Client) -> None:
    await post(client, PUSH_03)
    response = await client.get("/api/v1/events", headers=api_headers())
    [event] = (await response.json())["events"]
    assert event | {"id": 0, "received_at": ""} == {
        "id": 0,
        "source": "registry",
        "event_id": "6b6dd803-d134-4902-9841-c92f735b42bd",
        "action": "push",
        "registry": "127.0.0.1:5056",
        "repository": "team/app",
        "tag": "1.0.0",
        "digest": "sha256:a9e055099b6cbdea524246498e439ef863f21643ddc85572098d6ddf9c6ec28d",
        "media_type": "application/vnd.oci.image.manifest.v1+json",
        "actor": None,
        "occurred_at": "2026-11-22T13:17:58.167119+00:00",
        "received_at": "",
        "status": "pending",
        "attempts": 0,
        "reason": None,
    }


async def test_configured_registry_name_replaces_the_request_host(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await aiohttp_client(init_app(make_config(db_uri, registry="Registry.Internal:5000")))
    await post(client, PUSH_03)
    response = await client.get("/api/v1/catalog", headers=api_headers())
    [repository] = (await response.json())["repositories"]
    assert (repository["registry"], repository["repository"]) == (
        "registry.internal:5000",
        "team/app",
    )


@pytest.fixture
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmbeddedServer, str]]:
    """A PostgreSQL of this test's own, so stopping it disturbs no other test (not the
    session's: a test using it is marked ``pg`` by hand)."""
    server = EmbeddedServer(pgdata=tmp_path_factory.mktemp("outage") / "pgdata")
    uri = server.start()
    yield server, uri
    server.stop()


@pytest.mark.pg
async def test_database_outage_is_503_and_the_service_recovers_without_restart(
    aiohttp_client: ClientFactory, own_server: tuple[EmbeddedServer, str]
) -> None:
    server, uri = own_server
    client = await aiohttp_client(init_app(make_config(uri)))
    assert (await post(client, PUSH_03)).status == 202

    server.pg_ctl("stop")
    during = await post(client, PUSH_06)
    health = await client.get("/healthz")
    listing = await client.get("/api/v1/events", headers=api_headers())
    status = await client.get("/api/v1/status", headers=api_headers())
    assert during.status == 503
    assert during.headers["Retry-After"]
    assert health.status == 503
    assert listing.status == 503
    # The status still answers, and says what is down.
    assert status.status == 200
    answer = await status.json()
    assert (answer["status"], answer["database"]["reachable"], answer["queue"]) == (
        "degraded",
        False,
        None,
    )
    assert answer["database"]["message"]

    server.start()
    after = await post(client, PUSH_06)
    assert after.status == 202
    assert (await after.json())["accepted"] == 1
    response = await client.get("/api/v1/events", headers=api_headers())
    assert [e["tag"] for e in (await response.json())["events"]] == ["1.1.0", "1.0.0"]


@pytest.mark.pg
async def test_restart_under_load_loses_no_acknowledged_event(
    aiohttp_client: ClientFactory, own_server: tuple[EmbeddedServer, str]
) -> None:
    server, uri = own_server
    client = await aiohttp_client(init_app(make_config(uri)))
    for path in (PUSH_03, PUSH_06):
        assert (await post(client, path)).status == 202

    server.pg_ctl("restart")
    # Pooled connections died with the server: the first call may see that, none after it.
    statuses = [(await post(client, PUSH_06)).status for _ in range(3)]
    assert set(statuses) <= {202, 503}
    assert statuses[-1] == 202
    response = await client.get("/api/v1/events", headers=api_headers())
    assert len((await response.json())["events"]) == 2
