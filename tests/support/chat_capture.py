"""A local stand-in for a Slack incoming webhook or a Teams Workflows webhook.

``ChatCapture("slack")`` answers as Slack's webhook does: 200 ``ok`` (text/plain) for a message
it takes, 400 ``invalid_payload`` for a body that is not a JSON object, ``no_text`` without a
``text`` string, ``invalid_blocks`` for blocks beyond Block Kit's limits (``slack_problems``),
and 404 ``no_service`` on any other path. ``ChatCapture("teams")`` answers 202 with no body for
an Adaptive Card message (``teams_problems``), 400 with a JSON error otherwise, 413 over 28 KB,
404 for another workflow and 401 for a wrong ``sig``. (Real Workflows may take a bad card with
202 and fail later in the flow; the fake refuses it so tests see renderer bugs.)

The URL carries a token, as real ones do (``token``): tests check it never shows in an error.
Failures are programmed with ``fail_with`` and ``stall``. ``received`` holds the parsed bodies
that were taken, ``requests_total`` counts every request, taken or not.

    async with ChatCapture("slack") as chat:
        chat.fail_with(429, times=1, retry_after=1)
        ...  # post to chat.url

``slack_view`` and ``teams_view`` read a rendered message into a ``View`` (title, facts, other
texts, as sent); ``View.read()`` is what a person sees of it (``as_read``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestServer

from receiver.secret import Secret

Mode = Literal["slack", "teams"]

SLACK_TOKEN = "Zq8RtY3uVw5xNb7mKp2sLd4f"  # 24 characters, as Slack's
SLACK_PATH = f"/services/T0A1B2C3D/B0E4F5G6H/{SLACK_TOKEN}"
TEAMS_WORKFLOW = "5e1c9a2b7d3f4e6a8b0c1d2e3f4a5b6c"
TEAMS_SIG = "kT3vQ9xZ2mW7pL4nR8sB1cF6hJ0dG5yA-uE_oI2tMqE"
TEAMS_PATH = f"/workflows/{TEAMS_WORKFLOW}/triggers/manual/paths/invoke"
TEAMS_QUERY = f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
TEAMS_MAX_BYTES = 28 * 1024

SLACK_BLOCKS = 50
SLACK_HEADER_CHARS = 150
SLACK_TEXT_CHARS = 3000
SLACK_FIELDS = 10
SLACK_FIELD_CHARS = 2000
SLACK_CONTEXT_ELEMENTS = 10
SLACK_BLOCK_TYPES = frozenset({"header", "section", "context", "divider"})


@dataclass(kw_only=True)
class _Failure:
    status: int
    times: int | None
    until: float | None
    retry_after: float | str | None
    body: str | None
    headers: Mapping[str, str]

    def active(self) -> bool:
        return (self.times is None or self.times > 0) and (
            self.until is None or time.monotonic() < self.until
        )


class ChatCapture:
    """Records what a notifier posts and answers as the service would; see the module doc."""

    def __init__(self, mode: Mode) -> None:
        self.mode: Mode = mode
        self.received: list[dict[str, Any]] = []
        self.requests_total = 0
        self._failure: _Failure | None = None
        self._stall_seconds = 0.0
        self._released = asyncio.Event()
        self._server: TestServer | None = None
        self._base = ""

    async def __aenter__(self) -> ChatCapture:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self._base = f"http://127.0.0.1:{self._server.port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop serving (again: nothing); the URL then refuses connections."""
        self._released.set()
        if self._server is not None:
            server, self._server = self._server, None
            await server.close()

    @property
    def url(self) -> str:
        """The webhook URL, token included (a secret to the code under test)."""
        if not self._base:
            raise RuntimeError("ChatCapture is not started; use `async with`")
        if self.mode == "slack":
            return self._base + SLACK_PATH
        return f"{self._base}{TEAMS_PATH}?{TEAMS_QUERY}"

    @property
    def secret(self) -> Secret:
        return Secret(self.url)

    @property
    def token(self) -> str:
        """The part of the URL that must never appear in a message, repr or log."""
        return SLACK_TOKEN if self.mode == "slack" else TEAMS_SIG

    def fail_with(
        self,
        status: int,
        *,
        times: int | None = None,
        retry_after: float | str | None = None,
        until: float | None = None,
        body: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer ``status`` (with ``Retry-After`` if given, ``headers`` and ``body``) to the
        next ``times`` requests, or until ``time.monotonic()`` reaches ``until``; with neither,
        until ``recover``."""
        self._failure = _Failure(
            status=status,
            times=times,
            until=until,
            retry_after=retry_after,
            body=body,
            headers=headers or {},
        )

    def stall(self, seconds: float) -> None:
        """Wait ``seconds`` before answering (released at once by ``close``)."""
        self._stall_seconds = seconds

    def recover(self) -> None:
        self._failure, self._stall_seconds = None, 0.0

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        self.requests_total += 1
        raw = await request.read()
        if self._stall_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._released.wait(), self._stall_seconds)
        if refused := self._check_address(request):
            return refused
        if self._failure is not None and self._failure.active():
            return self._failed(self._failure)
        if self.mode == "slack":
            return self._take_slack(request, raw)
        return self._take_teams(request, raw)

    def _check_address(self, request: web.Request) -> web.Response | None:
        if self.mode == "slack":
            return None if request.path == SLACK_PATH else _slack_error(404, "no_service")
        if request.path != TEAMS_PATH:
            return _teams_error(404, "WorkflowNotFound", "The workflow could not be found.")
        if request.query.get("sig") != TEAMS_SIG:
            return _teams_error(401, "DirectApiInvalidAuthorizationSignature", "Bad signature.")
        return None

    def _failed(self, failure: _Failure) -> web.Response:
        if failure.times is not None:
            failure.times -= 1
        headers = dict(failure.headers)
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        text = failure.body if failure.body is not None else _default_error(failure.status)
        return web.Response(status=failure.status, text=text, headers=headers)

    def _take_slack(self, request: web.Request, raw: bytes) -> web.Response:
        document = _json_object(request, raw)
        if document is None:
            return _slack_error(400, "invalid_payload")
        if not isinstance(document.get("text"), str):
            return _slack_error(400, "no_text")
        if slack_problems(document):
            return _slack_error(400, "invalid_blocks")
        self.received.append(document)
        return web.Response(status=200, text="ok")

    def _take_teams(self, request: web.Request, raw: bytes) -> web.Response:
        if len(raw) > TEAMS_MAX_BYTES:
            return _teams_error(413, "MessageTooLarge", "The request content is too large.")
        document = _json_object(request, raw)
        if document is None or teams_problems(document):
            return _teams_error(400, "InvalidRequestContent", "The card is not valid.")
        self.received.append(document)
        return web.Response(status=202)


def slack_problems(message: dict[str, Any]) -> list[str]:
    """What in an incoming-webhook body breaks Block Kit's rules (empty: nothing)."""
    blocks = message.get("blocks")
    if not isinstance(blocks, list):
        return ["blocks is not a list"]
    problems = [f"{len(blocks)} blocks"] if len(blocks) > SLACK_BLOCKS else []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or block.get("type") not in SLACK_BLOCK_TYPES:
            problems.append(f"block {index}: not a block of a known type")
            continue
        problems += [f"block {index} ({block['type']}): {p}" for p in _block_problems(block)]
    return problems


def _block_problems(block: dict[str, Any]) -> list[str]:
    kind = block["type"]
    if kind == "header":
        return _text_problems(block.get("text"), SLACK_HEADER_CHARS, plain_only=True)
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and fields is None:
            return ["neither text nor fields"]
        problems = [] if text is None else _text_problems(text, SLACK_TEXT_CHARS)
        if fields is not None:
            if not isinstance(fields, list) or not 0 < len(fields) <= SLACK_FIELDS:
                return [*problems, "fields is not a list of 1 to 10"]
            for field in fields:
                problems += _text_problems(field, SLACK_FIELD_CHARS)
        return problems
    if kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= SLACK_CONTEXT_ELEMENTS:
            return ["elements is not a list of 1 to 10"]
        return [p for element in elements for p in _text_problems(element, SLACK_TEXT_CHARS)]
    return []


def _text_problems(text: Any, limit: int, *, plain_only: bool = False) -> list[str]:
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(text, dict) or text.get("type") not in kinds:
        return [f"not a text object of type {' or '.join(kinds)}"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return ["empty text"]
    return [f"text of {len(value)} characters, over {limit}"] if len(value) > limit else []


def teams_problems(message: dict[str, Any]) -> list[str]:
    """What in a Workflows webhook body is not one Adaptive Card message (empty: nothing)."""
    if message.get("type") != "message":
        return ["type is not message"]
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return ["not exactly one attachment"]
    attachment = attachments[0]
    if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_CONTENT_TYPE:
        return ["the attachment is not an Adaptive Card"]
    content = attachment.get("content")
    if not isinstance(content, dict) or content.get("type") != "AdaptiveCard":
        return ["content is not an AdaptiveCard"]
    body = content.get("body")
    if not isinstance(body, list):
        return ["body is not a list"]
    return [
        f"body element {index} has no type"
        for index, element in enumerate(body)
        if not isinstance(element, dict) or not isinstance(element.get("type"), str)
    ]


# What the renderers insert to break a construct and no one sees: the word joiner and the soft
# hyphen.
INVISIBLE = {0x2060: None, 0xAD: None}


def as_read(text: str) -> str:
    """``text`` as a person reads it: without the invisible characters."""
    return text.translate(INVISIBLE)


@dataclass(frozen=True, kw_only=True)
class View:
    """A rendered message: the texts as sent, in the order a reader meets them."""

    title: str
    facts: list[dict[str, str]]  # per notice shown in full
    texts: list[str]  # every other text, in order

    def read(self) -> View:
        """What a person sees: every text ``as_read``."""
        return replace(
            self,
            title=as_read(self.title),
            facts=[{as_read(k): as_read(v) for k, v in facts.items()} for facts in self.facts],
            texts=[as_read(text) for text in self.texts],
        )


def slack_view(message: dict[str, Any]) -> View:
    header, *blocks = message["blocks"]
    assert header["type"] == "header"
    facts, texts = [], []
    for block in blocks:
        if "fields" in block:
            pairs = (field["text"].split("\n", 1) for field in block["fields"])
            facts.append({label.strip("*"): value for label, value in pairs})
        elif block["type"] == "context":
            texts += [element["text"] for element in block["elements"]]
        else:
            texts.append(block["text"]["text"])
    return View(title=header["text"]["text"], facts=facts, texts=texts)


def teams_view(message: dict[str, Any]) -> View:
    title, *body = message["attachments"][0]["content"]["body"]
    facts, texts = [], []
    for element in body:
        for item in element.get("items", [element]):
            if item["type"] == "FactSet":
                facts.append({fact["title"]: fact["value"] for fact in item["facts"]})
            else:
                texts.append(item["text"])
    return View(title=title["text"], facts=facts, texts=texts)


def _json_object(request: web.Request, raw: bytes) -> dict[str, Any] | None:
    if request.content_type != "application/json":
        return None
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _slack_error(status: int, code: str) -> web.Response:
    return web.Response(status=status, text=code)


def _teams_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _default_error(status: int) -> str:
    return {429: "rate_limited", 500: "rollup_error", 503: "service_unavailable"}.get(
        status, f"error {status}"
    )
