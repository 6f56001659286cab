"""Tell a Slack channel about deploys, through an incoming webhook, as a Block Kit message.

One message per group of notices::

    header    "Deployed team/app 1.4.1", "Deploy failed: team/app", "3 deploys of team/app 1.4.1"
    section   per notice: Repository, Target, From, To, Outcome, Duration (fields)
    context   per notice: the reason (and what the orchestrator said) -- or, when the deploy did
              not succeed, a section, so the orchestrator's message is not in small print
    section   "…and N more", one line per notice that did not fit

Slack's limits (Block Kit reference) hold by construction: at most 50 blocks, a header of 150
characters, section and context texts of 3000, at most 10 fields of 2000 each, and a ``text``
fallback (what notifications and old clients show) of at most 4000 characters. Texts are
clipped with "…".

Escaping. Every field of a notice comes from outside (see ``notifiers.text``), so each passes
through ``escape`` before it joins mrkdwn; the header is ``plain_text``, which Slack does not
parse, so only ``displayable`` applies there. ``escape``:

- turns ``&``, ``<`` and ``>`` into ``&amp;``, ``&lt;`` and ``&gt;``, the only escaping Slack
  documents ("Formatting message text", https://docs.slack.dev/messaging/formatting-message-text,
  formerly https://api.slack.com/reference/surfaces/formatting#escaping). That alone disarms
  ``<!channel>``, ``<@U123>``, ``<#C123>``, ``<!date…>`` and ``<https://x|login>``;
- replaces ``*``, ``_``, ``~`` and backticks, which mrkdwn cannot escape, by look-alikes
  (``notifiers.text.look_alikes``), keeping a run of ``*`` or ``_`` inside a word: Slack never
  formats there (``team_app``, ``1*2``);
- puts a word joiner (U+2060, invisible) after an ``@`` that begins a word, so ``@channel``,
  ``@here`` or ``@bob`` cannot become a mention even where Slack parses names (``link_names``);
- puts a soft hyphen (U+00AD, invisible) before a ``>`` that begins a line (``&gt;`` or the
  full-width one), which would otherwise start a block quote, as jsx-slack's ``<Escape>`` does.

Every mrkdwn text also says ``verbatim: true``, so Slack does not turn bare URLs or channel names
into links. The link to the console is the one link built here; ``_url`` keeps it one URL.

The plain-text wording (``headline``, ``summary_line``, the field values) is shared with the
Teams notifier, so both channels say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from handlers.references import short_digest
from notifiers.base import Kind, Notice
from notifiers.http import JsonWebhookNotifier
from notifiers.text import WORD_JOINER, displayable, look_alikes

Json = dict[str, Any]

MAX_BLOCKS: Final = 50
HEADER_CHARS: Final = 150
TEXT_CHARS: Final = 3000
FIELD_CHARS: Final = 2000
FALLBACK_CHARS: Final = 4000
REASON_CHARS: Final = 500  # of a notice's text; the orchestrator's message gets the rest
LINE_CHARS: Final = 300  # of a notice's line in the fallback text, before escaping

OUTCOME_WORDS: Final = {
    "started": "Started",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "rolled_back": "Rolled back",
    "conflict": "Conflict",
    "superseded": "Superseded",
    "dry_run": "Dry run",
    "waiting": "Waiting",
    "released": "Released",
    "rejected": "Rejected",
    "expired": "Expired",
}
# What a notice's message is, by outcome (otherwise what the orchestrator said).
MESSAGE_LABELS: Final = {
    "waiting": "Waits for",
    "released": "Released",
    "rejected": "Rejected",
    "expired": "Expired",
}


@dataclass(slots=True, eq=False)
class SlackNotifier(JsonWebhookNotifier):
    """Sends each group of notices as one message to the incoming webhook at ``url``."""

    service: ClassVar[str] = "Slack"

    def render(self, notices: Sequence[Notice]) -> Json:
        return render(notices)


def render(notices: Sequence[Notice]) -> Json:
    """The incoming-webhook body for ``notices`` (at least one)."""
    if not notices:
        raise ValueError("render needs at least one notice")
    per_notice = [_notice_blocks(notice) for notice in notices]
    shown = _fitting(per_notice)
    blocks: list[Json] = [{"type": "header", "text": _plain(clip(headline(notices), HEADER_CHARS))}]
    for notice_blocks in per_notice[:shown]:
        blocks += notice_blocks
    if rest := notices[shown:]:
        lines = "\n".join(f"• {summary_line(notice)}" for notice in rest)
        text = _clip_escaped(f"…and {len(rest)} more:\n", lines, TEXT_CHARS)
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    return {"text": _fallback(notices), "blocks": blocks}


# The wording, in plain text (shared with the Teams notifier).


def headline(notices: Sequence[Notice]) -> str:
    """What happened, in a few words: the title of a message."""
    if len(notices) == 1:
        return _single_headline(notices[0])
    repositories = list(dict.fromkeys(n.repository for n in notices))
    tags = list(dict.fromkeys(n.tag for n in notices))
    if len(repositories) > 1:
        subject = f"{len(repositories)} repositories"
    else:
        subject = repositories[0] + (f" {tags[0]}" if len(tags) == 1 else "")
    if all(n.kind is Kind.STARTED for n in notices):
        return f"Deploying {subject} to {len(notices)} targets"
    failed = sum(n.failed for n in notices)
    return f"{len(notices)} deploys of {subject}" + (f" ({failed} failed)" if failed else "")


def _single_headline(notice: Notice) -> str:
    image = f"{notice.repository} {notice.tag}"
    match notice.outcome:
        case _ if notice.kind is Kind.STARTED:
            return f"Deploying {image}"
        case "succeeded":
            return f"Deployed {image}"
        case "failed":
            return f"Deploy failed: {notice.repository}"
        case "rolled_back":
            return f"Rolled back: {notice.repository}"
        case "conflict":
            return f"Deploy conflict: {notice.repository}"
        case "superseded":
            return f"Superseded: {image}"
        case "dry_run":
            return f"Dry run: would deploy {image}"
        case other:
            return f"Deploy {outcome_word(other).lower()}: {image}"


def outcome_word(outcome: str) -> str:
    """``rolled_back`` -> ``Rolled back``; an outcome this module does not know, capitalised."""
    return OUTCOME_WORDS.get(outcome) or outcome.replace("_", " ").capitalize() or "Unknown"


def from_label(notice: Notice) -> str:
    """What the target ran before: ``1.4.0 (sha256:0123456789ab)``, or ``unknown``."""
    if not notice.from_image:
        return "unknown"
    tag, digest = notice.from_tag, notice.from_digest
    if not tag and not digest:
        return notice.from_image
    return _image_label(tag, digest)


def to_label(notice: Notice) -> str:
    """What the target was to run: ``1.4.1 (sha256:0123456789ab)``."""
    return _image_label(notice.tag, notice.digest)


def _image_label(tag: str | None, digest: str | None) -> str:
    if tag and digest:
        return f"{tag} ({short_digest(digest)})"
    return tag or short_digest(digest)


def duration_label(seconds: float | None) -> str:
    """``4.2s``, ``42s``, ``3m 05s``, ``1h 02m``; ``-`` when not known."""
    if seconds is None or seconds < 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def summary_line(notice: Notice) -> str:
    """The notice in one line: ``team/app 1.4.1 to prod/app: failed after 42s``."""
    outcome = outcome_word(notice.outcome).lower()
    line = f"{notice.repository} {notice.tag} to {notice.target}: {outcome}"
    if notice.duration_seconds is not None:
        line += f" after {duration_label(notice.duration_seconds)}"
    return line


def shows_message(notice: Notice) -> bool:
    """Whether what the orchestrator said is worth showing (a deploy that did not succeed)."""
    return (
        bool(notice.message) and notice.outcome != "succeeded" and notice.message != notice.reason
    )


def message_label(notice: Notice) -> str:
    """``Orchestrator``, or what release control's message is (``Waits for``)."""
    return MESSAGE_LABELS.get(notice.outcome, "Orchestrator")


