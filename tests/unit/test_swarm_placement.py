"""Which Swarm nodes a service can be placed on, as swarmkit reads placement constraints, and
the platforms an update names, as the Docker CLI writes them (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from deployers.swarm_placement import SwarmNode, node_platforms, satisfies, service_platforms


def api_node(**changes: Any) -> dict[str, Any]:
    """A node as ``GET /nodes`` shows it (Docker Engine API)."""
    node: dict[str, Any] = {
        "ID": "24ifsmvkjbyhk",
        "Version": {"Index": 373531},
        "Spec": {
            "Availability": "active",
            "Name": "node-name",
            "Role": "manager",
            "Labels": {"zone": "eu-1", "Disk": "SSD"},
        },
        "Description": {
            "Hostname": "bf3067039e47",
            "Platform": {"Architecture": "x86_64", "OS": "linux"},
            "Resources": {"NanoCPUs": 4000000000, "MemoryBytes": 8272408576},
            "Engine": {"EngineVersion": "28.2.2", "Labels": {"storage": "fast"}},
        },
        "Status": {"State": "ready", "Addr": "172.17.0.2"},
        "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": "10.0.0.46:2377"},
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = node
        for key in parents:
            target = target[key]
        target[last] = value
    return node


NODE = SwarmNode.read(api_node())

# (constraint, satisfied)
CONSTRAINTS = [
    ("node.id==24ifsmvkjbyhk", True),
    ("node.id!=24ifsmvkjbyhk", False),
    ("node.hostname==bf3067039e47", True),
    ("node.hostname == BF3067039E47", True),  # trimmed, without regard to case
    ("node.hostname!=other", True),
    ("node.role==manager", True),
    ("node.role==worker", False),
    ("node.role!=worker", True),
    ("Node.Role==MANAGER", True),
    ("node.platform.os==linux", True),
    ("node.platform.os==windows", False),
    ("node.platform.arch==x86_64", True),  # as the node reports it
    ("node.platform.arch==amd64", False),
    ("node.platform.arch!=aarch64", True),
    ("node.labels.zone==eu-1", True),
    ("node.labels.zone!=eu-1", False),
    ("node.labels.zone==EU-1", True),
    ("node.labels.Disk==ssd", True),
    ("node.labels.disk==ssd", False),  # the label's name is case sensitive
    ("node.labels.missing==x", False),  # a label the node lacks is empty
    ("node.labels.missing!=x", True),
    ("node.labels.missing==", True),  # an empty value does not parse: not applied
    ("engine.labels.storage==fast", True),
    ("engine.labels.storage!=fast", False),
    ("engine.labels.missing!=fast", True),
    ("node.ip==172.17.0.2", True),
    ("node.ip!=172.17.0.2", False),
    ("node.ip==172.17.0.0/16", True),
    ("node.ip!=10.0.0.0/8", True),
    ("node.ip==not-an-address", False),
    ("node.unknown==x", False),  # a key swarmkit does not know matches no node
    ("node.labels.==x", False),  # a prefix alone is no label
    ("node.labels.zone~eu", True),  # no operator: does not parse, not applied
    ("node.labels.zone>eu", True),
]


@pytest.mark.parametrize(("constraint", "expected"), CONSTRAINTS)
def test_satisfies(constraint: str, expected: bool) -> None:
    assert satisfies(NODE, [constraint]) is expected


def test_every_constraint_must_hold() -> None:
    assert satisfies(NODE, [])
    assert satisfies(NODE, ["node.role==manager", "node.labels.zone==eu-1"])
    assert not satisfies(NODE, ["node.role==manager", "node.labels.zone==eu-2"])
    # one constraint that does not parse disables them all, as in swarmkit's filter
    assert satisfies(NODE, ["node.labels.zone==eu-2", "node.labels.zone~eu"])


def test_a_node_without_description_or_labels() -> None:
    bare = SwarmNode.read({"ID": "x", "Spec": {"Role": "worker", "Availability": "active"}})

    assert satisfies(bare, ["node.hostname!=a", "node.labels.zone!=eu-1", "engine.labels.a!=b"])
    assert not satisfies(bare, ["node.platform.os==linux"])
    assert bare.platform == "unknown/unknown"
    assert not bare.ready


# (changes to the node, ready)
READINESS = [
    ({}, True),
    ({"Spec__Availability": "pause"}, False),
    ({"Spec__Availability": "drain"}, False),
    ({"Status__State": "down"}, False),
    ({"Status__State": "unknown"}, False),
    ({"Status__State": "disconnected"}, False),
]


@pytest.mark.parametrize(("changes", "expected"), READINESS)
def test_ready(changes: dict[str, str], expected: bool) -> None:
    assert SwarmNode.read(api_node(**changes)).ready is expected


def worker(node_id: str, arch: str) -> SwarmNode:
    platform = {"OS": "linux", "Architecture": arch}
    return SwarmNode.read(api_node(ID=node_id, Spec__Role="worker", Description__Platform=platform))


def test_node_platforms_of_ready_nodes_that_satisfy_the_constraints() -> None:
    nodes = [
        SwarmNode.read(api_node()),
        SwarmNode.read(api_node(ID="b", Spec__Role="worker")),
        worker("c", "aarch64"),
        worker("d", "armv7l"),
        SwarmNode.read(api_node(ID="e", Spec__Availability="drain")),
    ]

    assert node_platforms(nodes, []) == {"linux/amd64": 2, "linux/arm64": 1, "linux/arm/v7": 1}
    assert node_platforms(nodes, ["node.role==worker"]) == {
        "linux/amd64": 1,
        "linux/arm64": 1,
        "linux/arm/v7": 1,
    }
    assert node_platforms(nodes, ["node.platform.arch==x86_64"]) == {"linux/amd64": 2}
    assert node_platforms(nodes, ["node.role==nobody"]) == {}


# (Platforms of GET /distribution/{name}/json, Placement.Platforms)
SERVICE_PLATFORMS = [
    (
        [{"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux"}],
        [{"Architecture": "amd64", "OS": "linux"}, {"Architecture": "arm64", "OS": "linux"}],
    ),
    (
        [{"architecture": "arm64", "os": "linux", "variant": "v8"}],
        [{"Architecture": "arm64", "OS": "linux"}],
    ),
    (
        [
            {"architecture": "arm", "os": "linux", "variant": "v7"},
            {"architecture": "arm", "os": "linux", "variant": "v6"},
        ],
        [{"Architecture": "", "OS": "linux"}],
    ),
    (
        [{"architecture": "amd64", "os": "linux"}, {"architecture": "unknown", "os": "unknown"}],
        [{"Architecture": "amd64", "OS": "linux"}],
    ),
    (
        [{"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5329"}],
        [{"Architecture": "amd64", "OS": "windows"}],
    ),
    ([], []),
]


@pytest.mark.parametrize(("platforms", "expected"), SERVICE_PLATFORMS)
def test_service_platforms(platforms: list[dict[str, str]], expected: list[dict[str, str]]) -> None:
    assert service_platforms(platforms) == expected
