"""WebhookNotifier against a local aiohttp receiver that checks signatures as a real one would."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from notifiers.base import Notice
from notifiers.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookNotifier,
    document,
    sign,
    verify,
)
from receiver.errors import NoticeFailed
from receiver.secret import Secret
from tests.support.components import free_port
from tests.support.notices import make_notice

SECRET = "hmac-secret-that-must-never-show"
HOOK_TOKEN = "T0KEN-in-the-url-never-shown"
DIGEST = "sha256:" + "ab12" * 16


def notice(**overrides: Any) -> Notice:
    return make_notice(**overrides)


@dataclass
class Delivery:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """What a receiving service does: verify, then (only then) parse and keep."""

    deliveries: list[Delivery] = field(default_factory=list)
    rejected: int = 0
    skew: float = 0.0  # seconds the receiver's clock is ahead
    answer: web.Response | None = None  # answer this instead (after verifying)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        trusted = verify(
            SECRET,
            body,
            request.headers.get(TIMESTAMP_HEADER, ""),
            request.headers.get(SIGNATURE_HEADER, ""),
            now=time.time() + self.skew,
        )
        if not trusted:
            self.rejected += 1
            return web.Response(status=401, text="bad or stale signature")
        if self.answer is not None:
            return self.answer
        self.deliveries.append(Delivery(body, dict(request.headers)))
        return web.Response(status=204)


@dataclass
class Hook:
    receiver: Receiver
    server: TestServer

    @property
    def url(self) -> str:
        return str(self.server.make_url(f"/hooks/{HOOK_TOKEN}"))


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post(f"/hooks/{HOOK_TOKEN}", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Hook(receiver, server)
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def notifier(url: str, session: aiohttp.ClientSession, *, secret: str = SECRET) -> WebhookNotifier:
    return WebhookNotifier("ci", url=Secret(url), secret=Secret(secret), session=session)


def assert_no_secret(exc: BaseException) -> None:
    for text in (str(exc), repr(exc)):
        assert SECRET not in text and HOOK_TOKEN not in text


async def test_delivers_a_signed_document(hook: Hook, session: aiohttp.ClientSession) -> None:
    group = [notice(), notice(target="worker", outcome="failed", message="exit 1")]
    before = int(time.time())
    await notifier(hook.url, session).send(group)

    [delivery] = hook.receiver.deliveries
    assert delivery.headers["Content-Type"] == "application/json"
    assert uuid.UUID(delivery.headers[DELIVERY_HEADER]).version == 4
    assert before <= int(delivery.headers[TIMESTAMP_HEADER]) <= time.time()
    parsed = json.loads(delivery.body)
    assert parsed["type"] == "regdeploy.deploys"
    assert [n["target"] for n in parsed["notices"]] == ["web", "worker"]
    assert parsed["notices"][1]["message"] == "exit 1"
    every_field = {f.name for f in dataclasses.fields(Notice)}
    assert all(set(n) == every_field for n in parsed["notices"])
    # Compact, with sorted keys: the bytes signed are the bytes one group always gives.
    assert delivery.body == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()


async def test_each_attempt_has_its_own_delivery_id(
    hook: Hook, session: aiohttp.ClientSession
) -> None:
    mail = notifier(hook.url, session)
    await mail.send([notice()])
    await mail.send([notice()])
    ids = {d.headers[DELIVERY_HEADER] for d in hook.receiver.deliveries}
    assert len(ids) == 2


def test_document_format_is_pinned() -> None:
    body = document([notice(from_image="team/app:1.4.0", duration_seconds=None)])
    assert body == (
        b'{"notices":[{"deployment_id":7,"digest":"' + DIGEST.encode() + b'",'
        b'"duration_seconds":null,"from_image":"team/app:1.4.0","kind":"outcome","link":null,'
        b'"message":"",'
        b'"outcome":"succeeded","reason":"semver minor update","repository":"team/app",'
        b'"tag":"1.4.1","target":"web","to_image":"team/app@' + DIGEST.encode() + b'"}],'
        b'"type":"regdeploy.deploys"}'
    )


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"type":"regdeploy.deploys"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body, "1700000000") == f"sha256={expected}"


BODY = document([notice()])
NOW = 1_700_000_000
GOOD = sign(SECRET, BODY, str(NOW))


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "signature", "now", "trusted"),
    [
        (SECRET, BODY, str(NOW), GOOD, NOW, True),
        (SECRET, BODY, str(NOW), GOOD, NOW + 300, True),  # at the edge of the tolerance
        (SECRET, BODY, str(NOW), GOOD, NOW - 300, True),  # a sender's clock a bit ahead
        (SECRET, BODY, str(NOW), GOOD, NOW + 301, False),  # stale: a replay
        (SECRET, BODY, str(NOW), GOOD, NOW - 301, False),  # from the future
        (SECRET, BODY.replace(b"web", b"wEb"), str(NOW), GOOD, NOW, False),  # tampered body
        (SECRET, BODY + b" ", str(NOW), GOOD, NOW, False),
        (SECRET, BODY, str(NOW + 1), GOOD, NOW, False),  # tampered timestamp
        ("another-secret", BODY, str(NOW), GOOD, NOW, False),
        (SECRET, BODY, str(NOW), GOOD.removeprefix("sha256="), NOW, False),
        (SECRET, BODY, str(NOW), GOOD.upper(), NOW, False),
        (SECRET, BODY, str(NOW), "sha256=ü", NOW, False),  # non-ASCII: no TypeError
        (SECRET, BODY, str(NOW), "", NOW, False),
        (SECRET, BODY, "", GOOD, NOW, False),
        (SECRET, BODY, f"{NOW}.0", GOOD, NOW, False),
        (SECRET, BODY, "-1", GOOD, NOW, False),
        (
            SECRET,
            BODY,
            "\u0661\u0667" + "\u0660" * 8,
            GOOD,
            NOW,
            False,
        ),  # digits, but not ASCII ones
        (SECRET, BODY, "9" * 5000, GOOD, NOW, False),  # too long to be a time
    ],
)
def test_verify(
    secret: str, body: bytes, timestamp: str, signature: str, now: float, trusted: bool
) -> None:
    assert verify(secret, body, timestamp, signature, now=now) is trusted


async def test_receiver_rejects_a_tampered_body(hook: Hook, session: aiohttp.ClientSession) -> None:
    await notifier(hook.url, session).send([notice()])
    [delivery] = hook.receiver.deliveries
    tampered = delivery.body.replace(b'"succeeded"', b'"failed"')
    async with session.post(hook.url, data=tampered, headers=signed_headers(delivery)) as res:
        assert res.status == 401
    assert hook.receiver.rejected == 1


async def test_receiver_rejects_a_replay_after_the_tolerance(
    hook: Hook, session: aiohttp.ClientSession
) -> None:
    await notifier(hook.url, session).send([notice()])
    [delivery] = hook.receiver.deliveries
    hook.receiver.skew = 301  # the same request, five minutes and a second later
    async with session.post(hook.url, data=delivery.body, headers=signed_headers(delivery)) as res:
        assert res.status == 401
    hook.receiver.skew = 200  # still fresh enough
    async with session.post(hook.url, data=delivery.body, headers=signed_headers(delivery)) as res:
        assert res.status == 204


def signed_headers(delivery: Delivery) -> dict[str, str]:
    keep = (DELIVERY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "Content-Type")
    return {name: delivery.headers[name] for name in keep}


async def test_wrong_secret_is_refused_permanently(
    hook: Hook, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(NoticeFailed, match="HTTP 401") as caught:
        await notifier(hook.url, session, secret="not-the-shared-one").send([notice()])
    assert caught.value.permanent
    assert "webhook notifier 'ci'" in str(caught.value)
    assert_no_secret(caught.value)
    assert hook.receiver.deliveries == []


@pytest.mark.parametrize(
    ("status", "headers", "retry_after", "permanent"),
    [
        (429, {"Retry-After": "7"}, 7.0, False),
        (429, {}, None, False),
        (503, {}, None, False),
        (500, {}, None, False),
        (400, {}, None, True),
        (404, {}, None, True),
    ],
)
async def test_answers_map_to_notice_failed(
    hook: Hook,
    session: aiohttp.ClientSession,
    status: int,
    headers: dict[str, str],
    retry_after: float | None,
    permanent: bool,
) -> None:
    hook.receiver.answer = web.Response(status=status, headers=headers, text=f"no: {HOOK_TOKEN}")
    with pytest.raises(NoticeFailed, match=f"HTTP {status}") as caught:
        await notifier(hook.url, session).send([notice()])
    assert caught.value.retry_after == retry_after
    assert caught.value.permanent is permanent
    assert_no_secret(caught.value)


async def test_receiver_down_is_retryable(session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}/hooks/{HOOK_TOKEN}"
    with pytest.raises(NoticeFailed) as caught:
        await notifier(url, session).send([notice()])
    assert not caught.value.permanent
    assert_no_secret(caught.value)


async def test_nothing_to_send_sends_nothing(hook: Hook, session: aiohttp.ClientSession) -> None:
    await notifier(hook.url, session).send([])
    assert hook.receiver.deliveries == [] and hook.receiver.rejected == 0