def facts(notice: Notice) -> list[tuple[str, str]]:
    """The notice as (label, value) pairs, in the order they are shown."""
    return [
        ("Repository", notice.repository),
        ("Target", notice.target),
        ("From", from_label(notice)),
        ("To", to_label(notice)),
        ("Outcome", outcome_word(notice.outcome)),
        ("Duration", duration_label(notice.duration_seconds)),
    ]


def clip(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """``text`` for Slack mrkdwn, shown as written and never obeyed (see the module docstring)."""
    text = look_alikes(displayable(text), kept_in_words="*_")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MENTION.sub("@" + WORD_JOINER, text)
    return _QUOTE.sub("\u00ad", text)


_MENTION: Final = re.compile(r"(?<![A-Za-z0-9._%+-])@(?=\w)")  # not inside an e-mail address
_QUOTE: Final = re.compile(r"^(?=[ \t]*(?:&gt;|\uff1e))", re.MULTILINE)


def _url(link: str) -> str:
    """``link`` inside ``<…|label>``: Slack's three entities, and no ``|`` to end it early."""
    return link.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")


# Block Kit.


def _notice_blocks(notice: Notice) -> list[Json]:
    fields = [
        _mrkdwn(_clip_escaped(f"*{label}*\n", value, FIELD_CHARS)) for label, value in facts(notice)
    ]
    said = _clip_escaped("*Reason:* ", notice.reason or "-", REASON_CHARS)
    if shows_message(notice):
        room = TEXT_CHARS - len(said) - 1
        said += "\n" + _clip_escaped(f"*{message_label(notice)}:* ", notice.message, room)
    if notice.link and len(said) + len(notice.link) + 30 < TEXT_CHARS:
        said += f"\n<{_url(notice.link)}|Open in regdeploy>"
    text = _mrkdwn(said)
    if notice.outcome in ("succeeded", "started", "dry_run"):
        block: Json = {"type": "context", "elements": [text]}
    else:
        block = {"type": "section", "text": text}
    return [{"type": "section", "fields": fields}, block]


def _fitting(per_notice: list[list[Json]]) -> int:
    """How many notices get their own blocks; the rest share one summary section."""
    if 1 + sum(map(len, per_notice)) <= MAX_BLOCKS:
        return len(per_notice)
    budget, shown = MAX_BLOCKS - 2, 0  # the header and the summary
    for blocks in per_notice:
        if len(blocks) > budget:
            break
        budget -= len(blocks)
        shown += 1
    return shown


def _fallback(notices: Sequence[Notice]) -> str:
    lines = [escape(clip(headline(notices), HEADER_CHARS))]
    for index, notice in enumerate(notices):
        line = escape(clip(summary_line(notice), LINE_CHARS))
        more = f"…and {len(notices) - index} more"
        room = FALLBACK_CHARS - sum(len(kept) + 1 for kept in lines)
        if len(line) + (0 if index == len(notices) - 1 else len(more) + 1) > room:
            lines.append(more)
            break
        lines.append(line)
    return "\n".join(lines)


def _clip_escaped(label: str, value: str, limit: int) -> str:
    """``label`` (mrkdwn) and the escaped ``value``, in ``limit`` characters; never cut an
    entity in two."""
    text = label + escape(value)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if (amp := cut.rfind("&", max(len(label), len(cut) - 4))) != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _plain(text: str) -> Json:
    return {"type": "plain_text", "text": displayable(text), "emoji": False}


def _mrkdwn(text: str) -> Json:
    return {"type": "mrkdwn", "text": text, "verbatim": True}
