"""The `{swarm: NAME}` and `{container: NAME}` target shorthands of a watched repository."""

from __future__ import annotations

from typing import Any

import pytest

from deployers.base import Target
from receiver.config import loading as configuration
from receiver.errors import ConfigError

BASE: dict[str, Any] = {
    "sources": [{"name": "registry", "format": "distribution", "token": "t0123456789"}],
    "api": {"tokens": [{"name": "admin", "token": "a0123456789"}]},
}


def targets_of(*targets: object) -> tuple[Target, ...]:
    repository = {"image": "registry.internal:5000/team/web", "targets": list(targets)}
    config = configuration.parse({**BASE, "repositories": [repository]}, env={})
    return config.repositories[0].targets


def problems_of(*targets: object) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        targets_of(*targets)
    return list(raised.value.problems)


@pytest.mark.parametrize("kind", ["swarm", "container"])
def test_a_shorthand_names_one_workload(kind: str) -> None:
    assert targets_of({kind: "web"}) == (Target(kind=kind, name="web"),)


def test_shorthands_mix_with_the_other_forms() -> None:
    targets = targets_of(
        {"swarm": "stack_web"},
        {"container": "web-1"},
        {"nomad": {"job": "web"}},
        {"kind": "swarm", "name": "stack_api"},
    )

    assert targets == (
        Target(kind="swarm", name="stack_web"),
        Target(kind="container", name="web-1"),
        Target(kind="nomad", name="web"),
        Target(kind="swarm", name="stack_api"),
    )
    assert [t.key for t in targets] == [
        "swarm:stack_web",
        "container:web-1",
        "nomad:web",
        "swarm:stack_api",
    ]


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        pytest.param({"swarm": "web", "extra": 1}, "extra: unknown key", id="extra-key"),
        pytest.param({"container": "web", "options": {}}, "options: unknown key", id="options"),
        pytest.param({"swarm": "web", "container": "db"}, "container: unknown key", id="both"),
        pytest.param({"swarm": ""}, "swarm: missing", id="empty-swarm"),
        pytest.param({"container": ""}, "container: missing", id="empty-container"),
        pytest.param({"swarm": None}, "swarm: missing", id="null"),
        pytest.param({"swarm": {"name": "web"}}, "swarm: expected a string", id="mapping"),
        pytest.param({"container": ["web"]}, "container: expected a string", id="list"),
    ],
)
def test_a_bad_shorthand_is_reported_with_its_key(target: dict[str, Any], problem: str) -> None:
    assert problems_of({"swarm": "ok"}, target) == [f"repositories[0].targets[1].{problem}"]
