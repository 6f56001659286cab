"""The `deployers.docker` configuration section and the pull credentials it gets."""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deployers.docker_engine import (
    DEFAULT_HOST,
    ContainerSettings,
    DockerSettings,
    RegistryLogin,
    SwarmSettings,
)
from receiver.config import loading as configuration
from receiver.config.reader import Switch
from receiver.errors import ConfigError

BASE: dict[str, Any] = {
    "sources": [{"name": "registry", "format": "distribution", "token": "t0123456789"}],
    "api": {"tokens": [{"name": "admin", "token": "a0123456789"}]},
}


def parse(env: dict[str, str] | None = None, **sections: Any) -> configuration.Config:
    return configuration.parse({**BASE, **sections}, env=env or {})


def docker(env: dict[str, str] | None = None, **section: Any) -> DockerSettings:
    settings = parse(env, deployers={"docker": section}).docker
    assert settings is not None
    return settings


def problems(env: dict[str, str] | None = None, **sections: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse(env, **sections)
    return list(raised.value.problems)


CERT_FILES = ("ca.pem", "cert.pem", "key.pem")


def cert_dir(tmp_path: Path) -> Path:
    for name in CERT_FILES:
        (tmp_path / name).write_text(f"-----BEGIN {name}-----\n", encoding="utf-8")
    return tmp_path


def files_in(certs: Path) -> tuple[Path, ...]:
    """``ca.pem``, ``cert.pem`` and ``key.pem`` in ``certs``, as ``DOCKER_CERT_PATH`` holds them."""
    return tuple(certs / name for name in CERT_FILES)


# --- absent and default ------------------------------------------------------------------------


NO_SECTION = [
    pytest.param({}, id="no-deployers-section"),
    pytest.param({"deployers": None}, id="empty-deployers-section"),
    pytest.param({"deployers": {}}, id="deployers-without-docker"),
]


@pytest.fixture
def local_socket() -> Iterator[Path]:
    """A listening Unix socket where a Docker engine's would be (kept short for the path
    limit)."""
    directory = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    path = directory / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind(str(path))
        yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("sections", NO_SECTION)
def test_without_a_section_an_engine_or_the_environment_there_is_no_docker_deployer(
    sections: dict[str, Any], tmp_path: Path
) -> None:
    config = configuration.parse({**BASE, **sections}, env={}, local_socket=tmp_path / "absent")

    assert config.docker is None
    assert config.docker_switch == Switch(
        on=False,
        why=f"no deployers.docker section, DOCKER_HOST is unset and there is no socket "
        f"{tmp_path / 'absent'}",
    )


@pytest.mark.parametrize("sections", NO_SECTION)
def test_docker_host_alone_turns_the_docker_deployers_on(sections: dict[str, Any]) -> None:
    config = parse({"DOCKER_HOST": "tcp://docker:2375"}, **sections)

    assert config.docker == DockerSettings(host="tcp://docker:2375")
    assert config.docker_switch == Switch(on=True, why="DOCKER_HOST is set (tcp://docker:2375)")


def test_the_local_socket_alone_turns_the_docker_deployers_on(local_socket: Path) -> None:
    config = configuration.parse(BASE, env={}, local_socket=local_socket)

    assert config.docker == DockerSettings(host=f"unix://{local_socket}")
    assert config.docker_switch == Switch(on=True, why=f"the Docker socket {local_socket} exists")


def test_a_file_that_is_no_socket_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "docker.sock").write_text("")
    config = configuration.parse(BASE, env={}, local_socket=tmp_path / "docker.sock")

    assert (config.docker, config.docker_switch.on) == (None, False)


def test_load_looks_for_this_machines_socket_with_this_processs_environment(
    tmp_path: Path, local_socket: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(BASE))

    assert configuration.load(path, local_socket=local_socket).docker_switch.on is True
    assert configuration.load(path, env={}).docker is None  # another machine: no socket


def test_an_address_regdeploy_cannot_speak_leaves_the_deployers_off_with_the_reason() -> None:
    config = parse({"DOCKER_HOST": "ssh://me@docker.internal"})

    assert config.docker is None
    assert config.docker_switch == Switch(
        on=False,
        why="DOCKER_HOST=ssh://me@docker.internal is not an address regdeploy speaks "
        "(unix://, tcp://, http://, https://); add a deployers.docker section",
    )


