"""Fixtures of the fault tests: a served Nomad fake, a real registry, and clusters of regdeploy
processes that are stopped (whatever state the test left them in) when the test ends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.support.cluster import Cluster, ServeNomad, StartCluster
from tests.support.nomad_fake import FakeNomad
from tests.support.registry import Registry


@pytest.fixture
async def serve_nomad() -> AsyncIterator[ServeNomad]:
    """Serve a Nomad fake on a free port of this test's event loop; its address."""
    servers: list[TestServer] = []

    async def serve(fake: FakeNomad) -> str:
        server = TestServer(fake.app())
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield serve
    for server in servers:
        await server.close()


@pytest.fixture
def start_cluster(tmp_path: Path, db_uri: str) -> Iterator[StartCluster]:
    """Start ``serve`` replicas and ``worker`` processes from one configuration (on the test's
    database); every one still running is stopped after the test."""
    clusters: list[Cluster] = []

    def start(config: dict[str, Any], *, serve: int = 2, workers: int = 1) -> Cluster:
        cluster = Cluster(
            tmp_path / f"cluster-{len(clusters)}", config, serve=serve, workers=workers
        )
        clusters.append(cluster)
        cluster.start()
        return cluster

    yield start
    for cluster in clusters:
        cluster.stop()


@pytest.fixture
def registry(registry_tools: None, tmp_path: Path) -> Iterator[Registry]:
    """A real ``docker-registry`` (it notifies no one)."""
    with Registry(tmp_path / "registry") as started:
        yield started
