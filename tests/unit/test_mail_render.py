"""The email a person reads about a group of deploys: subject, plain text and HTML parts."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest

from notifiers.base import Kind, Notice
from notifiers.email import render
from tests.support.notices import make_notice

SENDER = "regdeploy <regdeploy@example.com>"
RECIPIENTS = ("ops@example.com", "dev@example.com")
DIGEST = "sha256:" + "ab12" * 16
OLD_DIGEST = "sha256:" + "cd34" * 16


def notice(**overrides: Any) -> Notice:
    defaults: dict[str, Any] = {
        "from_image": f"registry.example.com/team/app:1.4.0@{OLD_DIGEST}",
        "to_image": f"registry.example.com/team/app@{DIGEST}",
        "duration_seconds": 12.34,
    }
    return make_notice(**(defaults | overrides))


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain text and the HTML of a message, as its reader's mail client sees them."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    text = parsed.get_body(preferencelist=("plain",))
    rich = parsed.get_body(preferencelist=("html",))
    assert text is not None and rich is not None
    return text.get_content(), rich.get_content()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "[regdeploy] Deployed team/app 1.4.1 to web"),
        ({"outcome": "failed"}, "[regdeploy] Deploy failed: team/app on web"),
        ({"outcome": "rolled_back"}, "[regdeploy] Deploy rolled back: team/app on web"),
        ({"outcome": "conflict"}, "[regdeploy] Deploy conflict: team/app on web"),
        ({"outcome": "superseded"}, "[regdeploy] Deploy superseded: team/app 1.4.1 on web"),
        ({"outcome": "dry_run"}, "[regdeploy] Would deploy team/app 1.4.1 to web"),
        (
            {"outcome": "started", "kind": Kind.STARTED, "duration_seconds": None},
            "[regdeploy] Deploying team/app 1.4.1 to web",
        ),
        ({"outcome": "weird"}, "[regdeploy] Deploy weird: team/app on web"),
    ],
)
def test_subject_of_one_deploy(overrides: dict[str, Any], expected: str) -> None:
    assert render([notice(**overrides)], SENDER, RECIPIENTS)["Subject"] == expected


def test_a_line_break_in_a_name_cannot_start_a_header_of_its_own() -> None:
    message = render([notice(target="web\r\nBcc: evil@example.com")], SENDER, RECIPIENTS)
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "[regdeploy] Deployed team/app 1.4.1 to web Bcc: evil@example.com"
    assert parsed["Bcc"] is None


def test_subject_of_several_deploys_counts_them_and_the_failures() -> None:
    ok = [notice(target=name) for name in ("web", "worker", "cron")]
    assert render(ok, SENDER, RECIPIENTS)["Subject"] == "[regdeploy] 3 deploys of team/app"
    mixed = [*ok[:2], notice(target="cron", outcome="failed")]
    assert (
        render(mixed, SENDER, RECIPIENTS)["Subject"]
        == "[regdeploy] 3 deploys of team/app, 1 failed"
    )


def test_headers() -> None:
    message = render([notice()], SENDER, RECIPIENTS)
    assert message["From"] == SENDER
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"]
    assert message["Auto-Submitted"] == "auto-generated"


def test_text_part_lists_every_field_of_a_success() -> None:
    text, _ = parts(render([notice()], SENDER, RECIPIENTS))
    assert "team/app 1.4.1 on web: succeeded" in text
    for line in (
        "repository: team/app",
        "target:     web",
        "from:       1.4.0 (sha256:cd34cd34cd34)",
        "to:         1.4.1 (sha256:ab12ab12ab12)",
        "outcome:    succeeded",
        "duration:   12.3 s",
        "reason:     semver minor update",
    ):
        assert line in text
    assert "message:" not in text


def test_failure_shows_what_the_orchestrator_said() -> None:
    failed = notice(
        outcome="failed",
        message="allocation failed: port 8080\nalready in use",
        duration_seconds=125,
        from_image=None,
    )
    text, rich = parts(render([failed], SENDER, RECIPIENTS))
    assert "from:       unknown" in text
    assert "duration:   2 min 5 s" in text
    assert "message:    allocation failed: port 8080\n              already in use" in text
    assert "allocation failed: port 8080\nalready in use</pre>" in rich


@pytest.mark.parametrize(
    ("from_image", "shown"),
    [
        (None, "unknown"),
        ("team/app:1.4.0", "1.4.0"),
        (f"team/app@{OLD_DIGEST}", "sha256:cd34cd34cd34"),
        ("localhost:5000/team/app", "localhost:5000/team/app"),
    ],
)
def test_where_the_target_came_from(from_image: str | None, shown: str) -> None:
    text, rich = parts(render([notice(from_image=from_image)], SENDER, RECIPIENTS))
    assert f"from:       {shown}\n" in text
    assert f'<th align="left" valign="top">from</th><td>{shown}</td>' in rich


def test_unknown_duration_and_reason() -> None:
    text, _ = parts(render([notice(duration_seconds=None, reason="")], SENDER, RECIPIENTS))
    assert "duration:   -\n" in text
    assert "reason:     -\n" in text


def test_html_escapes_everything_a_registry_or_orchestrator_wrote() -> None:
    hostile = notice(
        repository="team/<b>app</b>",
        target='web" onload="x',
        tag="1.4.1&co",
        outcome="failed",
        reason="<i>policy</i>",
        message="<script>alert('pwned')</script>",
    )
    text, rich = parts(render([hostile], SENDER, RECIPIENTS))
    assert "<script>" not in rich
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in rich
    assert "<b>" not in rich and "team/&lt;b&gt;app&lt;/b&gt;" in rich
    assert "<i>" not in rich and "&lt;i&gt;policy&lt;/i&gt;" in rich
    assert "web&quot; onload=&quot;x" in rich
    assert "1.4.1&amp;co" in rich
    # The plain text part shows the words as they are.
    assert "message:    <script>alert('pwned')</script>" in text


def test_several_notices_each_get_a_section() -> None:
    group = [
        notice(target="web"),
        notice(target="worker", outcome="rolled_back", message="health check failed"),
        notice(target="cron", outcome="superseded", duration_seconds=None),
    ]
    text, rich = parts(render(group, SENDER, RECIPIENTS))
    headlines = [
        "team/app 1.4.1 on web: succeeded",
        "team/app 1.4.1 on worker: rolled_back",
        "team/app 1.4.1 on cron: superseded",
    ]
    positions = [text.index(line) for line in headlines]
    assert positions == sorted(positions)
    assert rich.count("<h3>") == 3
    for line in headlines:
        assert f"<h3>{line}</h3>" in rich
    assert text.count("message:") == 1
    assert "health check failed" in text and "health check failed" in rich


def test_nothing_to_render() -> None:
    with pytest.raises(ValueError, match="no notices"):
        render([], SENDER, RECIPIENTS)
