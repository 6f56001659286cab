"""Prove the e2e harness against the real components: docker-registry, skopeo, busybox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support.components import require_binary
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, build_image, build_index
from tests.support.registry import Registry, RegistryError, running_registry

pytestmark = pytest.mark.usefixtures("registry_tools")

TOKEN = "s3cret-token"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with running_registry(tmp_path / "registry") as reg:
        yield reg


def test_build_image_is_deterministic(tmp_path: Path) -> None:
    a = build_image(tmp_path / "a", tag="v1", env={"BUILD": "1"})
    b = build_image(tmp_path / "b", tag="v1", env={"BUILD": "1"})
    c = build_image(tmp_path / "b", tag="v2", env={"BUILD": "2"})
    assert a == b
    assert a != c
    index = json.loads((tmp_path / "b" / "index.json").read_text())
    refs = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert refs == {"v1": b, "v2": c}
    # Re-tagging replaces the entry instead of adding a second one.
    d = build_image(tmp_path / "b", tag="v1", env={"BUILD": "3"})
    index = json.loads((tmp_path / "b" / "index.json").read_text())
    refs = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert refs == {"v1": d, "v2": c}


def test_push_image_and_head_digest(registry: Registry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    first = build_image(layout, tag="v1", env={"BUILD": "1"})
    registry.push(layout, "v1", "team/app")
    assert registry.manifest_digest("team/app", "v1") == first
    media_type, manifest = registry.manifest("team/app", "v1")
    assert media_type == OCI_MANIFEST
    assert manifest["mediaType"] == OCI_MANIFEST

    second = build_image(layout, tag="v1", env={"BUILD": "2"})
    assert second != first
    registry.push(layout, "v1", "team/app")
    assert registry.manifest_digest("team/app", "v1") == second

    registry.push(layout, "v1", "team/app", dest_tag="latest")
    assert registry.manifest_digest("team/app", "latest") == second
    assert sorted(registry.tags("team/app")) == ["latest", "v1"]


def test_push_index(registry: Registry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    digest = build_index(layout, tag="multi", platforms=["amd64", "arm64"], env={"BUILD": "1"})
    registry.push(layout, "multi", "team/multi")
    assert registry.manifest_digest("team/multi", "multi") == digest
    media_type, index = registry.manifest("team/multi", "multi")
    assert media_type == OCI_INDEX
    platforms = [m["platform"]["architecture"] for m in index["manifests"]]
    assert platforms == ["amd64", "arm64"]
    # Children were pushed by digest, untagged.
    for child in index["manifests"]:
        assert registry.manifest_digest("team/multi", child["digest"]) == child["digest"]
    assert registry.tags("team/multi") == ["multi"]


def test_delete_manifest(registry: Registry, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    digest = build_image(layout, tag="v1")
    registry.push(layout, "v1", "team/gone")
    assert registry.manifest_digest("team/gone", "v1") == digest
    registry.delete_manifest("team/gone", digest)
    with pytest.raises(RegistryError) as err:
        registry.manifest_digest("team/gone", "v1")
    assert err.value.status == 404
    assert registry.tags("team/gone") == []
    assert registry.tags("team/never-pushed") == []


def test_require_binary_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y busybox-static"):
        require_binary("busybox")
    monkeypatch.setenv("CI", "True")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_binary("no-such-binary-for-regdeploy-tests")


def test_registry_start_failure_reports_log(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "bad", binary="/bin/false")
    with pytest.raises(RegistryError, match="exited with 1"):
        reg.start()
    reg.stop()


@dataclass
class Hook:
    """Recorded POSTs to /hook as (Authorization header, JSON body); ``changed`` wakes waiters."""

    url: str = ""
    received: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def wait_for_push(self, repository: str, tag: str) -> dict[str, Any]:
        """Wait for the first ``push`` event for REPOSITORY:TAG sent with our bearer token.

        Bound it with ``asyncio.timeout``.
        """

        def found() -> dict[str, Any] | None:
            for auth, body in self.received:
                for event in body.get("events", []):
                    target = event.get("target", {})
                    if (
                        auth == f"Bearer {TOKEN}"
                        and event.get("action") == "push"
                        and target.get("repository") == repository
                        and target.get("tag") == tag
                    ):
                        return dict(event)
            return None

        async with self.changed:
            await self.changed.wait_for(lambda: found() is not None)
        event = found()
        assert event is not None
        return event


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    """A tiny webhook receiver on 127.0.0.1 recording POST /hook."""
    hook = Hook()

    async def handle(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        async with hook.changed:
            hook.received.append((request.headers.get("Authorization"), body))
            hook.changed.notify_all()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        hook.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
        yield hook
    finally:
        await runner.cleanup()


async def test_push_notification(hook: Hook, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    digest = build_image(layout, tag="v7", env={"BUILD": "notify"})
    with running_registry(tmp_path / "registry", notify_url=hook.url, notify_token=TOKEN) as reg:
        await asyncio.to_thread(reg.push, layout, "v7", "team/notified")
        try:
            async with asyncio.timeout(15):
                event = await hook.wait_for_push("team/notified", "v7")
        except TimeoutError:
            pytest.fail(f"no push notification for team/notified:v7 within 15 s: {hook.received}")
    assert event["target"]["digest"] == digest
    assert event["target"]["mediaType"] == OCI_MANIFEST
