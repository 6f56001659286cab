"""What the console says: a confirmation's sentences, the change a form asks for, times and
images for people, and the server-sent events that carry live parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deployers.base import Target
from handlers.references import ImageName, ImageRef
from receiver.config.repositories import WatchedRepository
from receiver.console.live import message
from receiver.console.overview import disagreeing_words, refused_words
from receiver.console.render import ago, duration, image_text, repository_page
from receiver.console.repositories import requested_change
from receiver.console.sessions import safe_next
from receiver.decide.actions import ActionResult
from receiver.decide.planner import Outlook
from receiver.decide.words import foresee
from receiver.errors import InvalidRequest
from receiver.store.records import ProcessState, RepositoryState

NAME = ImageName(registry="localhost:5000", repository="team/app")
STATE = RepositoryState(
    rules=WatchedRepository(name="team/app", image=NAME),
    overrides=(),
    updated_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def ref(tag: str | None, n: int) -> ImageRef:
    return ImageRef(name=NAME, tag=tag, digest="sha256:" + str(n) * 64)


def outlook(name: str, running: ImageRef | None, image: ImageRef | None, reason: str) -> Outlook:
    deploy = image is not None and (running is None or running.digest != image.digest)
    return Outlook(
        target=Target(kind="swarm", name=name),
        running=running,
        image=image,
        deploy=deploy,
        reason=reason,
    )


def sentences(*outlooks: Outlook, trigger: str | None = "pin") -> list[str]:
    return foresee(
        ActionResult(state=STATE, changed={}, deployments=(), outlooks=outlooks, trigger=trigger)
    )


def test_targets_moving_alike_are_named_together() -> None:
    said = sentences(
        outlook("web", ref("1.4.0", 1), ref("1.4.1", 2), "pinned to 1.4.1"),
        outlook("api", ref("1.4.0", 1), ref("1.4.1", 2), "pinned to 1.4.1"),
        outlook("worker", ref("1.3.0", 3), ref("1.4.1", 2), "pinned to 1.4.1"),
        outlook("cache", ref("1.4.1", 2), ref("1.4.1", 2), "already runs 1.4.1"),
    )
    assert said == [
        "web and api will move from 1.4.0 to 1.4.1",
        "worker will move from 1.3.0 to 1.4.1",
        "cache stays as it is: already runs 1.4.1",
    ]


def test_a_new_digest_of_the_same_tag_is_told_apart_and_nothing_is_nothing() -> None:
    assert sentences(
        outlook("a", ref("1.0", 1), ref("1.0", 2), "new digest"),
        outlook("b", ref("1.0", 1), ref("1.0", 2), "new digest"),
        outlook("c", None, ref("1.0", 2), "pinned"),
    ) == [
        "a and b will move from 1.0@sha256:111111111111 to 1.0@sha256:222222222222",
        "c will move from nothing to 1.0",
    ]
    assert sentences() == ["no target will move: the repository has no targets"]
    assert sentences(trigger=None) == []


@pytest.mark.parametrize(
    ("form", "changes", "tag"),
    [
        ({"action": "pin", "tag": "1.0"}, {"pinned_tag": "1.0"}, None),
        ({"action": "unpin", "tag": "ignored"}, {"pinned_tag": ""}, None),
        ({"action": "auto-deploy", "value": "off"}, {"auto_deploy": False}, None),
        ({"action": "auto-deploy", "value": "on"}, {"auto_deploy": True}, None),
        ({"action": "policy", "policy": " patch "}, {"policy": "patch"}, None),
        ({"action": "deploy", "tag": "2.0"}, {}, "2.0"),
        ({"action": "deploy", "tag": ""}, {}, None),
    ],
)
def test_a_form_asks_for_one_change(
    form: dict[str, str], changes: dict[str, object], tag: str | None
) -> None:
    requested = requested_change(form)
    assert dict(requested.changes) == changes
    assert requested.tag == tag
    assert requested_change(requested.fields()) == requested  # the confirm form asks again


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"action": "delete"},
        {"action": "pin"},
        {"action": "auto-deploy", "value": "maybe"},
        {"action": "policy", "policy": "  "},
    ],
)
def test_a_form_that_asks_for_nothing_clear_is_a_400(form: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        requested_change(form)


def test_times_and_images_for_people() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert ago(now - timedelta(seconds=42), now) == "42 s"
    assert ago(now - timedelta(minutes=5, seconds=3), now) == "5 min"
    assert ago(now - timedelta(days=2, hours=1), now) == "2 d"
    assert ago(None) == ""
    assert duration(now, now + timedelta(seconds=1.25)) == "1.2 s"
    assert duration(now, now + timedelta(minutes=3)) == "3 min"
    assert duration(None, now) == ""
    assert image_text(ref("1.4.0", 1)) == "1.4.0@sha256:111111111111"
    assert image_text(ImageRef(name=NAME, tag="1.4.0")) == "1.4.0"
    assert image_text(None) == "nothing"
    assert repository_page("team/app x") == "/repositories/team/app%20x"


@pytest.mark.parametrize(
    ("location", "safe"),
    [
        ("/deployments?repository=team/app", "/deployments?repository=team/app"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\t/evil.example/", "/"),  # a browser drops the tab: //evil.example
        ("/\n/evil.example/", "/"),
        ("/\x01", "/"),  # not a header value
        ("/r\u00e9pertoire", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_signing_in_goes_back_only_to_a_page_of_this_site(location: str | None, safe: str) -> None:
    assert safe_next(location) == safe


def test_a_live_part_is_one_event_with_a_data_line_per_line() -> None:
    assert message("events", "<tr>\n<td>1</td>\n</tr>") == (
        b"event: events\ndata: <tr>\ndata: <td>1</td>\ndata: </tr>\n\n"
    )
    assert message("events", "") == b"event: events\ndata: \n\n"


def process(**changes: object) -> ProcessState:
    said: dict[str, Any] = {
        "id": "web-1",
        "role": "serve",
        "config_path": "/etc/regdeploy.yaml",
        "fingerprint": "0123456789abcdef",
        "loaded_at": datetime(2026, 12, 1, tzinfo=UTC),
        **changes,
    }
    return ProcessState(**said)


@pytest.mark.parametrize(
    ("refusal", "said"),
    [
        (
            ("a: unknown key",),
            "serve web-1: /etc/regdeploy.yaml was not reloaded: a: unknown key; configuration "
            "0123456789abcdef still runs: mend the file and reload again (regdeploy "
            "check-config names every problem)",
        ),
        (
            ("a: unknown key", "b: not a number", "c: missing"),
            "serve web-1: /etc/regdeploy.yaml was not reloaded: a: unknown key (and 2 more); "
            "configuration "
            "0123456789abcdef still runs: mend the file and reload again (regdeploy "
            "check-config names every problem)",
        ),
    ],
)
def test_a_refused_reload_says_what_still_runs(refusal: tuple[str, ...], said: str) -> None:
    assert refused_words(process(refusal=refusal)) == said


def test_processes_that_disagree_are_named() -> None:
    other = process(id="worker-2", role="worker", fingerprint="fedcba9876543210")
    assert disagreeing_words([process(), other]) == (
        "regdeploy's processes run different configurations: serve web-1 runs "
        "0123456789abcdef (/etc/regdeploy.yaml), worker worker-2 runs fedcba9876543210 "
        "(/etc/regdeploy.yaml)"
    )
