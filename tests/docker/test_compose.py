"""Containers that docker compose created, moved by the container deployer so that a later
``docker-compose up -d`` has nothing to change (``deployers.compose``).

Each test writes a compose project, brings it up with the real ``docker-compose`` (v1) on the
session's private engine, pulling from the module's docker-registry, deploys through the
container deployer, then asks compose again: ``up -d`` must find the container up to date.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import docker
import pytest

from deployers.base import DeployOutcome
from deployers.containers import ASIDE_SUFFIX, ContainerDeployer
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import (
    ENABLED,
    ComposeProject,
    Repository,
    container_deployer,
    discovered,
    names,
    run,
    target,
)

COMPOSE = "com.docker.compose."
CONFIG_HASH = "com.docker.compose.config-hash"
# What people write around the line a rewrite changes: comments, quoting, flow style, blanks.
COMPOSE_FILE = """\
# The shop, as ops run it.
version: "3.8"

services:
  web:
    image: "{image}"   # moved by regdeploy
    labels:
      regdeploy.enable: "true"
    networks:
      front:
        aliases: [web-front]
    restart: unless-stopped

networks:
  front: {{}}
"""
EXITS = ["/bin/sh", "-c", "echo boom >&2; exit 3"]
SLEEPS = ["/bin/sleep", "999999"]


@pytest.fixture
def project(docker_engine: DockerEngine, repo: Repository, tmp_path: Path) -> ComposeProject:
    """The shop project, running ``web`` on the repository's 1.0 (pushed here)."""
    directory = tmp_path / "shop"
    directory.mkdir()
    made = ComposeProject(engine=docker_engine, directory=directory)
    made.file.write_text(COMPOSE_FILE.format(image=repo.text("1.0")))
    made.file.chmod(0o640)
    return made


async def up(project: ComposeProject, repo: Repository) -> dict[str, Any]:
    """Push 1.0 and bring the project up; ``docker inspect`` of its web container."""
    await repo.push("1.0")
    project.compose("up", "-d")
    found: dict[str, Any] = repo.client.api.inspect_container(project.container_name("web"))
    return found


def compose_labels(container: dict[str, Any], *, but: str = "") -> dict[str, str]:
    labels = container["Config"]["Labels"]
    return {k: v for k, v in labels.items() if k.startswith(COMPOSE) and k != but}


def aliases(container: dict[str, Any]) -> dict[str, set[str]]:
    own = container["Id"][:12]
    networks = container["NetworkSettings"]["Networks"]
    return {name: set(n["Aliases"] or []) - {own} for name, n in networks.items()}


