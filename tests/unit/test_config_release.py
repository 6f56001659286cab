"""Release control in the configuration: windows, durations and approvals per repository, the
``approve`` scope, tokens named once, and every problem with its key path."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest

from receiver.config import loading as configuration
from receiver.config.server import Scope
from receiver.errors import ConfigError


def config_with(repository: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "database": {"url": "postgresql://localhost/regdeploy"},
        "sources": [{"name": "registry", "format": "distribution", "token": "t"}],
        "api": {"tokens": [{"name": "admin", "token": "a", "scope": "write"}]},
        "repositories": [{"name": "team/app", "image": "reg.test:5000/team/app", **repository}],
        **top,
    }


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        configuration.parse(raw, env={})
    return list(caught.value.problems)


def test_a_repositorys_release_rules() -> None:
    config = configuration.parse(
        config_with(
            {
                "windows": [
                    {
                        "days": "mon-fri",
                        "from": "22:00",
                        "to": "23:30",
                        "timezone": "Europe/Berlin",
                    },
                    {"days": ["sat"], "from": "10:00", "to": "12:00"},
                ],
                "min_age": "10m",
                "settle": 30,
                "approvals": 2,
                "approval_deadline": "24h",
            }
        ),
        env={},
    )
    rules = config.repositories[0].release
    assert [(w.start, w.end, w.timezone) for w in rules.windows] == [
        (time(22), time(23, 30), "Europe/Berlin"),
        (time(10), time(12), "UTC"),
    ]
    assert (rules.min_age, rules.settle) == (timedelta(minutes=10), timedelta(seconds=30))
    assert (rules.approvals, rules.approval_deadline) == (2, timedelta(hours=24))


def test_without_rules_nothing_waits() -> None:
    rules = configuration.parse(config_with({}), env={}).repositories[0].release
    assert rules.describe() == []


@pytest.mark.parametrize(
    ("repository", "problem"),
    [
        (
            {"windows": [{"days": "someday", "from": "1:00", "to": "2:00"}]},
            "repositories[0].windows[0]: unknown day 'someday' (expected mon, tue, wed, thu, "
            "fri, sat, sun or daily)",
        ),
        (
            {"windows": [{"days": "mon", "from": "1:00", "to": "2:00", "timezone": "Nowhere"}]},
            "repositories[0].windows[0]: unknown time zone 'Nowhere' (e.g. Europe/Berlin, UTC)",
        ),
        (
            {"min_age": "ten minutes"},
            "repositories[0].min_age: expected a duration such as 30s, 10m, 24h, got 'ten minutes'",
        ),
        (
            {"approvals": -1},
            "repositories[0].approvals: expected a whole number of approvals from 0 to 100, got -1",
        ),
        ({"windows": "mon-fri"}, "repositories[0].windows: expected a list"),
    ],
)
def test_each_problem_names_its_key(repository: dict[str, Any], problem: str) -> None:
    assert problems(config_with(repository)) == [problem]


def test_the_approve_scope_and_token_names_used_once() -> None:
    tokens = [
        {"name": "admin", "token": "a", "scope": "write"},
        {"name": "alice", "token": "b", "scope": "approve"},
    ]
    config = configuration.parse(config_with({}, api={"tokens": tokens}), env={})
    assert [t.scope for t in config.api_tokens] == [Scope.WRITE, Scope.APPROVE]
    twice = [*tokens, {"name": "alice", "token": "c"}]
    assert problems(config_with({}, api={"tokens": twice})) == [
        "api.tokens[2].name: 'alice' is used by an earlier token"
    ]


def test_the_public_url_makes_the_links_of_notices() -> None:
    config = configuration.parse(
        config_with({}, server={"public_url": "https://regdeploy.example/"}), env={}
    )
    assert config.server.base_url == "https://regdeploy.example"
    assert configuration.parse(config_with({}), env={}).server.base_url == "http://127.0.0.1:8080"
