"""``NomadDeployer.platforms`` against the fake Nomad: the nodes a job's groups can be placed on
(datacenter globs, node pools, constraints, readiness, drivers), by platform, and the node
details it keeps between calls."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from deployers.base import Target
from deployers.nomad import NomadDeployer, NomadSettings
from receiver.errors import DeployerUnavailable
from tests.support.components import free_port
from tests.support.nomad_fake import FakeNomad, Json, make_job
from tests.support.nomad_nodes import make_node

IMAGE = "registry.example/team/app:1.0@sha256:" + "1" * 64
TARGET = Target(kind="nomad", name="app")

Serve = Callable[..., Awaitable[NomadDeployer]]


@pytest.fixture
async def serve(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Serve]:
    """A deployer of ``fake``, served on a port of its own; both closed after the test."""
    for name in ("NOMAD_ADDR", "NOMAD_TOKEN", "NOMAD_NAMESPACE", "NOMAD_REGION"):
        monkeypatch.delenv(name, raising=False)
    opened: list[tuple[TestServer, NomadDeployer]] = []

    async def served(fake: FakeNomad, *, token: str | None = None) -> NomadDeployer:
        server = TestServer(fake.app())
        await server.start_server()
        address = f"http://127.0.0.1:{server.port}"
        deployer = NomadDeployer(settings=NomadSettings(address=address, token=token))
        opened.append((server, deployer))
        return deployer

    yield served
    for server, deployer in opened:
        deployer.close()
        await server.close()


def cluster() -> FakeNomad:
    """Nodes of every kind: three regions, two pools, four platforms, some not ready."""
    fake = FakeNomad(nodes=())
    nodes: dict[str, dict[str, Any]] = {
        "amd-1": {"datacenter": "eu-west", "meta": {"rack": "r1", "features": "ssd, gpu"}},
        "amd-2": {"datacenter": "eu-east", "node_class": "web", "meta": {"rack": "r2"}},
        "arm-1": {"arch": "arm64", "datacenter": "eu-west", "node_class": "web",
                  "meta": {"rack": "r1"}},
        "arm-2": {"arch": "arm64", "datacenter": "us-east", "pool": "edge"},
        "pi-1": {"arch": "arm", "datacenter": "eu-west", "pool": "edge"},
        "win-1": {"kernel": "windows", "datacenter": "eu-west"},
        "down-1": {"arch": "arm64", "datacenter": "eu-west", "status": "down"},
        "idle-1": {"arch": "arm64", "datacenter": "eu-west", "eligibility": "ineligible"},
        "drain-1": {"arch": "arm64", "datacenter": "eu-west", "drain": True},
        "exec-1": {"arch": "arm64", "datacenter": "eu-west", "drivers": ("exec",)},
    }  # fmt: skip
    for name, options in nodes.items():
        fake.add_node(make_node(name, **options))
    return fake


def constraint(left: str, operand: str, right: str = "") -> Json:
    return {"LTarget": left, "RTarget": right, "Operand": operand}


def job(
    *, datacenters: list[str] | None = None, pool: str = "default", **constraints: list[Json]
) -> Json:
    """Job ``app`` (group ``web``, task ``server``) with constraints at ``job``, ``group`` or
    ``task`` level."""
    made = make_job("app", {"web": {"server": IMAGE}})
    made.update(Datacenters=datacenters or ["*"], NodePool=pool)
    made["Constraints"] = constraints.get("job")
    made["TaskGroups"][0]["Constraints"] = constraints.get("group")
    made["TaskGroups"][0]["Tasks"][0]["Constraints"] = constraints.get("task")
    return made


ARM64 = constraint("${attr.cpu.arch}", "=", "arm64")
LINUX = {"linux/amd64": 2, "linux/arm64": 1}  # the linux nodes of the default pool
DEFAULT_POOL = {**LINUX, "windows/amd64": 1}
# (job, platform -> nodes)
PLACEMENTS = [
    (job(), DEFAULT_POOL),
    (job(datacenters=["eu-west"]), {"linux/amd64": 1, "linux/arm64": 1, "windows/amd64": 1}),
    (job(datacenters=["eu-*"]), DEFAULT_POOL),
    (job(datacenters=["*-east"]), {"linux/amd64": 1}),
    (job(datacenters=["us-*"], pool="all"), {"linux/arm64": 1}),
    (job(datacenters=["us-*"]), {}),
    (job(pool="edge"), {"linux/arm64": 1, "linux/arm/v7": 1}),
    (job(pool="all"), {"linux/amd64": 2, "linux/arm64": 2, "linux/arm/v7": 1, "windows/amd64": 1}),
    (job(pool="gpu"), {}),
    (job(job=[constraint("${attr.kernel.name}", "=", "linux")]), LINUX),
    (job(pool="all", group=[ARM64]), {"linux/arm64": 2}),
    (job(task=[constraint("${node.class}", "==", "web")]), {"linux/amd64": 1, "linux/arm64": 1}),
    (job(task=[constraint("${node.datacenter}", "!=", "eu-west")]), {"linux/amd64": 1}),
    (job(group=[constraint("${meta.rack}", "regexp", "^r[12]$")]), LINUX),
    (job(group=[constraint("${meta.rack}", "is_set")]), LINUX),
    (job(group=[constraint("${meta.rack}", "is_not_set")]), {"windows/amd64": 1}),
    (job(group=[constraint("${meta.features}", "set_contains", "gpu,ssd")]), {"linux/amd64": 1}),
    (job(job=[ARM64], group=[constraint("${meta.rack}", "=", "r2")]), {}),
    # not about which nodes can take the group, or not evaluated: every node is a candidate
    (job(group=[constraint("", "distinct_hosts", "true")]), DEFAULT_POOL),
    (job(group=[constraint("${attr.kernel.version}", "version", ">= 9")]), DEFAULT_POOL),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "expected"), PLACEMENTS)
async def test_the_nodes_a_job_can_be_placed_on(
    serve: Serve, spec: Json, expected: dict[str, int]
) -> None:
    fake = cluster()
    fake.add_job(spec)
    deployer = await serve(fake)

    assert await deployer.platforms(TARGET) == expected


async def test_a_target_narrowed_to_a_group_counts_that_group_only(serve: Serve) -> None:
    fake = cluster()
    spec = make_job("app", {"web": {"server": IMAGE}, "worker": {"jobs": IMAGE}})
    spec["TaskGroups"][0]["Constraints"] = [ARM64]
    spec["TaskGroups"][1]["Constraints"] = [constraint("${attr.cpu.arch}", "=", "amd64")]
    spec["TaskGroups"][1]["Tasks"].append(
        {**copy.deepcopy(spec["TaskGroups"][1]["Tasks"][0]), "Name": "log", "Driver": "exec"}
    )
    spec["Datacenters"] = ["eu-*"]
    fake.add_job(spec)
    fake.add_node(make_node("both-1", datacenter="eu-west", drivers=("docker", "exec")))
    deployer = await serve(fake)

    web = Target(kind="nomad", name="app", options={"group": "web", "task": "server"})
    worker = Target(kind="nomad", name="app", options={"group": "worker"})
    # a node for the worker group needs both of its drivers: exec-1 has no docker
    assert await deployer.platforms(web) == {"linux/arm64": 1}
    assert await deployer.platforms(worker) == {"linux/amd64": 1}
    assert await deployer.platforms(TARGET) == {"linux/arm64": 1, "linux/amd64": 1}
    assert await deployer.platforms(Target(kind="nomad", name="app", options={"group": "x"})) == {}


def node_reads(fake: FakeNomad) -> list[str]:
    paths = [r.path_qs.partition("?")[0] for r in fake.requests]
    return [path for path in paths if path.startswith("/v1/node/")]


async def test_node_details_are_read_again_only_when_the_node_changed(serve: Serve) -> None:
    fake = FakeNomad(nodes=())
    fake.add_job(job())
    nodes = [fake.add_node(make_node(f"n-{n}")) for n in range(3)]
    down = fake.add_node(make_node("down", status="down"))
    deployer = await serve(fake)

    assert await deployer.platforms(TARGET) == {"linux/amd64": 3}
    assert sorted(node_reads(fake)) == sorted(f"/v1/node/{n['ID']}" for n in nodes)
    fake.requests.clear()

    assert await deployer.platforms(TARGET) == {"linux/amd64": 3}
    assert node_reads(fake) == []

    fake.update_node(nodes[0]["ID"], Attributes={**nodes[0]["Attributes"], "cpu.arch": "arm64"})
    fake.update_node(down["ID"], Status="ready")
    fake.remove_node(nodes[2]["ID"])
    assert await deployer.platforms(TARGET) == {"linux/amd64": 2, "linux/arm64": 1}
    read_again = [f"/v1/node/{nodes[0]['ID']}", f"/v1/node/{down['ID']}"]
    assert sorted(node_reads(fake)) == sorted(read_again)


async def test_no_such_job_has_no_nodes(serve: Serve) -> None:
    deployer = await serve(cluster())

    assert await deployer.platforms(TARGET) == {}


async def test_a_token_that_may_not_read_nodes_is_named(serve: Serve) -> None:
    fake = cluster()
    fake.acl_tokens = {"deployer": frozenset({"default"})}
    fake.add_job(job())
    deployer = await serve(fake, token="deployer")

    with pytest.raises(DeployerUnavailable, match="node:read") as caught:
        await deployer.platforms(TARGET)
    assert caught.value.kind == "nomad"

    fake.node_read_tokens = frozenset({"deployer"})
    assert await deployer.platforms(TARGET) == DEFAULT_POOL


async def test_nomad_away_is_unavailable() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    deployer = NomadDeployer(settings=NomadSettings(address=address, timeout_seconds=2))
    try:
        with pytest.raises(DeployerUnavailable, match="Nomad did not answer") as caught:
            await deployer.platforms(TARGET)
    finally:
        deployer.close()
    assert caught.value.kind == "nomad"