@pytest.mark.parametrize("enabled", [False, "false"])
def test_enabled_false_turns_them_off_whatever_the_environment(
    enabled: object, local_socket: Path
) -> None:
    config = configuration.parse(
        {**BASE, "deployers": {"docker": {"enabled": enabled, "host": "tcp://docker:2375"}}},
        env={"DOCKER_HOST": "tcp://docker:2375"},
        local_socket=local_socket,
    )

    assert config.docker is None
    assert config.docker_switch == Switch(on=False, why="deployers.docker.enabled is false")


def test_a_section_turns_them_on_and_says_so() -> None:
    config = parse(deployers={"docker": {"enabled": True}})

    assert config.docker == DockerSettings()
    assert config.docker_switch == Switch(on=True, why="the deployers.docker section")


def test_enabled_must_be_a_boolean() -> None:
    assert problems(deployers={"docker": {"enabled": "yes"}}) == [
        "deployers.docker.enabled: expected true or false, got 'yes'"
    ]


@pytest.mark.parametrize("section", [{}, None], ids=["empty-mapping", "null"])
def test_an_empty_section_takes_the_defaults(section: dict[str, Any] | None) -> None:
    settings = parse(deployers={"docker": section}).docker

    assert settings == DockerSettings()
    assert settings.host == "unix:///var/run/docker.sock" == DEFAULT_HOST
    assert (settings.ca_file, settings.client_cert, settings.client_key) == (None, None, None)
    assert settings.uses_tls is False
    assert dict(settings.logins) == {}


# --- the host ----------------------------------------------------------------------------------


def test_docker_host_from_the_environment_fills_a_missing_host() -> None:
    assert (
        docker({"DOCKER_HOST": "tcp://docker.internal:2375"}).host == "tcp://docker.internal:2375"
    )


def test_an_explicit_host_wins_over_docker_host() -> None:
    settings = docker({"DOCKER_HOST": "tcp://ignored:2375"}, host="https://docker.internal:2376")

    assert settings.host == "https://docker.internal:2376"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("unix:///run/user/1000/docker.sock", "unix:///run/user/1000/docker.sock"),
        ("tcp://10.0.0.7:2375", "tcp://10.0.0.7:2375"),
        ("http://10.0.0.7:2375", "tcp://10.0.0.7:2375"),
        ("https://docker.internal:2376", "https://docker.internal:2376"),
    ],
)
def test_accepted_host_schemes(host: str, expected: str) -> None:
    assert docker(host=host).host == expected


@pytest.mark.parametrize(
    ("host", "env"),
    [
        pytest.param("ftp://docker.internal", {}, id="ftp"),
        pytest.param("/var/run/docker.sock", {}, id="bare-path"),
        pytest.param(None, {"DOCKER_HOST": "docker.internal:2375"}, id="from-environment"),
    ],
)
def test_an_unknown_host_scheme_is_reported_with_its_key(
    host: str | None, env: dict[str, str]
) -> None:
    section = {} if host is None else {"host": host}
    shown = host or env["DOCKER_HOST"]

    assert problems(env, deployers={"docker": section}) == [
        f"deployers.docker.host: expected unix://, tcp://, http://, https://, got {shown!r}"
    ]


# --- unknown keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deployers", "problem"),
    [
        ({"docker": {"nope": 1}}, "deployers.docker.nope: unknown key"),
        ({"docker": {"swarm": {"nope": 1}}}, "deployers.docker.swarm.nope: unknown key"),
        ({"docker": {"containers": {"nope": 1}}}, "deployers.docker.containers.nope: unknown key"),
        ({"docker": {"labels": {"nope": "x"}}}, "deployers.docker.labels.nope: unknown key"),
        ({"docker": {"tls": {"nope": "x"}}}, "deployers.docker.tls.nope: unknown key"),
        ({"kubernetes": {}}, "deployers.kubernetes: unknown key"),
        ({"docker": {}, "kubernetes": {}}, "deployers.kubernetes: unknown key"),
        ({"docker": "yes"}, "deployers.docker: expected a mapping"),
        ({"docker": {"swarm": ["x"]}}, "deployers.docker.swarm: expected a mapping"),
        (["docker"], "deployers: expected a mapping"),
    ],
)
def test_problems_name_their_key(deployers: object, problem: str) -> None:
    assert problems(deployers=deployers) == [problem]


