"""Client nodes of the fake Nomad (``tests.support.nomad_fake``), in the shapes Nomad's HTTP API
gives them (api-docs/nodes; ``nomad/structs``: ``Node``, ``Node.Stub``):

* ``GET /v1/nodes`` lists ``NodeListStub`` objects: no ``Attributes`` (only ``os.name`` with
  ``?os=true``), no ``Meta``; ``Drain`` is whether a drain strategy is set; ``NodePool`` since
  Nomad 1.6. ``NodeResources`` and ``ReservedResources`` only with ``?resources=true``.
* ``GET /v1/node/:node_id`` reads a whole ``Node``: ``Attributes`` (``cpu.arch`` and
  ``kernel.name`` are Go's ``GOARCH`` and ``GOOS``; ``driver.NAME`` per detected driver),
  ``Meta``, ``Drivers``, ``DrainStrategy``... A missing node is a 404 ``node not found``.
* A node being drained is ineligible for scheduling (``nomad/node_endpoint.go``,
  ``UpdateDrain``).
"""

from __future__ import annotations

import copy
import uuid
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

Json = dict[str, Any]

NODE_NOT_FOUND = "node not found"
_SECOND = 1_000_000_000
_DRIVER_TIME = "2025-01-01T00:00:00Z"


def make_node(
    name: str,
    *,
    arch: str = "amd64",
    kernel: str = "linux",
    datacenter: str = "dc1",
    pool: str = "default",
    node_class: str = "",
    meta: Mapping[str, str] | None = None,
    attributes: Mapping[str, str] | None = None,
    status: str = "ready",
    eligibility: str = "eligible",
    drain: bool = False,
    drivers: Iterable[str] = ("docker",),
) -> Json:
    """A node as ``GET /v1/node/:id`` shows it (before the fake gives it its indexes)."""
    detected = {
        driver: {
            "Attributes": {f"driver.{driver}": "true"},
            "Detected": True,
            "Healthy": True,
            "HealthDescription": "Healthy",
            "UpdateTime": _DRIVER_TIME,
        }
        for driver in drivers
    }
    return {
        "ID": str(uuid.uuid4()),
        "Name": name,
        "Datacenter": datacenter,
        "NodePool": pool,
        "NodeClass": node_class,
        "ComputedClass": f"v1:{zlib.crc32(f'{datacenter}/{node_class}/{arch}'.encode())}",
        "HTTPAddr": "10.0.0.1:4646",
        "TLSEnabled": False,
        "SecretID": "",
        "Attributes": {
            "cpu.arch": arch,
            "kernel.name": kernel,
            "os.name": "debian" if kernel == "linux" else kernel,
            "nomad.version": "1.9.3",
            "unique.hostname": name,
            **{f"driver.{driver}": "1" for driver in drivers},
            **(attributes or {}),
        },
        "Meta": dict(meta or {}),
        "Drivers": detected,
        "HostVolumes": None,
        "Links": None,
        "NodeResources": {"Cpu": {"CpuShares": 4000}, "Memory": {"MemoryMB": 8192}},
        "ReservedResources": {"Cpu": {"CpuShares": 0}, "Memory": {"MemoryMB": 0}},
        # deprecated, still answered (and documented)
        "Resources": {"CPU": 4000, "MemoryMB": 8192, "DiskMB": 20000},
        "Reserved": {"CPU": 0, "MemoryMB": 0, "DiskMB": 0},
        "Events": [
            {
                "CreateIndex": 0,
                "Details": None,
                "Message": "Node registered",
                "Subsystem": "Cluster",
                "Timestamp": _DRIVER_TIME,
            }
        ],
        "Status": status,
        "StatusDescription": "",
        "StatusUpdatedAt": 1_735_689_600,
        "SchedulingEligibility": "ineligible" if drain else eligibility,
        "Drain": drain,
        "DrainStrategy": _drain_strategy() if drain else None,
        "LastDrain": None,
        "CreateIndex": 0,
        "ModifyIndex": 0,
    }


def drained(node: Mapping[str, Any], drain: bool) -> Json:
    """``node`` with a drain started (ineligible) or ended (eligible again)."""
    changed = copy.deepcopy(dict(node))
    changed.update(
        Drain=drain,
        DrainStrategy=_drain_strategy() if drain else None,
        SchedulingEligibility="ineligible" if drain else "eligible",
    )
    return changed


def node_stub(node: Mapping[str, Any], *, resources: bool = False, os: bool = False) -> Json:
    """``structs.Node.Stub``: what ``GET /v1/nodes`` lists of a node."""
    stub: Json = {
        "Address": str(node["HTTPAddr"]).rsplit(":", 1)[0],
        "ID": node["ID"],
        "Datacenter": node["Datacenter"],
        "Name": node["Name"],
        "NodeClass": node["NodeClass"],
        "NodePool": node["NodePool"],
        "Version": node["Attributes"].get("nomad.version", ""),
        "Drain": node["DrainStrategy"] is not None,
        "SchedulingEligibility": node["SchedulingEligibility"],
        "Status": node["Status"],
        "StatusDescription": node["StatusDescription"],
        "Drivers": copy.deepcopy(node["Drivers"]),
        "HostVolumes": node["HostVolumes"],
        "LastDrain": node["LastDrain"],
        "CreateIndex": node["CreateIndex"],
        "ModifyIndex": node["ModifyIndex"],
    }
    if resources:
        stub["NodeResources"] = copy.deepcopy(node["NodeResources"])
        stub["ReservedResources"] = copy.deepcopy(node["ReservedResources"])
    if os:
        stub["Attributes"] = {"os.name": node["Attributes"].get("os.name", "")}
    return stub


def _drain_strategy() -> Json:
    return {
        "Deadline": 3600 * _SECOND,
        "ForceDeadline": "0001-01-01T00:00:00Z",
        "IgnoreSystemJobs": False,
        "StartedAt": _DRIVER_TIME,
    }
