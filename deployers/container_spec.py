"""The configuration of a replacement container, derived from the container it replaces.

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
    container: Mapping[str, Any], image: Mapping[str, Any] | None, reference: str
) -> Replacement:
    """The new container for ``container`` (inspect output) running ``reference``; ``image``
    is the inspect output of the image the old container runs (None when it is gone)."""
    config = copy.deepcopy(dict(container.get("Config") or {}))
    defaults = dict((image or {}).get("Config") or {})
    short_id = str(container.get("Id", ""))[:12]
    _drop_image_defaults(config, defaults)
    if config.get("Hostname") == short_id:
        config.pop("Hostname")
    host = copy.deepcopy(dict(container.get("HostConfig") or {}))
    host["Links"] = _links(host.get("Links"))
    _keep_anonymous_volumes(host, container.get("Mounts") or [])
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


def _keep_anonymous_volumes(host: dict[str, Any], mounts: list[Mapping[str, Any]]) -> None:
    """Volumes the old container got without naming them (an image ``VOLUME``, ``-v /data``)
    are handed to the new one by name, so their data carries over."""
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
