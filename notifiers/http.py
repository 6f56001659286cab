"""Post a message to a chat or webhook service and read its answer as ``NoticeFailed``.

Every notifier that speaks HTTP sends through here, so all read answers the same way::

    2xx                                  delivered
    429                                  NoticeFailed(retry_after=what Retry-After asked, or None)
    408, 5xx, no answer (refused, reset,
      DNS, TLS, timeout)                 NoticeFailed: retry later (retry_after if the 408/5xx
                                         carried a Retry-After)
    3xx, any other 4xx, an invalid URL   NoticeFailed(permanent=True), with the status and at most
                                         200 characters of what the service answered

The URL is a ``Secret``: Slack and Teams webhook URLs embed their token. Only aiohttp sees it. A
message names the notifier (``what``, e.g. ``"Slack notifier 'ops'"``) instead, the excerpt of
an answer has every long part of the URL masked, and ``NoticeFailed`` is raised without a cause
or context (aiohttp's own exceptions can show the URL or the host). The URL is sent exactly as
configured (Teams URLs carry ``%2F`` that must stay encoded), and redirects are refused, not
followed: a webhook that redirects is misconfigured, and following one would send the body
somewhere else.

Public API: ``post_json``, ``post_bytes`` (for a body signed by the caller), and
``retry_after_seconds``.
"""

from __future__ import annotations

import email.utils
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from types import MappingProxyType
from typing import ClassVar, Final

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from notifiers.base import Notice
from receiver.errors import NoticeFailed
from receiver.secret import Secret

__all__ = ["EXCERPT_CHARS", "MAX_RETRY_AFTER", "post_bytes", "post_json", "retry_after_seconds"]

EXCERPT_CHARS: Final = 200  # of an error answer, in a NoticeFailed message
MAX_RETRY_AFTER: Final = 86_400.0  # seconds: a longer Retry-After is taken as one day
_READ_BYTES: Final = 8192  # of an error answer: enough for the excerpt after masking
_SECRET_PART_CHARS: Final = 8  # parts of the URL this long are masked in an excerpt
_NO_HEADERS: Final[Mapping[str, str]] = MappingProxyType({})
_DELAY_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")


async def post_json(
    session: aiohttp.ClientSession,
    url: Secret,
    payload: object,
    *,
    what: str,
    headers: Mapping[str, str] = _NO_HEADERS,
    # ASYNC109 would have callers wrap this in asyncio.timeout; the time is aiohttp's own
    # ClientTimeout of the request instead, so a timeout is a "no answer", not a cancellation.
    timeout: float = 10.0,  # noqa: ASYNC109
) -> None:
    """POST ``payload`` as UTF-8 JSON to ``url``; return when the service answered 2xx.

    ``what`` names the sender in messages; ``headers`` are added to the request; ``timeout`` is
    the whole exchange in seconds. Raises ``NoticeFailed`` as the module docstring tells.
    """
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
    await post_bytes(session, url, body, what=what, headers=headers, timeout=timeout)


async def post_bytes(
    session: aiohttp.ClientSession,
    url: Secret,
    body: bytes,
    *,
    what: str,
    content_type: str = "application/json",
    headers: Mapping[str, str] = _NO_HEADERS,
    timeout: float = 10.0,  # noqa: ASYNC109 (see post_json)
) -> None:
    """POST ``body`` unchanged (sign it first if the receiver checks a signature), as
    ``content_type``; otherwise as ``post_json``."""
    sent = CIMultiDict({"Content-Type": content_type})
    sent.update(headers)
    answer = await _exchange(session, url, body, headers=sent, timeout=timeout, what=what)
    # Raised here, outside any ``except``: no aiohttp exception rides along as the context.
    failure = answer if isinstance(answer, NoticeFailed) else _judge(answer, what)
    if failure is not None:
        raise failure


