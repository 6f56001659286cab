"""``GET /api/v1/repos/{name}/explain``: the decision for every known tag and target, with its
reason, through the real app, a real PostgreSQL and a recording deployer."""

from __future__ import annotations

from typing import Any

import pytest

from deployers.base import Target
from handlers.references import parse_name
from tests.support.api import Client
from tests.support.app import StartApp
from tests.support.pushes import NAME, REGISTRY, WEB, digest, push, ref, repository
from tests.support.settings import READ_TOKEN, api_headers

LABELLED = Target(kind="recording", name="cache", policy="patch")
EXPLAIN = f"/api/v1/repos/{NAME}/explain"


async def explain(client: Client, path: str = EXPLAIN, status: int = 200, **query: str) -> Any:
    response = await client.get(path, params=query, headers=api_headers(READ_TOKEN))
    assert response.status == status, await response.text()
    return await response.json()


async def test_every_tag_gets_the_decision_a_push_of_it_would_get(start_app: StartApp) -> None:
    client, _ = await start_app(running=ref("1.1.0", 2))
    for tag, n in [("1.0.0", 1), ("1.1.0", 2), ("1.2.0", 3), ("2.0.0", 4), ("1.3.0-rc1", 5)]:
        await push(client, tag, n)

    answer = await explain(client)

    assert {k: answer[k] for k in ("repository", "image", "pinned_tag", "auto_deploy")} == {
        "repository": NAME,
        "image": f"{REGISTRY}/{NAME}",
        "pinned_tag": "",
        "auto_deploy": True,
    }
    assert answer["policy"] == "minor"
    assert [t["tag"] for t in answer["tags"]] == ["2.0.0", "1.3.0-rc1", "1.2.0", "1.1.0", "1.0.0"]
    assert answer["message"] is None
    [web] = answer["targets"]
    assert (web["target_key"], web["configured"]) == (WEB.key, True)
    assert (web["running"], web["image"], web["deploy"]) == (ref("1.1.0", 2), ref("1.2.0", 3), True)
    assert web["reason"] == "1.2.0 is the newest eligible tag"
    decisions = {p["tag"]: (p["deploy"], p["reason"]) for p in web["pushes"]}
    assert decisions == {
        "2.0.0": (False, "2.0.0 is a new major version (policy minor)"),
        "1.3.0-rc1": (False, decisions["1.3.0-rc1"][1]),
        "1.2.0": (True, "1.2.0 is newer than running 1.1.0"),
        "1.1.0": (False, f"already runs 1.1.0@{digest(2)[:19]}"),
        "1.0.0": (False, "1.0.0 is lower than running 1.1.0"),
    }
    assert "pre-release" in decisions["1.3.0-rc1"][1]
    assert [p["tag"] for p in web["pushes"]] == [t["tag"] for t in answer["tags"]]
    assert web["pushes"][2] == {
        "tag": "1.2.0",
        "digest": digest(3),
        "deploy": True,
        "adopt": False,
        "reason": "1.2.0 is newer than running 1.1.0",
    }


async def test_a_labelled_target_is_explained_under_its_own_policy(start_app: StartApp) -> None:
    client, deployer = await start_app(running=ref("1.0.0", 1))
    deployer.discoverable.append((LABELLED, parse_name(f"{REGISTRY}/{NAME}")))
    deployer.run(LABELLED, ref("1.0.0", 1))
    for tag, n in [("1.0.0", 1), ("1.0.1", 2), ("1.1.0", 3)]:
        await push(client, tag, n)

    targets = {t["target_key"]: t for t in (await explain(client))["targets"]}

    assert set(targets) == {WEB.key, LABELLED.key}
    assert targets[LABELLED.key]["configured"] is False
    assert targets[LABELLED.key]["image"] == ref("1.0.1", 2)  # patch, not minor
    assert targets[WEB.key]["image"] == ref("1.1.0", 3)
    labelled = {p["tag"]: p["deploy"] for p in targets[LABELLED.key]["pushes"]}
    assert labelled == {"1.1.0": False, "1.0.1": True, "1.0.0": False}


@pytest.mark.parametrize("chosen", [WEB.key, WEB.name])
async def test_target_narrows_it_to_one_target_by_key_or_name(
    start_app: StartApp, chosen: str
) -> None:
    client, deployer = await start_app()
    deployer.discoverable.append((LABELLED, parse_name(f"{REGISTRY}/{NAME}")))
    deployer.run(LABELLED, ref("1.0.0", 1))
    await push(client, "1.0.0", 1)

    answer = await explain(client, target=chosen)

    assert [t["target_key"] for t in answer["targets"]] == [WEB.key]


async def test_an_unknown_target_is_404_naming_the_targets(start_app: StartApp) -> None:
    client, _ = await start_app()
    answer = await explain(client, status=404, target="nope")
    assert answer == {"message": f"no target 'nope' of {NAME} (targets: {WEB.key})"}


async def test_an_unknown_repository_is_404(start_app: StartApp) -> None:
    client, _ = await start_app()
    answer = await explain(client, "/api/v1/repos/no/such/explain", status=404)
    assert answer == {"message": "no watched repository named 'no/such'"}


async def test_a_pinned_repository_explains_the_pin(start_app: StartApp) -> None:
    client, _ = await start_app(
        repositories=[repository(pinned_tag="1.0.0")], running=ref("1.1.0", 2)
    )
    await push(client, "1.0.0", 1)
    await push(client, "1.1.0", 2)

    [web] = (await explain(client))["targets"]

    assert (web["image"], web["deploy"], web["reason"]) == (
        ref("1.0.0", 1),
        True,
        "pinned to 1.0.0",
    )
    assert {p["tag"]: p["reason"] for p in web["pushes"]} == {
        "1.1.0": f"already runs 1.1.0@{digest(2)[:19]}",
        "1.0.0": "pinned tag 1.0.0 points at a new digest",
    }


async def test_without_targets_it_says_why_and_still_lists_the_tags(start_app: StartApp) -> None:
    client, _ = await start_app(repositories=[repository(targets=[])])
    await push(client, "1.0.0", 1)

    answer = await explain(client)

    assert answer["targets"] == []
    assert [t["tag"] for t in answer["tags"]] == ["1.0.0"]
    assert answer["message"] == (
        f"{NAME} has no targets: its configuration lists none, and no deployer (recording) "
        f"found a workload opted in by label or job meta running {REGISTRY}/{NAME}"
    )


async def test_a_target_whose_kind_has_no_deployer_is_explained_as_such(
    start_app: StartApp,
) -> None:
    nomad = {"kind": "nomad", "name": "api"}
    client, _ = await start_app(repositories=[repository(targets=[nomad])])
    await push(client, "1.0.0", 1)

    [api] = (await explain(client))["targets"]

    assert api["deploy"] is False
    assert api["reason"] == "no deployer for kind 'nomad' (1.0.0 is the newest eligible tag)"
    assert api["pushes"][0]["reason"] == "no deployer for kind 'nomad'"


async def test_explaining_stores_nothing(start_app: StartApp) -> None:
    client, deployer = await start_app(running=ref("1.0.0", 1))
    await push(client, "1.1.0", 2)
    await explain(client)
    response = await client.get("/api/v1/deployments", headers=api_headers())
    assert (await response.json())["deployments"] == []
    assert deployer.calls == []
