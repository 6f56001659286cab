"""EmailNotifier against a real SMTP server (aiosmtpd): plain, STARTTLS, TLS, AUTH, refusals."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notifiers.base import Notice
from notifiers.email import EmailNotifier
from receiver.errors import NoticeFailed
from receiver.secret import Secret
from tests.support.components import free_port
from tests.support.notices import make_notice

USER = "regdeploy"
PASSWORD = "smtp-pa55-that-must-never-show"
WRONG_PASSWORD = "wr0ng-smtp-pa55-never-shown"
SENDER = "regdeploy@example.com"
DIGEST = "sha256:" + "ab12" * 16


def notice(**overrides: Any) -> Notice:
    defaults: dict[str, Any] = {
        "deployment_id": 1,
        "duration_seconds": 3.0,
    }
    return make_notice(**(defaults | overrides))


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps what it accepted and refuses chosen recipients."""

    messages: list[Envelope] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((mechanism, auth_data.login.decode()))
        ok = auth_data.login.decode() == USER and auth_data.password.decode() == PASSWORD
        # handled=False: the server answers 235 or 535 itself.
        return AuthResult(success=ok, handled=False)

    def only(self) -> EmailMessage:
        assert len(self.messages) == 1
        content = self.messages[0].original_content
        assert isinstance(content, bytes)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Server:
    mailbox: Mailbox
    port: int


def server_context(self_signed: tuple[Path, Path]) -> ssl.SSLContext:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def running(mailbox: Mailbox, **kwargs: Any) -> Iterator[Server]:
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, server_hostname="mail.test", **kwargs
    )
    controller.start()
    try:
        yield Server(mailbox, port)
    finally:
        controller.stop()


@pytest.fixture
def plain_server() -> Iterator[Server]:
    yield from running(Mailbox())


@pytest.fixture
def starttls_server(self_signed: tuple[Path, Path]) -> Iterator[Server]:
    mailbox = Mailbox()
    yield from running(
        mailbox,
        tls_context=server_context(self_signed),
        require_starttls=True,
        authenticator=mailbox.authenticate,
        auth_require_tls=True,
    )


@pytest.fixture
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[Server]:
    yield from running(Mailbox(), ssl_context=server_context(self_signed))


def notifier(port: int, **overrides: Any) -> EmailNotifier:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": f"regdeploy <{SENDER}>",
        "recipients": ("ops@example.com", "dev@example.com"),
        "timeout": 5.0,
    }
    options.update(overrides)
    return EmailNotifier("mail", **options)


def assert_no_password(exc: BaseException) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen)):
            assert PASSWORD not in text and WRONG_PASSWORD not in text
        seen = seen.__cause__ or seen.__context__


async def test_plain_delivery(plain_server: Server) -> None:
    await notifier(plain_server.port).send(
        [notice(), notice(target="worker", outcome="failed", message="<boom>")]
    )
    envelope = plain_server.mailbox.messages[0]
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
    message = plain_server.mailbox.only()
    assert message["Subject"] == "[regdeploy] 2 deploys of team/app, 1 failed"
    text = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    assert text is not None and "team/app 1.4.1 on worker: failed" in text.get_content()
    assert rich is not None and "&lt;boom&gt;" in rich.get_content()


async def test_starttls_with_login(starttls_server: Server, self_signed: tuple[Path, Path]) -> None:
    mail = notifier(
        starttls_server.port,
        security="starttls",
        ca_file=self_signed[0],
        username=USER,
        password=Secret(PASSWORD),
    )
    await mail.send([notice()])
    assert starttls_server.mailbox.only()["Subject"] == "[regdeploy] Deployed team/app 1.4.1 to web"
    assert starttls_server.mailbox.logins == [("PLAIN", USER)]


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_each_login_mechanism(self_signed: tuple[Path, Path], mechanism: str) -> None:
    mailbox = Mailbox()
    others = [name for name in ("PLAIN", "LOGIN") if name != mechanism]
    for server in running(
        mailbox,
        tls_context=server_context(self_signed),
        authenticator=mailbox.authenticate,
        auth_exclude_mechanism=others,
    ):
        mail = notifier(
            server.port,
            security="starttls",
            ca_file=self_signed[0],
            username=USER,
            password=Secret(PASSWORD),
        )
        await mail.send([notice()])
    assert mailbox.logins == [(mechanism, USER)]
    assert len(mailbox.messages) == 1


async def test_implicit_tls(tls_server: Server, self_signed: tuple[Path, Path]) -> None:
    await notifier(tls_server.port, security="tls", ca_file=self_signed[0]).send([notice()])
    assert tls_server.mailbox.only()["Subject"] == "[regdeploy] Deployed team/app 1.4.1 to web"


async def test_wrong_password_is_permanent_and_never_shown(
    starttls_server: Server, self_signed: tuple[Path, Path]
) -> None:
    mail = notifier(
        starttls_server.port,
        security="starttls",
        ca_file=self_signed[0],
        username=USER,
        password=Secret(WRONG_PASSWORD),
    )
    with pytest.raises(NoticeFailed) as caught:
        await mail.send([notice()])
    assert caught.value.permanent
    assert "refused the login: 535" in str(caught.value)
    assert_no_password(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert starttls_server.mailbox.messages == []


async def test_untrusted_certificate_is_permanent(starttls_server: Server) -> None:
    mail = notifier(starttls_server.port, security="starttls")  # the system's trust store
    with pytest.raises(NoticeFailed, match="certificate that is not trusted") as caught:
        await mail.send([notice()])
    assert caught.value.permanent


async def test_server_down_is_retryable() -> None:
    with pytest.raises(NoticeFailed, match="cannot be reached") as caught:
        await notifier(free_port()).send([notice()])
    assert not caught.value.permanent


async def test_silent_server_times_out_retryably() -> None:
    with socket.socket() as listener:  # accepts (in the kernel's backlog) and never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        mail = notifier(listener.getsockname()[1], timeout=0.3)
        with pytest.raises(NoticeFailed, match=r"did not answer within 0\.3 s") as caught:
            await mail.send([notice()])
    assert not caught.value.permanent


@pytest.mark.parametrize(
    ("answers", "permanent"),
    [
        (("550 5.1.1 No such user", "550 5.1.1 No such user"), True),
        (("450 4.2.1 Mailbox busy", "550 5.1.1 No such user"), False),
    ],
)
async def test_every_recipient_refused(
    plain_server: Server, answers: tuple[str, str], permanent: bool
) -> None:
    plain_server.mailbox.refuse = dict(
        zip(("ops@example.com", "dev@example.com"), answers, strict=True)
    )
    with pytest.raises(NoticeFailed, match="refused every recipient") as caught:
        await notifier(plain_server.port).send([notice()])
    assert caught.value.permanent is permanent
    assert "ops@example.com: " + answers[0].partition(" ")[0] in str(caught.value)


async def test_one_refused_recipient_does_not_cost_the_others_their_mail(
    plain_server: Server,
) -> None:
    plain_server.mailbox.refuse = {"dev@example.com": "550 5.1.1 No such user"}
    await notifier(plain_server.port).send([notice()])
    assert plain_server.mailbox.messages[0].rcpt_tos == ["ops@example.com"]


async def test_nothing_to_send_sends_nothing(plain_server: Server) -> None:
    await notifier(plain_server.port).send([])
    assert plain_server.mailbox.messages == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"security": "ssl"}, "security must be one of"),
        ({"username": USER}, "username and password go together"),
        ({"recipients": ()}, "at least one recipient"),
    ],
)
def test_invalid_options(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        notifier(25, **overrides)
