"""What a hostile or broken sender can do with the webhooks and the API: get a 4xx (or a 2xx
with a stored rejection), never a 5xx, never a row it should not have written, never hold up
good events."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.app import init_app
from tests.support.api import ClientFactory
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.settings import API_TOKEN, HARBOR_TOKEN, REGISTRY_TOKEN, api_headers, make_config

Client = TestClient[Any, Any]
PUSH = FIXTURES / "distribution" / "03-push-oci-manifest-push-manifest.json"


def record(event_id: str, **target: str) -> dict[str, Any]:
    _, raw = load_recorded(PUSH)
    good: dict[str, Any] = json.loads(raw)["events"][0]
    return {**good, "id": event_id, "target": {**good["target"], **target}}


async def stored(client: Client) -> dict[str, int]:
    counted = {}
    for path, key in (
        ("/api/v1/events?limit=1000", "events"),
        ("/api/v1/rejections", "rejections"),
    ):
        response = await client.get(path, headers=api_headers())
        counted[key] = len((await response.json())[key])
    return counted


async def test_a_bad_record_between_good_ones_loses_neither(client: Client) -> None:
    body = {
        "events": [
            record("good-1", tag="1.0.0"),
            record("bad-nul", repository="team/\u0000app"),
            record("good-2", tag="1.0.1"),
        ]
    }
    response = await client.post(
        "/webhooks/registry", json=body, headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"}
    )
    assert response.status == 202
    assert await response.json() == {"accepted": 2, "duplicate": 0, "ignored": 0, "rejected": 1}
    assert await stored(client) == {"events": 2, "rejections": 1}
    rejection = await (await client.get("/api/v1/rejections", headers=api_headers())).json()
    assert "invalid repository name" in rejection["rejections"][0]["reason"]


async def test_overlapping_batches_delivered_at_once_never_answer_503(client: Client) -> None:
    ids = [f"e{i}" for i in range(40)]
    rng = random.Random(7)
    bodies = [
        {"events": [record(i, tag=f"1.0.{int(i[1:]) % 7}") for i in rng.sample(ids, 12)]}
        for _ in range(200)
    ]
    headers = {"Authorization": f"Bearer {REGISTRY_TOKEN}"}
    answers = await asyncio.gather(
        *(client.post("/webhooks/registry", json=body, headers=headers) for body in bodies)
    )
    assert sorted({a.status for a in answers}) == [202]
    summaries = [await a.json() for a in answers]
    assert sum(s["accepted"] for s in summaries) == len(
        {r["id"] for b in bodies for r in b["events"]}
    )
    assert (await stored(client))["events"] == sum(s["accepted"] for s in summaries)


def _credentials() -> list[tuple[str, dict[str, str]]]:
    """Requests with malformed, non-UTF-8, off-by-one and misplaced credentials."""

    def off_by_one(token: str) -> list[str]:
        return [token[:-1], token + "x", token[:-1] + chr(ord(token[-1]) + 1), token.upper()]

    values = [
        *(f"Bearer {t}" for t in off_by_one(REGISTRY_TOKEN) + off_by_one(API_TOKEN)),
        *off_by_one(HARBOR_TOKEN),
        "Bearer", "Bearer ", "bearer  ", "Basic " + REGISTRY_TOKEN, "Token " + API_TOKEN,
        "Bearer \udcff\udcfe", "\udca0" + REGISTRY_TOKEN, "Bearer " + REGISTRY_TOKEN + "\udca0",
        "Bearer " + "A" * 4000, f"Bearer {REGISTRY_TOKEN},{REGISTRY_TOKEN}",
        "Bearer " + REGISTRY_TOKEN + "\xa0", "Bearer \xa0" + API_TOKEN,
        f"{REGISTRY_TOKEN} {REGISTRY_TOKEN}", "Bearer\t" + REGISTRY_TOKEN + "x",
    ]  # fmt: skip
    paths = ["/webhooks/registry", "/webhooks/harbor", "/webhooks/nobody", "/api/v1/events"]
    return [(path, {"Authorization": value}) for path in paths for value in values]


async def test_thousands_of_bad_credentials_get_only_401_and_404_and_store_nothing(
    client: Client,
) -> None:
    cases = _credentials()
    body = json.dumps({"events": [record("never")]}).encode()
    seen: dict[int, int] = {}
    for path, headers in itertools.islice(itertools.cycle(cases), 5000):
        raw = {k: v.encode("utf-8", "surrogateescape") for k, v in headers.items()}
        response = await client.post(path, data=body, headers=_latin1(raw))
        seen[response.status] = seen.get(response.status, 0) + 1
        response.release()
    assert set(seen) <= {401, 404}, seen
    assert sum(seen.values()) == 5000
    assert await stored(client) == {"events": 0, "rejections": 0}


def _latin1(headers: dict[str, bytes]) -> dict[str, str]:
    """Header values the client sends byte for byte (it encodes str values as Latin-1)."""
    return {k: v.decode("latin-1") for k, v in headers.items()}


HOSTILE_BODIES = [
    b'{"pinned_tag": ' + b"9" * 5000 + b"}",
    b'{"auto_deploy": ' + b"1" * 4400 + b"}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"pinned_tag": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    b'{"pinned_tag": "\\ud800"}',
    b'{"pinned_tag": "\xff\xfe"}',
    b'{"pinned_tag": 1.5e400}',
    b'{"pinned_tag": NaN}',
    b'{"pinned_tag": ["1.0.0"]}',
    b'{"pinned_tag": null}',
    b'{"auto_deploy": "yes"}',
    b'{"policy": 7}',
    b'{"tag": {"$gt": ""}}',
    b'"just a string"',
    b"",
    b"\x00\x01\x02",
    '{"pinned_tag": "1.0.0\u202e\u0000"}'.encode(),
]


@pytest.fixture
async def watching(aiohttp_client: ClientFactory, db_uri: str) -> Client:
    """The app watching team/app, so that a body that got past its checks would reach it."""
    repository = {"name": "team/app", "image": "registry.test:5000/team/app"}
    return await aiohttp_client(init_app(make_config(db_uri, repositories=[repository])))


API_ROUTES = [
    "POST /tags/team/app",
    "PATCH /api/v1/repos/team/app",
    "POST /api/v1/repos/team/app/deploy",
]
# No body at all asks the deploy route for what the rules want now (tested below): not hostile.
HOSTILE_REQUESTS = [
    pytest.param(route, body, id=f"{route}-{index}")
    for route in API_ROUTES
    for index, body in enumerate(HOSTILE_BODIES)
    if body or not route.endswith("/deploy")
]


@pytest.mark.parametrize(("route", "body"), HOSTILE_REQUESTS)
async def test_hostile_api_bodies_are_400(watching: Client, route: str, body: bytes) -> None:
    method, path = route.split()
    headers = {**api_headers(), "Content-Type": "application/json"}
    response = await watching.request(method, path, data=body, headers=headers)
    assert response.status == 400, await response.text()
    assert "message" in await response.json()


async def test_a_deploy_without_a_body_deploys_what_the_rules_want(watching: Client) -> None:
    headers = {**api_headers(), "Content-Type": "application/json"}
    response = await watching.post("/api/v1/repos/team/app/deploy", data=b"", headers=headers)
    assert response.status == 202, await response.text()
    assert "no targets" in (await response.json())["message"]
