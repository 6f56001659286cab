"""What ``docker inspect`` of a container says: the configuration of its replacement, and how
its run goes (``condition``).

Pure: it reads ``docker inspect`` of the old container and of its image and returns what to
send to ``POST /containers/create``. Everything the operator set carries over (command,
entrypoint, env, labels, user, working dir, hostname, mounts and volumes, port bindings,
restart policy, resources, healthcheck, log config, networks with their aliases); what only
came from the old image's defaults is left out so the new image's defaults apply.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from deployers.base import HealthState

# Config keys whose value is dropped when it equals the old image's default.
_IMAGE_DEFAULTS = ("WorkingDir", "User", "Healthcheck", "StopSignal", "OnBuild", "Shell")
# Network modes that have no endpoint of their own to configure.
_SPECIAL_MODES = ("host", "none", "default", "bridge")


@dataclass(frozen=True, slots=True, kw_only=True)
class Replacement:
    """``create``: the body for ``POST /containers/create``; ``networks``: the further networks
    to connect before the start (engines before API 1.44 take one endpoint at create)."""

    create: Mapping[str, Any]
    networks: tuple[tuple[str, Mapping[str, Any]], ...] = ()


def replacement(
    container: Mapping[str, Any],
    image: Mapping[str, Any] | None,
    reference: str,
    *,
    new_image: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Replacement:
    """The new container for ``container`` (inspect output) running ``reference``; ``image``
    is the inspect output of the image the old container runs (None when it is gone),
    ``new_image`` that of the image ``reference`` names (None: not known); ``labels`` are set
    over the old container's (compose's own, which change with the image)."""
    config = copy.deepcopy(dict(container.get("Config") or {}))
    defaults = dict((image or {}).get("Config") or {})
    short_id = str(container.get("Id", ""))[:12]
    _drop_image_defaults(config, defaults)
    config["Labels"].update(labels or {})
    if config.get("Hostname") == short_id:
        config.pop("Hostname")
    host = copy.deepcopy(dict(container.get("HostConfig") or {}))
    host["Links"] = _links(host.get("Links"))
    # Anonymous volumes the operator asked for (-v /data), or that both images declare.
    keep = None
    if new_image is not None:
        declared = (new_image.get("Config") or {}).get("Volumes") or {}
        keep = {*(config.get("Volumes") or {}), *declared}
    _keep_anonymous_volumes(host, container.get("Mounts") or [], keep)
    exposed = dict(config.get("ExposedPorts") or {})
    for port in host.get("PortBindings") or {}:
        exposed.setdefault(port, {})
    config["ExposedPorts"] = exposed or None
    config["Image"] = reference
    config["HostConfig"] = host
    endpoints = _endpoints(container, short_id)
    primary = _primary(host.get("NetworkMode") or "", endpoints)
    if primary is not None:
        config["NetworkingConfig"] = {"EndpointsConfig": {primary: endpoints.pop(primary)}}
    return Replacement(
        create=MappingProxyType(config),
        networks=tuple((name, MappingProxyType(ep)) for name, ep in sorted(endpoints.items())),
    )


def _drop_image_defaults(config: dict[str, Any], defaults: dict[str, Any]) -> None:
    if config.get("Entrypoint") == defaults.get("Entrypoint"):
        config["Entrypoint"] = None
        if config.get("Cmd") == defaults.get("Cmd"):
            config["Cmd"] = None
    image_env = set(defaults.get("Env") or [])
    config["Env"] = [e for e in config.get("Env") or [] if e not in image_env]
    image_labels = defaults.get("Labels") or {}
    config["Labels"] = {
        k: v for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v
    }
    image_volumes = defaults.get("Volumes") or {}
    volumes = {k: v for k, v in (config.get("Volumes") or {}).items() if k not in image_volumes}
    config["Volumes"] = volumes or None
    image_ports = defaults.get("ExposedPorts") or {}
    config["ExposedPorts"] = {
        k: v for k, v in (config.get("ExposedPorts") or {}).items() if k not in image_ports
    }
    for key in _IMAGE_DEFAULTS:
        if key in config and config[key] == defaults.get(key):
            config.pop(key)


def _links(links: object) -> list[str] | None:
    """Inspect shows links as ``/other:/self/alias``; create takes ``other:alias``."""
    if not isinstance(links, list) or not links:
        return None
    converted = []
    for link in links:
        source, _, alias = str(link).partition(":")
        converted.append(f"{source.lstrip('/')}:{alias.rsplit('/', 1)[-1]}")
    return converted


def _keep_anonymous_volumes(
    host: dict[str, Any], mounts: list[Mapping[str, Any]], keep: set[str] | None
) -> None:
    """Volumes the old container got without naming them (an image ``VOLUME``, ``-v /data``)
    are handed to the new one by name, so their data carries over: those at the destinations
    in ``keep`` (all when None). The rest belonged to the old image alone: carried over, it
    would stay in every later container, a rollback's too."""
    binds = list(host.get("Binds") or [])
    names = {m.get("Destination"): m.get("Name") for m in mounts if m.get("Type") == "volume"}
    for declared_mount in host.get("Mounts") or []:
        # ``--mount type=volume,target=/x`` without a source is anonymous too.
        if declared_mount.get("Type") == "volume" and not declared_mount.get("Source"):
            declared_mount["Source"] = names.get(declared_mount.get("Target"))
    declared = {b.split(":")[1] for b in binds if ":" in b}
    declared |= {m.get("Target") for m in host.get("Mounts") or []}
    for mount in mounts:
        if mount.get("Type") != "volume" or mount.get("Destination") in declared:
            continue
        if keep is not None and mount.get("Destination") not in keep:
            continue
        suffix = "" if mount.get("RW", True) else ":ro"
        binds.append(f"{mount['Name']}:{mount['Destination']}{suffix}")
    host["Binds"] = binds or None