@dataclass(slots=True, eq=False)
class JsonWebhookNotifier:
    """Posts each group of notices as one JSON document to the webhook at ``url``.

    A chat service is a subclass that names itself (``service``) and renders its body.
    Not frozen: the Notifier protocol declares ``name`` a plain (writable) attribute.
    """

    name: str
    _: KW_ONLY
    url: Secret
    session: aiohttp.ClientSession = field(repr=False, compare=False)
    timeout: float = 10.0
    service: ClassVar[str] = "webhook"

    def render(self, notices: Sequence[Notice]) -> object:
        raise NotImplementedError

    async def send(self, notices: Sequence[Notice]) -> None:
        """Post one message for ``notices`` (nothing for none); ``NoticeFailed`` if not taken."""
        if notices:
            await post_json(
                self.session,
                self.url,
                self.render(notices),
                what=f"{self.service} notifier {self.name!r}",
                timeout=self.timeout,
            )


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` value asks to wait (RFC 9110 10.2.3): delay-seconds, or an
    HTTP-date counted from ``now`` (epoch seconds, default: the clock), never below 0 nor above
    ``MAX_RETRY_AFTER``. ``None`` when there is no value or it cannot be read."""
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP-date is always in GMT; a date without a zone is not one
    delay = when.timestamp() - (time.time() if now is None else now)
    return min(max(delay, 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True, slots=True, kw_only=True)
class _ServiceAnswer:
    status: int
    retry_after: str | None
    excerpt: str


async def _exchange(
    session: aiohttp.ClientSession,
    url: Secret,
    body: bytes,
    *,
    headers: CIMultiDict[str],
    timeout: float,  # noqa: ASYNC109 (see post_json)
    what: str,
) -> _ServiceAnswer | NoticeFailed:
    """The service's answer, or why there was none (returned, not raised: see ``post_bytes``)."""
    target = _parse_url(url)
    if target is None:
        return NoticeFailed(f"{what}: the URL is not an absolute http(s) URL", permanent=True)
    try:
        async with session.post(
            target,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
            raise_for_status=False,
        ) as res:
            if res.status < 300:
                return _ServiceAnswer(status=res.status, retry_after=None, excerpt="")
            excerpt = await _excerpt(res, url)
            return _ServiceAnswer(
                status=res.status, retry_after=res.headers.get("Retry-After"), excerpt=excerpt
            )
    except TimeoutError:
        return NoticeFailed(f"{what}: no answer within {timeout:g}s")
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
        return NoticeFailed(f"{what}: the URL is not valid", permanent=True)
    except aiohttp.ClientError as exc:
        return NoticeFailed(f"{what}: no answer ({_reason(exc)})")


def _judge(answer: _ServiceAnswer, what: str) -> NoticeFailed | None:
    status, excerpt = answer.status, answer.excerpt
    said = f": {excerpt}" if excerpt else ""
    if status < 300:
        return None
    if status == 429:
        delay = retry_after_seconds(answer.retry_after)
        when = f", retry after {delay:g}s" if delay is not None else ""
        return NoticeFailed(f"{what}: rate limited (HTTP 429){when}{said}", retry_after=delay)
    if status == 408 or status >= 500:
        delay = retry_after_seconds(answer.retry_after)
        return NoticeFailed(f"{what}: the service failed (HTTP {status}){said}", retry_after=delay)
    if status < 400:
        return NoticeFailed(
            f"{what}: the service redirects (HTTP {status}); check the configured URL",
            permanent=True,
        )
    return NoticeFailed(
        f"{what}: the service refused the message (HTTP {status}){said}", permanent=True
    )


def _parse_url(url: Secret) -> URL | None:
    try:
        parsed = URL(url.reveal(), encoded=True)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.scheme in ("http", "https") and parsed.host else None


async def _excerpt(res: aiohttp.ClientResponse, url: Secret) -> str:
    """The start of an error answer on one line, the URL's secret parts masked."""
    data = bytearray()
    try:
        while len(data) < _READ_BYTES and (
            chunk := await res.content.read(_READ_BYTES - len(data))
        ):
            data += chunk
    except (aiohttp.ClientError, TimeoutError):
        pass  # the status tells enough
    text = data.decode("utf-8", errors="replace")
    secrets = _secret_parts(url)
    if len(data) >= _READ_BYTES and secrets:
        # The read may have cut a secret in two; drop the tail where a piece of one could be.
        text = text[: max(0, len(text) - len(secrets[0]))]
    for secret in secrets:
        text = text.replace(secret, "***")
    text = _SPACES.sub(" ", text).strip()
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _secret_parts(url: Secret) -> list[str]:
    """The URL, its path (with and without the query), and each long segment or query value,
    raw and decoded; longest first."""
    raw = url.reveal()
    pieces = []
    if (parsed := _parse_url(url)) is not None:
        pieces = [parsed.raw_path_qs, parsed.raw_path, parsed.path, *parsed.raw_parts]
        pieces += [*parsed.parts, *parsed.query.values()]
        pieces += [v for _, _, v in (p.partition("=") for p in parsed.raw_query_string.split("&"))]
    parts = {raw, *(p for p in pieces if len(p) >= _SECRET_PART_CHARS)}
    return sorted((p for p in parts if p), key=len, reverse=True)


def _reason(exc: aiohttp.ClientError) -> str:
    """Why there was no answer, without the host or URL that aiohttp's messages show."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientConnectorSSLError):
        return "TLS failed"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name does not resolve"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server disconnected"
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno:
        return os.strerror(exc.errno)
    return type(exc).__name__
