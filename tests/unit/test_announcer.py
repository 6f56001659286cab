"""Who hears of release control, and what they are told: a deploy that starts to wait (what for,
with a link to its console page), one released, one rejected or expired."""

from __future__ import annotations

from deployers.base import Target
from notifiers.base import Kind, Level
from notifiers.email import render_text, subject
from notifiers.slack import render
from receiver.config.notifiers import NotifierConfig
from receiver.decide.announcer import Announcer
from receiver.secret import Secret
from receiver.store.records import Deployment, DeploymentStatus
from tests.support.decisions import DECIDED_AT, waiting_deployment

NOW = DECIDED_AT
NOTIFIERS = (
    NotifierConfig(name="everything", type="slack", url=Secret("u" * 20)),
    NotifierConfig(name="trouble", type="teams", url=Secret("v" * 20), level=Level.FAILURES),
)
WORDS = "outside the window mon–fri 22:00–23:30 Europe/Berlin; opens in 2 h 12 min"


def deployment() -> Deployment:
    return waiting_deployment(
        Target(kind="container", name="web"),
        registry="reg.test:5000",
        notify=("everything", "trouble"),
    )


def test_a_deploy_that_starts_to_wait_is_told_with_its_wait_and_its_page() -> None:
    announcer = Announcer(NOTIFIERS, base_url="https://regdeploy.example/")
    [entry] = announcer.waiting(deployment(), WORDS)
    notice = entry.notice
    assert (entry.notifier, notice.kind, notice.outcome) == ("everything", Kind.WAITING, "waiting")
    assert (notice.message, notice.link) == (WORDS, "https://regdeploy.example/deployments/7")

    body = render([notice])
    assert body["blocks"][0]["text"]["text"] == "Deploy waiting: team/app 1.2.0"
    said = body["blocks"][2]["text"]["text"]
    assert f"*Waits for:* {WORDS}" in said
    assert "<https://regdeploy.example/deployments/7|Open in regdeploy>" in said
    assert subject([notice]) == "[regdeploy] Waiting: team/app 1.2.0 to container:web"
    assert "https://regdeploy.example/deployments/7" in render_text([notice])


def test_release_rejection_and_expiry_are_told_to_those_who_hear_everything() -> None:
    announcer = Announcer(NOTIFIERS)
    [released] = announcer.released(deployment(), "released (waited for: window)")
    assert (released.notice.kind, released.notice.outcome) == (Kind.RELEASED, "released")
    for status in (DeploymentStatus.REJECTED, DeploymentStatus.EXPIRED):
        entries = announcer.outcome(deployment(), status, "rejected by bob", finished=NOW)
        assert [(e.notifier, e.notice.outcome) for e in entries] == [("everything", status.value)]
        assert entries[0].notice.link == "/deployments/7"