@pytest.mark.parametrize(
    ("deployers", "problem"),
    [
        pytest.param({"docker": False}, "deployers.docker: expected a mapping", id="docker-false"),
        pytest.param({"docker": []}, "deployers.docker: expected a mapping", id="docker-list"),
        pytest.param(
            {"docker": {"swarm": False}},
            "deployers.docker.swarm: expected a mapping",
            id="swarm-false",
        ),
        pytest.param(
            {"docker": {"containers": False}},
            "deployers.docker.containers: expected a mapping",
            id="containers-false",
        ),
    ],
)
def test_a_falsy_value_that_is_not_a_mapping_is_reported(deployers: object, problem: str) -> None:
    assert problems(deployers=deployers) == [problem]


# --- TLS ---------------------------------------------------------------------------------------


def test_tls_files_are_read_from_the_section(tmp_path: Path) -> None:
    certs = cert_dir(tmp_path)

    settings = docker(
        {"DOCKER_CERT_PATH": "/elsewhere"},
        host="https://docker.internal:2376",
        tls={
            "ca_file": str(certs / "ca.pem"),
            "client_cert": str(certs / "cert.pem"),
            "client_key": str(certs / "key.pem"),
            "verify": False,
        },
    )

    assert (settings.ca_file, settings.client_cert, settings.client_key) == files_in(certs)
    assert settings.tls_verify is False
    assert settings.uses_tls is True


@pytest.mark.parametrize("key", ["ca_file", "client_cert", "client_key"])
def test_a_tls_file_that_does_not_exist_is_reported(tmp_path: Path, key: str) -> None:
    certs = cert_dir(tmp_path)
    tls = {"ca_file": str(certs / "ca.pem")}
    if key != "ca_file":
        tls |= {"client_cert": str(certs / "cert.pem"), "client_key": str(certs / "key.pem")}
    tls[key] = str(tmp_path / "missing.pem")

    assert problems(deployers={"docker": {"tls": tls}}) == [
        f"deployers.docker.tls.{key}: no file {tmp_path / 'missing.pem'}"
    ]


@pytest.mark.parametrize(
    ("given", "file_name"), [("client_cert", "cert.pem"), ("client_key", "key.pem")]
)
def test_a_client_cert_and_key_go_together(tmp_path: Path, given: str, file_name: str) -> None:
    certs = cert_dir(tmp_path)

    assert problems(deployers={"docker": {"tls": {given: str(certs / file_name)}}}) == [
        "deployers.docker.tls: client_cert and client_key go together"
    ]


def test_docker_cert_path_fills_the_files_when_the_tls_section_is_absent(tmp_path: Path) -> None:
    certs = cert_dir(tmp_path)

    settings = docker({"DOCKER_HOST": "tcp://docker.internal:2376", "DOCKER_CERT_PATH": str(certs)})

    assert (settings.ca_file, settings.client_cert, settings.client_key) == files_in(certs)
    assert settings.tls_verify is True
    assert settings.uses_tls is True


def test_docker_cert_path_without_the_files_is_reported(tmp_path: Path) -> None:
    found = problems({"DOCKER_CERT_PATH": str(tmp_path)}, deployers={"docker": {}})

    assert found == [
        f"deployers.docker.tls.ca_file: no file {tmp_path / 'ca.pem'}",
        f"deployers.docker.tls.client_cert: no file {tmp_path / 'cert.pem'}",
        f"deployers.docker.tls.client_key: no file {tmp_path / 'key.pem'}",
    ]


