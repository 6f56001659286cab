"""The Slack and Teams notifiers against local fakes of their webhooks
(``tests.support.chat_capture``).

Every failure is checked for the webhook URL's token: it must not show in the message, the
repr, or a formatted traceback of the ``NoticeFailed`` the notifier raises.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest

from notifiers import slack, teams
from notifiers.base import Notice, Notifier
from notifiers.http import (
    EXCERPT_CHARS,
    MAX_RETRY_AFTER,
    post_bytes,
    post_json,
    retry_after_seconds,
)
from notifiers.slack import SlackNotifier
from notifiers.teams import TeamsNotifier
from receiver.errors import NoticeFailed
from receiver.secret import Secret
from tests.support.chat_capture import SLACK_PATH, TEAMS_PATH, ChatCapture
from tests.support.fixture_files import FIXTURES
from tests.support.notices import make_notice

RENDER: dict[str, Callable[[list[Notice]], dict[str, Any]]] = {
    "slack": slack.render,
    "teams": teams.render,
}
DOCUMENTED = {
    "slack": "slack_sdk_docs_webhook_blocks.json",
    "teams": "teams_msdocs_adaptive_card_message.json",
}


def notice(**changes: Any) -> Notice:
    defaults: dict[str, Any] = {
        "target": "prod/app",
        "from_image": "registry.test:5000/team/app:1.4.0@sha256:" + "a" * 64,
        "to_image": "registry.test:5000/team/app:1.4.1@sha256:" + "b" * 64,
        "digest": "sha256:" + "b" * 64,
        "outcome": "failed",
        "reason": "policy minor allows 1.4.0 -> 1.4.1",
        "message": "Failed due to unhealthy allocations",
        "duration_seconds": 31.0,
    }
    return make_notice(**(defaults | changes))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(params=["slack", "teams"])
async def chat(request: pytest.FixtureRequest) -> AsyncIterator[ChatCapture]:
    async with ChatCapture(request.param) as capture:
        yield capture


def notifier_for(
    chat: ChatCapture, http: aiohttp.ClientSession, *, url: Secret | None = None, timeout: float = 5
) -> Notifier:
    kind = SlackNotifier if chat.mode == "slack" else TeamsNotifier
    return kind("ops", url=url or chat.secret, session=http, timeout=timeout)


async def failure_of(notifier: Notifier, chat: ChatCapture) -> NoticeFailed:
    """The ``NoticeFailed`` that sending raises, once checked for the URL and its token."""
    with pytest.raises(NoticeFailed) as caught:
        await notifier.send([notice()])
    failure = caught.value
    shown = [str(failure), repr(failure), "".join(traceback.format_exception(failure))]
    assert [text for text in shown if chat.token in text or chat.url in text] == []
    assert failure.__cause__ is None and failure.__context__ is None
    assert "notifier 'ops'" in str(failure)
    return failure


async def test_a_group_is_posted_as_one_message(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    group = [notice(), notice(target="stage/app", outcome="succeeded")]
    await notifier_for(chat, http).send(group)
    assert chat.received == [RENDER[chat.mode](group)]
    assert chat.requests_total == 1


async def test_no_notices_post_nothing(chat: ChatCapture, http: aiohttp.ClientSession) -> None:
    await notifier_for(chat, http).send([])
    assert chat.requests_total == 0


async def test_sixty_notices_are_taken(chat: ChatCapture, http: aiohttp.ClientSession) -> None:
    group = [notice(target=f"prod/app-{n}", message="x" * 2500) for n in range(60)]
    await notifier_for(chat, http).send(group)
    assert len(chat.received) == 1


async def test_rate_limit_asks_to_retry_after_what_the_service_said(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    chat.fail_with(429, times=1, retry_after=1)
    notifier = notifier_for(chat, http)
    failure = await failure_of(notifier, chat)
    assert failure.retry_after == 1
    assert not failure.permanent
    assert "rate limited (HTTP 429), retry after 1s" in str(failure)
    await notifier.send([notice()])
    assert len(chat.received) == 1


async def test_rate_limit_until_an_http_date(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    chat.fail_with(429, retry_after=format_datetime(datetime.now(UTC) + timedelta(seconds=30)))
    failure = await failure_of(notifier_for(chat, http), chat)
    assert failure.retry_after is not None and 27 <= failure.retry_after <= 30


async def test_rate_limit_without_retry_after(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    chat.fail_with(429, until=time.monotonic() + 60)
    failure = await failure_of(notifier_for(chat, http), chat)
    assert failure.retry_after is None
    assert not failure.permanent


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_a_failing_service_is_retried(
    chat: ChatCapture, http: aiohttp.ClientSession, status: int
) -> None:
    chat.fail_with(status, times=2)
    notifier = notifier_for(chat, http)
    for _ in range(2):
        failure = await failure_of(notifier, chat)
        assert not failure.permanent and failure.retry_after is None
        assert f"(HTTP {status})" in str(failure)
    await notifier.send([notice()])
    assert (len(chat.received), chat.requests_total) == (1, 3)


async def test_a_failing_service_may_say_when(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    chat.fail_with(503, retry_after=120)
    failure = await failure_of(notifier_for(chat, http), chat)
    assert (failure.retry_after, failure.permanent) == (120, False)


@pytest.mark.parametrize(("status", "said"), [(400, "invalid_blocks"), (403, "action_prohibited")])
async def test_a_refused_message_is_given_up(
    chat: ChatCapture, http: aiohttp.ClientSession, status: int, said: str
) -> None:
    chat.fail_with(status, body=said)
    failure = await failure_of(notifier_for(chat, http), chat)
    assert failure.permanent
    assert str(failure).endswith(f"the service refused the message (HTTP {status}): {said}")


async def test_what_the_service_said_is_short_and_masked(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    path = SLACK_PATH if chat.mode == "slack" else TEAMS_PATH
    chat.fail_with(404, body=f"no hook at {chat.url}\n({path}): {chat.token} " + "x" * 500)
    failure = await failure_of(notifier_for(chat, http), chat)
    said = str(failure).partition("(HTTP 404): ")[2]
    assert said.startswith("no hook at *** (***): *** xxx")
    assert len(said) == EXCERPT_CHARS and said.endswith("…")


async def test_a_wrong_url_is_given_up(chat: ChatCapture, http: aiohttp.ClientSession) -> None:
    wrong = Secret(chat.url.replace(chat.token, "Wr0ngT0kenWr0ngT0kenWr0ng"))
    with pytest.raises(NoticeFailed) as caught:
        await notifier_for(chat, http, url=wrong).send([notice()])
    assert caught.value.permanent
    assert "Wr0ngT0ken" not in str(caught.value)
    assert str(caught.value).startswith(f"{chat.mode.capitalize()} notifier 'ops'")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed(
    chat: ChatCapture, http: aiohttp.ClientSession, status: int
) -> None:
    chat.fail_with(status, times=1, headers={"Location": chat.url})
    failure = await failure_of(notifier_for(chat, http), chat)
    assert failure.permanent and f"redirects (HTTP {status})" in str(failure)
    assert chat.requests_total == 1


async def test_a_message_the_service_cannot_read_is_given_up(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    broken = {"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text"}}]}
    with pytest.raises(NoticeFailed) as caught:
        await post_json(http, chat.secret, broken, what="test")
    assert caught.value.permanent
    expected = "invalid_blocks" if chat.mode == "slack" else "InvalidRequestContent"
    assert expected in str(caught.value)


async def test_the_documented_examples_are_taken(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    example = json.loads((FIXTURES / "chat" / DOCUMENTED[chat.mode]).read_text())
    await post_json(http, chat.secret, example, what="test")
    assert chat.received == [example]


async def test_post_bytes_sends_the_body_as_given(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    body = json.dumps(RENDER[chat.mode]([notice()])).encode()
    with pytest.raises(NoticeFailed) as caught:
        await post_bytes(http, chat.secret, body, what="test", content_type="text/plain")
    assert caught.value.permanent
    # A header given by the caller wins, whatever its case (no second Content-Type).
    headers = {"content-type": "application/json", "X-Signature": "sha256=00"}
    await post_bytes(http, chat.secret, body, what="test", content_type="x/y", headers=headers)
    assert chat.received == [json.loads(body)]


async def test_connection_refused_is_retried(
    chat: ChatCapture, http: aiohttp.ClientSession
) -> None:
    notifier = notifier_for(chat, http)
    await chat.close()
    failure = await failure_of(notifier, chat)
    assert not failure.permanent
    assert "no answer (Connection refused)" in str(failure)


async def test_no_answer_in_time_is_retried(chat: ChatCapture, http: aiohttp.ClientSession) -> None:
    chat.stall(10)
    failure = await failure_of(notifier_for(chat, http, timeout=0.2), chat)
    assert not failure.permanent
    assert "no answer within 0.2s" in str(failure)


@pytest.mark.parametrize(
    "url", ["not a url", "ftp://hooks.example/SECRETTOKEN", "http://[::1/SECRETTOKEN"]
)
async def test_an_unusable_url_is_given_up(http: aiohttp.ClientSession, url: str) -> None:
    with pytest.raises(NoticeFailed) as caught:
        await SlackNotifier("ops", url=Secret(url), session=http).send([notice()])
    assert caught.value.permanent
    assert url not in str(caught.value) and "SECRETTOKEN" not in str(caught.value)


async def test_a_notifier_shows_no_url(chat: ChatCapture, http: aiohttp.ClientSession) -> None:
    for kind in (SlackNotifier, TeamsNotifier):
        notifier = kind("ops", url=chat.secret, session=http)
        assert chat.token not in repr(notifier) and chat.token not in str(notifier)
        assert "ops" in repr(notifier)


NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("1", 1.0),
        (" 120 ", 120.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("-1", None),
        ("soon", None),
        ("", None),
        ("9" * 400, MAX_RETRY_AFTER),
        ("Sat, 01 Mar 2025 12:00:30 GMT", 30.0),
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),
        ("Sun, 01 Mar 2026 12:00:00 GMT", MAX_RETRY_AFTER),
        ("Sat, 01 Mar 2025 12:00:30 -0000", None),
        ("Sat, 32 Mar 2025 12:00:30 GMT", None),
    ],
)
def test_retry_after_seconds(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds
