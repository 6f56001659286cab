"""Text from outside, through every channel: shown as a person wrote it, never obeyed.

Each hostile string goes, in turn, into each field of a notice that a channel shows; each
channel's payload is then read as its service would read it:

- Slack: every mrkdwn text (fields, context, sections, the fallback ``text``) has no ``<…>``
  token (link, mention, date), no formatting character outside a word, no line starting a
  quote, no ``@name`` that link_names could turn into a mention, no bare ``&``;
- Teams: every TextBlock and Fact has no construct Adaptive Cards' own parser (the mobile apps)
  or CommonMark (the desktop, checked with markdown-it where it is installed) would form;
- e-mail: no header but ours, the subject on one line; the HTML part only our tags and
  attributes; the plain-text part the words as written;
- the signed webhook: every field byte for byte as recorded.

And in every channel the text, as a person reads it (invisible characters dropped, entities
decoded, look-alikes taken for what they look like), holds what was written.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import html
import json
import re
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from notifiers import slack, teams, webhook
from notifiers.base import Notice
from notifiers.email import one_line
from notifiers.email import render as render_email
from notifiers.text import LOOK_ALIKES, WORD_JOINER, displayable, look_alikes
from tests.support.chat_capture import as_read, slack_problems, teams_problems
from tests.support.notices import make_notice

HOSTILE = [
    # links
    pytest.param("[regdeploy login](https://evil.example/login)", id="markdown-link"),
    pytest.param("![x](https://evil.example/pixel.png)", id="markdown-image"),
    pytest.param("see [login][1]\n\n[1]: https://evil.example/login", id="reference-link"),
    pytest.param("<https://evil.example/login|regdeploy login>", id="slack-link"),
    pytest.param("<https://evil.example/login>", id="autolink"),
    pytest.param("<ops|x@evil.example>", id="email-autolink"),
    pytest.param('<a href="https://evil.example/login">regdeploy login</a>', id="html-link"),
    pytest.param("log in at https://evil.example/login now", id="bare-url"),
    pytest.param("//evil.example/login", id="protocol-relative"),
    # mentions
    pytest.param("<!channel> deploy now", id="slack-channel"),
    pytest.param("<!here> <!everyone> <!subteam^S0123|@ops>", id="slack-broadcasts"),
    pytest.param("approved by <@U0123ABC> in <#C0123|ops>", id="slack-user-and-channel"),
    pytest.param("@channel @here please look", id="at-channel"),
    pytest.param("rejected by <at>Ops Team</at>", id="teams-at"),
    pytest.param("<!date^1392734382^{date}|Feb 18>", id="slack-date"),
    # Markdown and mrkdwn
    pytest.param("**bold** *it* _it_ __bold__", id="emphasis"),
    pytest.param("~strike~ ~~strike~~", id="strike"),
    pytest.param("`code` and ```block```", id="code"),
    pytest.param("# heading\n## second", id="headings"),
    pytest.param("> quoted\n>> deeper", id="quote"),
    pytest.param("- one\n* two\n+ three", id="bullets"),
    pytest.param("1. one\n2) two", id="numbered"),
    pytest.param("freeze\n===\nreason\n---", id="setext-and-rule"),
    pytest.param("    indented code", id="indented-code"),
    pytest.param("a | b\n--- | ---\n1 | 2", id="table"),
    pytest.param("&amp; &#42; &lt;b&gt;", id="entities"),
    pytest.param("C:\\tmp\\*.log \\[x\\] trailing\\\nnext", id="backslashes"),
    pytest.param("x)- item [1. item", id="mobile-lists"),
    pytest.param(":fire: :white_check_mark:", id="emoji-shortcodes"),
    # HTML
    pytest.param("<script>alert('pwned')</script>", id="script"),
    pytest.param('<img src=x onerror="alert(1)">', id="img-onerror"),
    pytest.param("</td></tr></table><h1>fake</h1><!--", id="html-structure"),
    # line breaks, for a header to split on
    pytest.param("web\r\nBcc: x@evil.example", id="crlf-bcc"),
    pytest.param("web\nBcc: x@evil.example\n\n<b>body</b>", id="lf-bcc"),
    pytest.param("web\rX-Injected: 1\u2028Cc: y@evil.example\x85", id="other-line-breaks"),
    pytest.param("=?utf-8?q?Bcc=3A_x=40evil=2Eexample?=", id="encoded-word"),
    pytest.param("=?utf-8?q?web=0D=0ABcc=3A_x=40evil=2Eexample?=", id="encoded-crlf"),
    pytest.param("a =?utf-8?b?4oCuZXhlLm5pZ29s?= b", id="encoded-rtl-override"),
    # invisible and direction characters
    pytest.param("@\u200bchannel *\u200bbold\u200b* [x]\u200d(https://evil.example)", id="zw"),
    pytest.param("prod/app \u202eexe.nigol\u202c", id="rtl-override"),
    pytest.param("\u2066isolated\u2069 \x1b[2Jcleared\x07", id="isolate-and-terminal"),
    # what a registry or a person may well write, and must still read (and copy) as is
    pytest.param("team_app/my__svc 1.4.1-rc_2 a*b", id="names"),
]
FIELDS = ("repository", "target", "tag", "from_image", "reason", "message")


def hostile(field: str, text: str) -> Notice:
    """A failed deploy (so what the orchestrator said is shown) with ``text`` in ``field``."""
    usual = {"outcome": "failed", "reason": "policy minor", "message": "health check failed"}
    return make_notice(**(usual | {field: text}))


def written(notice: Notice, field: str) -> str:
    """What a reader should find of ``field``: the text, its control characters made visible
    (the previous image as the messages show it: tag and digest, when it has them)."""
    value = slack.from_label(notice) if field == "from_image" else getattr(notice, field)
    assert isinstance(value, str)
    return displayable(value)


FOLD = {ord(look): plain for plain, look in LOOK_ALIKES.items()}


def read(text: str) -> str:
    """``text`` as a person reads it: invisible characters dropped, look-alikes taken for what
    they look like, line breaks as one kind."""
    return as_read(text).translate(FOLD).replace("\r\n", "\n").replace("\r", "\n")


def reads(found: str, wanted: str) -> bool:
    """Whether ``wanted`` reads in ``found``, whatever the spacing (HTML folds it anyway)."""
    return " ".join(read(wanted).split()) in " ".join(read(found).split())


# -- Slack ---------------------------------------------------------------------------------

OUR_MRKDWN = re.compile(
    r"\*(?:Repository|Target|From|To|Outcome|Duration)\*\n|\*(?:Reason|Orchestrator):\* "
)
SLACK_TOKEN = re.compile(r"<")
SLACK_QUOTE = re.compile(r"^[ \t]*(?:&gt;|\uff1e)", re.MULTILINE)
SLACK_NAME = re.compile(r"(?<![A-Za-z0-9._%+-])@(?!" + WORD_JOINER + r")\w")
SLACK_BARE_AMPERSAND = re.compile(r"&(?!amp;|lt;|gt;)")


def mrkdwn_objects(message: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for block in message["blocks"][1:]:
        found += block.get("fields", []) + block.get("elements", [])
        found += [block["text"]] if "text" in block else []
    assert all(text["type"] == "mrkdwn" for text in found)
    return found


def slack_mrkdwn(message: dict[str, Any]) -> list[str]:
    return [message["text"], *(text["text"] for text in mrkdwn_objects(message))]


def outside_words(text: str, markers: str) -> list[str]:
    """The runs of ``markers`` characters not between two ASCII letters or digits."""
    found = []
    for run in re.finditer("|".join(f"{re.escape(m)}+" for m in markers), text):
        start, end = run.span()
        inside = start > 0 and end < len(text)
        inside = inside and text[start - 1].isascii() and text[start - 1].isalnum()
        inside = inside and text[end].isascii() and text[end].isalnum()
        if not inside:
            found.append(run[0])
    return found


def slack_live(text: str) -> list[str]:
    """What in a mrkdwn text Slack would obey rather than show (our own labels aside)."""
    text = OUR_MRKDWN.sub("", text)
    problems = []
    if SLACK_TOKEN.search(text):
        problems.append("a <…> token: a link, mention or date")
    if runs := outside_words(text, "*_") + re.findall(r"[~`]+", text):
        problems.append(f"formatting characters {runs}")
    if SLACK_QUOTE.search(text):
        problems.append("a line that starts a quote")
    if SLACK_NAME.search(text):
        problems.append("an @name")
    if SLACK_BARE_AMPERSAND.search(text):
        problems.append("a bare & (an entity Slack would decode)")
    return problems


def slack_read(message: dict[str, Any]) -> str:
    texts = [message["blocks"][0]["text"]["text"], *slack_mrkdwn(message)]
    shown = "\n".join(texts).replace("&lt;", "<").replace("&gt;", ">")
    return shown.replace("&amp;", "&")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("text", HOSTILE)
def test_slack_shows_what_was_written_and_obeys_none_of_it(field: str, text: str) -> None:
    notice = hostile(field, text)
    message = slack.render([notice])
    assert slack_problems(message) == []
    assert all(text["verbatim"] for text in mrkdwn_objects(message))  # no autolinked URLs
    for mrkdwn in slack_mrkdwn(message):
        assert slack_live(mrkdwn) == [], mrkdwn
    assert message["blocks"][0]["text"]["type"] == "plain_text"  # not parsed by Slack
    assert reads(slack_read(message), written(notice, field))


def test_slack_keeps_its_own_link_and_labels() -> None:
    notice = hostile("message", "<https://evil.example|Open in regdeploy>")
    linked = dataclasses.replace(notice, link="https://regdeploy.example/deployments/7")
    said = slack.render([linked])["blocks"][2]["text"]["text"]
    assert re.findall(r"<[^>]*>", said) == [
        "<https://regdeploy.example/deployments/7|Open in regdeploy>"
    ]
    assert said.startswith("*Reason:* policy minor\n*Orchestrator:* &lt;https:")


# -- Teams ---------------------------------------------------------------------------------

TEAMS_CONSTRUCTS = {
    "emphasis, strike or code": re.compile(r"[*~`]"),
    "a link": re.compile(r"\][(\[:]"),
    "a tag, mention or autolink": re.compile(r"<[!-~]"),
    "an autolinked URL": re.compile(r"//"),
    "an entity": re.compile(r"&#?[A-Za-z0-9]+;"),
    "a backslash escape": re.compile(r"\\[!-/:-@\[-`{-~\r\n]"),
    "a block (list, heading, quote, rule, table, code)": re.compile(
        r"(?:^|[\r\n])(?:[ \t>#=|:+-]|[0-9]{1,9}[.)](?:[ \t\r\n]|$))"
    ),
    "a list on the mobile apps": re.compile(r"[\[\])](?:- |[0-9]+\. )"),
}


def teams_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    for element in message["attachments"][0]["content"]["body"]:
        for item in element.get("items", [element]):
            if item["type"] == "FactSet":
                texts += [fact[key] for fact in item["facts"] for key in ("title", "value")]
            else:
                texts.append(item["text"])
    return texts


def teams_live(text: str) -> list[str]:
    """What in a TextBlock or Fact Teams would render as Markdown rather than show."""
    problems = [name for name, pattern in TEAMS_CONSTRUCTS.items() if pattern.search(text)]
    if runs := outside_words(text, "_"):
        problems.append(f"underscores outside a word {runs}")
    return problems


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("text", HOSTILE)
def test_teams_shows_what_was_written_and_obeys_none_of_it(field: str, text: str) -> None:
    notice = hostile(field, text)
    message = teams.render([notice])
    assert teams_problems(message) == []
    texts = teams_texts(message)
    for shown in texts:
        assert teams_live(shown) == [], shown
    assert reads("\n".join(texts), written(notice, field))


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("text", HOSTILE)
def test_teams_text_is_only_text_to_a_commonmark_renderer(field: str, text: str) -> None:
    """What Teams on the desktop renders, checked with an independent CommonMark parser."""
    renderer = MarkdownIt("commonmark").enable(["strikethrough", "table"])
    for shown in teams_texts(teams.render([hostile(field, text)])):
        rendered = renderer.render(shown)
        assert re.sub(r"</?p>|<br />", "", rendered).count("<") == 0, rendered
        seen = html.unescape(re.sub(r"<[^>]*>", "", rendered))
        assert " ".join(read(seen).split()) == " ".join(read(shown).split())


def test_teams_keeps_its_own_link() -> None:
    notice = hostile("message", "[Open in regdeploy](https://evil.example)")
    linked = dataclasses.replace(notice, link="https://regdeploy.example/deployments/7")
    texts = teams_texts(teams.render([linked]))
    links = [text for text in texts if re.search(r"\]\(", text)]
    assert links == ["[Open in regdeploy](https://regdeploy.example/deployments/7)"]


def test_teams_link_is_one_destination() -> None:
    odd = "https://regdeploy.example/a path/(x)[y]<z>/deployments/7"
    notice = dataclasses.replace(hostile("reason", "-"), link=odd)
    [link] = [t for t in teams_texts(teams.render([notice])) if t.startswith("[Open")]
    assert link == (
        "[Open in regdeploy](https://regdeploy.example/a%20path/%28x%29%5By%5D%3Cz%3E"
        "/deployments/7)"
    )


# -- e-mail --------------------------------------------------------------------------------

SENDER = "regdeploy <regdeploy@example.com>"
HEADERS = {
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "MIME-Version",
    "Content-Type",
}
OUR_TAGS = {"html", "head", "meta", "body", "h3", "table", "tr", "th", "td", "pre", "p", "small"}
OUR_ATTRIBUTES = {
    ("charset", "utf-8"),
    ("align", "left"),
    ("valign", "top"),
    ("style", "white-space: pre-wrap; margin: 0"),
}


class HtmlReader(HTMLParser):
    """The tags, attributes and text of an HTML part, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[tuple[str, str | None]] = set()
        self.text: list[str] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.update(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def delivered(notice: Notice) -> tuple[EmailMessage, str, str]:
    """The message as the recipient's client parses it: headers, plain text, HTML."""
    raw = render_email([notice], SENDER, ("ops@example.com",)).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    plain = parsed.get_body(preferencelist=("plain",))
    rich = parsed.get_body(preferencelist=("html",))
    assert plain is not None and rich is not None
    return parsed, plain.get_content(), rich.get_content()


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("text", HOSTILE)
def test_email_shows_what_was_written_and_obeys_none_of_it(field: str, text: str) -> None:
    notice = hostile(field, text)
    parsed, plain, rich = delivered(notice)
    assert set(parsed.keys()) == HEADERS
    subject = parsed["Subject"]
    assert "\r" not in subject and "\n" not in subject
    if field in ("repository", "target"):
        assert reads(subject, one_line(getattr(notice, field)))
    page = HtmlReader()
    page.feed(rich)
    assert page.tags <= OUR_TAGS
    assert page.attributes <= OUR_ATTRIBUTES
    assert page.comments == []
    assert reads("".join(page.text), written(notice, field))
    assert reads(plain, written(notice, field))
    for line in written(notice, field).splitlines():
        assert line in plain


def test_email_headline_keeps_to_one_line() -> None:
    _, plain, _ = delivered(hostile("target", "web\nrepository: evil/app"))
    assert "\nrepository: evil/app" not in plain
    assert "team/app 1.4.1 on web repository: evil/app: failed" in plain


# -- the signed webhook --------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("text", HOSTILE)
def test_webhook_sends_every_field_as_it_was_recorded(field: str, text: str) -> None:
    notice = hostile(field, text)
    [sent] = json.loads(webhook.document([notice]))["notices"]
    assert sent[field] == text
    assert sent == {**dataclasses.asdict(notice), "kind": notice.kind.value}


# -- the steps every channel shares ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain words, tabs\tand\nlines\r\n", "plain words, tabs\tand\nlines\r\n"),
        ("a\x00b\x1bc\x7fd\x85e", "a\ufffdb\ufffdc\ufffdd\ufffde"),
        ("\u202aa\u202bb\u202cc\u202dd\u202ee", "\ufffda\ufffdb\ufffdc\ufffdd\ufffde"),
        ("\u2066a\u2067b\u2068c\u2069", "\ufffda\ufffdb\ufffdc\ufffd"),
        ("zero\u200bwidth\u200d\u2060, \u200f marks", "zero\u200bwidth\u200d\u2060, \u200f marks"),
    ],
)
def test_displayable(text: str, shown: str) -> None:
    assert displayable(text) == shown


