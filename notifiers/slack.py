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
clipped with "…". Everything that comes from outside (names, tags, messages) is escaped for
mrkdwn, so an orchestrator's ``<!channel>`` is shown, not obeyed.

The plain-text wording (``headline``, ``summary_line``, the field values) is shared with the
Teams notifier, so both channels say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from handlers.references import short_digest
from notifiers.base import Kind, Notice
from notifiers.http import JsonWebhookNotifier

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
    """``text`` for Slack mrkdwn: ``&``, ``<`` and ``>`` as the entities Slack asks for."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
        said += f"\n<{escape(notice.link)}|Open in regdeploy>"
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
    return {"type": "plain_text", "text": text, "emoji": False}


def _mrkdwn(text: str) -> Json:
    return {"type": "mrkdwn", "text": text, "verbatim": True}
