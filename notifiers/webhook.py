"""Tell another service about deploys with a signed JSON POST.

Each group of notices is one ``POST`` of ``application/json``::

    {"notices":[{"deployment_id":7,"digest":"sha256:…",…}],"type":"regdeploy.deploys"}

Every field of every ``Notice`` is there (``from_image`` and ``duration_seconds`` may be
``null``); keys are sorted and there is no whitespace, so one group always gives the same bytes.
The fields are sent as they were recorded, never rendered (no Markdown, no HTML escaping): JSON
encoding is all they need here, and a receiver that shows them escapes them for its own medium.

Signing. The sender and the receiver share a secret. Three headers travel with the body:

- ``X-Regdeploy-Delivery``: a random UUID (version 4), new for every attempt, to tell
  attempts apart in logs; to drop repeats, use ``deployment_id`` and ``kind`` of each notice;
- ``X-Regdeploy-Timestamp``: when it was sent, in whole seconds since the Unix epoch;
- ``X-Regdeploy-Signature``: ``sha256=`` and the lowercase hex HMAC-SHA256, keyed with the
  secret (UTF-8), of the timestamp, a dot and the raw body: ``f"{timestamp}.".encode() + body``.

A receiver computes the HMAC over the body bytes exactly as they arrived (before any JSON
parsing), compares it in constant time, and rejects a timestamp more than five minutes from its
own clock, so a captured request cannot be replayed later. ``verify`` does all of that.

Answers map onto ``NoticeFailed`` in ``notifiers.http``: 2xx delivered, 429 retry after what
the receiver asked, 5xx and network failures retry, any other 4xx gives up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp

from notifiers.base import Notice
from notifiers.http import post_bytes
from receiver.secret import Secret

DOCUMENT_TYPE = "regdeploy.deploys"
DELIVERY_HEADER = "X-Regdeploy-Delivery"
TIMESTAMP_HEADER = "X-Regdeploy-Timestamp"
SIGNATURE_HEADER = "X-Regdeploy-Signature"
DEFAULT_TOLERANCE = 300.0


class WebhookNotifier:
    """POSTs each group of notices to ``url``, signed with ``secret``."""

    def __init__(
        self,
        name: str,
        *,
        url: Secret,
        secret: Secret,
        session: aiohttp.ClientSession,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._url = url
        self._secret = secret
        self._session = session
        self.timeout = timeout

    async def send(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        body = document(notices)
        timestamp = str(int(time.time()))
        headers = {
            DELIVERY_HEADER: str(uuid.uuid4()),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret.reveal(), body, timestamp),
        }
        await post_bytes(
            self._session,
            self._url,
            body,
            headers=headers,
            timeout=self.timeout,
            what=f"webhook notifier {self.name!r}",
        )


def document(notices: Sequence[Notice]) -> bytes:
    """The body for a group of notices: compact JSON with sorted keys, UTF-8."""
    payload = {"type": DOCUMENT_TYPE, "notices": [_as_json(notice) for notice in notices]}
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def _as_json(notice: Notice) -> dict[str, Any]:
    fields = {field.name: getattr(notice, field.name) for field in dataclasses.fields(notice)}
    fields["kind"] = notice.kind.value
    return fields


def sign(secret: str, body: bytes, timestamp: str) -> str:
    """The ``X-Regdeploy-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` and that is within ``tolerance``
    seconds of ``now``: what a receiver checks before it trusts (or even parses) the body."""
    # Whole seconds only, and few enough digits that int() stays cheap.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp).encode(), signature.encode())
