"""POST /webhooks/{source} through the real app and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from receiver.app import init_app
from tests.support.api import ClientFactory
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.raw_http import RawRequest, send
from tests.support.settings import HARBOR_TOKEN, REGISTRY_TOKEN, api_headers, make_config

DISTRIBUTION = sorted((FIXTURES / "distribution").glob("*.json"))
HARBOR = sorted((FIXTURES / "harbor").glob("*.json"))
PUSH_03 = FIXTURES / "distribution" / "03-push-oci-manifest-push-manifest.json"

Client = TestClient[Any, Any]


def registry_auth(token: str = REGISTRY_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_fixture(client: Client, path: Path, source: str, auth: dict[str, str]) -> Any:
    headers, body = load_recorded(path)
    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    return await client.post(f"/webhooks/{source}", data=body, headers={**headers, **auth})


async def events(client: Client, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/events", params=query, headers=api_headers())
    assert response.status == 200
    payload: list[dict[str, Any]] = (await response.json())["events"]
    return payload


@pytest.mark.parametrize("path", DISTRIBUTION, ids=lambda p: p.stem)
async def test_every_recorded_distribution_notification_is_accepted(
    client: Client, path: Path
) -> None:
    response = await post_fixture(client, path, "registry", registry_auth())
    assert response.status == 202
    summary = await response.json()
    assert summary["rejected"] == 0
    assert summary["accepted"] + summary["ignored"] == 1


@pytest.mark.parametrize("path", HARBOR, ids=lambda p: p.stem)
async def test_every_harbor_notification_is_accepted_with_its_verbatim_auth_header(
    client: Client, path: Path
) -> None:
    response = await post_fixture(client, path, "harbor", {"Authorization": HARBOR_TOKEN})
    assert response.status == 202
    assert (await response.json())["rejected"] == 0


async def test_the_recorded_stream_yields_the_tagged_pushes_deletes_and_catalog(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    # The recording addressed the registry as 127.0.0.1:5056 for pushes and localhost:5056 for
    # deletes: the source's configured registry name is what makes them one registry.
    client = await aiohttp_client(init_app(make_config(db_uri, registry="registry.test:5000")))
    for path in DISTRIBUTION:
        assert (await post_fixture(client, path, "registry", registry_auth())).status == 202

    stored = [
        (e["action"], e["repository"], e["tag"], (e["digest"] or "")[:15])
        for e in reversed(await events(client))
    ]
    assert stored == [
        ("push", "team/app", "1.0.0", "sha256:a9e05509"),
        ("push", "team/app", "1.1.0", "sha256:4ef6e029"),
        ("push", "team/app", "1.0.0", "sha256:2aa1ab5c"),
        ("push", "team/app", "latest", "sha256:4ef6e029"),
        ("push", "other/app", "1.1.0", "sha256:4ef6e029"),
        ("push", "team/multi", "2.0.0", "sha256:ca2ba5f7"),
        ("delete", "team/app", None, "sha256:4ef6e029"),
        ("delete", "team/app", "1.1.0", ""),
        ("delete", "team/app", "latest", ""),
    ]
    response = await client.get("/api/v1/catalog", headers=api_headers())
    repositories = {
        r["repository"]: {t["tag"]: t["digest"][:15] for t in r["tags"]}
        if r["registry"] == "registry.test:5000"
        else None
        for r in (await response.json())["repositories"]
    }
    assert repositories == {
        "team/app": {"1.0.0": "sha256:2aa1ab5c"},
        "team/multi": {"2.0.0": "sha256:ca2ba5f7"},
        "other/app": {"1.1.0": "sha256:4ef6e029"},
    }


async def test_redelivered_notification_is_a_duplicate_not_a_second_event(client: Client) -> None:
    first = await post_fixture(client, PUSH_03, "registry", registry_auth())
    second = await post_fixture(client, PUSH_03, "registry", registry_auth())

    assert (await first.json())["accepted"] == 1
    assert await second.json() == {"accepted": 0, "duplicate": 1, "ignored": 0, "rejected": 0}
    assert len(await events(client)) == 1


async def test_events_can_be_filtered_by_repository(client: Client) -> None:
    for name in ("03-push-oci-manifest-push-manifest", "20-cross-repo-mount-push-manifest"):
        await post_fixture(
            client, FIXTURES / "distribution" / f"{name}.json", "registry", registry_auth()
        )

    assert [e["repository"] for e in await events(client, repository="other/app")] == ["other/app"]
    assert [e["tag"] for e in await events(client, limit="1")] == ["1.1.0"]


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {REGISTRY_TOKEN[:-1]}"},
        {"Authorization": f"Bearer {REGISTRY_TOKEN}x"},
        {"Authorization": f"Bearer {HARBOR_TOKEN}"},
        {"Authorization": f"Basic {REGISTRY_TOKEN}"},
        {"Authorization": ""},
    ],
    ids=["none", "wrong", "one-short", "one-long", "other-source", "basic", "empty"],
)
async def test_wrong_secret_is_401_and_stores_nothing(client: Client, auth: dict[str, str]) -> None:
    response = await post_fixture(client, PUSH_03, "registry", auth)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await events(client) == []


async def test_unknown_source_is_404(client: Client) -> None:
    response = await post_fixture(client, PUSH_03, "nope", registry_auth())
    assert response.status == 404


async def test_secret_is_checked_before_the_body_is_read(client: Client) -> None:
    """A client that announces 10 MiB and sends none of it gets its 401 at once."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /webhooks/registry HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == b"401"


