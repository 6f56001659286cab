"""The app under test seen through its HTTP API: its test client, its deployments, and a wait
until it has nothing left to do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.support.polling import until
from tests.support.settings import api_headers

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]


async def deployments(client: Client, **query: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/deployments", params=query, headers=api_headers())
    assert response.status == 200
    found: list[dict[str, Any]] = (await response.json())["deployments"]
    return found


async def settle(client: Client, seconds: float = 15.0) -> list[dict[str, Any]]:
    """Wait until every event is decided and no deployment is planned or running; the
    deployments then."""
    found: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    busy: list[dict[str, Any]] = []

    async def settled() -> bool:
        nonlocal found, pending, busy
        response = await client.get("/api/v1/events", headers=api_headers())
        pending = [e for e in (await response.json())["events"] if e["status"] == "pending"]
        found = await deployments(client, limit="500")
        busy = [d for d in found if d["status"] in ("planned", "running")]
        return not pending and not busy

    await until(
        "settled: no event pending, no deploy planned or running",
        settled,
        seconds=seconds,
        interval=0.05,
        explain=lambda: f"{pending} {busy}",
    )
    return found
