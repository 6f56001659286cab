"""Fixtures of the tests that move real Swarm services and containers (test_swarm,
test_containers, test_container_swaps).

They are not in ``tests/integration/conftest.py`` because their names (``client``,
``registry``, ``repo``, ``deployer``) mean other things in the other tests of this folder. A
test module imports the ones it uses; each function is named ``*_fixture`` and registered
under the short name with ``name=``, so that the import does not clash with the test
arguments of that name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from deployers.containers import ContainerDeployer
from tests.e2e.docker_engine import DockerEngine
from tests.e2e.docker_support import Repository, container_deployer, repository_in, start_registry
from tests.e2e.registry import Registry


@pytest.fixture(scope="module", name="registry")
def registry_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A docker-registry shared by the tests of one module."""
    started = start_registry(Registry(tmp_path_factory.mktemp("registry")))
    yield started
    started.stop()


@pytest.fixture(name="client")
def client_fixture(docker_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    """An API client of the test engine."""
    opened = docker_engine.client()
    yield opened
    opened.close()


@pytest.fixture(name="repo")
def repo_fixture(registry: Registry, client: docker.DockerClient, tmp_path: Path) -> Repository:
    """A repository of the module's registry, unique to the test."""
    return repository_in(registry, client, tmp_path)


@pytest.fixture(name="deployer")
def container_deployer_fixture(docker_engine: DockerEngine) -> Iterator[ContainerDeployer]:
    """A container deployer on the test engine."""
    with container_deployer(docker_engine) as made:
        yield made