def test_a_tls_section_wins_over_docker_cert_path(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    certs = cert_dir(tmp_path / "env")
    own_ca = tmp_path / "own-ca.pem"
    own_ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")

    settings = docker({"DOCKER_CERT_PATH": str(certs)}, tls={"ca_file": str(own_ca)})

    assert (settings.ca_file, settings.client_cert, settings.client_key) == (own_ca, None, None)


# --- labels and the deployers' settings --------------------------------------------------------


def test_labels_may_be_renamed() -> None:
    settings = docker(
        labels={"enable": "com.example.deploy", "policy": "com.example.policy", "notify": "x.n"}
    )

    assert (settings.opt_in_label, settings.policy_label, settings.notify_label) == (
        "com.example.deploy",
        "com.example.policy",
        "x.n",
    )


def test_a_label_left_out_keeps_its_default_name() -> None:
    settings = docker(labels={"policy": "com.example.policy"})

    assert (settings.opt_in_label, settings.policy_label, settings.notify_label) == (
        "regdeploy.enable",
        "com.example.policy",
        "regdeploy.notify",
    )


def test_swarm_and_container_settings_are_read() -> None:
    settings = docker(
        timeout_seconds=30,
        swarm={"enabled": False, "rollout_timeout_seconds": 120, "poll_seconds": "0.25"},
        containers={
            "enabled": "false",
            "grace_seconds": 3,
            "health_timeout_seconds": 45.5,
            "stop_timeout_seconds": 20,
            "remove_old_image": True,
            "poll_seconds": 0.1,
        },
    )

    assert settings.timeout_seconds == 30.0
    assert settings.swarm == SwarmSettings(
        enabled=False, rollout_timeout_seconds=120.0, poll_seconds=0.25
    )
    assert settings.containers == ContainerSettings(
        enabled=False,
        grace_seconds=3.0,
        health_timeout_seconds=45.5,
        stop_timeout_seconds=20,
        remove_old_image=True,
        poll_seconds=0.1,
    )


def test_without_a_stop_timeout_the_containers_own_applies() -> None:
    assert docker(containers={"grace_seconds": 5}).containers.stop_timeout_seconds is None


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            {"timeout_seconds": 0},
            "deployers.docker.timeout_seconds: expected a positive number, got 0",
        ),
        (
            {"swarm": {"rollout_timeout_seconds": 0}},
            "deployers.docker.swarm.rollout_timeout_seconds: expected a positive number, got 0",
        ),
        (
            {"swarm": {"poll_seconds": -1}},
            "deployers.docker.swarm.poll_seconds: expected a positive number, got -1",
        ),
        (
            {"containers": {"grace_seconds": 0}},
            "deployers.docker.containers.grace_seconds: expected a positive number, got 0",
        ),
        (
            {"containers": {"health_timeout_seconds": -5}},
            "deployers.docker.containers.health_timeout_seconds: "
            "expected a positive number, got -5",
        ),
        (
            {"containers": {"stop_timeout_seconds": 0}},
            "deployers.docker.containers.stop_timeout_seconds: expected a positive number, got 0",
        ),
        (
            {"containers": {"stop_timeout_seconds": 2.5}},
            "deployers.docker.containers.stop_timeout_seconds: expected a whole number",
        ),
        (
            {"containers": {"poll_seconds": "soon"}},
            "deployers.docker.containers.poll_seconds: expected a number, got 'soon'",
        ),
        (
            {"swarm": {"enabled": "maybe"}},
            "deployers.docker.swarm.enabled: expected true or false, got 'maybe'",
        ),
    ],
)
def test_bad_numbers_and_switches_are_reported(section: dict[str, Any], problem: str) -> None:
    assert problems(deployers={"docker": section}) == [problem]


# --- pull credentials --------------------------------------------------------------------------

PASSWORD = "pull-pw-7f3a9c"
REGISTRIES = [
    {
        "host": "Registry.Internal:5000",
        "aliases": ["reg.local:5000", "10.0.0.5:5000"],
        "username": "ci-pull",
        "password": PASSWORD,
    },
    {"host": "ghcr.io"},
    {"host": "quay.io", "username": "only-a-user"},
]


def test_registry_credentials_become_logins_under_every_name() -> None:
    settings = parse(registries=REGISTRIES, deployers={"docker": {}}).docker

    assert settings is not None
    login = RegistryLogin(username="ci-pull", password=PASSWORD)
    assert dict(settings.logins) == {
        "registry.internal:5000": login,
        "reg.local:5000": login,
        "10.0.0.5:5000": login,
    }


def test_a_password_file_gives_a_login_too(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    registries = [{"host": "r.io", "username": "ci", "password_file": str(tmp_path / "pw")}]

    settings = parse(registries=registries, deployers={"docker": {}}).docker

    assert settings is not None
    assert dict(settings.logins) == {"r.io": RegistryLogin(username="ci", password=PASSWORD)}


def test_registries_without_credentials_give_no_login() -> None:
    settings = parse(registries=REGISTRIES[1:], deployers={"docker": {}}).docker

    assert settings is not None
    assert dict(settings.logins) == {}


def test_the_password_never_shows() -> None:
    config = parse(registries=REGISTRIES, deployers={"docker": {}})

    assert config.docker is not None
    shown = [
        repr(config.docker),
        str(config.docker),
        repr(config),
        repr(config.docker.logins["reg.local:5000"]),
    ]
    for text in shown:
        assert PASSWORD not in text
    assert "ci-pull" in shown[3]
