"""Every error answer, whichever route or way it comes about, is JSON with a message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.support.settings import READ_TOKEN, api_headers

Client = TestClient[Any, Any]


async def error_body(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert set(body) <= {"message", "field"}
    assert isinstance(body["message"], str) and body["message"]
    return body


async def test_an_unknown_path_with_a_valid_token_is_a_json_404(client: Client) -> None:
    body = await error_body(await client.get("/no/such/path", headers=api_headers()), 404)
    assert body["message"] == "no such path: /no/such/path"


async def test_an_unknown_path_without_a_token_is_a_json_401(client: Client) -> None:
    response = await client.get("/no/such/path")
    body = await error_body(response, 401)
    assert "token" in body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_method_a_route_does_not_take_is_a_json_405_with_allow(client: Client) -> None:
    response = await client.delete("/api/v1/events", headers=api_headers())
    body = await error_body(response, 405)
    assert body["message"] == "method DELETE is not allowed on /api/v1/events"
    assert "GET" in response.headers["Allow"]


async def test_a_read_token_writing_is_a_json_403(client: Client) -> None:
    response = await client.post(
        "/tags/team/app", json={"auto_deploy": False}, headers=api_headers(READ_TOKEN)
    )
    assert (await error_body(response, 403))["message"] == "this token may only read"


async def test_an_api_body_over_the_cap_is_a_json_413(client: Client) -> None:
    async def huge() -> AsyncIterator[bytes]:  # streamed, without a Content-Length
        yield b'{"pinned_tag": "'
        for _ in range(40):
            yield b"x" * 64 * 1024
        yield b'"}'

    response = await client.patch(
        "/api/v1/repos/team/app",
        data=huge(),
        headers={**api_headers(), "Content-Type": "application/json"},
    )
    await error_body(response, 413)


async def test_a_bad_field_names_the_field(client: Client) -> None:
    response = await client.get("/api/v1/events?limit=0", headers=api_headers())
    body = await error_body(response, 400)
    assert body["field"] == "limit"


@pytest.mark.parametrize("path", ["/webhooks/nobody", "/webhooks/registry"])
async def test_webhook_refusals_are_json_too(client: Client, path: str) -> None:
    response = await client.post(path, data=b"{}")
    await error_body(response, 404 if path.endswith("nobody") else 401)


@pytest.mark.parametrize(
    "policy", [" minor", "minor\n", "glob :1.*", "glob: ", "major:1", "newest"]
)
async def test_a_policy_outside_the_documented_grammar_is_a_400_naming_it(
    client: Client, policy: str
) -> None:
    response = await client.patch(
        "/api/v1/repos/team/app", json={"policy": policy}, headers=api_headers()
    )
    assert (await error_body(response, 400))["field"] == "policy"


async def test_a_regexp_policy_re2_does_not_run_is_the_documented_400(client: Client) -> None:
    response = await client.patch(
        "/api/v1/repos/team/app", json={"policy": "regexp:(a)\\1"}, headers=api_headers()
    )
    assert "RE2" in (await error_body(response, 400))["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/api/v1/repos/team/app/deploy", "POST"),
        ("PATCH", "/api/v1/repos/team/app/plan", "GET"),
        ("GET", "/tags/team/app/reset", "POST"),
        ("OPTIONS", "/tags/team/app/reset", "POST"),
    ],
)
async def test_a_repository_name_never_swallows_a_sub_resource(
    client: Client, method: str, path: str, allow: str
) -> None:
    """``team/app/deploy`` is team/app's deploy, never a repository: another method than its
    own is its 405, with its own ``Allow``."""
    response = await client.request(method, path, json={}, headers=api_headers())
    await error_body(response, 405)
    assert response.headers["Allow"] == allow
