"""Tell a Microsoft Teams channel about deploys, through a Workflows webhook, as an Adaptive Card.

The Workflows trigger ("When a Teams webhook request is received") takes a message with one
Adaptive Card attachment and answers 202. The card (schema 1.4)::

    TextBlock   the headline, bold and medium; red (attention) if a deploy failed, green (good)
                if all succeeded
    Container   per notice, separated: a FactSet (Repository, Target, From, To, Outcome,
                Duration), the reason, and what the orchestrator said when it did not succeed
    TextBlock   "…and N more", one line per notice that did not fit

Teams refuses messages over 28 KB, so the card is kept under ``MAX_BYTES`` of JSON: notices
that would not fit are only listed in the last block. Texts are clipped to 3000 characters with
"…". The wording is the Slack notifier's, so both channels say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from notifiers.base import Notice
from notifiers.http import JsonWebhookNotifier
from notifiers.slack import clip, facts, headline, shows_message, summary_line

Json = dict[str, Any]

CARD_CONTENT_TYPE: Final = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA: Final = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION: Final = "1.4"
MAX_BYTES: Final = 24_000  # of the whole JSON body; Teams' limit is 28 KB, this leaves headroom
TEXT_CHARS: Final = 3000
FACT_CHARS: Final = 500
SUMMARY_CHARS: Final = 2000


@dataclass(slots=True, eq=False)
class TeamsNotifier(JsonWebhookNotifier):
    """Sends each group of notices as one card to the Workflows webhook at ``url``."""

    service: ClassVar[str] = "Teams"

    def render(self, notices: Sequence[Notice]) -> Json:
        return render(notices)


def render(notices: Sequence[Notice]) -> Json:
    """The Workflows webhook body for ``notices`` (at least one), under ``MAX_BYTES``."""
    if not notices:
        raise ValueError("render needs at least one notice")
    title = _title(notices)
    containers = [_container(notice) for notice in notices]
    shown = _fitting(title, containers)
    while True:  # the summary's size is only known once it is made; a step back is rare
        body = [title, *containers[:shown]]
        if rest := notices[shown:]:
            lines = "\n\n".join(summary_line(notice) for notice in rest)
            body.append(_text(clip(f"…and {len(rest)} more:\n\n{lines}", SUMMARY_CHARS)))
        message = _message(body)
        if shown == 0 or _size(message) <= MAX_BYTES:
            return message
        shown -= 1


def _title(notices: Sequence[Notice]) -> Json:
    if any(notice.failed for notice in notices):
        color = "Attention"
    elif all(notice.outcome == "succeeded" for notice in notices):
        color = "Good"
    else:
        color = "Default"
    return {
        **_text(clip(headline(notices), TEXT_CHARS)),
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
    }


def _container(notice: Notice) -> Json:
    items: list[Json] = [
        {
            "type": "FactSet",
            "facts": [{"title": t, "value": clip(v, FACT_CHARS)} for t, v in facts(notice)],
        },
        {**_text(clip(f"Reason: {notice.reason or '-'}", TEXT_CHARS)), "isSubtle": True},
    ]
    if shows_message(notice):
        message = {**_text(clip(notice.message, TEXT_CHARS)), "fontType": "Monospace"}
        items.append({**message, "color": "Attention"} if notice.failed else message)
    if notice.link:
        items.append(_text(clip(f"[Open in regdeploy]({notice.link})", TEXT_CHARS)))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _fitting(title: Json, containers: list[Json]) -> int:
    """How many notices get their own container (a first guess, from their sizes)."""
    budget = MAX_BYTES - _size(_message([title]))
    if sum(_size(c) + 1 for c in containers) <= budget:
        return len(containers)
    budget -= SUMMARY_CHARS + 100  # the summary, if its lines are ASCII; render checks
    shown = 0
    for container in containers:
        budget -= _size(container) + 1
        if budget < 0:
            break
        shown += 1
    return shown


def _message(body: list[Json]) -> Json:
    card = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _text(text: str) -> Json:
    return {"type": "TextBlock", "text": text, "wrap": True}


def _size(document: Json) -> int:
    """Bytes of ``document`` as ``post_json`` sends it."""
    return len(json.dumps(document, ensure_ascii=False).encode())
