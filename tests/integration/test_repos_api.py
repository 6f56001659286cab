"""The repository and deployment routes: the registrywatcher-compatible ``/repos`` and
``/tags/{name}``, and ``/api/v1/``, through the real app and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from deployers.base import Target
from receiver.views.shapes import target_json
from tests.support.api import Client, settle
from tests.support.app import FAST_WORKER, AppUnderTest, StartApp
from tests.support.pushes import NAME, REGISTRY, WEB, digest, push, ref, repository
from tests.support.settings import READ_TOKEN, api_headers

Start = Callable[..., Awaitable[AppUnderTest]]

DEEP = "group/sub/svc"  # a name with more than one slash
API = Target(kind="recording", name="api")
REPOS_KEYS = {"auto_deploy", "pinned_tag", "pinned_tag_value", "tags"}
REPOSITORY_KEYS = {
    "name",
    "image",
    "pinned_tag",
    "auto_deploy",
    "policy",
    "match_prerelease",
    "filters",
    "targets",
    "changed_through_api",
    "updated_at",
}
DEPLOYMENT_KEYS = {
    "id",
    "target",
    "target_key",
    "repository",
    "image",
    "tag",
    "digest",
    "previous_image",
    "status",
    "reason",
    "trigger",
    "message",
    "attempts",
    "event_id",
    "created_at",
    "updated_at",
    "finished_at",
    # release control: what it waits for, its rules, its votes, who forced it past its window
    "wait",
    "waits",
    "release_rules",
    "approvals",
    "forced_by",
    "checks",
}


def deep_repository(**overrides: Any) -> dict[str, Any]:
    return {
        "name": DEEP,
        "image": f"{REGISTRY}/{DEEP}",
        "pinned_tag": "stable",
        "auto_deploy": False,
        "policy": "patch",
        "targets": [{"kind": "recording", "name": "api"}],
        **overrides,
    }


@pytest.fixture
def start(start_app: StartApp) -> Start:
    """``start_app`` with a fast worker, off unless ``worker=True``."""

    async def started(*, worker: bool = False, **options: Any) -> AppUnderTest:
        return await start_app(worker={**FAST_WORKER, "enabled": worker}, **options)

    return started


async def get_json(client: Client, path: str, expect: int = 200, **query: str) -> Any:
    response = await client.get(path, params=query, headers=api_headers())
    assert response.status == expect, await response.text()
    return await response.json()


async def send(
    client: Client, method: str, path: str, body: Any = None, *, status: int = 200
) -> Any:
    response = await client.request(method, path, json=body, headers=api_headers())
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def repos(client: Client) -> dict[str, Any]:
    found: dict[str, Any] = await get_json(client, "/repos")
    return found


async def pin_of(client: Client, name: str = NAME) -> str:
    found: str = (await get_json(client, f"/tags/{name}"))["repo_tag"]
    return found


def assert_message(body: Any, *words: str) -> None:
    """An error answer: a message with ``words`` in it, and the field at fault where it names
    one (the message names it too)."""
    assert set(body) in ({"message"}, {"message", "field"})
    assert isinstance(body["message"], str)
    for word in words:
        assert word in body["message"], (word, body["message"])
    if "field" in body:
        assert body["field"] in body["message"], body


# -- GET /repos ---------------------------------------------------------------------------------


async def test_repos_answers_the_registrywatcher_shape_exactly(start: Start) -> None:
    empty = {"name": "empty", "image": f"{REGISTRY}/nothing/here", "targets": []}
    client, _ = await start(repositories=[repository(), deep_repository(), empty])
    for n, tag in enumerate(["latest", "1.2.0", "1.10.0", "2.0.0-rc.1", "1", "abc", "v1.9.0"]):
        await push(client, tag, 10 + n)
    await push(client, "stable", 30, DEEP)
    await push(client, "1.0.1", 31, DEEP)

    answer = await repos(client)

    assert answer == {
        NAME: {
            "auto_deploy": True,
            "pinned_tag": "",
            "pinned_tag_value": "1.10.0",  # nothing deployed yet: the newest release
            "tags": ["2.0.0-rc.1", "1.10.0", "v1.9.0", "1.2.0", "1", "abc", "latest"],
        },
        DEEP: {
            "auto_deploy": False,
            "pinned_tag": "stable",
            "pinned_tag_value": "stable",
            "tags": ["1.0.1", "stable"],
        },
        "empty": {"auto_deploy": True, "pinned_tag": "", "pinned_tag_value": "", "tags": []},
    }
    for entry in answer.values():
        assert set(entry) == REPOS_KEYS
        assert isinstance(entry["auto_deploy"], bool)
        assert isinstance(entry["pinned_tag"], str)
        assert isinstance(entry["pinned_tag_value"], str)
        assert all(isinstance(t, str) for t in entry["tags"])


async def test_repos_is_an_empty_object_when_nothing_is_watched(start: Start) -> None:
    client, _ = await start(repositories=[])
    assert await repos(client) == {}


async def test_pinned_tag_value_is_the_newest_eligible_relative_to_the_last_deployed(
    start: Start,
) -> None:
    client, deployer = await start(repositories=[repository(auto_deploy=False)], worker=True)
    for tag, n in [("1.0.0", 1), ("1.1.0", 2), ("2.0.0", 3)]:
        await push(client, tag, n)
    await settle(client)
    assert deployer.calls == []
    assert (await repos(client))[NAME]["pinned_tag_value"] == "2.0.0"  # nothing deployed yet

    await send(client, "POST", f"/api/v1/repos/{NAME}/deploy", {"tag": "1.0.0"}, status=202)
    await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 1)]
    # policy minor from 1.0.0: 1.1.0, not 2.0.0
    assert (await repos(client))[NAME]["pinned_tag_value"] == "1.1.0"

    # Setting a pin is an operator's request: it deploys now, even with auto_deploy off.
    await send(client, "POST", f"/tags/{NAME}", {"pinned_tag": "2.0.0"})
    entry = (await repos(client))[NAME]
    assert (entry["pinned_tag"], entry["pinned_tag_value"]) == ("2.0.0", "2.0.0")
    await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 1), ref("2.0.0", 3)]

    await send(client, "POST", f"/tags/{NAME}/reset")
    await settle(client)
    entry = (await repos(client))[NAME]
    assert (entry["pinned_tag"], entry["pinned_tag_value"]) == ("", "2.0.0")


# -- /tags/{name} -------------------------------------------------------------------------------


async def test_get_tag_answers_the_pin(start: Start) -> None:
    client, _ = await start(repositories=[repository(), deep_repository()])
    assert await get_json(client, f"/tags/{NAME}") == {"repo_tag": ""}
    assert await get_json(client, f"/tags/{DEEP}") == {"repo_tag": "stable"}


async def test_get_tag_of_an_unknown_repository_is_400(start: Start) -> None:
    client, _ = await start()
    assert_message(await get_json(client, "/tags/no/such", 400), "no/such")


async def test_setting_a_pin_is_answered_stored_and_audited(start: Start) -> None:
    client, _ = await start()
    await push(client, "1.0.0", 1)

    body = await send(client, "POST", f"/tags/{NAME}", {"pinned_tag": "1.0.0"})

    assert_message(body, NAME, "1.0.0")
    assert await pin_of(client) == "1.0.0"
    state = await get_json(client, f"/api/v1/repos/{NAME}")
    assert state["changed_through_api"] == ["pinned_tag"]
    [entry] = state["audit"]
    assert set(entry) == {"actor", "field", "old", "new", "changed_at"}
    assert entry | {"changed_at": ""} == {
        "actor": "admin",
        "field": "pinned_tag",
        "old": "",
        "new": "1.0.0",
        "changed_at": "",
    }


async def test_switching_auto_deploy_and_both_fields_at_once(start: Start) -> None:
    client, _ = await start()
    await push(client, "1.0.0", 1)

    assert_message(await send(client, "POST", f"/tags/{NAME}", {"auto_deploy": False}))
    assert (await repos(client))[NAME]["auto_deploy"] is False
    await send(client, "POST", f"/tags/{NAME}", {"auto_deploy": True, "pinned_tag": "1.0.0"})
    entry = (await repos(client))[NAME]
    assert (entry["auto_deploy"], entry["pinned_tag"]) == (True, "1.0.0")

    audit = (await get_json(client, f"/api/v1/repos/{NAME}"))["audit"]
    assert sorted((a["field"], a["old"], a["new"]) for a in audit) == [
        ("auto_deploy", False, True),
        ("auto_deploy", True, False),
        ("pinned_tag", "", "1.0.0"),
    ]
    assert {a["actor"] for a in audit} == {"admin"}


async def test_an_unchanged_value_is_not_audited(start: Start) -> None:
    client, _ = await start()
    body = await send(client, "POST", f"/tags/{NAME}", {"auto_deploy": True})
    assert_message(body, "nothing changed")
    state = await get_json(client, f"/api/v1/repos/{NAME}")
    assert (state["audit"], state["changed_through_api"]) == ([], [])


async def test_pinning_an_unknown_tag_is_400_and_changes_nothing(start: Start) -> None:
    client, _ = await start()
    await push(client, "1.0.0", 1)
    body = await send(client, "POST", f"/tags/{NAME}", {"pinned_tag": "9.9.9"}, status=400)
    assert_message(body, "9.9.9")
    assert await pin_of(client) == ""
    assert (await get_json(client, f"/api/v1/repos/{NAME}"))["audit"] == []


async def test_setting_a_tag_of_an_unknown_repository_is_400(start: Start) -> None:
    client, _ = await start()
    body = await send(client, "POST", "/tags/no/such", {"auto_deploy": False}, status=400)
    assert_message(body, "no/such")
    assert_message(await send(client, "POST", "/tags/no/such/reset", status=400), "no/such")


async def test_reset_clears_the_pin(start: Start) -> None:
    client, _ = await start(repositories=[deep_repository()])
    await push(client, "stable", 1, DEEP)

    assert_message(await send(client, "POST", f"/tags/{DEEP}/reset"), DEEP)

    assert await pin_of(client, DEEP) == ""
    [entry] = (await get_json(client, f"/api/v1/repos/{DEEP}"))["audit"]
    assert (entry["actor"], entry["field"], entry["old"], entry["new"]) == (
        "admin",
        "pinned_tag",
        "stable",
        "",
    )


async def test_a_pin_through_the_api_deploys_through_the_worker(start: Start) -> None:
    client, deployer = await start(worker=True, running=ref("1.1.0", 2))
    await push(client, "1.0.0", 1)
    await settle(client)
    await send(client, "POST", f"/tags/{NAME}", {"pinned_tag": "1.0.0"})
    [pinned, *_] = await settle(client)
    assert deployer.deployed(WEB) == [ref("1.0.0", 1)]
    assert (pinned["trigger"], pinned["status"]) == ("pin", "succeeded")


# -- bodies -------------------------------------------------------------------------------------

BAD_BODIES = [
    pytest.param(b"{", "JSON", id="not-json"),
    pytest.param(b"", "JSON", id="empty"),
    pytest.param(b"\xff\xfe", "JSON", id="not-utf8"),
    pytest.param(b"[]", "object", id="array"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "", id="deeply-nested"),
    pytest.param(b'[{"auto_deploy": true}]', "object", id="array-of-object"),
    pytest.param(b'"auto_deploy"', "object", id="string"),
    pytest.param(b"null", "object", id="null"),
    pytest.param(b"{}", "at least one", id="no-field"),
    pytest.param(b'{"auto_deploy": "yes"}', "auto_deploy", id="auto-deploy-string"),
    pytest.param(b'{"auto_deploy": 1}', "auto_deploy", id="auto-deploy-number"),
    pytest.param(b'{"auto_deploy": null}', "auto_deploy", id="auto-deploy-null"),
    pytest.param(b'{"pinned_tag": 1}', "pinned_tag", id="pin-number"),
    pytest.param(b'{"pinned_tag": true}', "pinned_tag", id="pin-bool"),
    pytest.param(b'{"pinned_tag": ["1.0.0"]}', "pinned_tag", id="pin-list"),
    pytest.param(b'{"pinned_tag": "1.0\\u0000"}', "pinned_tag", id="pin-nul"),
    pytest.param(b'{"colour": "red"}', "colour", id="unknown-field"),
    pytest.param(b'{"auto_deploy": true, "colour": "red"}', "colour", id="one-unknown"),
]


@pytest.mark.parametrize(("raw", "word"), BAD_BODIES)
@pytest.mark.parametrize("route", ["POST /tags/{}", "PATCH /api/v1/repos/{}"])
async def test_a_bad_body_is_400_naming_what_is_wrong(
    start: Start, route: str, raw: bytes, word: str
) -> None:
    client, _ = await start()
    method, path = route.format(NAME).split()
    headers = {**api_headers(), "Content-Type": "application/json"}
    response = await client.request(method, path, data=raw, headers=headers)
    assert response.status == 400
    assert_message(await response.json(), word)
    state = await get_json(client, f"/api/v1/repos/{NAME}")
    assert (state["audit"], state["changed_through_api"]) == ([], [])


@pytest.mark.parametrize(
    ("content_type", "word"),
    [("application/json; charset=bogus", "charset"), ("application/json; charset=utf-16", "JSON")],
)
async def test_a_body_in_an_unusable_charset_is_400(
    start: Start, content_type: str, word: str
) -> None:
    client, _ = await start()
    headers = {**api_headers(), "Content-Type": content_type}
    response = await client.post(f"/tags/{NAME}", data=b'{"auto_deploy": false}', headers=headers)
    assert response.status == 400
    assert_message(await response.json(), word)


async def test_policy_is_not_a_field_of_the_registrywatcher_route(start: Start) -> None:
    client, _ = await start()
    body = await send(client, "POST", f"/tags/{NAME}", {"policy": "major"}, status=400)
    assert_message(body, "policy")


@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"tag": ""}, "tag"),
        ({"tag": 1}, "tag"),
        ({"tag": "1.0.0", "forced": True}, "forced"),
        ({"tag": "1.0.0", "force": "yes"}, "force"),
        ({"tag": "9.9.9"}, "9.9.9"),
    ],
)
async def test_a_bad_deploy_request_is_400(start: Start, body: Any, word: str) -> None:
    client, _ = await start()
    await push(client, "1.0.0", 1)
    answer = await send(client, "POST", f"/api/v1/repos/{NAME}/deploy", body, status=400)
    assert_message(answer, word)
    assert (await get_json(client, "/api/v1/deployments"))["deployments"] == []


async def test_a_nul_character_in_a_policy_is_400(start: Start) -> None:
    client, _ = await start()
    body = {"policy": "glob:1.\u0000"}
    assert_message(await send(client, "PATCH", f"/api/v1/repos/{NAME}", body, status=400), "policy")


@pytest.mark.parametrize(
    "path",
    [
        "/tags/a%00b",
        "/api/v1/repos/a%00b",
        "/api/v1/repos/a%00b/plan",
        "/api/v1/deployments?repository=a%00b",
        "/api/v1/deployments?target=%00",
    ],
)
async def test_a_nul_character_in_the_path_or_query_is_400(start: Start, path: str) -> None:
    client, _ = await start()
    assert_message(await get_json(client, path, 400), "NUL")


# -- auth and CORS ------------------------------------------------------------------------------

READS = [
    ("GET", "/repos"),
    ("GET", f"/tags/{NAME}"),
    ("GET", "/api/v1/repos"),
    ("GET", f"/api/v1/repos/{NAME}"),
    ("GET", f"/api/v1/repos/{NAME}/plan"),
    ("GET", "/api/v1/deployments"),
    ("GET", "/api/v1/deployments/1"),
]
WRITES = [
    ("POST", f"/tags/{NAME}", {"auto_deploy": False}),
    ("POST", f"/tags/{NAME}/reset", None),
    ("PATCH", f"/api/v1/repos/{NAME}", {"auto_deploy": False}),
    ("POST", f"/api/v1/repos/{NAME}/deploy", {"tag": "1.0.0"}),
]
ORIGIN = {"Origin": "https://evil.example"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}],
    ids=["none", "wrong", "basic"],
)
async def test_every_route_needs_an_api_token(start: Start, headers: dict[str, str]) -> None:
    client, _ = await start()
    for method, path, body in [(m, p, None) for m, p in READS] + WRITES:
        response = await client.request(method, path, json=body, headers={**headers, **ORIGIN})
        assert response.status == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "Access-Control-Allow-Origin" not in response.headers
        assert_message(await response.json())
    state = await get_json(client, f"/api/v1/repos/{NAME}")
    assert (state["auto_deploy"], state["audit"]) == (True, [])


async def test_a_read_token_reads_but_may_not_write(start: Start) -> None:
    client, _ = await start()
    await push(client, "1.0.0", 1)
    reader = {**api_headers(READ_TOKEN), **ORIGIN}
    for method, path in READS:
        response = await client.request(method, path, headers=reader)
        assert response.status in (200, 404), (method, path)  # deployment 1 does not exist
        assert "Access-Control-Allow-Origin" not in response.headers
    for method, path, body in WRITES:
        response = await client.request(method, path, json=body, headers=reader)
        assert response.status == 403, (method, path)
        assert "Access-Control-Allow-Origin" not in response.headers
        assert_message(await response.json())
    state = await get_json(client, f"/api/v1/repos/{NAME}")
    assert (state["auto_deploy"], state["audit"]) == (True, [])
    assert (await get_json(client, "/api/v1/deployments"))["deployments"] == []


async def test_no_answer_carries_a_cors_header(start: Start) -> None:
    client, _ = await start()
    await push(client, "1.0.0", 1)
    writer = {**api_headers(), **ORIGIN}
    answers = [
        await client.get("/ping", headers=ORIGIN),
        await client.get("/healthz", headers=ORIGIN),
        await client.options("/repos", headers={**ORIGIN, "Access-Control-Request-Method": "GET"}),
        await client.get("/repos", headers=writer),
        await client.get("/tags/no/such", headers=writer),
        await client.get("/api/v1/repos/no/such", headers=writer),
        await client.post(f"/tags/{NAME}", data=b"{", headers=writer),
        await client.post(f"/tags/{NAME}", json={"auto_deploy": False}, headers=writer),
        await client.patch(f"/api/v1/repos/{NAME}", json={"policy": "major"}, headers=writer),
        await client.post(f"/api/v1/repos/{NAME}/deploy", json={"tag": "1.0.0"}, headers=writer),
    ]
    assert [r.status for r in answers] == [200, 200, 401, 200, 400, 404, 400, 200, 200, 202]
    for response in answers:
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_ping_and_healthz_need_no_token(start: Start) -> None:
    client, _ = await start()
    assert (await client.get("/ping")).status == 200
    assert (await client.get("/healthz")).status == 200


# -- /api/v1/repos ------------------------------------------------------------------------------


async def test_v1_lists_repositories_with_their_rules(start: Start) -> None:
    client, _ = await start(repositories=[repository(), deep_repository()])
    listed = (await get_json(client, "/api/v1/repos"))["repositories"]
    assert [r["name"] for r in listed] == [DEEP, NAME]
    for entry in listed:
        assert set(entry) == REPOSITORY_KEYS
    deep = listed[0]
    assert deep | {"updated_at": ""} == {
        "name": DEEP,
        "image": f"{REGISTRY}/{DEEP}",
        "pinned_tag": "stable",
        "auto_deploy": False,
        "policy": "patch",
        "match_prerelease": True,
        "filters": [],
        "targets": [target_json(API)],
        "changed_through_api": [],
        "updated_at": "",
    }


async def test_v1_gets_one_repository_with_its_audit(start: Start) -> None:
    client, _ = await start(repositories=[repository(), deep_repository()])
    body = await get_json(client, f"/api/v1/repos/{DEEP}")
    assert set(body) == REPOSITORY_KEYS | {"audit", "tags"}
    assert body["tags"] == []  # no tag known yet
    assert (body["name"], body["audit"]) == (DEEP, [])
    assert_message(await get_json(client, "/api/v1/repos/no/such", 404), "no/such")
    await get_json(client, f"/api/v1/repos/{DEEP}/more", 404)


async def test_v1_patch_changes_the_policy_and_answers_what_changed(start: Start) -> None:
    client, _ = await start()
    body = await send(client, "PATCH", f"/api/v1/repos/{NAME}", {"policy": "major"})
    assert set(body) == {"repository", "changed", "deployments", "targets", "waiting", "message"}
    assert body["changed"] == {"policy": {"old": "minor", "new": "major"}}
    assert body["message"] == 'team/app: policy: "minor" → "major"'
    assert (body["deployments"], body["targets"]) == ([], [])
    assert body["repository"]["policy"] == "major"
    assert body["repository"]["changed_through_api"] == ["policy"]
    [entry] = (await get_json(client, f"/api/v1/repos/{NAME}"))["audit"]
    assert (entry["actor"], entry["field"], entry["old"], entry["new"]) == (
        "admin",
        "policy",
        "minor",
        "major",
    )


@pytest.mark.parametrize("policy", ["sideways", "minor:1.*", "regexp:(", ""])
async def test_v1_patch_with_a_bad_policy_is_400_naming_it(start: Start, policy: str) -> None:
    client, _ = await start()
    body = await send(client, "PATCH", f"/api/v1/repos/{NAME}", {"policy": policy}, status=400)
    assert_message(body, "policy", repr(policy.partition(":")[2] if policy[:1] == "r" else policy))
    assert (await get_json(client, f"/api/v1/repos/{NAME}"))["policy"] == "minor"


async def test_v1_patch_pin_and_auto_deploy(start: Start) -> None:
    client, deployer = await start(running=ref("1.0.0", 1))
    await push(client, "1.0.0", 1)
    await push(client, "1.1.0", 2)

    body = await send(client, "PATCH", f"/api/v1/repos/{NAME}", {"pinned_tag": "1.1.0"})
    assert body["changed"] == {"pinned_tag": {"old": "", "new": "1.1.0"}}
    [deployment_id] = body["deployments"]
    [target] = body["targets"]
    assert target == {
        "target": target_json(WEB),
        "running": ref("1.0.0", 1),
        "image": ref("1.1.0", 2),
        "deploy": True,
        "reason": "pinned to 1.1.0",
    }
    planned = await get_json(client, f"/api/v1/deployments/{deployment_id}")
    assert (planned["trigger"], planned["status"], planned["tag"]) == ("pin", "planned", "1.1.0")
    assert deployer.calls == []  # the worker is off

    body = await send(client, "PATCH", f"/api/v1/repos/{NAME}", {"pinned_tag": "9.9.9"}, status=400)
    assert_message(body, "9.9.9")
    body = await send(client, "PATCH", "/api/v1/repos/no/such", {"auto_deploy": False}, status=404)
    assert_message(body, "no/such")


async def test_v1_patch_of_nothing_new_changes_nothing(start: Start) -> None:
    client, _ = await start()
    body = await send(client, "PATCH", f"/api/v1/repos/{NAME}", {"policy": "minor"})
    assert (body["changed"], body["deployments"]) == ({}, [])
    assert (await get_json(client, f"/api/v1/repos/{NAME}"))["audit"] == []


# -- deploy and plan ----------------------------------------------------------------------------


async def test_v1_deploy_plans_the_tag_for_every_target(start: Start) -> None:
    client, _ = await start(running=ref("1.0.0", 1))
    await push(client, "2.0.0", 3)
    body = await send(client, "POST", f"/api/v1/repos/{NAME}/deploy", {"tag": "2.0.0"}, status=202)
    assert set(body) == {"repository", "changed", "deployments", "targets", "waiting", "message"}
    assert body["changed"] == {}
    assert body["message"] == "deploying 2.0.0 to recording:web"
    [deployment_id] = body["deployments"]
    deployment = await get_json(client, f"/api/v1/deployments/{deployment_id}")
    assert set(deployment) == DEPLOYMENT_KEYS | {"attempts"}
    assert deployment | {"created_at": "", "updated_at": ""} == {
        "id": deployment_id,
        "target": target_json(WEB),
        "target_key": WEB.key,
        "repository": NAME,
        "image": ref("2.0.0", 3),
        "tag": "2.0.0",
        "digest": ref("2.0.0", 3).rpartition("@")[2],
        "previous_image": ref("1.0.0", 1),
        "status": "planned",
        "reason": "deploy of 2.0.0 requested",
        "trigger": "manual",
        "message": None,
        "attempts": [],
        "event_id": None,
        "created_at": "",
        "updated_at": "",
        "finished_at": None,
        "wait": None,  # no release control on this repository: nothing to wait for
        "waits": [],
        "release_rules": [],
        "approvals": None,
        "forced_by": None,
        "checks": [],
    }


@pytest.mark.parametrize("body", [{}, None], ids=["empty-object", "no-body"])
async def test_v1_deploy_without_a_tag_deploys_what_the_rules_want_even_with_auto_deploy_off(
    start: Start, body: dict[str, str] | None
) -> None:
    client, _ = await start(repositories=[repository(auto_deploy=False)], running=ref("1.0.0", 1))
    for tag, n in [("1.1.0", 2), ("2.0.0", 3)]:
        await push(client, tag, n)

    answer = await send(client, "POST", f"/api/v1/repos/{NAME}/deploy", body, status=202)

    assert answer["message"] == "deploying 1.1.0 to recording:web"
    [target] = answer["targets"]
    assert (target["image"], target["deploy"]) == (ref("1.1.0", 2), True)
    assert len(answer["deployments"]) == 1


async def test_v1_deploy_that_deploys_nothing_says_why_for_each_target(start: Start) -> None:
    nomad = {"kind": "nomad", "name": "api"}
    client, _ = await start(
        repositories=[repository(targets=[{"kind": "recording", "name": "web"}, nomad])],
        running=ref("1.0.0", 1),
    )
    await push(client, "1.0.0", 1)

    answer = await send(
        client, "POST", f"/api/v1/repos/{NAME}/deploy", {"tag": "1.0.0"}, status=202
    )

    assert answer["deployments"] == []
    assert answer["message"] == (
        f"nothing deployed: recording:web: already runs 1.0.0@{digest(1)}; "
        "nomad:api: no deployer for kind 'nomad' (deploy of 1.0.0 requested)"
    )
    skipped = await get_json(client, "/api/v1/deployments", target="nomad:api")
    assert [d["status"] for d in skipped["deployments"]] == ["skipped"]


async def test_v1_deploy_to_a_repository_without_targets_says_so(start: Start) -> None:
    client, _ = await start(repositories=[repository(targets=[])])
    await push(client, "1.0.0", 1)

    answer = await send(
        client, "POST", f"/api/v1/repos/{NAME}/deploy", {"tag": "1.0.0"}, status=202
    )

    assert (answer["deployments"], answer["targets"]) == ([], [])
    assert answer["message"] == (
        f"nothing deployed: {NAME} has no targets: its configuration lists none, and no "
        f"deployer (recording) found a workload opted in by label or job meta running "
        f"{REGISTRY}/{NAME}"
    )


async def test_v1_pin_answers_what_changed_and_what_it_deploys(start: Start) -> None:
    client, _ = await start(running=ref("1.1.0", 2))
    await push(client, "1.0.0", 1)

    answer = await send(client, "PATCH", f"/api/v1/repos/{NAME}", {"pinned_tag": "1.0.0"})

    assert answer["message"] == (
        'team/app: pinned_tag: "" → "1.0.0"; deploying 1.0.0 to recording:web'
    )


async def test_v1_deploy_of_an_unknown_repository_is_404(start: Start) -> None:
    client, _ = await start()
    body = await send(client, "POST", "/api/v1/repos/no/such/deploy", {"tag": "1"}, status=404)
    assert_message(body, "no/such")


async def test_v1_deploy_through_the_worker(start: Start) -> None:
    client, deployer = await start(repositories=[repository(), deep_repository()], worker=True)
    await push(client, "1.0.1", 4, DEEP)
    await settle(client)
    await send(client, "POST", f"/api/v1/repos/{DEEP}/deploy", {"tag": "1.0.1"}, status=202)
    [deployment, skipped] = await settle(client)
    assert (skipped["status"], skipped["reason"]) == ("skipped", "auto_deploy is off")
    assert deployer.deployed(API) == [f"{REGISTRY}/{DEEP}:1.0.1@sha256:{4:064x}"]
    assert (deployment["repository"], deployment["status"]) == (DEEP, "succeeded")
    [attempt] = (await get_json(client, f"/api/v1/deployments/{deployment['id']}"))["attempts"]
    assert set(attempt) == {"attempt", "worker", "outcome", "message", "started_at", "finished_at"}
    assert (attempt["attempt"], attempt["outcome"]) == (1, "succeeded")


async def test_v1_plan_explains_each_target(start: Start) -> None:
    client, deployer = await start(repositories=[repository(), deep_repository()])
    deployer.run(API, f"{REGISTRY}/{DEEP}:1.0.0@sha256:{1:064x}")
    await push(client, "stable", 5, DEEP)

    body = await get_json(client, f"/api/v1/repos/{DEEP}/plan")

    assert body == {
        "repository": DEEP,
        "targets": [
            {
                "target": target_json(API),
                "running": f"{REGISTRY}/{DEEP}:1.0.0@sha256:{1:064x}",
                "image": f"{REGISTRY}/{DEEP}:stable@sha256:{5:064x}",
                "deploy": False,
                "reason": "auto_deploy is off (pinned to stable)",
            }
        ],
    }
    assert (await get_json(client, "/api/v1/deployments"))["deployments"] == []
    assert_message(await get_json(client, "/api/v1/repos/no/such/plan", 404), "no/such")


# -- /api/v1/deployments ------------------------------------------------------------------------


async def planned_deployments(client: Client) -> tuple[int, int, int]:
    """A planned deploy of team/app, a skipped one (it runs already), one of the deep repo."""
    await push(client, "1.0.0", 1)
    await push(client, "1.1.0", 2)
    await push(client, "1.0.1", 4, DEEP)
    path = f"/api/v1/repos/{NAME}/deploy"
    [planned] = (await send(client, "POST", path, {"tag": "1.1.0"}, status=202))["deployments"]
    skipped = await send(client, "POST", path, {"tag": "1.0.0"}, status=202)
    assert skipped["deployments"] == []  # only intents are listed
    path = f"/api/v1/repos/{DEEP}/deploy"
    [deep] = (await send(client, "POST", path, {"tag": "1.0.1"}, status=202))["deployments"]
    listed = (await get_json(client, "/api/v1/deployments"))["deployments"]
    ids = [d["id"] for d in listed]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    return planned, ids[1], deep


async def test_v1_deployments_filter_by_repository_target_and_status(start: Start) -> None:
    client, _ = await start(repositories=[repository(), deep_repository()], running=ref("1.0.0", 1))
    planned, skipped, deep = await planned_deployments(client)

    async def ids(**query: str) -> list[int]:
        found = (await get_json(client, "/api/v1/deployments", 200, **query))["deployments"]
        for d in found:
            assert set(d) == DEPLOYMENT_KEYS
        return [d["id"] for d in found]

    assert await ids() == [deep, skipped, planned]
    assert await ids(repository=NAME) == [skipped, planned]
    assert await ids(repository=DEEP) == [deep]
    assert await ids(repository="no/such") == []
    assert await ids(target=WEB.key) == [skipped, planned]
    assert await ids(target=API.key) == [deep]
    assert await ids(status="planned") == [deep, planned]
    assert await ids(status="skipped") == [skipped]
    assert await ids(status="succeeded") == []
    assert await ids(repository=NAME, status="planned") == [planned]
    assert await ids(limit="1") == [deep]
    assert await ids(limit="2", target=WEB.key) == [skipped, planned]
    assert await ids(repository="", status="", target="") == [deep, skipped, planned]
    skip = await get_json(client, f"/api/v1/deployments/{skipped}")
    assert (skip["status"], skip["reason"]) == ("skipped", f"already runs 1.0.0@sha256:{1:064x}")


@pytest.mark.parametrize("status", ["bogus", "PLANNED", "planned,skipped"])
async def test_v1_deployments_with_a_bad_status_is_400(start: Start, status: str) -> None:
    client, _ = await start()
    assert_message(await get_json(client, "/api/v1/deployments", 400, status=status), "status")


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "100000", "²", ""])
async def test_v1_deployments_with_a_bad_limit_is_400(start: Start, limit: str) -> None:
    client, _ = await start()
    assert_message(await get_json(client, "/api/v1/deployments", 400, limit=limit), "limit")


@pytest.mark.parametrize("raw", ["999999", "abc", "-1", "1.0", "²", "99999999999999999999999"])
async def test_v1_unknown_or_non_numeric_deployment_is_404(start: Start, raw: str) -> None:
    client, _ = await start()
    assert_message(await get_json(client, f"/api/v1/deployments/{raw}", 404), raw)


# -- configuration seeding ----------------------------------------------------------------------


async def test_a_restart_keeps_what_the_api_changed_and_follows_the_config_for_the_rest(
    start: Start,
) -> None:
    first, _ = await start(repositories=[repository(), deep_repository()])
    await push(first, "1.0.0", 1)
    await send(first, "POST", f"/tags/{NAME}", {"pinned_tag": "1.0.0"})
    await send(first, "PATCH", f"/api/v1/repos/{DEEP}", {"auto_deploy": True})

    # Same database, a configuration that says otherwise about every field.
    second, _ = await start(
        repositories=[
            repository(pinned_tag="", auto_deploy=False, policy="major"),
            deep_repository(pinned_tag="", auto_deploy=False, policy="minor"),
        ]
    )

    app = await get_json(second, f"/api/v1/repos/{NAME}")
    assert (app["pinned_tag"], app["auto_deploy"], app["policy"]) == ("1.0.0", False, "major")
    assert app["changed_through_api"] == ["pinned_tag"]
    deep = await get_json(second, f"/api/v1/repos/{DEEP}")
    assert (deep["pinned_tag"], deep["auto_deploy"], deep["policy"]) == ("", True, "minor")
    assert deep["changed_through_api"] == ["auto_deploy"]
    assert await repos(second) == {
        NAME: {
            "auto_deploy": False,
            "pinned_tag": "1.0.0",
            "pinned_tag_value": "1.0.0",
            "tags": ["1.0.0"],
        },
        DEEP: {"auto_deploy": True, "pinned_tag": "", "pinned_tag_value": "", "tags": []},
    }
    # The audit survives the restart.
    [entry] = app["audit"]
    assert (entry["actor"], entry["field"], entry["new"]) == ("admin", "pinned_tag", "1.0.0")


async def test_a_repository_dropped_from_the_config_is_gone_from_the_routes(start: Start) -> None:
    await start(repositories=[repository(), deep_repository()])
    client, _ = await start(repositories=[repository()])
    assert list(await repos(client)) == [NAME]
    await get_json(client, f"/api/v1/repos/{DEEP}", 404)
    await get_json(client, f"/tags/{DEEP}", 400)
