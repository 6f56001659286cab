"""The files that run regdeploy with Docker Compose: docker-compose.yml, the registry's
configuration (deploy/registry.yml) and regdeploy's (deploy/regdeploy.yml).

``docker-compose config`` checks the compose file as ``docker-compose up`` reads it, and a real
``docker-registry`` starts with the registry's file. Nothing is pulled or built.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from receiver.config import loading as configuration
from receiver.errors import ConfigError
from tests.support.components import free_port, require_binary
from tests.support.polling import until_sync

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
REGISTRY_FILE = ROOT / "deploy" / "registry.yml"
REGDEPLOY_FILE = ROOT / "deploy" / "regdeploy.yml"
SOCKET = "/var/run/docker.sock"
DOCKER_GID = "4242"
DATABASE_URL = "postgresql://regdeploy:pw@postgres:5432/regdeploy"

START_SECONDS = 20.0
POLL_SECONDS = 0.05
# Never send loopback requests through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def compose_config(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with only PATH and ``env`` in its environment."""
    binary = require_binary("docker-compose")
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Target -> source of a rendered service's volumes (short or long syntax)."""
    found = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        found[target] = source
    return found


def labels(section: dict[str, Any]) -> dict[str, str]:
    """The ``labels`` of a service or of its ``deploy`` section, as a mapping."""
    value = section.get("labels") or {}
    if isinstance(value, list):
        return dict(item.split("=", 1) for item in value)
    return {str(k): str(v) for k, v in value.items()}


def registry_endpoint() -> dict[str, Any]:
    config = yaml.safe_load(REGISTRY_FILE.read_text())
    (endpoint,) = config["notifications"]["endpoints"]
    assert isinstance(endpoint, dict)
    return endpoint


@pytest.mark.docker  # runs docker-compose, one of Docker's programs
def test_compose_renders_regdeploy_its_database_registry_and_example(tmp_path: Path) -> None:
    result = compose_config(tmp_path, DOCKER_GID=DOCKER_GID, POSTGRES_PASSWORD="pw")

    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    services = rendered["services"]
    assert set(services) == {"postgres", "registry", "regdeploy", "example"}

    regdeploy = services["regdeploy"]
    assert mounts(regdeploy)[SOCKET] == SOCKET
    assert mounts(regdeploy)["/etc/regdeploy/config.yaml"] == str(REGDEPLOY_FILE)
    assert regdeploy["user"] == f"10001:{DOCKER_GID}"
    assert regdeploy["environment"]["DATABASE_URL"] == DATABASE_URL
    assert mounts(services["registry"])["/etc/docker/registry/config.yml"] == str(REGISTRY_FILE)

    example = services["example"]
    assert labels(example)["regdeploy.enable"] == "true"
    assert labels(example["deploy"])["regdeploy.enable"] == "true"


@pytest.mark.docker  # runs docker-compose, one of Docker's programs
def test_compose_refuses_to_start_without_the_docker_socket_group(tmp_path: Path) -> None:
    result = compose_config(tmp_path)

    assert result.returncode != 0
    assert "DOCKER_GID" in result.stderr


def test_the_registry_notifies_the_regdeploy_service_of_the_compose_file() -> None:
    regdeploy = yaml.safe_load(REGDEPLOY_FILE.read_text())
    (source,) = (s for s in regdeploy["sources"] if s["format"] == "distribution")
    url = urlsplit(registry_endpoint()["url"])

    assert (url.scheme, url.hostname) == ("http", "regdeploy")
    assert url.port == regdeploy["server"]["port"]
    assert url.path == f"/webhooks/{source['name']}"


@pytest.mark.registry  # starts docker-registry itself
def test_the_registry_starts_with_its_file_and_keeps_the_token_out_of_its_log(
    tmp_path: Path,
) -> None:
    binary = require_binary("docker-registry")
    port = free_port()
    log_path = tmp_path / "registry.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        # Scalars may be overridden by variables: listen on a free loopback port, store in tmp.
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}",
        "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "storage"),
    }
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(REGISTRY_FILE)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            status = _wait_for_v2(f"http://127.0.0.1:{port}/v2/", proc, log_path)
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    output = log_path.read_text(errors="replace")
    assert status == 200, output
    (token,) = registry_endpoint()["headers"]["Authorization"]
    assert token.removeprefix("Bearer ") not in output


def _wait_for_v2(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> int:
    """The status of ``GET /v2/`` once the registry answers."""
    last = "no answer"

    def status() -> int | None:
        nonlocal last
        if proc.poll() is not None:
            pytest.fail(f"the registry exited with {proc.returncode}: {_log(log_path)}")
        try:
            with _OPENER.open(url, timeout=1) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code
        except OSError as exc:
            last = repr(exc)
            return None

    return until_sync(
        "the registry answers GET /v2/",
        status,
        seconds=START_SECONDS,
        interval=POLL_SECONDS,
        explain=lambda: f"{last}; its log: {_log(log_path)}",
    )


def _log(path: Path) -> str:
    return path.read_text(errors="replace")


def test_regdeploy_reads_its_compose_configuration_from_the_environment() -> None:
    config = configuration.load(
        REGDEPLOY_FILE,
        env={
            "DATABASE_URL": DATABASE_URL,
            "REGDEPLOY_REGISTRY_TOKEN": "registry-token-from-env",
            "REGDEPLOY_API_TOKEN": "api-token-from-env",
        },
    )

    assert (config.server.host, config.server.port) == ("0.0.0.0", 8080)
    assert config.database.url is not None
    assert config.database.url.reveal() == DATABASE_URL
    source = config.source("registry")
    assert source is not None
    assert source.token.reveal() == "registry-token-from-env"
    assert [t.token.reveal() for t in config.api_tokens] == ["api-token-from-env"]
    assert config.development_secrets == ()
    (repository,) = config.repositories
    assert (str(repository.image), repository.pinned_tag) == ("127.0.0.1:5000/team/app", "stable")
    # regdeploy reaches the registry's API by its compose service name; workloads pull by the
    # loopback name the registry is published under on the host.
    registry = config.registry("127.0.0.1:5000")
    assert registry is not None
    assert (registry.host, registry.insecure) == ("registry:5000", True)
    assert config.docker is not None
    assert config.docker.host == f"unix://{SOCKET}"


def test_without_tokens_regdeploy_expects_the_token_the_registry_file_sends() -> None:
    config = configuration.load(REGDEPLOY_FILE, env={"DATABASE_URL": DATABASE_URL})

    source = config.source("registry")
    assert source is not None
    (header,) = registry_endpoint()["headers"]["Authorization"]
    assert header == f"Bearer {source.token.reveal()}"
    assert "sources[0].token" in config.development_secrets


def test_regdeploy_names_the_missing_database_url() -> None:
    with pytest.raises(ConfigError) as caught:
        configuration.load(REGDEPLOY_FILE, env={})

    assert any("DATABASE_URL" in problem for problem in caught.value.problems)
