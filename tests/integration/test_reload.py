"""Reloading the configuration of a running app (``POST /api/v1/reload``), through the real app
on a real PostgreSQL: what a valid file changes takes effect without a restart, a broken file is
refused whole with ``check-config``'s words while what ran goes on, and each process says which
configuration it runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployers.base import Target
from receiver import runtime
from receiver.background import launcher
from receiver.config import loading as configuration
from receiver.errors import ConfigError
from tests.support.api import settle
from tests.support.app import FAST_WORKER, AppUnderTest, StartApp
from tests.support.polling import until
from tests.support.pushes import NAME, REGISTRY, WEB, push, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.settings import API_TOKEN, READ_TOKEN, api_headers, config_document

OTHER = "team/other"
API = Target(kind="recording", name="api")
NEW_TOKEN = "a-token-the-reload-brought"


def other_repository() -> dict[str, Any]:
    return repository(
        name=OTHER,
        image=f"{REGISTRY}/{OTHER}",
        targets=[{"kind": "recording", "name": "api"}],
    )


#: The configuration every test starts from: team/app, the worker on.
FIRST: dict[str, Any] = {"repositories": [repository()], "worker": dict(FAST_WORKER, enabled=True)}


class Reloadable:
    """An app started from the file ``path`` (``start_app(config_file=…)``), which a test
    rewrites and reloads."""

    def __init__(self, path: Path, db_uri: str, started: AppUnderTest) -> None:
        self.path = path
        self.db_uri = db_uri
        self.client, self.deployer = started

    def write(self, **sections: Any) -> None:
        """Write a valid file: ``FIRST`` with what ``sections`` add or replace."""
        document = config_document(
            self.db_uri, registry=REGISTRY, confirm_digests=False, **{**FIRST, **sections}
        )
        self.path.write_text(yaml.safe_dump(document))

    async def reload(self, token: str = API_TOKEN) -> tuple[int, dict[str, Any]]:
        response = await self.client.post("/api/v1/reload", headers=api_headers(token))
        return response.status, await response.json()

    async def get(self, path: str) -> Any:
        response = await self.client.get(path, headers=api_headers())
        assert response.status == 200, await response.text()
        return await response.json()

    async def metric(self, outcome: str) -> float:
        text = await (await self.client.get("/metrics")).text()
        line = f'regdeploy_config_reloads_total{{outcome="{outcome}"}}'
        found = [float(x.split()[-1]) for x in text.splitlines() if x.startswith(line)]
        return found[0] if found else 0.0


StartReloadable = Callable[..., Awaitable[Reloadable]]


@pytest.fixture
def start_reloadable(start_app: StartApp, db_uri: str, tmp_path: Path) -> StartReloadable:
    async def start(
        name: str = "config.yaml", *, running: Sequence[tuple[Target, str]] = ()
    ) -> Reloadable:
        """Start an app from the file ``name``; ``running``: what targets run before it starts
        (as its inventory first lists them)."""
        deployer = RecordingDeployer()
        for target, image in running:
            deployer.run(target, image)
        path = tmp_path / name
        started = await start_app(config_file=path, deployer=deployer, **FIRST)
        return Reloadable(path, db_uri, started)

    return start


async def test_a_reload_of_the_same_file_changes_nothing(
    start_reloadable: StartReloadable,
) -> None:
    app = await start_reloadable()
    before = (await app.get("/api/v1/status"))["configuration"]
    status, answer = await app.reload()
    assert status == 200
    assert answer["outcome"] == "unchanged"
    assert answer["fingerprint"] == answer["previous"] == before["fingerprint"]
    said = f"{app.path}: unchanged, configuration {before['fingerprint']} runs"
    assert answer["message"] == said
    assert await app.metric("unchanged") == 1


async def test_a_repository_added_by_reload_deploys_without_a_restart(
    start_reloadable: StartReloadable,
) -> None:
    app = await start_reloadable(
        running=[(WEB, ref("1.0.0", 1)), (API, f"{REGISTRY}/{OTHER}:1.0.0@sha256:{6:064x}")]
    )
    before = (await app.get("/api/v1/status"))["configuration"]["fingerprint"]
    app.write(repositories=[repository(), other_repository()])
    status, answer = await app.reload()
    assert status == 200, answer
    assert answer["outcome"] == "reloaded"
    assert answer["previous"] == before
    assert answer["fingerprint"] != before
    assert answer["restart_needed"] == []
    names = [r["name"] for r in (await app.get("/api/v1/repos"))["repositories"]]
    assert sorted(names) == [NAME, OTHER]

    await push(app.client, "1.1.0", 7, OTHER)
    await push(app.client, "1.1.0", 2)
    await settle(app.client)
    assert sorted(app.deployer.calls) == [
        ("recording:api", f"{REGISTRY}/{OTHER}:1.1.0@sha256:{7:064x}"),
        ("recording:web", ref("1.1.0", 2)),
    ]
    configuration_now = (await app.get("/api/v1/status"))["configuration"]
    assert configuration_now["fingerprint"] == answer["fingerprint"]
    assert await app.metric("reloaded") == 1


async def test_a_broken_file_is_refused_whole_in_check_configs_words(
    start_reloadable: StartReloadable,
) -> None:
    app = await start_reloadable(running=[(WEB, ref("1.0.0", 1))])
    before = (await app.get("/api/v1/status"))["configuration"]["fingerprint"]
    # Two problems, one of them in a part that is valid alone: nothing of it may run.
    app.write(
        repositories=[repository(), other_repository(), {"name": "broken", "policy": "sometimes"}]
    )
    with pytest.raises(ConfigError) as checked:
        configuration.load(app.path)

    status, answer = await app.reload()
    assert status == 422
    assert answer["outcome"] == "refused"
    assert answer["problems"] == list(checked.value.problems)
    assert answer["problems"]
    assert answer["fingerprint"] == answer["previous"] == before
    assert answer["message"].startswith(f"{app.path}: refused, ")
    assert await app.metric("refused") == 1

    shown = (await app.get("/api/v1/status"))["configuration"]
    assert shown["fingerprint"] == before
    assert shown["refusal"] == answer["problems"]
    assert shown["refused_at"] is not None
    names = [r["name"] for r in (await app.get("/api/v1/repos"))["repositories"]]
    assert names == [NAME]  # team/other, valid alone, was not taken either

    await push(app.client, "1.1.0", 2)
    await settle(app.client)
    assert app.deployer.calls == [("recording:web", ref("1.1.0", 2))]

    app.write()  # mended: the refusal is history
    status, answer = await app.reload()
    assert (status, answer["outcome"]) == (200, "unchanged")
    shown = (await app.get("/api/v1/status"))["configuration"]
    assert shown["refusal"] is None and shown["refused_at"] is None


async def test_a_file_that_is_not_yaml_is_refused(start_reloadable: StartReloadable) -> None:
    app = await start_reloadable()
    app.path.write_text("repositories: [\n")
    status, answer = await app.reload()
    assert status == 422
    assert answer["outcome"] == "refused"
    assert len(answer["problems"]) == 1


async def test_a_refusal_quotes_no_line_of_the_file(start_reloadable: StartReloadable) -> None:
    # YAML's own message quotes the broken line, which here holds a token.
    app = await start_reloadable()
    secret = "sup3rs3cret-in-a-broken-line"
    app.path.write_text(app.path.read_text() + f'extra:\n  token: "{secret}\n')
    status, answer = await app.reload()
    assert status == 422
    assert answer["problems"] == [
        "not valid YAML: while scanning a quoted scalar (line "
        f"{len(app.path.read_text().splitlines())}, column 10): found unexpected end of stream "
        f"(line {len(app.path.read_text().splitlines()) + 1}, column 1)"
    ]
    shown = json.dumps(await app.get("/api/v1/status"))
    assert secret not in json.dumps(answer) and secret not in shown


async def test_tokens_change_with_a_reload(start_reloadable: StartReloadable) -> None:
    app = await start_reloadable()
    app.write(
        api={"tokens": [{"name": "second", "token": NEW_TOKEN, "scope": "write"}]},
    )
    status, answer = await app.reload()
    assert (status, answer["outcome"]) == (200, "reloaded")
    assert (await app.client.get("/api/v1/repos", headers=api_headers(NEW_TOKEN))).status == 200
    for gone in (API_TOKEN, READ_TOKEN):
        response = await app.client.get("/api/v1/repos", headers=api_headers(gone))
        assert response.status == 401


async def test_a_read_token_may_not_reload(start_reloadable: StartReloadable) -> None:
    app = await start_reloadable()
    status, answer = await app.reload(READ_TOKEN)
    assert status == 403, answer


async def test_what_is_read_at_the_start_only_waits_for_a_restart(
    start_reloadable: StartReloadable,
) -> None:
    app = await start_reloadable()
    document = yaml.safe_load(app.path.read_text())
    app.write(server=dict(document["server"], port=9999, max_body_bytes=4096))
    status, answer = await app.reload()
    assert (status, answer["outcome"]) == (200, "reloaded")
    assert answer["restart_needed"] == ["server.port", "server.max_body_bytes"]
    assert "restart" in answer["message"]
    shown = (await app.get("/api/v1/status"))["configuration"]
    assert shown["restart_needed"] == ["server.port", "server.max_body_bytes"]
    # What it read at its start goes on: a body over 4 KiB is still read (and found wanting).
    body = {"policy": "minor", "padding": "x" * 8192}
    response = await app.client.patch(f"/api/v1/repos/{NAME}", json=body, headers=api_headers())
    assert response.status == 400


async def test_a_deploy_in_flight_runs_to_its_end_across_a_reload(
    start_reloadable: StartReloadable, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stop cancels a deploy that outlives DRAIN_SECONDS (and loops STOP_SECONDS); the end of
    # a reload's old loops must not: a rollout may take minutes, and a deploy cut off would be
    # taken over and made again.
    monkeypatch.setattr(runtime, "STOP_SECONDS", 0.2)
    monkeypatch.setattr(launcher, "DRAIN_SECONDS", 0.2)
    app = await start_reloadable(running=[(WEB, ref("1.0.0", 1))])
    app.deployer.held = asyncio.Event()
    await push(app.client, "1.1.0", 2)

    async def running() -> list[dict[str, Any]]:
        found = (await app.get("/api/v1/deployments"))["deployments"]
        return [d for d in found if d["status"] == "running"]

    [deployment] = await until("the deploy is running", running, seconds=15)
    app.write(repositories=[repository(), other_repository()])
    status, answer = await app.reload()
    assert (status, answer["outcome"]) == (200, "reloaded")
    await asyncio.sleep(1.0)  # five times the stop's grace: the old launcher waits on
    assert await running() == [deployment]
    app.deployer.held.set()
    [done] = await settle(app.client)
    assert done["status"] == "succeeded"
    assert app.deployer.calls == [("recording:web", ref("1.1.0", 2))]
    detail = await app.get(f"/api/v1/deployments/{done['id']}")
    assert [a["outcome"] for a in detail["attempts"]] == ["succeeded"]


async def test_status_shows_each_process_and_whether_they_agree(
    start_reloadable: StartReloadable,
) -> None:
    first = await start_reloadable("first.yaml")
    second = await start_reloadable("second.yaml")
    status = await first.get("/api/v1/status")
    assert status["configuration"]["processes_agree"] is True
    assert len(status["processes"]) == 2
    assert {p["config_path"] for p in status["processes"]} == {
        str(first.path),
        str(second.path),
    }

    second.write(repositories=[repository(), other_repository()])
    assert (await second.reload())[1]["outcome"] == "reloaded"
    status = await first.get("/api/v1/status")
    assert status["configuration"]["processes_agree"] is False
    fingerprints = {p["config_path"]: p["fingerprint"] for p in status["processes"]}
    assert fingerprints[str(first.path)] == status["configuration"]["fingerprint"]
    assert fingerprints[str(second.path)] != status["configuration"]["fingerprint"]
