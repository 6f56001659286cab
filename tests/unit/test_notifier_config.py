"""The `notifiers:` and `notices:` configuration sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from notifiers.base import Level
from receiver.config import loading as configuration
from receiver.errors import ConfigError

BASE: dict[str, Any] = {
    "sources": [{"name": "registry", "format": "distribution", "token": "t0123456789"}],
    "api": {"tokens": [{"name": "admin", "token": "a0123456789"}]},
}


def parse(**sections: Any) -> configuration.Config:
    return configuration.parse({**BASE, **sections}, env={})


def problems(**sections: Any) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as raised:
        parse(**sections)
    return raised.value.problems


def test_every_type_with_its_settings(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("hunter2\n")
    config = parse(
        notifiers=[
            {"name": "s", "type": "slack", "url": "https://hooks.slack.example/a/b/c"},
            {"name": "t", "type": "teams", "url": "https://teams.example/x", "level": "failures"},
            {"name": "w", "type": "webhook", "url": "https://h.example", "secret": "k" * 16},
            {
                "name": "m",
                "type": "email",
                "host": "smtp",
                "from": "r@x",
                "to": ["a@x"],
                "username": "u",
                "password_file": str(tmp_path / "pw"),
                "security": "tls",
            },
        ]
    )
    s, t, w, m = config.notifiers
    assert (s.level, t.level, s.started) == (Level.ALL, Level.FAILURES, False)
    assert w.secret is not None and w.secret.reveal() == "k" * 16
    assert m.smtp is not None
    assert (m.smtp.port, m.smtp.password.reveal() if m.smtp.password else None) == (465, "hunter2")
    assert "hunter2" not in repr(config)
    assert "hooks.slack.example" not in repr(config)


@pytest.mark.parametrize(
    ("notifier", "problem"),
    [
        ({"name": "x", "type": "pager"}, "notifiers[0].type: expected one of"),
        ({"name": "x", "type": "slack"}, "notifiers[0].url: missing"),
        ({"name": "x", "type": "webhook", "url": "https://h"}, "notifiers[0].secret: missing"),
        ({"name": "x", "type": "slack", "url": "u", "level": "loud"}, "notifiers[0].level"),
        ({"name": "x", "type": "email", "host": "h", "from": "f"}, "notifiers[0].to: expected"),
        ({"name": "x", "type": "slack", "url": "u", "host": "h"}, "notifiers[0].host: unknown"),
    ],
)
def test_problems_name_their_key(notifier: dict[str, Any], problem: str) -> None:
    assert any(p.startswith(problem) for p in problems(notifiers=[notifier]))


def test_a_repository_may_only_name_configured_notifiers() -> None:
    found = problems(
        notifiers=[{"name": "chat", "type": "slack", "url": "u"}],
        repositories=[{"image": "r.io/a", "notify": ["chat", "pager"]}],
    )
    assert found == ("repositories[0].notify: no notifier named 'pager'",)


def test_notices_section() -> None:
    outbox = parse(notices={"group_seconds": 1, "max_attempts": 4}).outbox
    assert (outbox.group_seconds, outbox.max_attempts) == (1.0, 4)
    assert problems(notices={"max_attempts": 0})
