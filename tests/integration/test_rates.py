"""``rates:`` on the live app: 429 with ``Retry-After`` for a source that posts too fast and for
an address that fails to authenticate too often, before the body or the credentials are looked
at; counted in the metrics; nothing stored for what was refused."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient

from receiver.app import init_app
from tests.support.api import ClientFactory
from tests.support.console_forms import csrf_of
from tests.support.metrics import count, scrape
from tests.support.pushes import push_body
from tests.support.settings import API_TOKEN, HARBOR_TOKEN, REGISTRY_TOKEN, make_config

Client = TestClient[Any, Any]


async def started(aiohttp_client: ClientFactory, db_uri: str, rates: dict[str, Any]) -> Client:
    return await aiohttp_client(init_app(make_config(db_uri, rates=rates)))


def registry(token: str = REGISTRY_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_source_over_its_rate_is_429_and_its_pushes_are_not_read(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    rates = {"per_source": {"requests_per_second": 1, "burst": "5s"}}
    client = await started(aiohttp_client, db_uri, rates)

    answers = [
        await client.post("/webhooks/registry", data=push_body("1.0.0", n), headers=registry())
        for n in range(8)
    ]
    other = await client.post(
        "/webhooks/harbor",
        data=json.dumps({"type": "PULL_ARTIFACT"}),
        headers={"Authorization": HARBOR_TOKEN},
    )

    assert [a.status for a in answers] == [202] * 5 + [429] * 3
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 2
    assert other.status == 202  # another source has its own rate
    events = await client.get("/api/v1/events", headers=registry(API_TOKEN))
    assert len((await events.json())["events"]) == 5
    assert count(await scrape(client), "regdeploy_throttled_total", surface="webhook") == 3


async def test_an_address_failing_too_often_is_429_even_with_the_right_token(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri, {"failed_auth_per_address": {"per_minute": 4}})

    wrong = [
        (await client.get("/api/v1/repos", headers=registry("wrong"))).status for _ in range(6)
    ]
    right = await client.get("/api/v1/repos", headers=registry(API_TOKEN))
    webhook = await client.post("/webhooks/registry", data=b"{}", headers=registry())

    assert wrong == [401] * 4 + [429] * 2
    assert right.status == 429
    assert "too many failed authentications" in (await right.json())["message"]
    assert int(right.headers["Retry-After"]) >= 1
    assert webhook.status == 429  # the webhooks count the same address's failures
    scraped = await scrape(client)
    assert count(scraped, "regdeploy_throttled_total", surface="api") == 3


async def test_probing_for_sources_counts_as_failing_to_authenticate(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri, {"failed_auth_per_address": {"per_minute": 3}})
    statuses = [
        (await client.post(f"/webhooks/guess-{n}", data=b"{}", headers=registry())).status
        for n in range(5)
    ]
    assert statuses == [404] * 3 + [429] * 2


async def test_console_sign_in_counts_failures_and_then_refuses_every_try(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    client = await started(aiohttp_client, db_uri, {"failed_auth_per_address": {"per_minute": 2}})

    async def sign_in_with(token: str) -> int:
        form = await client.get("/signin")
        answer = await client.post(
            "/signin",
            data={"csrf": await csrf_of(form), "token": token, "next": "/"},
            allow_redirects=False,
        )
        return answer.status

    assert [await sign_in_with("wrong") for _ in range(3)] == [401, 401, 429]
    assert await sign_in_with(API_TOKEN) == 429
