"""The ``deployers.docker`` section: where the Docker engine is, which labels opt in, and how
Swarm services and standalone containers are moved.

The Docker deployers are on when the section is there, and also without it when ``DOCKER_HOST``
is set or the local Docker socket exists, as Watchtower and the docker CLI find an engine:
workloads still opt in by label, so nothing unlabelled is ever touched. ``enabled: false`` turns
them off. ``DOCKER_HOST`` and ``DOCKER_CERT_PATH`` fill what the section leaves out. Pull
credentials are the ``registries:`` entries' username and password, under every name of the
registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from deployers.docker_engine import (
    DEFAULT_HOST,
    ContainerSettings,
    DockerSettings,
    RegistryLogin,
    SwarmSettings,
)
from receiver.config.reader import Reader, Switch, at

#: The socket a local Docker engine listens on.
LOCAL_SOCKET = Path(DEFAULT_HOST.removeprefix("unix://"))
_PATH = "deployers.docker"
_SCHEMES = ("unix://", "tcp://", "http://", "https://")
_KEYS = {"enabled", "host", "tls", "timeout_seconds", "labels", "swarm", "containers"}
_TLS_KEYS = {"ca_file", "client_cert", "client_key", "verify"}
_LABEL_KEYS = {"enable", "policy", "notify"}
_SWARM_KEYS = {"enabled", "rollout_timeout_seconds", "poll_seconds"}
_CONTAINER_KEYS = {
    "enabled",
    "grace_seconds",
    "health_timeout_seconds",
    "stop_timeout_seconds",
    "remove_old_image",
    "poll_seconds",
}


def read_docker(
    r: Reader,
    value: object,
    *,
    env: Mapping[str, str],
    logins: Mapping[str, RegistryLogin],
    local_socket: Path | None = None,
) -> tuple[DockerSettings | None, Switch]:
    """``value`` is the whole ``deployers:`` section (or None); ``local_socket`` the Docker
    socket to look for when the section is absent (None: look for none)."""
    deployers = r.mapping(value, "deployers") if value is not None else {}
    r.unknown(deployers, "deployers", {"docker"})
    if "docker" in deployers:
        m = r.mapping(_section(deployers["docker"]), _PATH)
        r.unknown(m, _PATH, _KEYS)
        if not r.boolean(m, "enabled", _PATH, True):
            return None, Switch(on=False, why=f"{_PATH}.enabled is false")
        default_host = env.get("DOCKER_HOST") or DEFAULT_HOST
        switch = Switch(on=True, why=f"the {_PATH} section")
    else:
        found = _engine_nearby(env, local_socket)
        if not found.on:
            return None, found
        m = {}
        default_host = env.get("DOCKER_HOST") or f"unix://{local_socket}"
        switch = found
    return _settings(r, m, env=env, logins=logins, default_host=default_host), switch


def _engine_nearby(env: Mapping[str, str], local_socket: Path | None) -> Switch:
    """Whether the environment names an engine (``DOCKER_HOST``) or one listens on the local
    socket; an address regdeploy cannot speak leaves the deployers off, with the reason."""
    host = env.get("DOCKER_HOST", "")
    if host:
        if not host.startswith(_SCHEMES):
            return Switch(
                on=False,
                why=f"DOCKER_HOST={host} is not an address regdeploy speaks "
                f"({', '.join(_SCHEMES)}); add a {_PATH} section",
            )
        return Switch(on=True, why=f"DOCKER_HOST is set ({host})")
    if local_socket is not None and local_socket.is_socket():
        return Switch(on=True, why=f"the Docker socket {local_socket} exists")
    where = f" and there is no socket {local_socket}" if local_socket is not None else ""
    return Switch(on=False, why=f"no {_PATH} section, DOCKER_HOST is unset{where}")


def _settings(
    r: Reader,
    m: dict[str, object],
    *,
    env: Mapping[str, str],
    logins: Mapping[str, RegistryLogin],
    default_host: str,
) -> DockerSettings:
    d = DockerSettings()
    host = r.text(m, "host", _PATH, default_host)
    if not host.startswith(_SCHEMES):
        r.problems.append(f"{at(_PATH, 'host')}: expected {', '.join(_SCHEMES)}, got {host!r}")
    ca_file, client_cert, client_key, verify = _tls(r, m.get("tls"), at(_PATH, "tls"), env)
    labels = r.mapping(_section(m.get("labels")), at(_PATH, "labels"))
    r.unknown(labels, at(_PATH, "labels"), _LABEL_KEYS)
    return DockerSettings(
        host=host.replace("http://", "tcp://", 1),
        ca_file=ca_file,
        client_cert=client_cert,
        client_key=client_key,
        tls_verify=verify,
        timeout_seconds=r.number(m, "timeout_seconds", _PATH, d.timeout_seconds),
        opt_in_label=r.text(labels, "enable", at(_PATH, "labels"), d.opt_in_label),
        policy_label=r.text(labels, "policy", at(_PATH, "labels"), d.policy_label),
        notify_label=r.text(labels, "notify", at(_PATH, "labels"), d.notify_label),
        logins=MappingProxyType(dict(logins)),
        swarm=_swarm(r, m.get("swarm"), at(_PATH, "swarm")),
        containers=_containers(r, m.get("containers"), at(_PATH, "containers")),
    )


def _tls(
    r: Reader, value: object, path: str, env: Mapping[str, str]
) -> tuple[Path | None, Path | None, Path | None, bool]:
    """CA, client certificate and key; DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem) when the
    section names none."""
    m = r.mapping(_section(value), path)
    r.unknown(m, path, _TLS_KEYS)
    cert_dir = env.get("DOCKER_CERT_PATH")
    defaults = {"ca_file": "ca.pem", "client_cert": "cert.pem", "client_key": "key.pem"}
    paths: dict[str, Path | None] = {}
    for key, file_name in defaults.items():
        text = r.text(m, key, path, "")
        if not text and cert_dir and not m:
            text = str(Path(cert_dir) / file_name)
        paths[key] = Path(text) if text else None
        if text and not Path(text).is_file():
            r.problems.append(f"{at(path, key)}: no file {text}")
    if bool(paths["client_cert"]) != bool(paths["client_key"]):
        r.problems.append(f"{path}: client_cert and client_key go together")
    verify = r.boolean(m, "verify", path, True)
    return paths["ca_file"], paths["client_cert"], paths["client_key"], verify


def _swarm(r: Reader, value: object, path: str) -> SwarmSettings:
    m = r.mapping(_section(value), path)
    r.unknown(m, path, _SWARM_KEYS)
    d = SwarmSettings()
    return SwarmSettings(
        enabled=r.boolean(m, "enabled", path, d.enabled),
        rollout_timeout_seconds=r.number(
            m, "rollout_timeout_seconds", path, d.rollout_timeout_seconds
        ),
        poll_seconds=r.number(m, "poll_seconds", path, d.poll_seconds),
    )


def _containers(r: Reader, value: object, path: str) -> ContainerSettings:
    m = r.mapping(_section(value), path)
    r.unknown(m, path, _CONTAINER_KEYS)
    d = ContainerSettings()
    stop = r.integer(m, "stop_timeout_seconds", path, 10) if "stop_timeout_seconds" in m else None
    return ContainerSettings(
        enabled=r.boolean(m, "enabled", path, d.enabled),
        grace_seconds=r.number(m, "grace_seconds", path, d.grace_seconds),
        health_timeout_seconds=r.number(
            m, "health_timeout_seconds", path, d.health_timeout_seconds
        ),
        stop_timeout_seconds=stop,
        remove_old_image=r.boolean(m, "remove_old_image", path, d.remove_old_image),
        poll_seconds=r.number(m, "poll_seconds", path, d.poll_seconds),
    )


def _section(value: object) -> object:
    """An absent (null) section reads as empty; anything else must be a mapping."""
    return {} if value is None else value
