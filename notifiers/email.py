"""Tell people about deploys by email, through an SMTP server.

One group of notices becomes one ``multipart/alternative`` message (plain text and HTML). The
standard library's ``smtplib`` sends it in a worker thread, so no dependency is added and the
event loop never blocks. ``security`` is ``starttls`` (upgrade a plain connection, port 587),
``tls`` (TLS from the first byte, port 465) or ``none`` (a local relay); TLS certificates are
always verified, against ``ca_file`` when given, else the system's trust store.

Failures map onto ``NoticeFailed``: an unreachable or disconnecting server, a timeout or a 4xx
(temporary) reply ask for a retry; a refused login, a 5xx refusal of the sender, the
recipients or the message, an untrusted certificate or a server lacking STARTTLS/AUTH give up
(``permanent``). The password never appears in a message.

Every field of a notice comes from outside (see ``notifiers.text``); each part of the message
has one rule for it: ``header_text`` for the subject, so no line break in a name can end the
header and start another (``Bcc:``), not even one hidden in an RFC 2047 encoded word
(``=?utf-8?q?=0D=0ABcc:…?=``, which Python's header parser and mail clients decode);
``html_text`` for the HTML
part, every character HTML gives a meaning to escaped, so text never becomes a tag, an
attribute or a link; ``displayable`` for the plain-text part, which keeps the words as written,
a field's further lines indented under its first (each section's headline on one line).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import structlog

from handlers.references import short_digest
from notifiers.base import Notice
from notifiers.text import WORD_JOINER, displayable
from receiver.errors import NoticeFailed
from receiver.secret import Secret

log = structlog.get_logger("regdeploy.notifiers.email")

SECURITY_MODES = ("starttls", "tls", "none")
_REPLY_CHARS = 200  # of a server's reply, in a NoticeFailed message

# Subjects of a message about one deploy, by outcome.
_SUBJECTS = {
    "started": "Deploying {repository} {tag} to {target}",
    "succeeded": "Deployed {repository} {tag} to {target}",
    "failed": "Deploy failed: {repository} on {target}",
    "rolled_back": "Deploy rolled back: {repository} on {target}",
    "conflict": "Deploy conflict: {repository} on {target}",
    "superseded": "Deploy superseded: {repository} {tag} on {target}",
    "dry_run": "Would deploy {repository} {tag} to {target}",
    "waiting": "Waiting: {repository} {tag} to {target}",
    "released": "Released: {repository} {tag} to {target}",
    "rejected": "Rejected: {repository} {tag} to {target}",
    "expired": "Expired: {repository} {tag} to {target}",
}


class EmailNotifier:
    """Sends each group of notices as one email to ``recipients``."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        port: int,
        security: str = "starttls",
        username: str | None = None,
        password: Secret | None = None,
        sender: str,
        recipients: tuple[str, ...],
        timeout: float = 10.0,
        ca_file: Path | None = None,
    ) -> None:
        if security not in SECURITY_MODES:
            raise ValueError(f"security must be one of {', '.join(SECURITY_MODES)}")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        if not recipients:
            raise ValueError("at least one recipient is needed")
        self.name = name
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self._password = password
        self.sender = sender
        self.recipients = recipients
        self.timeout = timeout
        self.ca_file = ca_file

    async def send(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        message = render(notices, self.sender, self.recipients)
        try:
            refused = await asyncio.to_thread(self._deliver, message)
        except (smtplib.SMTPException, OSError) as exc:
            failure = self._failure(exc)
        else:
            if refused:
                # The others have the message: retrying would send it to them a second time.
                log.warning(
                    "email_recipients_refused",
                    notifier=self.name,
                    refused={address: code for address, (code, _) in refused.items()},
                )
            return
        # Raised outside the ``except``: no cause or context rides along, so no traceback holds
        # smtplib's frames (``login`` keeps the password in a local variable).
        raise failure

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        """Connect, log in, send; runs in a worker thread. Returns the refused recipients."""
        context = None
        if self.security != "none":
            context = ssl.create_default_context(cafile=self.ca_file)
        client: smtplib.SMTP
        if self.security == "tls":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                client.starttls(context=context)
            if self.username is not None and self._password is not None:
                client.login(self.username, self._password.reveal())
            return client.send_message(
                message, from_addr=parseaddr(self.sender)[1], to_addrs=list(self.recipients)
            )
        finally:
            # The message is handed over at this point; a failing QUIT must not cause a resend.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            client.close()

    def _failure(self, exc: smtplib.SMTPException | OSError) -> NoticeFailed:
        where = f"SMTP server {self.host}:{self.port}"
        match exc:
            case smtplib.SMTPAuthenticationError():
                return _by_code(exc.smtp_code, f"{where} refused the login: {self._reply(exc)}")
            case smtplib.SMTPRecipientsRefused():
                codes = [code for code, _ in exc.recipients.values()]
                answers = "; ".join(
                    f"{address}: {code} {self._text(text)}"
                    for address, (code, text) in exc.recipients.items()
                )
                permanent = all(500 <= code < 600 for code in codes)
                return NoticeFailed(
                    f"{where} refused every recipient ({answers})", permanent=permanent
                )
            case smtplib.SMTPSenderRefused():
                return _by_code(exc.smtp_code, f"{where} refused the sender: {self._reply(exc)}")
            case smtplib.SMTPDataError():
                return _by_code(exc.smtp_code, f"{where} refused the message: {self._reply(exc)}")
            case smtplib.SMTPConnectError():
                return NoticeFailed(f"{where} refused the connection: {self._reply(exc)}")
            case smtplib.SMTPResponseException():
                return _by_code(exc.smtp_code, f"{where} answered {self._reply(exc)}")
            case smtplib.SMTPServerDisconnected() if isinstance(exc.__context__, TimeoutError):
                # smtplib reports a reply that never came as a disconnection.
                return NoticeFailed(f"{where} did not answer within {self.timeout:g} s")
            case smtplib.SMTPServerDisconnected():
                return NoticeFailed(f"{where} closed the connection: {self._text(str(exc))}")
            case smtplib.SMTPException():  # no STARTTLS, no AUTH or no method we both know
                return NoticeFailed(f"{where}: {self._text(str(exc))}", permanent=True)
            case ssl.SSLCertVerificationError():
                return NoticeFailed(
                    f"{where} presented a certificate that is not trusted: {exc.verify_message}",
                    permanent=True,
                )
            case TimeoutError():
                return NoticeFailed(f"{where} did not answer within {self.timeout:g} s")
            case _:
                reason = exc.strerror or exc.__class__.__name__
                return NoticeFailed(f"{where} cannot be reached: {self._text(reason)}")

    def _reply(self, exc: smtplib.SMTPResponseException) -> str:
        return f"{exc.smtp_code} {self._text(exc.smtp_error)}".strip()

    def _text(self, text: bytes | str) -> str:
        """A server's words, decoded, on one line and without the password."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        text = " ".join(text.split())
        if self._password is not None and self._password.reveal():
            text = text.replace(self._password.reveal(), "***")
        return text if len(text) <= _REPLY_CHARS else text[: _REPLY_CHARS - 1] + "…"


def _by_code(code: int, message: str) -> NoticeFailed:
    """4xx is temporary (retry); 5xx is the server's final word (give up)."""
    return NoticeFailed(message, permanent=500 <= code < 600)


# -- rendering ----------------------------------------------------------------------------


def render(notices: Sequence[Notice], sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The message telling ``recipients`` about one group of deploys."""
    if not notices:
        raise ValueError("nothing to tell: no notices")
    message = EmailMessage()
    message["Subject"] = subject(notices)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=_domain(sender))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    message.set_content(render_text(notices))
    message.add_alternative(render_html(notices), subtype="html")
    return message


def subject(notices: Sequence[Notice]) -> str:
    if len(notices) == 1:
        notice = notices[0]
        template = _SUBJECTS.get(notice.outcome, "Deploy {outcome}: {repository} on {target}")
        text = template.format(
            repository=notice.repository,
            tag=notice.tag,
            target=notice.target,
            outcome=notice.outcome,
        )
    else:
        repositories = ", ".join(dict.fromkeys(notice.repository for notice in notices))
        text = f"{len(notices)} deploys of {repositories}"
        failed = sum(notice.failed for notice in notices)
        if failed:
            text += f", {failed} failed"
    return "[regdeploy] " + header_text(text)


def header_text(text: str) -> str:
    """``text`` for a header: on one line, and with a word joiner (U+2060, invisible) between
    ``=`` and ``?``, so no part of it is decoded as an encoded word that could carry a line
    break or a direction override (Python then encodes that word, and a client shows it as is).
    """
    return one_line(text).replace("=?", f"={WORD_JOINER}?")


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (line breaks of any kind included) as one
    space, so a header holds it whatever a name carries."""
    return displayable(" ".join(text.split()))


def render_text(notices: Sequence[Notice]) -> str:
    blocks = []
    for notice in notices:
        lines = [_headline(notice)]
        for label, value in _fields(notice):
            first, *rest = displayable(value).splitlines() or [""]
            lines.append(f"  {label + ':':<12}{first}")
            lines.extend(f"  {'':<12}{line}" for line in rest)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\n-- \nSent by regdeploy.\n"


def render_html(notices: Sequence[Notice]) -> str:
    sections = []
    for notice in notices:
        rows = "".join(
            f'<tr><th align="left" valign="top">{html_text(label)}</th>'
            f"<td>{_html_value(label, value)}</td></tr>"
            for label, value in _fields(notice)
        )
        sections.append(f"<h3>{html_text(_headline(notice))}</h3>\n<table>{rows}</table>")
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f"<body>\n{body}\n<p><small>Sent by regdeploy.</small></p>\n</body></html>\n"
    )


def _headline(notice: Notice) -> str:
    return one_line(f"{notice.repository} {notice.tag} on {notice.target}: {notice.outcome}")


def _fields(notice: Notice) -> list[tuple[str, str]]:
    fields = [
        ("repository", notice.repository),
        ("target", notice.target),
        ("from", _from(notice)),
        ("to", f"{notice.tag} ({short_digest(notice.digest)})"),
        ("outcome", notice.outcome),
        ("duration", _duration(notice.duration_seconds)),
        ("reason", notice.reason or "-"),
    ]
    if notice.message and (notice.failed or notice.link):
        fields.append(("message", notice.message))
    if notice.link:
        fields.append(("link", notice.link))
    return fields


def _from(notice: Notice) -> str:
    if not notice.from_image:
        return "unknown"
    tag, digest = notice.from_tag, notice.from_digest
    if tag and digest:
        return f"{tag} ({short_digest(digest)})"
    if digest:
        return short_digest(digest)
    return tag or notice.from_image


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _html_value(label: str, value: str) -> str:
    if label == "message":
        return f'<pre style="white-space: pre-wrap; margin: 0">{html_text(value)}</pre>'
    return html_text(value)


def html_text(text: str) -> str:
    """``text`` inside an HTML element or a quoted attribute: ``&``, ``<``, ``>``, ``"`` and
    ``'`` as entities."""
    return html.escape(displayable(text), quote=True)


def _domain(sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2]
    return domain or "regdeploy.invalid"
