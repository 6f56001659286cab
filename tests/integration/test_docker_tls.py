"""regdeploy reaches a Docker engine over TCP with TLS client certificates, configured in
``deployers.docker`` or taken from ``DOCKER_HOST`` / ``DOCKER_CERT_PATH``, and verifies the
engine's certificate."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployers.base import Outcome, Target
from deployers.docker_engine import DockerSettings, Engine
from deployers.swarm import SwarmDeployer
from handlers.references import Aliases, parse_name, parse_reference
from receiver.config_docker import read_docker
from receiver.config_reader import Reader
from tests.e2e.docker_engine import DockerEngine, make_certificates

pytestmark = pytest.mark.e2e

IMAGE = parse_name("127.0.0.1:5000/team/app")


def deployer(settings: DockerSettings) -> SwarmDeployer:
    return SwarmDeployer(engine=Engine(settings), aliases=Aliases({}))


async def test_client_certificates_reach_the_engine(docker_engine: DockerEngine) -> None:
    certs = docker_engine.certs
    swarm = deployer(
        DockerSettings(
            host=docker_engine.tls_host,
            ca_file=certs / "ca.pem",
            client_cert=certs / "cert.pem",
            client_key=certs / "key.pem",
        )
    )
    try:
        docker_engine.client().services.create(
            "127.0.0.1:5000/team/app:1.0.0@sha256:" + "1" * 64, name="web"
        )
        running = await swarm.current(Target(kind="swarm", name="web"), IMAGE)
    finally:
        swarm.close()
    assert running == parse_reference("127.0.0.1:5000/team/app:1.0.0@sha256:" + "1" * 64)


async def test_docker_host_and_docker_cert_path_configure_the_engine(
    docker_engine: DockerEngine,
) -> None:
    problems: list[str] = []
    settings = read_docker(
        Reader(problems),
        {"docker": {}},
        env={"DOCKER_HOST": docker_engine.tls_host, "DOCKER_CERT_PATH": str(docker_engine.certs)},
        logins={},
    )
    assert problems == []
    assert settings is not None
    swarm = deployer(settings)
    try:
        assert await swarm.current(Target(kind="swarm", name="absent"), IMAGE) is None
    finally:
        swarm.close()


async def test_without_a_client_certificate_the_engine_refuses(
    docker_engine: DockerEngine,
) -> None:
    swarm = deployer(
        DockerSettings(host=docker_engine.tls_host, ca_file=docker_engine.certs / "ca.pem")
    )
    try:
        result = await swarm.deploy(
            Target(kind="swarm", name="web"),
            parse_reference("127.0.0.1:5000/team/app:1.1.0@sha256:" + "2" * 64),
        )
    finally:
        swarm.close()
    assert result.outcome is Outcome.FAILED
    assert result.retryable
    assert result.message.startswith("the Docker engine did not answer")


async def test_an_engine_certificate_from_another_ca_is_refused(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    make_certificates(other)
    swarm = deployer(
        DockerSettings(
            host=docker_engine.tls_host,
            ca_file=other / "ca.pem",
            client_cert=docker_engine.certs / "cert.pem",
            client_key=docker_engine.certs / "key.pem",
        )
    )
    try:
        result = await swarm.deploy(
            Target(kind="swarm", name="web"),
            parse_reference("127.0.0.1:5000/team/app:1.1.0@sha256:" + "2" * 64),
        )
    finally:
        swarm.close()
    assert result.outcome is Outcome.FAILED
    assert "certificate verify failed" in result.message
