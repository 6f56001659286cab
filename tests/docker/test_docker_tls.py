"""regdeploy reaches a Docker engine over TCP with TLS client certificates, configured in
``deployers.docker`` or taken from ``DOCKER_HOST`` / ``DOCKER_CERT_PATH``, and verifies the
engine's certificate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from deployers.base import DeployOutcome, Target
from deployers.docker_engine import DockerSettings, Engine
from deployers.swarm import SwarmDeployer
from handlers.references import Aliases, parse_name, parse_reference
from receiver.config.docker import read_docker
from receiver.config.reader import Reader
from tests.support.docker_engine import DockerEngine, make_certificates
from tests.support.docker_workloads import running_image

IMAGE = parse_name("127.0.0.1:5000/team/app")
RUNNING = "127.0.0.1:5000/team/app:1.0.0@sha256:" + "1" * 64
NEW = parse_reference("127.0.0.1:5000/team/app:1.1.0@sha256:" + "2" * 64)
WEB = Target(kind="swarm", name="web")


@contextlib.contextmanager
def deployer(settings: DockerSettings) -> Iterator[SwarmDeployer]:
    """A Swarm deployer with ``settings``, closed on leaving."""
    swarm = SwarmDeployer(engine=Engine(settings), aliases=Aliases({}))
    try:
        yield swarm
    finally:
        swarm.close()


async def test_client_certificates_reach_the_engine(docker_engine: DockerEngine) -> None:
    certs = docker_engine.certs
    settings = DockerSettings(
        host=docker_engine.tls_host,
        ca_file=certs / "ca.pem",
        client_cert=certs / "cert.pem",
        client_key=certs / "key.pem",
    )
    with deployer(settings) as swarm:
        docker_engine.client().services.create(RUNNING, name="web")
        running = await running_image(swarm, WEB, IMAGE)
    assert running == parse_reference(RUNNING)


async def test_docker_host_and_docker_cert_path_alone_configure_the_engine(
    docker_engine: DockerEngine,
) -> None:
    problems: list[str] = []
    settings, switch = read_docker(
        Reader(problems),
        None,  # no deployers section: the environment alone names the engine
        env={"DOCKER_HOST": docker_engine.tls_host, "DOCKER_CERT_PATH": str(docker_engine.certs)},
        logins={},
    )
    assert problems == []
    assert settings is not None
    assert switch.on and docker_engine.tls_host in switch.why
    with deployer(settings) as swarm:
        assert await running_image(swarm, Target(kind="swarm", name="absent"), IMAGE) is None


async def test_without_a_client_certificate_the_engine_refuses(
    docker_engine: DockerEngine,
) -> None:
    settings = DockerSettings(host=docker_engine.tls_host, ca_file=docker_engine.certs / "ca.pem")
    with deployer(settings) as swarm:
        result = await swarm.deploy(WEB, NEW)
    assert result.outcome is DeployOutcome.FAILED
    assert result.retryable
    assert result.message.startswith("the Docker engine did not answer")


async def test_an_engine_certificate_from_another_ca_is_refused(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    make_certificates(other)
    settings = DockerSettings(
        host=docker_engine.tls_host,
        ca_file=other / "ca.pem",
        client_cert=docker_engine.certs / "cert.pem",
        client_key=docker_engine.certs / "key.pem",
    )
    with deployer(settings) as swarm:
        result = await swarm.deploy(WEB, NEW)
    assert result.outcome is DeployOutcome.FAILED
    assert "certificate verify failed" in result.message
