"""Fixtures shared by the test tiers (a real PostgreSQL, the private Docker engine, a
configuration, the app, ``start_app``: the one factory of apps under test), and the markers
that say which real component a test needs.

A test is marked from its fixture closure: whatever fixture it uses that (directly or through
other fixtures) depends on one of ``COMPONENT_FIXTURES`` gives it that fixture's marker. A test
that starts a component without such a fixture (a subprocess, a direct call) carries the marker
itself. ``pytest -m "not docker"`` is then the run without the Docker engine, ``-m "not pg and
not registry and not docker"`` the run without any real component.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.app import init_app
from receiver.config.loading import Config
from receiver.store import Store
from tests.support.api import ClientFactory
from tests.support.app import StartApp
from tests.support.components import require_binary
from tests.support.docker_engine import DockerEngine, clean
from tests.support.postgres import create_template, fresh_database, start_server
from tests.support.settings import make_config

# The fixture that starts (or finds) each real component -> the marker of the tests using it.
COMPONENT_FIXTURES: dict[str, str] = {
    "pg_server_uri": "pg",
    "registry_tools": "registry",
    "docker_engine_session": "docker",
    "chromium": "browser",
}


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        closure = getattr(item, "fixturenames", ())
        for fixture, marker in COMPONENT_FIXTURES.items():
            if fixture in closure:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def pg_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, uri = start_server(tmp_path_factory.mktemp("pg") / "pgdata")
    create_template(uri)
    yield uri
    server.stop()


@pytest.fixture(scope="session")
def registry_tools() -> None:
    """The tools a test registry needs: ``docker-registry`` itself, ``skopeo`` to push and
    ``busybox`` to build images from. Every fixture that starts a registry depends on this."""
    for tool in ("docker-registry", "skopeo", "busybox"):
        require_binary(tool)


@pytest.fixture(scope="session")
def docker_engine_session() -> Iterator[DockerEngine]:
    """One private Docker engine with a swarm for the whole session (a swarm binds a fixed
    port, and a start costs seconds)."""
    require_binary("dockerd")
    engine = DockerEngine().start()
    yield engine
    engine.stop()


@pytest.fixture
def docker_engine(docker_engine_session: DockerEngine) -> Iterator[DockerEngine]:
    """The shared engine, emptied of the test's services, containers and networks after it."""
    yield docker_engine_session
    clean(docker_engine_session)


@pytest.fixture
def db_uri(pg_server_uri: str) -> str:
    return fresh_database(pg_server_uri)


@pytest.fixture
def config(db_uri: str) -> Config:
    return make_config(db_uri)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, config: Config) -> TestClient[Any, Any]:
    return await aiohttp_client(init_app(config))


@pytest.fixture
def start_app(aiohttp_client: ClientFactory, db_uri: str) -> StartApp:
    """Starts apps under test on the test's database; its options are ``StartApp``'s
    (``tests/support/app.py``)."""
    return StartApp(aiohttp_client, db_uri)


@pytest.fixture
async def store(db_uri: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_uri, pool_size=4, query_timeout=5)
    yield opened
    await opened.close()


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made with the openssl CLI."""
    openssl = require_binary("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key
