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

Escaping. Teams renders a ``TextBlock``'s text and a ``Fact``'s title and value as Markdown
(**bold**, _italic_, lists, ``[title](url)`` links: "Format cards in Microsoft Teams",
https://learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format,
and "Text features", https://learn.microsoft.com/adaptive-cards/authoring-cards/text-features).
Clients differ: the desktop renders more of CommonMark (code, strike-through, HTML-looking
text), the mobile apps use Adaptive Cards' own small parser, which starts a list or a link
after any ``[``, ``]`` or ``)`` too. Every field of a notice comes from outside, so every text
in the card passes through ``escape``; the only Markdown made here is the console link.

Backslash escapes are not an option: Android and iOS show the backslash where the desktop
hides it (MicrosoftDocs/msteams-docs#5793; microsoft/AdaptiveCards#5758 and #7474). So
``escape`` keeps the text and breaks each construct where it would form, invisibly or with a
look-alike, and a person reads what was written:

- ``*``, ``_``, ``~`` and backticks become look-alikes (``notifiers.text.look_alikes``); only
  a run of ``_`` between ASCII letters or digits stays (``team_app``), where no parser
  emphasises (``a*b*c`` is emphasis in CommonMark);
- a word joiner (U+2060, invisible, no line break) goes where a construct would start: between
  ``]`` and ``(``, ``[`` or ``:`` (links, images, references); after a ``<`` before any
  printable ASCII character (``<at>`` mentions, HTML, ``<https://…>``, ``<a|b@c>``); between
  two slashes (``https://…`` and ``//host`` autolinks); after an ``&`` that starts an entity
  (``&amp;``); after a backslash before punctuation or a line break (so it shows); at the start
  of a line that could be a list, heading, quote, rule, table row or code block (``- x``,
  ``1. x``, ``# x``, ``> x``, ``===``, an indented line); and after ``[``, ``]`` or ``)``
  before ``- `` or ``1. `` (the mobile parser starts a list there).

Checked against an independent CommonMark renderer (markdown-it) in ``tests/unit/test_text.py``:
no construct forms, and the rendered text reads as written.

A bare host name (``evil.example/login``) may still be linked by a client's own link
detection; the text shown is then the address it goes to. ``@channel`` is only text in Teams: a
mention needs ``<at>…</at>`` and an ``msteams.entities`` entry, and neither can form here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import quote

from notifiers.base import Notice
from notifiers.http import JsonWebhookNotifier
from notifiers.slack import clip, facts, headline, shows_message, summary_line
from notifiers.text import WORD_JOINER, displayable, look_alikes

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
            body.append(_text(f"…and {len(rest)} more:\n\n{lines}", SUMMARY_CHARS))
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
        **_text(headline(notices)),
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
    }


def _container(notice: Notice) -> Json:
    items: list[Json] = [
        {
            "type": "FactSet",
            "facts": [{"title": t, "value": _escaped(v, FACT_CHARS)} for t, v in facts(notice)],
        },
        {**_text(f"Reason: {notice.reason or '-'}"), "isSubtle": True},
    ]
    if shows_message(notice):
        message = {**_text(notice.message), "fontType": "Monospace"}
        items.append({**message, "color": "Attention"} if notice.failed else message)
    if notice.link:
        link = {"type": "TextBlock", "text": f"[Open in regdeploy]({_url(notice.link)})"}
        items.append({**link, "wrap": True})
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


def _text(words: str, limit: int = TEXT_CHARS) -> Json:
    """A ``TextBlock`` that shows ``words`` as written (at most ``limit`` characters)."""
    return {"type": "TextBlock", "text": _escaped(words, limit), "wrap": True}


def _escaped(words: str, limit: int) -> str:
    # Escaped first, then clipped: "…" ends no construct, and a cut can only drop a breaker
    # together with what it broke.
    return clip(escape(words), limit)


def escape(text: str) -> str:
    """``text`` for a Teams card's Markdown, shown as written and never obeyed (see the module
    docstring)."""
    text = look_alikes(displayable(text), kept_in_words="_")
    return _CONSTRUCT_START.sub(WORD_JOINER, text)


# Where a word joiner goes: each alternative matches the empty place between what came before
# and the character that would complete (or open) a construct.
_CONSTRUCT_START: Final = re.compile(
    "|".join(
        [
            r"(?<=\])(?=[(\[:])",  # [x](url), ![x](img), [x][ref], [ref]: url
            r"(?<=<)(?=[!-~])",  # <at>x</at>, <b>, <https://…>, <a|b@c>, <!-- -->
            r"(?<=/)(?=/)",  # https://host, //host
            r"(?<=&)(?=#?[A-Za-z0-9]+;)",  # &amp;, &#42;
            r"(?<=\\)(?=[!-/:-@\[-`{-~\r\n])",  # \* or \ at a line's end hides the backslash
            # a line that may be a list, heading, quote, rule, setext underline, table or code
            r"(?:^|(?<=[\r\n]))(?=[ \t>#=|:+-]|[0-9]{1,9}[.)](?:[ \t\r\n]|$))",
            r"(?<=[\[\])])(?=-[ ]|[0-9]+\.[ ])",  # the mobile parser's lists after [ ] )
        ]
    )
)


def _url(link: str) -> str:
    """``link`` as the destination of ``[…](…)``: no space, parenthesis or bracket to end it."""
    return quote(displayable(link), safe=":/?#@!$&'+,;=%-._~")


def _size(document: Json) -> int:
    """Bytes of ``document`` as ``post_json`` sends it."""
    return len(json.dumps(document, ensure_ascii=False).encode())
