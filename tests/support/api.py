"""The app under test seen through its HTTP API: its test client, its deployments, and a wait
until it has nothing left to do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

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
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get("/api/v1/events", headers=api_headers())
        pending = [e for e in (await response.json())["events"] if e["status"] == "pending"]
        found = await deployments(client, limit="500")
        busy = [d for d in found if d["status"] in ("planned", "running")]
        if not pending and not busy:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not settled within {seconds} s: {pending} {busy}")
        await asyncio.sleep(0.05)
