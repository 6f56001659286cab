"""End to end: a real docker-registry notifies regdeploy while skopeo pushes real images.

Nothing is mocked between the registry and the database: the registry's own notification
client posts to regdeploy's listening socket, and the result is read back through the API.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from receiver.app import init_app
from tests.support.components import free_port
from tests.support.oci import build_image, build_index
from tests.support.polling import until
from tests.support.registry import Registry
from tests.support.settings import REGISTRY_TOKEN, api_headers, make_config

REGISTRY_NAME = "registry.test:5000"
WAIT_SECONDS = 20.0

Json = dict[str, Any]


class Regdeploy:
    """The running service as a client sees it: its API, read with the API token."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self._session = session

    async def get(self, path: str, **params: str) -> Json:
        async with self._session.get(
            self.base_url + path, params=params, headers=api_headers()
        ) as response:
            assert response.status == 200, await response.text()
            payload: Json = await response.json()
            return payload

    async def events(self) -> list[Json]:
        events: list[Json] = (await self.get("/api/v1/events", limit="100"))["events"]
        return events

    async def tags(self, repository: str) -> dict[str, str]:
        for entry in (await self.get("/api/v1/catalog"))["repositories"]:
            if (entry["registry"], entry["repository"]) == (REGISTRY_NAME, repository):
                return {tag["tag"]: tag["digest"] for tag in entry["tags"]}
        return {}

    async def wait_for(
        self, what: str, check: Callable[[], Awaitable[bool]], *, seconds: float = WAIT_SECONDS
    ) -> None:
        """Poll ``check`` until it holds; fail naming ``what`` (and the events) after
        ``seconds``."""

        async def seen() -> str:
            return f"events: {await self.events()}"

        await until(what, check, seconds=seconds, explain=seen)


@pytest.fixture
async def regdeploy(db_uri: str) -> AsyncIterator[Regdeploy]:
    server = TestServer(init_app(make_config(db_uri, registry=REGISTRY_NAME)), port=free_port())
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Regdeploy(str(server.make_url("")).rstrip("/"), session)
    await server.close()


@pytest.fixture
async def registry(
    registry_tools: None, regdeploy: Regdeploy, tmp_path: Path
) -> AsyncIterator[Registry]:
    registry = Registry(
        tmp_path / "registry",
        notify_url=f"{regdeploy.base_url}/webhooks/registry",
        notify_token=REGISTRY_TOKEN,
    )
    await asyncio.to_thread(registry.start)
    yield registry
    await asyncio.to_thread(registry.stop)


def pushes(events: list[Json], repository: str) -> list[tuple[str, str]]:
    return [
        (e["tag"], e["digest"])
        for e in reversed(events)
        if e["action"] == "push" and e["repository"] == repository
    ]


async def test_new_tag_overwritten_tag_index_and_delete_reach_events_and_catalog(
    regdeploy: Regdeploy, registry: Registry, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"

    # A new tag.
    first = build_image(layout, tag="1.0.0", env={"BUILD": "1"})
    await asyncio.to_thread(registry.push, layout, "1.0.0", "team/app")

    async def first_seen() -> bool:
        return await regdeploy.tags("team/app") == {"1.0.0": first}

    await regdeploy.wait_for("tag 1.0.0 in the catalog", first_seen)

    # The same tag overwritten with a new image.
    second = build_image(layout, tag="1.0.0", env={"BUILD": "2"})
    assert second != first
    await asyncio.to_thread(registry.push, layout, "1.0.0", "team/app")

    async def overwritten() -> bool:
        return await regdeploy.tags("team/app") == {"1.0.0": second}

    await regdeploy.wait_for("tag 1.0.0 moved to the new digest", overwritten)

    # A multi-arch index: its child manifests are pushed untagged and must not appear.
    index = build_index(layout, tag="2.0.0", env={"BUILD": "3"})
    await asyncio.to_thread(registry.push, layout, "2.0.0", "team/multi")

    async def index_seen() -> bool:
        return await regdeploy.tags("team/multi") == {"2.0.0": index}

    await regdeploy.wait_for("the index tag 2.0.0", index_seen)

    # A delete of the overwritten tag's manifest, by digest.
    await asyncio.to_thread(registry.delete_manifest, "team/app", second)

    async def deleted() -> bool:
        return await regdeploy.tags("team/app") == {}

    await regdeploy.wait_for("tag 1.0.0 gone after the delete", deleted)

    events = await regdeploy.events()
    assert pushes(events, "team/app") == [("1.0.0", first), ("1.0.0", second)]
    assert pushes(events, "team/multi") == [("2.0.0", index)]
    assert {e["media_type"] for e in events if e["repository"] == "team/multi"} == {
        "application/vnd.oci.image.index.v1+json"
    }
    deletes = [(e["tag"], e["digest"]) for e in events if e["action"] == "delete"]
    assert (None, second) in deletes
    # Only tagged manifest pushes and deletes are stored: no blob, pull or child events.
    assert all(e["action"] in {"push", "delete"} for e in events)
    assert all(e["tag"] for e in events if e["action"] == "push")
    assert {e["registry"] for e in events} == {REGISTRY_NAME}
    assert {e["source"] for e in events} == {"registry"}
