"""Which Nomad nodes a task group can be placed on: constraints, datacenters, pools, drivers and
readiness, as Nomad's scheduler decides them (tables)."""

from __future__ import annotations

from typing import Any

import pytest

from deployers.nomad_placement import (
    Constraint,
    NomadNode,
    Placement,
    fits,
    meets,
    node_platforms,
    placements,
    schedulable,
)

NODE = NomadNode.read(
    {
        "ID": "5b1e7c3a-0000-4000-8000-000000000001",
        "Name": "edge-1",
        "Datacenter": "eu-west-1",
        "NodePool": "edge",
        "NodeClass": "gpu",
        "Status": "ready",
        "SchedulingEligibility": "eligible",
        "Drain": False,
        "ModifyIndex": 42,
        "Attributes": {
            "cpu.arch": "arm64",
            "kernel.name": "linux",
            "os.name": "ubuntu",
            "unique.hostname": "edge-1",
            "driver.exec": "1",
            "driver.raw_exec": "false",
        },
        "Meta": {"rack": "r12", "features": "ssd, gpu,tpm"},
        "Drivers": {
            "docker": {"Detected": True, "Healthy": True},
            "podman": {"Detected": True, "Healthy": False},
            "java": {"Detected": False, "Healthy": False},
        },
    }
)

# (left, operand, right, meets)
CONSTRAINTS = [
    ("${attr.cpu.arch}", "=", "arm64", True),
    ("${attr.cpu.arch}", "==", "arm64", True),
    ("${attr.cpu.arch}", "is", "arm64", True),
    ("${attr.cpu.arch}", "=", "amd64", False),
    ("${attr.cpu.arch}", "=", "ARM64", False),  # Nomad compares exactly
    ("${attr.kernel.name}", "=", "linux", True),
    ("${attr.cpu.arch}", "!=", "amd64", True),
    ("${attr.cpu.arch}", "not", "arm64", False),
    ("${node.class}", "=", "gpu", True),
    ("${node.datacenter}", "=", "eu-west-1", True),
    ("${node.pool}", "=", "edge", True),
    ("${node.unique.name}", "=", "edge-1", True),
    ("${node.unique.id}", "=", "5b1e7c3a-0000-4000-8000-000000000001", True),
    ("${meta.rack}", "=", "r12", True),
    ("${meta.rack}", "!=", "r12", False),
    # a target the node lacks resolves to nothing: == fails, != holds
    ("${meta.zone}", "=", "", False),
    ("${meta.zone}", "!=", "a", True),
    ("${attr.unique.platform.aws.instance-type}", "=", "t3.micro", False),
    ("${attr.unknown}", "!=", "x", True),
    ("${node.nothing}", "=", "", False),
    # is_set / is_not_set
    ("${meta.rack}", "is_set", "", True),
    ("${meta.zone}", "is_set", "", False),
    ("${meta.zone}", "is_not_set", "", True),
    ("${attr.cpu.arch}", "is_not_set", "", False),
    # regexp: RE2, searched
    ("${attr.cpu.arch}", "regexp", "^arm", True),
    ("${attr.cpu.arch}", "regexp", "64$", True),
    ("${attr.cpu.arch}", "regexp", "^amd", False),
    ("${node.datacenter}", "regexp", "eu-(west|east)-[0-9]+", True),
    ("${meta.zone}", "regexp", ".*", False),  # not set: no match at all
    ("${attr.cpu.arch}", "regexp", "(arm", False),  # does not compile: no match
    ("${attr.cpu.arch}", "regexp", "(?=arm)", False),  # RE2 has no lookahead
    # set_contains (all) / set_contains_any, comma-separated, spaces trimmed
    ("${meta.features}", "set_contains", "ssd", True),
    ("${meta.features}", "set_contains", "gpu, ssd", True),
    ("${meta.features}", "set_contains", "ssd,nvme", False),
    ("${meta.features}", "set_contains_all", "tpm,gpu", True),
    ("${meta.features}", "set_contains_any", "nvme,tpm", True),
    ("${meta.features}", "set_contains_any", "nvme,hdd", False),
    ("${meta.zone}", "set_contains", "", False),
    # a literal on the left, a target on the right
    ("arm64", "=", "${attr.cpu.arch}", True),
    # about how many allocations share a node, not which nodes can take one
    ("", "distinct_hosts", "true", True),
    ("${meta.rack}", "distinct_property", "1", True),
    # not evaluated: the node counts as a candidate
    ("${attr.kernel.version}", "version", ">= 5.10", True),
    ("${attr.nomad.version}", "semver", ">= 1.6.0", True),
    ("${meta.rack}", "<", "r01", True),
    ("${attr.cpu.numcores}", ">=", "64", True),
    # Nomad refuses a job with an operator it does not know
    ("${attr.cpu.arch}", "~", "arm64", False),
]


