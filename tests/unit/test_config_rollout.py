"""The ``rollout:``, ``stages:`` and ``compose:`` sections in the configuration, and
``defaults.rollout``: what they read into, and every problem with its key path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from receiver.config import loading as configuration
from receiver.config.repositories import WatchedRepository
from receiver.decide.rules.rollout import (
    FailureAction,
    HttpCheck,
    Promotion,
    RolloutPlan,
    RolloutPolicy,
    WaveSize,
)
from receiver.errors import ConfigError


def config_with(*, defaults: Any = None, **sections: Any) -> dict[str, Any]:
    repository: dict[str, Any] = {"name": "team/app", "image": "reg.test:5000/team/app", **sections}
    document: dict[str, Any] = {
        "database": {"url": "postgresql://localhost/regdeploy"},
        "sources": [{"name": "registry", "format": "distribution", "token": "t"}],
        "api": {"tokens": [{"name": "admin", "token": "a", "scope": "write"}]},
        "repositories": [repository, {"name": "other/app", "image": "reg.test:5000/other/app"}],
    }
    if defaults is not None:
        document["defaults"] = defaults
    return document


def repositories(raw: dict[str, Any]) -> tuple[WatchedRepository, ...]:
    return configuration.parse(raw, env={}).repositories


def problems(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        configuration.parse(raw, env={})
    return str(caught.value)


def test_without_a_rollout_every_target_moves_at_once() -> None:
    app, other = repositories(config_with())
    assert (app.rollout, other.rollout, app.compose_rewrite) == (None, None, False)


def test_a_rollout_reads_as_written() -> None:
    rollout = {
        "waves": [1, "25%", "100%"],
        "soak": "5m",
        "on_failure": "halt",
        "health_timeout": "2m",
        "verify": {"http": {"url": "http://app.internal/healthz", "status": 204,
                            "timeout": "1s", "interval": "10s"}},
    }  # fmt: skip
    app, _ = repositories(config_with(rollout=rollout, compose={"rewrite": True}))
    assert app.rollout == RolloutPlan(
        policy=RolloutPolicy(
            waves=(WaveSize(count=1), WaveSize(percent=25), WaveSize(percent=100)),
            soak=timedelta(minutes=5),
            on_failure=FailureAction.HALT,
            health_timeout=timedelta(minutes=2),
            verify=HttpCheck(url="http://app.internal/healthz", status=204,
                             timeout=timedelta(seconds=1), interval=timedelta(seconds=10)),
        )
    )  # fmt: skip
    assert app.compose_rewrite is True
    assert RolloutPolicy.from_json(app.rollout.policy.as_json()) == app.rollout.policy


def test_defaults_apply_to_every_repository_without_its_own_and_keep_its_stages() -> None:
    stages = [{"name": "staging", "select": {"label": "regdeploy.stage=staging"}}]
    raw = config_with(defaults={"rollout": {"waves": [1, "100%"], "soak": "1m"}}, stages=stages)
    raw["repositories"].append(
        {"name": "own/app", "image": "reg.test:5000/own/app", "rollout": {"soak": "9s"}}
    )
    app, other, own = repositories(raw)
    assert app.rollout is not None and other.rollout is not None and own.rollout is not None
    assert app.rollout.policy.soak == other.rollout.policy.soak == timedelta(minutes=1)
    assert [s.name for s in app.rollout.stages] == ["staging"]
    assert other.rollout.stages == ()
    assert own.rollout.policy == RolloutPolicy(soak=timedelta(seconds=9))


def test_stages_select_by_label_or_by_targets() -> None:
    stages = [
        {"name": "staging", "select": {"label": "regdeploy.stage=staging"}},
        {"name": "prod", "select": {"targets": [{"swarm": "web"}, {"container": "api"}]},
         "promote": {"soak": "30m", "approvals": 1}},
    ]  # fmt: skip
    app, _ = repositories(config_with(stages=stages))
    assert app.rollout is not None
    staging, prod = app.rollout.stages
    assert staging.label == ("stage", "staging")
    assert prod.targets == frozenset({"swarm:web", "container:api"})
    assert prod.promote == Promotion(soak=timedelta(minutes=30), approvals=1)
    assert app.rollout.policy == RolloutPolicy()  # one wave, no soak


@pytest.mark.parametrize(
    ("sections", "said"),
    [
        ({"rollout": {"waves": []}}, "repositories[0].rollout.waves: expected a list"),
        ({"rollout": {"waves": [0, "100%"]}}, "repositories[0].rollout.waves[0]: expected a count"),
        ({"rollout": {"waves": [1, "150%"]}}, "repositories[0].rollout.waves[1]: expected a share"),
        ({"rollout": {"waves": [1, "50%"]}}, "the last wave must be 100%"),
        ({"rollout": {"soak": "soon"}}, "repositories[0].rollout.soak: expected a duration"),
        ({"rollout": {"on_failure": "retry"}}, "rollout.on_failure: expected rollback or halt"),
        ({"rollout": {"speed": 3}}, "repositories[0].rollout.speed: unknown key"),
        ({"rollout": {"soak": "1m", "verify": {"http": {"url": "ftp://x"}}}},
         "http.url: expected an http"),
        ({"rollout": {"soak": "1m", "verify": {"http": {"url": "http://x", "status": 99}}}},
         ".status"),
        ({"rollout": {"verify": {}}}, "rollout.verify.http: missing"),
        ({"rollout": {"verify": {"http": {"url": "http://x"}}}}, "set a soak too"),
        ({"stages": [{"name": "a", "select": {}}]}, "stages[0].select: give either"),
        ({"stages": [{"name": "a", "select": {"label": "env=b"}}]}, "regdeploy.stage=NAME"),
        ({"stages": [{"name": "a", "select": {"label": "regdeploy.stage=a"}},
                     {"name": "a", "select": {"label": "regdeploy.stage=b"}}]}, "earlier stage"),
        ({"stages": [{"name": "a", "select": {"label": "regdeploy.stage=a"},
                      "promote": {"soak": "1m"}}]}, "the first stage is not promoted to"),
        ({"stages": [{"name": "a", "select": {"label": "regdeploy.stage=a"}},
                     {"name": "b", "select": {"label": "regdeploy.stage=b"},
                      "promote": {"approvals": "many"}}]}, "stages[1].promote.approvals"),
        ({"compose": {"rewrite": "yes please"}}, "repositories[0].compose.rewrite"),
    ],
)  # fmt: skip
def test_each_problem_names_its_key(sections: dict[str, Any], said: str) -> None:
    assert said in problems(config_with(**sections))


def test_a_defaults_problem_names_defaults() -> None:
    assert "defaults.rollout.soak" in problems(config_with(defaults={"rollout": {"soak": "x"}}))