async def test_a_new_digest_under_the_same_tag_leaves_compose_nothing_to_do(
    docker_engine: DockerEngine,
    repo: Repository,
    client: docker.DockerClient,
    project: ComposeProject,
) -> None:
    old = await up(project, repo)
    name = project.container_name("web")
    second = await repo.push("1.0", cmd=SLEEPS)  # another image under the same tag
    with container_deployer(docker_engine) as deployer:
        assert await discovered(deployer, repo.name) == [target(name)]
        result = await deployer.deploy(target(name), repo.ref("1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert result.message == f"{name} runs {repo.text('1.0')}"
    new = client.api.inspect_container(name)
    assert new["Id"] != old["Id"]
    assert new["Config"]["Image"] == repo.text("1.0")  # as compose wrote it
    assert new["Config"]["Cmd"] == SLEEPS
    assert client.api.inspect_image(repo.text("1.0"))["Id"] == new["Image"]
    assert compose_labels(new, but=CONFIG_HASH) == compose_labels(old, but=CONFIG_HASH)
    assert new["Config"]["Labels"][CONFIG_HASH] != old["Config"]["Labels"][CONFIG_HASH]
    assert aliases(new) == aliases(old) == {"shop_front": {"web", "web-front"}}
    said = project.compose("up", "-d")
    assert f"{name} is up-to-date" in said
    assert project.ids("web") == [new["Id"]]
    assert names(client) == [name]


async def test_a_failed_deploy_gives_compose_back_its_tag(
    docker_engine: DockerEngine,
    repo: Repository,
    client: docker.DockerClient,
    project: ComposeProject,
) -> None:
    old = await up(project, repo)
    name = project.container_name("web")
    broken = await repo.push("1.0", cmd=EXITS)
    with container_deployer(docker_engine) as deployer:
        result = await deployer.deploy(target(name), repo.ref("1.0", broken))

    assert result.outcome is DeployOutcome.ROLLED_BACK, result.message
    assert client.api.inspect_image(repo.text("1.0"))["Id"] == old["Image"]
    assert f"{name} is up-to-date" in project.compose("up", "-d")
    assert project.ids("web") == [old["Id"]]


async def test_a_new_tag_rewrites_the_compose_file_with_rewrite_on(
    docker_engine: DockerEngine,
    repo: Repository,
    client: docker.DockerClient,
    project: ComposeProject,
) -> None:
    old = await up(project, repo)
    name = project.container_name("web")
    before = project.file.read_bytes()
    second = await repo.push("1.1")
    with container_deployer(docker_engine, compose_rewrite=frozenset({repo.name})) as deployer:
        result = await deployer.deploy(target(name), repo.ref("1.1", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert f"{project.file} now names {repo.text('1.1')}" in result.message
    line = f'    image: "{repo.text("1.0")}"   # moved by regdeploy\n'.encode()
    assert before.count(line) == 1
    assert project.file.read_bytes() == before.replace(line, line.replace(b":1.0", b":1.1"))
    assert stat.S_IMODE(project.file.stat().st_mode) == 0o640
    new = client.api.inspect_container(name)
    assert new["Config"]["Image"] == repo.text("1.1")
    assert compose_labels(new, but=CONFIG_HASH) == compose_labels(old, but=CONFIG_HASH)
    assert f"{name} is up-to-date" in project.compose("up", "-d")
    assert project.ids("web") == [new["Id"]]


async def test_a_new_tag_with_rewrite_off_names_the_file_and_the_old_tag(
    docker_engine: DockerEngine,
    repo: Repository,
    client: docker.DockerClient,
    project: ComposeProject,
) -> None:
    await up(project, repo)
    name = project.container_name("web")
    before = project.file.read_bytes()
    second = await repo.push("1.1")
    with container_deployer(docker_engine) as deployer:
        result = await deployer.deploy(target(name), repo.ref("1.1", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert f"{project.file} still names {repo.text('1.0')}" in result.message
    assert "`docker-compose up -d` would go back to it" in result.message
    assert project.file.read_bytes() == before
    assert client.api.inspect_container(name)["Config"]["Image"] == repo.text("1.1")
    # And so it does: the container differs from the file.
    assert "Recreating" in project.compose("up", "-d")
    assert client.api.inspect_container(name)["Config"]["Image"] == repo.text("1.0")


def compose_container(
    client: docker.DockerClient, repo: Repository, name: str, **labels: str
) -> dict[str, Any]:
    """A container labelled as compose labels its own, created without compose."""
    everything = {
        **ENABLED,
        "com.docker.compose.project": "shop",
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "1",
        "com.docker.compose.oneoff": "False",
        **labels,
    }
    run(client, repo.text("1.0"), name, labels=everything)
    found: dict[str, Any] = client.api.inspect_container(name)
    return found


async def test_compose_v2_labels_get_the_new_image_id(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, tmp_path: Path
) -> None:
    await repo.push("1.0")
    repo.pull("1.0")
    old = compose_container(
        client,
        repo,
        "shop-web-1",
        **{
            "com.docker.compose.version": "2.24.5",
            "com.docker.compose.config-hash": "ab" * 32,
            "com.docker.compose.image": client.api.inspect_image(repo.text("1.0"))["Id"],
            "com.docker.compose.project.config_files": str(tmp_path / "compose.yaml"),
            "com.docker.compose.project.working_dir": str(tmp_path),
        },
    )
    second = await repo.push("1.0", cmd=SLEEPS)

    result = await deployer.deploy(target("shop-web-1"), repo.ref("1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert result.message == f"shop-web-1 runs {repo.text('1.0')}"
    new = client.api.inspect_container("shop-web-1")
    assert new["Config"]["Image"] == repo.text("1.0")
    assert new["Config"]["Labels"]["com.docker.compose.image"] == new["Image"] != old["Image"]
    assert compose_labels(new, but="com.docker.compose.image") == compose_labels(
        old, but="com.docker.compose.image"
    )


async def test_without_its_compose_file_the_hash_is_kept_and_the_message_says_why(
    deployer: ContainerDeployer, repo: Repository, client: docker.DockerClient, tmp_path: Path
) -> None:
    await repo.push("1.0")
    repo.pull("1.0")
    gone = tmp_path / "gone" / "docker-compose.yml"
    old = compose_container(
        client,
        repo,
        "shop_web_1",
        **{
            "com.docker.compose.version": "1.29.2",
            "com.docker.compose.config-hash": "cd" * 32,
            "com.docker.compose.project.config_files": str(gone),
            "com.docker.compose.project.working_dir": str(gone.parent),
        },
    )
    second = await repo.push("1.0", cmd=SLEEPS)

    result = await deployer.deploy(target("shop_web_1"), repo.ref("1.0", second))

    assert result.outcome is DeployOutcome.SUCCEEDED, result.message
    assert "`docker-compose up -d` will recreate it" in result.message
    assert f"{gone} is not there" in result.message
    new = client.api.inspect_container("shop_web_1")
    assert compose_labels(new) == compose_labels(old)
    assert new["Config"]["Image"] == repo.text("1.0")


@pytest.mark.parametrize("rewrite", [False, True], ids=["rewrite-off", "rewrite-on"])
async def test_a_rollback_after_a_new_tag_leaves_compose_as_it_was(
    docker_engine: DockerEngine,
    repo: Repository,
    client: docker.DockerClient,
    project: ComposeProject,
    rewrite: bool,
) -> None:
    """A rollout's rollback deploys the digest the container ran before (its tag with it)."""
    old = await up(project, repo)
    name = project.container_name("web")
    before = project.file.read_bytes()
    second = await repo.push("1.1")
    chosen = frozenset({repo.name}) if rewrite else frozenset()
    with container_deployer(docker_engine, compose_rewrite=chosen) as deployer:
        previous = await deployer.current(target(name), repo.name)
        assert previous is not None
        moved = await deployer.deploy(target(name), repo.ref("1.1", second))
        back = await deployer.deploy(target(name), previous.image)

    assert moved.outcome is back.outcome is DeployOutcome.SUCCEEDED, (moved, back)
    rewritten = f"; {project.file} now names {repo.text('1.0')}" if rewrite else ""
    assert back.message == f"{name} runs {repo.text('1.0')}{rewritten}"
    assert project.file.read_bytes() == before
    new = client.api.inspect_container(name)
    assert new["Image"] == old["Image"]
    assert new["Config"]["Image"] == repo.text("1.0")
    assert compose_labels(new) == compose_labels(old)  # the config hash too
    assert f"{name} is up-to-date" in project.compose("up", "-d")
    assert project.ids("web") == [new["Id"]]


async def test_repairing_a_swap_cut_short_gives_compose_back_its_tag(
    deployer: ContainerDeployer,
    repo: Repository,
    client: docker.DockerClient,
    project: ComposeProject,
) -> None:
    """Killed after the tag moved and the old container was set aside, as a deploy leaves it."""
    old = await up(project, repo)
    name = project.container_name("web")
    second = await repo.push("1.0", cmd=SLEEPS)
    repo.pull(second)
    client.api.tag(f"{repo.name}@{second}", str(repo.name), "1.0")
    client.api.rename(old["Id"], name + ASIDE_SUFFIX)

    assert await deployer.repair(name) is True

    assert client.api.inspect_image(repo.text("1.0"))["Id"] == old["Image"]
    assert client.api.inspect_container(name)["Id"] == old["Id"]
    assert f"{name} is up-to-date" in project.compose("up", "-d")
