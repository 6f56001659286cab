"""The whole service end to end with a recording deployer: a real docker-registry that
notifies regdeploy, real skopeo pushes, real PostgreSQL, the real app and worker, and a client
for its API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from deployers.base import Target
from tests.support.metrics import Samples, parse
from tests.support.oci import build_image
from tests.support.polling import until
from tests.support.recording import RecordingDeployer
from tests.support.registry import Registry
from tests.support.settings import REGISTRY_TOKEN, api_headers

WEB = Target(kind="recording", name="web")
REPO = "team/app"
CREDENTIALS = ("deployer", "s3cret-pass")


@dataclass
class Stack:
    registry: Registry
    deployer: RecordingDeployer
    session: aiohttp.ClientSession
    base_url: str
    layout: Path

    @property
    def image(self) -> str:
        return f"{self.registry.host}/{REPO}"

    def ref(self, tag: str, digest: str) -> str:
        return f"{self.image}:{tag}@{digest}"

    async def push(self, tag: str) -> str:
        digest = build_image(self.layout, tag=tag, env={"VERSION": tag})
        await asyncio.to_thread(self.registry.push, self.layout, tag, REPO)
        return digest

    async def api(self, method: str, path: str, body: object = None) -> Any:
        async with self.session.request(
            method, self.base_url + path, json=body, headers=api_headers()
        ) as response:
            assert response.status < 300, await response.text()
            return await response.json()

    async def metrics(self) -> Samples:
        async with self.session.get(self.base_url + "/metrics") as response:
            assert response.status == 200
            return parse(await response.text())

    async def deployments(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (await self.api("GET", "/api/v1/deployments?limit=500"))[
            "deployments"
        ]
        return found

    async def wait_until(self, what: str, check: Callable[[], Awaitable[bool]]) -> None:
        """Poll ``check`` for up to 30 s; failing, say ``what`` and the deployments."""

        async def seen() -> str:
            return f"deployments: {await self.deployments()}"

        await until(what, check, seconds=30, explain=seen)

    async def settled(self, events: int) -> None:
        """Wait until ``events`` events are stored, decided, and nothing is queued."""

        async def check() -> bool:
            stored = (await self.api("GET", "/api/v1/events?limit=500"))["events"]
            busy = [d for d in await self.deployments() if d["status"] in ("planned", "running")]
            decided = [e for e in stored if e["status"] == "done"]
            return len(decided) >= events and not busy

        await self.wait_until(f"{events} events decided", check)

    async def notify(self, *records: dict[str, Any]) -> dict[str, Any]:
        """Post a Distribution notification of ``records`` as the registry would (its token)."""
        async with self.session.post(
            self.base_url + "/webhooks/registry",
            json={"events": list(records)},
            headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"},
        ) as response:
            assert response.status == 202, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer


StackFactory = Callable[..., Awaitable[Stack]]