@pytest.mark.parametrize(("left", "operand", "right", "expected"), CONSTRAINTS)
def test_meets(left: str, operand: str, right: str, expected: bool) -> None:
    assert meets(NODE, Constraint(left=left, operand=operand, right=right)) is expected


def test_a_constraint_reads_as_the_api_writes_it() -> None:
    raw = {"LTarget": "${attr.cpu.arch}", "RTarget": "arm64", "Operand": "="}
    assert Constraint.read(raw) == Constraint(left="${attr.cpu.arch}", operand="=", right="arm64")
    assert (
        Constraint.read({"LTarget": "${meta.a}", "Operand": "is_set", "RTarget": None}).right == ""
    )


def placed(**changes: Any) -> Placement:
    base: dict[str, Any] = {"group": "web", "datacenters": ("*",), "pool": "edge"}
    return Placement(**{**base, **changes})


# (placement, fits)
FITS = [
    (placed(), True),
    (placed(datacenters=("eu-west-1",)), True),
    (placed(datacenters=("eu-*",)), True),
    (placed(datacenters=("*-1",)), True),
    (placed(datacenters=("eu*1",)), True),
    (placed(datacenters=("e*west*",)), True),
    (placed(datacenters=("us-*", "eu-west-?")), False),  # only * is a wildcard
    (placed(datacenters=("us-*", "*west*")), True),
    (placed(datacenters=("eu-west",)), False),
    (placed(datacenters=("eu-west-1*1",)), False),  # the parts may not overlap
    (placed(pool="default"), False),
    (placed(pool="all"), True),
    (placed(drivers=frozenset({"docker"})), True),
    (placed(drivers=frozenset({"docker", "exec"})), True),  # exec: from its attribute
    (placed(drivers=frozenset({"podman"})), False),  # detected, not healthy
    (placed(drivers=frozenset({"java"})), False),
    (placed(drivers=frozenset({"raw_exec"})), False),  # driver.raw_exec = false
    (placed(drivers=frozenset({"qemu"})), False),  # unknown
    (placed(constraints=(Constraint(left="${attr.cpu.arch}", operand="=", right="arm64"),)), True),
    (
        placed(
            constraints=(
                Constraint(left="${attr.cpu.arch}", operand="=", right="arm64"),
                Constraint(left="${meta.rack}", operand="=", right="r13"),
            )
        ),
        False,
    ),
]


@pytest.mark.parametrize(("placement", "expected"), FITS)
def test_fits(placement: Placement, expected: bool) -> None:
    assert fits(NODE, placement) is expected


# (Status, SchedulingEligibility, Drain, DrainStrategy, schedulable)
READINESS = [
    ("ready", "eligible", False, None, True),
    ("down", "eligible", False, None, False),
    ("initializing", "eligible", False, None, False),
    ("disconnected", "eligible", False, None, False),
    ("ready", "ineligible", False, None, False),
    ("ready", "eligible", True, None, False),
    ("ready", "eligible", False, {"Deadline": 3600}, False),
]


