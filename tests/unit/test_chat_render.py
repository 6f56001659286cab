"""What the Slack and Teams messages say, and that they keep each service's limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifiers import slack, teams
from notifiers.base import Kind, Notice
from tests.support.chat_capture import (
    View,
    slack_problems,
    slack_view,
    teams_problems,
    teams_view,
)
from tests.support.fixture_files import FIXTURES
from tests.support.notices import make_notice

OLD = "sha256:" + "a" * 64
NEW = "sha256:" + "b" * 64
REGISTRY = "registry.test:5000"


def notice(**changes: Any) -> Notice:
    defaults: dict[str, Any] = {
        "deployment_id": 1,
        "target": "prod/app",
        "from_image": f"{REGISTRY}/team/app:1.4.0@{OLD}",
        "to_image": f"{REGISTRY}/team/app:1.4.1@{NEW}",
        "digest": NEW,
        "reason": "policy minor allows 1.4.0 -> 1.4.1",
        "message": "Deployment completed successfully",
        "duration_seconds": 42.0,
    }
    return make_notice(**(defaults | changes))


FAILED = notice(
    outcome="failed", message="Failed due to unhealthy allocations", duration_seconds=310.0
)
ROLLED_BACK = notice(
    outcome="rolled_back",
    message="Failed due to unhealthy allocations - rolling back to job version 3",
)


Renderer = Callable[[list[Notice]], View]
RENDERERS = {
    "slack": lambda notices: slack_view(slack.render(notices)).read(),
    "teams": lambda notices: teams_view(teams.render(notices)).read(),
}


@pytest.fixture(params=sorted(RENDERERS))
def view(request: pytest.FixtureRequest) -> Renderer:
    renderer: Renderer = RENDERERS[request.param]
    return renderer


SUCCESS_FACTS = {
    "Repository": "team/app",
    "Target": "prod/app",
    "From": "1.4.0 (sha256:aaaaaaaaaaaa)",
    "To": "1.4.1 (sha256:bbbbbbbbbbbb)",
    "Outcome": "Succeeded",
    "Duration": "42s",
}


@pytest.mark.parametrize(
    ("notices", "title", "first_facts"),
    [
        pytest.param([notice()], "Deployed team/app 1.4.1", SUCCESS_FACTS, id="success"),
        pytest.param(
            [FAILED],
            "Deploy failed: team/app",
            SUCCESS_FACTS | {"Outcome": "Failed", "Duration": "5m 10s"},
            id="failure",
        ),
        pytest.param(
            [ROLLED_BACK],
            "Rolled back: team/app",
            SUCCESS_FACTS | {"Outcome": "Rolled back"},
            id="rollback",
        ),
        pytest.param(
            [notice(outcome="conflict")],
            "Deploy conflict: team/app",
            SUCCESS_FACTS | {"Outcome": "Conflict"},
            id="conflict",
        ),
        pytest.param(
            [notice(outcome="superseded")],
            "Superseded: team/app 1.4.1",
            SUCCESS_FACTS | {"Outcome": "Superseded"},
            id="superseded",
        ),
        pytest.param(
            [notice(outcome="dry_run", duration_seconds=None)],
            "Dry run: would deploy team/app 1.4.1",
            SUCCESS_FACTS | {"Outcome": "Dry run", "Duration": "-"},
            id="dry-run",
        ),
        pytest.param(
            [notice(kind=Kind.STARTED, outcome="started", duration_seconds=None)],
            "Deploying team/app 1.4.1",
            SUCCESS_FACTS | {"Outcome": "Started", "Duration": "-"},
            id="started",
        ),
        pytest.param(
            [notice(outcome="paused_by_operator")],
            "Deploy paused by operator: team/app 1.4.1",
            SUCCESS_FACTS | {"Outcome": "Paused by operator"},
            id="unknown-outcome",
        ),
        pytest.param(
            [notice(from_image=None, duration_seconds=3.25)],
            "Deployed team/app 1.4.1",
            SUCCESS_FACTS | {"From": "unknown", "Duration": "3.2s"},
            id="unknown-previous-image",
        ),
        pytest.param(
            [notice(from_image=f"{REGISTRY}/team/app@{OLD}", duration_seconds=3725)],
            "Deployed team/app 1.4.1",
            SUCCESS_FACTS | {"From": "sha256:aaaaaaaaaaaa", "Duration": "1h 02m"},
            id="previous-by-digest-only",
        ),
        pytest.param(
            [notice(from_image=f"{REGISTRY}/team/app:1.4.0")],
            "Deployed team/app 1.4.1",
            SUCCESS_FACTS | {"From": "1.4.0"},
            id="previous-by-tag-only",
        ),
        pytest.param(
            [notice(target="prod/app"), FAILED, notice(target="stage/app")],
            "3 deploys of team/app 1.4.1 (1 failed)",
            SUCCESS_FACTS,
            id="group",
        ),
        pytest.param(
            [notice(), notice(tag="1.5.0", target="canary/app")],
            "2 deploys of team/app",
            SUCCESS_FACTS,
            id="group-of-tags",
        ),
        pytest.param(
            [notice(), notice(repository="team/web", target="prod/web")],
            "2 deploys of 2 repositories",
            SUCCESS_FACTS,
            id="group-of-repositories",
        ),
        pytest.param(
            [
                notice(kind=Kind.STARTED, outcome="started", target=f"prod/app-{n}")
                for n in range(3)
            ],
            "Deploying team/app 1.4.1 to 3 targets",
            SUCCESS_FACTS | {"Target": "prod/app-0", "Outcome": "Started"},
            id="group-started",
        ),
    ],
)
def test_title_and_facts(
    view: Renderer, notices: list[Notice], title: str, first_facts: dict[str, str]
) -> None:
    seen = view(notices)
    assert seen.title == title
    assert seen.facts[0] == first_facts
    assert [facts["Target"] for facts in seen.facts] == [n.target for n in notices]


@pytest.mark.parametrize(
    ("shown", "message_shown"),
    [
        pytest.param(notice(), False, id="success"),
        pytest.param(FAILED, True, id="failure"),
        pytest.param(ROLLED_BACK, True, id="rollback"),
        pytest.param(notice(outcome="superseded", message="Cancelled: newer job"), True, id="sup"),
        pytest.param(notice(outcome="failed", message=""), False, id="failure-without-message"),
    ],
)
def test_reason_and_what_the_orchestrator_said(
    view: Renderer, shown: Notice, message_shown: bool
) -> None:
    said = "\n".join(view([shown]).texts).replace("*", "").replace("&gt;", ">")
    assert "Reason: policy minor allows 1.4.0 -> 1.4.1" in said
    assert (bool(shown.message) and shown.message in said) is message_shown


@pytest.mark.parametrize(
    ("notices", "color"),
    [
        ([notice()], "Good"),
        ([notice(), FAILED], "Attention"),
        ([ROLLED_BACK], "Attention"),
        ([notice(outcome="superseded")], "Default"),
    ],
)
def test_teams_title_color(notices: list[Notice], color: str) -> None:
    title = teams.render(notices)["attachments"][0]["content"]["body"][0]
    assert (title["weight"], title["size"], title["color"]) == ("Bolder", "Medium", color)


def sixty() -> list[Notice]:
    return [
        notice(
            deployment_id=n,
            target=f"prod/app-{n:02d}",
            outcome="failed" if n == 59 else "succeeded",
        )
        for n in range(60)
    ]


def test_slack_sixty_notices_keep_to_fifty_blocks() -> None:
    message = slack.render(sixty())
    blocks = message["blocks"]
    assert len(blocks) == 50
    assert slack_problems(message) == []
    shown = slack_view(message).facts
    summary = blocks[-1]["text"]["text"]
    assert summary.startswith(f"…and {60 - len(shown)} more:\n")
    assert "• team/app 1.4.1 to prod/app-59: failed after 42s" in summary
    assert message["text"].count("\n") == 60  # the headline, then one line a notice
    assert message["text"].startswith("60 deploys of team/app 1.4.1 (1 failed)\n")


def test_teams_sixty_notices_fit_the_size_limit() -> None:
    message = teams.render(sixty())
    assert teams_problems(message) == []
    assert len(json.dumps(message, ensure_ascii=False).encode()) <= teams.MAX_BYTES
    seen = teams_view(message)
    assert seen.texts[-1].startswith(f"…and {60 - len(seen.facts)} more:")
    assert "team/app 1.4.1 to prod/app-59: failed after 42s" in seen.texts[-1]


def test_a_few_notices_are_all_shown_in_full() -> None:
    notices = [notice(target=f"prod/app-{n}") for n in range(24)]
    assert len(slack_view(slack.render(notices)).facts) == 24
    assert len(teams_view(teams.render(notices)).facts) == 24
    assert "more" not in slack.render(notices)["blocks"][-1].get("text", {}).get("text", "")


def test_long_texts_are_clipped() -> None:
    long = notice(
        outcome="failed",
        repository="team/" + "r" * 300,
        target="t" * 3000,
        reason="why " * 1000,
        message="& <x> " * 2000,
    )
    message = slack.render([long] * 3)
    assert slack_problems(message) == []
    header = message["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    assert len(message["text"]) <= slack.FALLBACK_CHARS
    assert_whole_entities(message)
    said = slack_view(message).texts[0]
    assert said.endswith("…") and "&lt;x&gt;" in said
    card = teams.render([long] * 3)
    assert teams_problems(card) == []
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= teams.MAX_BYTES
    assert all(len(text) <= teams.TEXT_CHARS for text in teams_view(card).texts)


def test_slack_fallback_text_is_at_most_4000_characters() -> None:
    notices = [notice(target=f"prod/{n:03d}-" + "x" * 80) for n in range(100)]
    text = slack.render(notices)["text"]
    assert len(text) <= slack.FALLBACK_CHARS
    lines = text.split("\n")
    assert lines[-1] == f"…and {102 - len(lines)} more"  # after the headline and the lines shown


def test_slack_escapes_what_comes_from_outside() -> None:
    message = slack.render([notice(outcome="failed", message="<!channel> look & <@U123>")])
    said = slack_view(message).read().texts[0]
    assert "&lt;!channel&gt; look &amp; &lt;@U123&gt;" in said
    assert "<!channel>" not in json.dumps(message)


def test_render_needs_a_notice() -> None:
    with pytest.raises(ValueError, match="at least one"):
        slack.render([])
    with pytest.raises(ValueError, match="at least one"):
        teams.render([])


def test_envelopes_are_those_the_services_document() -> None:
    documented = json.loads((FIXTURES / "chat" / "slack_sdk_docs_webhook_blocks.json").read_text())
    ours = slack.render([notice()])
    assert set(ours) == set(documented)
    documented = json.loads(
        (FIXTURES / "chat" / "teams_msdocs_adaptive_card_message.json").read_text()
    )
    ours = teams.render([notice()])
    assert set(ours) == set(documented) and ours["type"] == documented["type"]
    [attachment], [example] = ours["attachments"], documented["attachments"]
    assert set(attachment) == set(example)
    assert attachment["contentType"] == example["contentType"]
    assert attachment["contentUrl"] is None
    assert set(example["content"]) <= set(attachment["content"])
    assert attachment["content"]["$schema"] == example["content"]["$schema"]
    assert attachment["content"]["version"] == "1.4"


ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def assert_whole_entities(message: dict[str, Any]) -> None:
    """No mrkdwn text has a bare ``&`` (an entity cut in two, or one not escaped)."""
    texts = [message["text"]]
    for block in message["blocks"]:
        texts += [f["text"] for f in block.get("fields", [])]
        texts += [e["text"] for e in block.get("elements", [])]
        texts += [block["text"]["text"]] if block["type"] == "section" and "text" in block else []
    assert [text for text in texts if ENTITY.search(text)] == []


words = st.text(min_size=0, max_size=400)
names = st.text(min_size=1, max_size=300)
notices = st.builds(
    notice,
    kind=st.sampled_from(Kind),
    repository=names,
    target=names,
    from_image=st.none() | words,
    tag=names,
    digest=words,
    outcome=st.sampled_from(["succeeded", "failed", "rolled_back", "dry_run", "x"]),
    reason=words,
    message=st.text(max_size=5000),
    duration_seconds=st.none() | st.floats(min_value=-1, max_value=1e7),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(notices, min_size=1, max_size=70))
def test_any_notices_keep_the_limits(group: list[Notice]) -> None:
    message = slack.render(group)
    assert slack_problems(message) == []
    assert len(message["text"]) <= slack.FALLBACK_CHARS
    assert_whole_entities(message)
    card = teams.render(group)
    assert teams_problems(card) == []
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= teams.MAX_BYTES


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        *[(None, "-"), (-1, "-"), (0, "0.0s"), (9.94, "9.9s"), (42.4, "42s")],
        *[(59.6, "1m 00s"), (185, "3m 05s"), (3599.4, "59m 59s"), (3600, "1h 00m")],
        (90061, "25h 01m"),
    ],
)
def test_duration_label(seconds: float | None, label: str) -> None:
    assert slack.duration_label(seconds) == label