async def test_oversized_body_is_413(client: Client) -> None:
    body = b'{"events": [' + b" " * (2 * 1024 * 1024) + b"]}"
    response = await client.post(
        "/webhooks/registry", data=io.BytesIO(body), headers=registry_auth()
    )
    assert response.status == 413


async def test_oversized_chunked_body_is_413_without_a_length(client: Client) -> None:
    async def chunks() -> Any:
        for _ in range(40):
            yield b" " * 65536

    response = await client.post("/webhooks/registry", data=chunks(), headers=registry_auth())
    assert response.status == 413
    assert await events(client) == []


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"events": 3}', b"\xff\xfe", b""],
    ids=["text", "list", "events-not-list", "binary", "empty"],
)
async def test_unusable_authenticated_body_is_stored_as_rejected_and_answered_2xx(
    client: Client, body: bytes
) -> None:
    response = await client.post("/webhooks/registry", data=body, headers=registry_auth())

    assert response.status == 202
    assert (await response.json())["rejected"] == 1
    rejections = await client.get("/api/v1/rejections", headers=api_headers())
    [rejection] = (await rejections.json())["rejections"]
    assert rejection["source"] == "registry"
    assert rejection["size"] == len(body)
    assert rejection["reason"]


@pytest.mark.parametrize("body", [b"not json", b'{"events": []}'], ids=["rejected", "empty"])
async def test_a_content_type_that_is_not_utf8_is_kept_readable_and_answered_2xx(
    client: Client, body: bytes
) -> None:
    """aiohttp keeps header bytes that are not UTF-8 as surrogate escapes, which the database
    cannot store: the rejection keeps the type with those bytes replaced."""
    request = RawRequest(
        method=b"POST",
        target=b"/webhooks/registry",
        headers=[
            (b"Authorization", f"Bearer {REGISTRY_TOKEN}".encode()),
            (b"Content-Type", b"application/\xffjson"),
        ],
        body=body,
    )
    assert client.port is not None
    assert await send(client.port, request) == 202
    rejections = await client.get("/api/v1/rejections", headers=api_headers())
    stored = [r["content_type"] for r in (await rejections.json())["rejections"]]
    assert stored == (["application/\ufffdjson"] if body == b"not json" else [])


async def test_good_events_are_kept_beside_a_bad_one(client: Client) -> None:
    _, raw = load_recorded(PUSH_03)
    good = json.loads(raw)["events"][0]
    bad = {**good, "id": "bad-1", "target": {**good["target"], "repository": ""}}
    body = json.dumps({"events": [good, bad]}).encode()

    response = await client.post("/webhooks/registry", data=body, headers=registry_auth())

    assert response.status == 202
    assert (await response.json())["accepted"] == 1
    assert (await response.json())["rejected"] == 1
    assert [e["event_id"] for e in await events(client)] == [good["id"]]


async def test_event_the_database_refuses_is_rejected_not_retried_forever(client: Client) -> None:
    _, raw = load_recorded(PUSH_03)
    event = json.loads(raw)["events"][0]
    event["target"]["tag"] = "bad\u0000tag"
    body = json.dumps({"events": [event]}).encode()

    response = await client.post("/webhooks/registry", data=body, headers=registry_auth())

    assert response.status == 202
    assert (await response.json())["rejected"] == 1
    assert await events(client) == []


async def test_log_line_per_request_carries_no_secret_header_or_body(client: Client) -> None:
    with capture_logs() as logs:
        await post_fixture(client, PUSH_03, "registry", registry_auth())
        await post_fixture(client, PUSH_03, "registry", registry_auth("wrong-token-value"))

    lines = [entry for entry in logs if entry["event"] == "webhook_received"]
    assert [(entry["source"], entry["status"]) for entry in lines] == [
        ("registry", 202),
        ("registry", 401),
    ]
    text = repr(logs)
    for secret in (REGISTRY_TOKEN, "wrong-token-value", "team/app", "a9e055099b6c"):
        assert secret not in text
