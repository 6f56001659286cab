"""Which Nomad client nodes a job's task groups can be placed on (pure, no I/O): the feasibility
rules of Nomad's scheduler (``scheduler/feasible.go``, ``nomad/structs``), read from its source.

A node is a candidate for a task group when it is ``ready``, ``eligible`` and not draining; is
in one of the job's datacenters (globs with ``*``, as ``dc*``, since Nomad 1.6; none listed
means ``*``) and in its node pool (``default`` when unset, ``all`` for every pool); has every
driver the group's tasks use, detected and healthy; and meets every constraint of the job, of
the group and of each of its tasks (a group's tasks share one node, so a target narrowed to
one task still needs a node that takes the whole group).

Constraint targets: a literal, ``${node.unique.id}``, ``${node.unique.name}``,
``${node.datacenter}``, ``${node.class}``, ``${node.pool}``, ``${attr.X}`` and ``${meta.X}``; a
target the node does not have resolves to nothing. Operators ``=``/``==``/``is``,
``!=``/``not``, ``regexp`` (RE2, as Go's), ``is_set``, ``is_not_set``, ``set_contains``
(``set_contains_all``) and ``set_contains_any`` are applied as Nomad applies them.
``distinct_hosts`` and ``distinct_property`` limit how many allocations share a node, not which
nodes can take one. The ordering, ``version`` and ``semver`` operators are not evaluated: the
node counts as a candidate, so the platform check may ask for a platform the job could not use,
never miss one it could.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import re2

from receiver.decide.trust.platforms import normalise

DEFAULT_POOL = "default"
ALL_POOLS = "all"
_NOT_EVALUATED = frozenset({"<", "<=", ">", ">=", "version", "semver"})
_PLACEMENT_ONLY = frozenset({"distinct_hosts", "distinct_property"})
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Constraint:
    left: str
    operand: str
    right: str

    @classmethod
    def read(cls, raw: Mapping[str, Any]) -> Constraint:
        return cls(
            left=str(raw.get("LTarget") or ""),
            operand=str(raw.get("Operand") or "="),
            right=str(raw.get("RTarget") or ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """Where one task group of a job may go."""

    group: str
    datacenters: tuple[str, ...] = ("*",)
    pool: str = DEFAULT_POOL
    constraints: tuple[Constraint, ...] = ()
    drivers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class NomadNode:
    """One client node as ``GET /v1/node/:id`` shows it, with what placement looks at."""

    id: str
    name: str = ""
    datacenter: str = ""
    pool: str = DEFAULT_POOL
    node_class: str = ""
    ready: bool = False
    modify_index: int = 0
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    meta: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Driver name -> detected and healthy (``Drivers``); a driver missing there falls back to
    # the ``driver.NAME`` attribute, as the scheduler does.
    drivers: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def read(cls, node: Mapping[str, Any]) -> NomadNode:
        drivers = node.get("Drivers") or {}
        return cls(
            id=str(node.get("ID") or ""),
            name=str(node.get("Name") or ""),
            datacenter=str(node.get("Datacenter") or ""),
            pool=str(node.get("NodePool") or DEFAULT_POOL),
            node_class=str(node.get("NodeClass") or ""),
            ready=schedulable(node),
            modify_index=int(node.get("ModifyIndex") or 0),
            attributes=MappingProxyType(_strings(node.get("Attributes"))),
            meta=MappingProxyType(_strings(node.get("Meta"))),
            drivers=MappingProxyType(
                {
                    str(name): bool(info and info.get("Detected") and info.get("Healthy"))
                    for name, info in drivers.items()
                }
            ),
        )

    @property
    def platform(self) -> str:
        """``kernel.name`` and ``cpu.arch`` (Go's ``GOOS``/``GOARCH`` of the client): Nomad
        reports no ARM variant, so an ``arm`` node is taken for ``arm/v7``."""
        return normalise(
            self.attributes.get("kernel.name", ""), self.attributes.get("cpu.arch", "")
        )

    def has_driver(self, driver: str) -> bool:
        if driver in self.drivers:
            return self.drivers[driver]
        return self.attributes.get(f"driver.{driver}") in _GO_TRUE


def schedulable(node: Mapping[str, Any]) -> bool:
    """A node (list stub or read) takes new allocations: ``ready``, ``eligible``, not
    draining."""
    return (
        node.get("Status") == "ready"
        and node.get("SchedulingEligibility") == "eligible"
        and not node.get("Drain")
        and not node.get("DrainStrategy")
    )


def placements(job: Mapping[str, Any], *, group: str | None = None) -> list[Placement]:
    """The placement of each task group of ``job`` (only ``group`` when given)."""
    datacenters = tuple(str(dc) for dc in job.get("Datacenters") or ()) or ("*",)
    pool = str(job.get("NodePool") or DEFAULT_POOL)
    job_constraints = _constraints(job)
    found = []
    for task_group in job.get("TaskGroups") or []:
        if group and task_group.get("Name") != group:
            continue
        tasks = task_group.get("Tasks") or []
        constraints = [*job_constraints, *_constraints(task_group)]
        for task in tasks:
            constraints.extend(_constraints(task))
        found.append(
            Placement(
                group=str(task_group.get("Name") or ""),
                datacenters=datacenters,
                pool=pool,
                constraints=tuple(constraints),
                drivers=frozenset(str(t["Driver"]) for t in tasks if t.get("Driver")),
            )
        )
    return found


def fits(node: NomadNode, placement: Placement) -> bool:
    """Whether ``node`` can take an allocation of the task group now."""
    return (
        node.ready
        and any(_glob(pattern, node.datacenter) for pattern in placement.datacenters)
        and placement.pool in (ALL_POOLS, node.pool)
        and all(node.has_driver(driver) for driver in placement.drivers)
        and all(meets(node, constraint) for constraint in placement.constraints)
    )


def node_platforms(nodes: Iterable[NomadNode], groups: Sequence[Placement]) -> dict[str, int]:
    """The platforms of the nodes that can take any of ``groups``, each node counted once."""
    counted = Counter(n.platform for n in nodes if any(fits(n, p) for p in groups))
    return dict(counted)


def meets(node: NomadNode, constraint: Constraint) -> bool:
    """Whether ``node`` meets one constraint (``checkConstraint``)."""
    operand = constraint.operand
    if operand in _PLACEMENT_ONLY or operand in _NOT_EVALUATED:
        return True
    left, left_found = _resolve(constraint.left, node)
    right, right_found = _resolve(constraint.right, node)
    both = left_found and right_found
    match operand:
        case "=" | "==" | "is":
            return both and left == right
        case "!=" | "not":
            return left != right
        case "is_set":
            return left_found
        case "is_not_set":
            return not left_found
        case "regexp":
            program = _regexp(right)
            return both and program is not None and program.search(left) is not None
        case "set_contains" | "set_contains_all":
            return both and _items(right) <= _items(left)
        case "set_contains_any":
            return both and bool(_items(right) & _items(left))
    return False  # Nomad refuses a job with any other operator


def _resolve(target: str, node: NomadNode) -> tuple[str, bool]:
    """``resolveTarget``: the value a target names on ``node``, and whether it has one."""
    if not target.startswith("${"):
        return target, True
    fixed = {
        "${node.unique.id}": node.id,
        "${node.unique.name}": node.name,
        "${node.datacenter}": node.datacenter,
        "${node.class}": node.node_class,
        "${node.pool}": node.pool,
    }
    if target in fixed:
        return fixed[target], True
    for prefix, values in (("${attr.", node.attributes), ("${meta.", node.meta)):
        if target.startswith(prefix):
            key = target.removeprefix(prefix).removesuffix("}")
            return (values[key], True) if key in values else ("", False)
    return "", False


def _glob(pattern: str, value: str) -> bool:
    """ryanuber/go-glob, as Nomad matches datacenters: ``*`` stands for any text."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == value
    if not value.startswith(parts[0]) or not value.endswith(parts[-1]):
        return False
    at = len(parts[0])
    for part in parts[1:-1]:
        found = value.find(part, at)
        if found < 0:
            return False
        at = found + len(part)
    return at <= len(value) - len(parts[-1])


def _items(text: str) -> set[str]:
    return {item.strip() for item in text.split(",")}


@functools.lru_cache(maxsize=64)
def _regexp(pattern: str) -> Any:
    """The compiled pattern, or None when it does not compile (the node then does not match,
    as in Nomad)."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error:
        return None


def _constraints(block: Mapping[str, Any]) -> list[Constraint]:
    return [Constraint.read(raw) for raw in block.get("Constraints") or []]


def _strings(values: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, Mapping) else {}
