"""Fixtures shared by the test tiers: a real PostgreSQL, a configuration, the app."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.app import init_app
from receiver.config import loading as configuration
from receiver.config.loading import Config
from receiver.store import Store
from tests.components import require_binary
from tests.e2e.docker_engine import DockerEngine, clean
from tests.postgres import create_template, fresh_database, start_server

REGISTRY_TOKEN = "registry-secret-token-0123"
HARBOR_TOKEN = "harbor-secret-token-4567"
API_TOKEN = "api-secret-token-89ab"
READ_TOKEN = "api-read-token-cdef"

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture(scope="session")
def pg_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, uri = start_server(tmp_path_factory.mktemp("pg") / "pgdata")
    create_template(uri)
    yield uri
    server.stop()


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


def make_config(db_uri: str, *, registry: str | None = None, **overrides: Any) -> Config:
    """A valid configuration on ``db_uri``; ``registry`` names the registry source's registry."""
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "max_body_bytes": 1024 * 1024},
        "database": {"url": db_uri, "startup_wait_seconds": 5, "timeout_seconds": 5},
        "sources": [
            {
                "name": "registry",
                "format": "distribution",
                "token": REGISTRY_TOKEN,
                **({"registry": registry} if registry else {}),
            },
            {"name": "harbor", "format": "harbor", "token": HARBOR_TOKEN},
        ],
        "api": {
            "tokens": [
                {"name": "admin", "token": API_TOKEN, "scope": "write"},
                {"name": "viewer", "token": READ_TOKEN, "scope": "read"},
            ]
        },
    }
    # The worker runs only where a test asks for it, so receiving tests see events as stored.
    raw["worker"] = {"enabled": False}
    raw["reconciler"] = {"interval_seconds": 0}
    for key, value in overrides.items():
        raw[key] = value
    return configuration.parse(raw, env={})


@pytest.fixture
def config(db_uri: str) -> Config:
    return make_config(db_uri)


@pytest.fixture
async def client(aiohttp_client: ClientFactory, config: Config) -> TestClient[Any, Any]:
    return await aiohttp_client(init_app(config))


@pytest.fixture
async def store(db_uri: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_uri, pool_size=4, query_timeout=5)
    yield opened
    await opened.close()


def api_headers(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"


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
