"""Fixtures of the tests that move real Swarm services and containers on the session's
private Docker engine, with images from a real docker-registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from deployers.containers import ContainerDeployer
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import Repository, container_deployer, repository_in
from tests.support.registry import Registry


@pytest.fixture(scope="module")
def registry(registry_tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A docker-registry shared by the tests of one module."""
    with Registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
def client(docker_engine: DockerEngine) -> Iterator[docker.DockerClient]:
    """An API client of the test engine."""
    opened = docker_engine.client()
    yield opened
    opened.close()


@pytest.fixture
def repo(registry: Registry, client: docker.DockerClient, tmp_path: Path) -> Repository:
    """A repository of the module's registry, unique to the test."""
    return repository_in(registry, client, tmp_path)


@pytest.fixture
def deployer(docker_engine: DockerEngine) -> Iterator[ContainerDeployer]:
    """A container deployer on the test engine."""
    with container_deployer(docker_engine) as made:
        yield made
