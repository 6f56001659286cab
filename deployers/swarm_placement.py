"""Which Swarm nodes a service can be placed on, and the platforms a service update names (pure,
no I/O): the rules of swarmkit's scheduler and of the Docker CLI, read from their sources.

A node takes tasks when it is ``active`` (``Spec.Availability``) and ``ready``
(``Status.State``), and when it satisfies every placement constraint of the service
(``TaskTemplate.Placement.Constraints``), which swarmkit (``manager/constraint``) reads so:

- ``key==value`` or ``key!=value``, the key and value trimmed; keys ``node.id``,
  ``node.hostname``, ``node.role``, ``node.ip`` (an address or a CIDR network),
  ``node.platform.os``, ``node.platform.arch`` (as the node reports it: ``x86_64``),
  ``node.labels.X`` and ``engine.labels.X``; any other key matches no node;
- values are compared whole and without regard to case; a label the node lacks is the empty
  value, so ``!=`` matches it and ``==`` does not.

The service's ``Placement.Platforms`` is not applied: it names the platforms of the image the
service runs now, and an update replaces it with those of the new image (``service_platforms``).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from receiver.decide.trust.platforms import normalise

# swarmkit's checks of a constraint's key and value (the engine refuses others at create).
_KEY = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.IGNORECASE)
_VALUE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.IGNORECASE)
_NODE_LABELS = "node.labels."
_ENGINE_LABELS = "engine.labels."


@dataclass(frozen=True, slots=True, kw_only=True)
class SwarmNode:
    """One node of ``GET /nodes``, with what placement looks at."""

    id: str
    hostname: str = ""
    role: str = ""
    address: str = ""
    os: str = ""
    arch: str = ""
    ready: bool = False
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    engine_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def read(cls, node: Mapping[str, Any]) -> SwarmNode:
        spec, status = node.get("Spec") or {}, node.get("Status") or {}
        description = node.get("Description") or {}
        platform = description.get("Platform") or {}
        return cls(
            id=str(node.get("ID") or ""),
            hostname=str(description.get("Hostname") or ""),
            role=str(spec.get("Role") or ""),
            address=str(status.get("Addr") or ""),
            os=str(platform.get("OS") or ""),
            arch=str(platform.get("Architecture") or ""),
            ready=spec.get("Availability") == "active" and status.get("State") == "ready",
            labels=MappingProxyType(dict(spec.get("Labels") or {})),
            engine_labels=MappingProxyType(
                dict((description.get("Engine") or {}).get("Labels") or {})
            ),
        )

    @property
    def platform(self) -> str:
        return normalise(self.os, self.arch)


def satisfies(node: SwarmNode, constraints: Sequence[str]) -> bool:
    """Whether ``node`` satisfies every placement constraint. Constraints that do not parse are
    not applied, as swarmkit's filter does not apply them (the engine refuses them anyway)."""
    parsed = [_parse(text) for text in constraints]
    if any(item is None for item in parsed):
        return True
    return all(_meets(node, *item) for item in parsed if item is not None)


def node_platforms(nodes: Iterable[SwarmNode], constraints: Sequence[str]) -> dict[str, int]:
    """The platforms of the ready nodes that satisfy ``constraints``, with how many of each."""
    counted = Counter(n.platform for n in nodes if n.ready and satisfies(n, constraints))
    return dict(counted)


def service_platforms(platforms: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """A service's ``Placement.Platforms`` for an image whose distribution inspect answered
    ``platforms`` (``GET /distribution/{name}/json``), as the Docker CLI writes them: OS and
    architecture, with ``arm`` left out (nodes report ``armv7l``, which swarmkit would not
    match: moby/swarmkit#2294). Unlike the CLI, ``unknown/unknown`` (attestation manifests)
    is left out too, and a platform named twice (``arm`` v6 and v7) once."""
    found: list[dict[str, str]] = []
    for platform in platforms:
        os_name, arch = str(platform.get("os") or ""), str(platform.get("architecture") or "")
        if (os_name, arch) == ("unknown", "unknown"):
            continue
        entry = {"Architecture": "" if arch.lower() == "arm" else arch, "OS": os_name}
        if entry not in found:
            found.append(entry)
    return found


def _parse(text: str) -> tuple[str, bool, str] | None:
    """``(key, equal, value)`` of ``key==value`` / ``key!=value``; None when it does not parse."""
    for operator, equal in (("==", True), ("!=", False)):
        if operator in text:
            key, _, value = text.partition(operator)
            key, value = key.strip(), value.strip()
            if not _KEY.match(key) or not _VALUE.match(value):
                return None
            return key, equal, value
    return None


def _meets(node: SwarmNode, key: str, equal: bool, value: str) -> bool:
    lowered = key.lower()
    if lowered == "node.ip":
        return _address_matches(node.address, value, equal=equal)
    fields = {
        "node.id": node.id,
        "node.hostname": node.hostname,
        "node.role": node.role,
        "node.platform.os": node.os,
        "node.platform.arch": node.arch,
    }
    if lowered in fields:
        actual = fields[lowered]
    elif len(key) > len(_NODE_LABELS) and lowered.startswith(_NODE_LABELS):
        actual = node.labels.get(key[len(_NODE_LABELS) :], "")  # the label is case sensitive
    elif len(key) > len(_ENGINE_LABELS) and lowered.startswith(_ENGINE_LABELS):
        actual = node.engine_labels.get(key[len(_ENGINE_LABELS) :], "")
    else:
        return False  # a key swarmkit does not know matches no node
    return (actual.casefold() == value.casefold()) == equal


def _address_matches(address: str, value: str, *, equal: bool) -> bool:
    """``node.ip``: the node's address is (``==``) or is not (``!=``) the address or within the
    network ``value`` names; a value that is neither matches no node."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    try:
        within = ipaddress.ip_address(address) in network
    except ValueError:
        within = False
    return within == equal
