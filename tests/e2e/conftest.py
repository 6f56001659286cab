"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from deployers.base import Deployers
from receiver.app import init_app
from tests.support.components import free_port
from tests.support.recording import RecordingDeployer
from tests.support.registry import Registry
from tests.support.settings import REGISTRY_TOKEN, make_config
from tests.support.stack import CREDENTIALS, REPO, Stack, StackFactory


@pytest.fixture
def notifying(registry_tools: None, tmp_path: Path) -> Iterator[tuple[Registry, int]]:
    """A real registry that will notify regdeploy (``/webhooks/registry`` with the registry
    source's token) on the free port it yields with it; regdeploy is the test's to start."""
    port = free_port()
    with Registry(
        tmp_path / "registry",
        notify_url=f"http://127.0.0.1:{port}/webhooks/registry",
        notify_token=REGISTRY_TOKEN,
    ) as started:
        yield started, port


@pytest.fixture
async def stack(registry_tools: None, db_uri: str, tmp_path: Path) -> AsyncIterator[StackFactory]:
    cleanups: list[Callable[[], Awaitable[None]]] = []

    async def started(
        *,
        notify: bool = True,
        htpasswd: bool = False,
        reconcile: float = 0,
        harbor: dict[str, Any] | None = None,
        sections: dict[str, Any] | None = None,
        notices_to: tuple[str, ...] = (),
        **repo: Any,
    ) -> Stack:
        """``harbor``: the registry's ``harbor:`` section; ``sections``: more of the
        configuration (``notifiers``, ``notices``); ``notices_to``: the repository's
        ``notify``; ``repo``: more of the repository's keys."""
        if notices_to:
            repo["notify"] = list(notices_to)
        port = free_port()
        registry = Registry(
            tmp_path / "registry",
            notify_url=f"http://127.0.0.1:{port}/webhooks/registry" if notify else None,
            notify_token=REGISTRY_TOKEN,
            htpasswd=CREDENTIALS if htpasswd else None,
        )
        await asyncio.to_thread(registry.start)
        cleanups.append(lambda: asyncio.to_thread(registry.stop))
        deployer = RecordingDeployer()
        reachable: dict[str, Any] = {"host": registry.host, "insecure": True}
        if htpasswd:
            reachable |= {"username": CREDENTIALS[0], "password": CREDENTIALS[1]}
        if harbor is not None:
            reachable["harbor"] = harbor
        sections = {
            "registries": [reachable],
            "worker": {"poll_interval_seconds": 0.5},
            "reconciler": {"interval_seconds": reconcile},
            **(sections or {}),
        }
        config = make_config(
            db_uri,
            registry=registry.host,
            repositories=[
                {
                    "name": REPO,
                    "image": f"{registry.host}/{REPO}",
                    "targets": [{"kind": "recording", "name": "web"}],
                    **repo,
                }
            ],
            **sections,
        )
        server = TestServer(init_app(config, deployers=Deployers([deployer])), port=port)
        await server.start_server()
        cleanups.append(server.close)
        session = aiohttp.ClientSession()
        cleanups.append(session.close)
        base_url = str(server.make_url("")).rstrip("/")
        return Stack(registry, deployer, session, base_url, tmp_path / "layout")

    yield started
    for cleanup in reversed(cleanups):
        await cleanup()
