"""The reconciler against a registry that does not answer: it says so once, not every round, and
says when the registry answers again."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from deployers.base import Deployers
from receiver.app import init_app
from receiver.reloading import services_of
from receiver.runtime import build_reconciler
from tests.support.api import ClientFactory
from tests.support.components import free_port
from tests.support.settings import make_config

Client = TestClient[Any, Any]


async def test_an_unreachable_registry_is_reported_once_per_failure(
    aiohttp_client: ClientFactory, db_uri: str
) -> None:
    registry = f"127.0.0.1:{free_port()}"  # nothing listens there
    config = make_config(
        db_uri,
        repositories=[{"name": "team/app", "image": f"{registry}/team/app"}],
        registries=[{"host": registry, "insecure": True}],
    )
    client = await aiohttp_client(init_app(config, deployers=Deployers()))
    reconciler = build_reconciler(services_of(client.app))

    with capture_logs() as logs:
        for _ in range(3):
            assert await reconciler.reconcile_once() == 0

    failures = [e for e in logs if e["event"] == "reconcile_repository_failed"]
    assert len(failures) == 1
    assert failures[0]["image"] == f"{registry}/team/app"
    assert "unreachable" in failures[0]["error"]