@pytest.mark.parametrize(("status", "eligibility", "drain", "strategy", "expected"), READINESS)
def test_schedulable(
    status: str, eligibility: str, drain: bool, strategy: Any, expected: bool
) -> None:
    node = {
        "ID": "n",
        "Status": status,
        "SchedulingEligibility": eligibility,
        "Drain": drain,
        "DrainStrategy": strategy,
    }
    assert schedulable(node) is expected
    assert NomadNode.read(node).ready is expected
    assert fits(NomadNode.read(node), Placement(group="g", pool="default")) is expected


def constraint(left: str, right: str, operand: str = "=") -> dict[str, str]:
    return {"LTarget": left, "RTarget": right, "Operand": operand}


JOB: dict[str, Any] = {
    "ID": "app",
    "Datacenters": ["eu-*", "dc1"],
    "NodePool": "edge",
    "Constraints": [constraint("${attr.kernel.name}", "linux")],
    "TaskGroups": [
        {
            "Name": "web",
            "Constraints": [constraint("${meta.rack}", "r12")],
            "Tasks": [
                {"Name": "server", "Driver": "docker", "Constraints": None},
                {
                    "Name": "sidecar",
                    "Driver": "exec",
                    "Constraints": [constraint("${attr.cpu.arch}", "arm64")],
                },
            ],
        },
        {"Name": "worker", "Constraints": None, "Tasks": [{"Name": "jobs", "Driver": "podman"}]},
    ],
}


def test_placements_gather_job_group_and_every_task_of_the_group() -> None:
    web, worker = placements(JOB)

    assert web == Placement(
        group="web",
        datacenters=("eu-*", "dc1"),
        pool="edge",
        constraints=(
            Constraint(left="${attr.kernel.name}", operand="=", right="linux"),
            Constraint(left="${meta.rack}", operand="=", right="r12"),
            Constraint(left="${attr.cpu.arch}", operand="=", right="arm64"),
        ),
        drivers=frozenset({"docker", "exec"}),
    )
    assert worker.drivers == {"podman"}
    assert worker.constraints == (
        Constraint(left="${attr.kernel.name}", operand="=", right="linux"),
    )
    assert placements(JOB, group="worker") == [worker]
    assert placements(JOB, group="nothing") == []


def test_a_job_without_datacenters_or_pool_goes_anywhere_in_the_default_pool() -> None:
    [placement] = placements({"ID": "x", "TaskGroups": [{"Name": "g", "Tasks": []}]})

    assert placement == Placement(group="g", datacenters=("*",), pool="default")


def node(node_id: str, arch: str, **changes: Any) -> NomadNode:
    read = {
        "ID": node_id,
        "Datacenter": "dc1",
        "NodePool": "default",
        "Status": "ready",
        "SchedulingEligibility": "eligible",
        "Attributes": {"cpu.arch": arch, "kernel.name": "linux", "driver.docker": "1"},
        **changes,
    }
    return NomadNode.read(read)


def test_node_platforms_count_each_node_once() -> None:
    nodes = [
        node("a", "amd64"),
        node("b", "amd64"),
        node("c", "arm64"),
        node("d", "arm"),
        node("e", "arm64", Status="down"),
        node("f", "arm64", Datacenter="dc2"),
    ]
    groups = [
        Placement(group="one", datacenters=("dc1",), drivers=frozenset({"docker"})),
        Placement(group="two", datacenters=("dc*",)),
    ]

    assert node_platforms(nodes, groups) == {"linux/amd64": 2, "linux/arm64": 2, "linux/arm/v7": 1}
    assert node_platforms(nodes, groups[:1]) == {
        "linux/amd64": 2,
        "linux/arm64": 1,
        "linux/arm/v7": 1,
    }
    assert node_platforms(nodes, []) == {}
    assert node(
        "w", "amd64", Attributes={"kernel.name": "windows", "cpu.arch": "amd64"}
    ).platform == ("windows/amd64")
    assert NomadNode.read({"ID": "bare"}).platform == "unknown/unknown"