@pytest.mark.parametrize(
    ("text", "kept", "shown"),
    [
        ("team_app my__app a*b", "*_", "team_app my__app a*b"),
        ("team_app my__app a*b", "_", "team_app my__app a\u2217b"),
        ("_x_ *y* ~z~ `c`", "*_", "\u02cdx\u02cd \u2217y\u2217 \u223cz\u223c \u02cbc\u02cb"),
        ("app_ _app a_\u200bb é_x", "_", "app\u02cd \u02cdapp a\u02cd\u200bb é\u02cdx"),
        ("a~b a`b", "*_~`", "a~b a`b"),
    ],
)
def test_look_alikes(text: str, kept: str, shown: str) -> None:
    assert look_alikes(text, kept_in_words=kept) == shown


@pytest.mark.parametrize(
    "name",
    ["team/app", "team_app", "my__svc", "1.4.1-rc.2", "registry.example:5000/team/app", "web:1"],
)
def test_names_stay_as_they_are(name: str) -> None:
    """What a registry calls things reaches a reader unchanged, so it can be copied."""
    assert slack.escape(name) == name
    assert teams.escape(name) == name


@given(st.text(max_size=200))
def test_any_text_reads_the_same_after_escaping(text: str) -> None:
    def slack_shown(escaped: str) -> str:
        return escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")

    assert read(slack_shown(slack.escape(text))) == read(displayable(text))
    assert read(teams.escape(text)) == read(displayable(text))
    assert slack_live(slack.escape(text)) == []
    assert teams_live(teams.escape(text)) == []