def _endpoints(container: Mapping[str, Any], short_id: str) -> dict[str, dict[str, Any]]:
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = {}
    for name, settings in networks.items():
        endpoint: dict[str, Any] = {}
        aliases = [a for a in settings.get("Aliases") or [] if a != short_id]
        if aliases:
            endpoint["Aliases"] = aliases
        for key in ("IPAMConfig", "Links", "DriverOpts"):
            if settings.get(key):
                endpoint[key] = settings[key]
        endpoints[name] = endpoint
    return endpoints


def _primary(mode: str, endpoints: dict[str, dict[str, Any]]) -> str | None:
    """The network the container is created on; the rest are connected afterwards."""
    if mode in _SPECIAL_MODES or mode.startswith("container:"):
        for special in _SPECIAL_MODES:
            endpoints.pop(special, None)
        return None
    if mode in endpoints:
        return mode
    return next(iter(sorted(endpoints)), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerCondition:
    """How a container's run goes by ``docker inspect``: ``words`` follow its name (``web
    exited with code 3``); ``exited`` when it stopped or restarted (its exit code and last
    output tell more); ``checked`` when it has a healthcheck."""

    state: HealthState
    words: str
    exited: bool = False
    checked: bool = False


def condition(container: Mapping[str, Any]) -> ContainerCondition:
    """Stopped, restarting or restarted: failed; with a healthcheck, as it says (starting:
    pending); without one, healthy while it runs."""
    state = container.get("State") or {}
    restarts = container.get("RestartCount") or 0
    checked = has_healthcheck(container)
    if state.get("Restarting") or not state.get("Running"):
        words = f"exited with code {state.get('ExitCode')}"
        words += f": {state['Error']}" if state.get("Error") else ""
        return ContainerCondition(state=HealthState.FAILED, words=words, exited=True)
    if restarts:
        words = f"restarted {restarts} time{'s' if restarts > 1 else ''}"
        return ContainerCondition(state=HealthState.FAILED, words=words, exited=True)
    status = (state.get("Health") or {}).get("Status")
    if not checked:
        return ContainerCondition(state=HealthState.HEALTHY, words="is running")
    if status == "healthy":
        return ContainerCondition(state=HealthState.HEALTHY, words="is healthy", checked=True)
    if status == "unhealthy":
        words = f"failed its healthcheck: {_health_output(state)}"
        return ContainerCondition(state=HealthState.FAILED, words=words, checked=True)
    words = "is starting: its healthcheck has not passed yet"
    return ContainerCondition(state=HealthState.PENDING, words=words, checked=True)


def has_healthcheck(container: Mapping[str, Any]) -> bool:
    test = ((container.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
    return bool(test) and test[0] != "NONE"


def _health_output(state: Mapping[str, Any]) -> str:
    """The last probe's exit code and output."""
    log_entries = (state.get("Health") or {}).get("Log") or []
    if not log_entries:
        return "no output"
    last = log_entries[-1]
    return f"exit {last.get('ExitCode')}: {str(last.get('Output') or '').strip()[:200]}"
