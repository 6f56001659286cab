"""The ``notifiers:`` and ``notices:`` sections of the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from notifiers.base import Level
from receiver.config.reader import Reader, at
from receiver.secret import Secret

TYPES = ("slack", "teams", "email", "webhook")
_COMMON = {"name", "type", "level", "started"}
_KEYS = {
    "slack": {"url", "url_file"},
    "teams": {"url", "url_file"},
    "webhook": {"url", "url_file", "secret", "secret_file"},
    "email": {
        "host",
        "port",
        "security",
        "username",
        "password",
        "password_file",
        "from",
        "to",
        "ca_file",
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SmtpConfig:
    host: str
    port: int
    security: str
    username: str | None
    password: Secret | None
    sender: str
    recipients: tuple[str, ...]
    ca_file: Path | None


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifierConfig:
    """One notice channel. ``url`` (Slack, Teams, webhook) and ``secret`` (webhook signing) are
    secrets; ``smtp`` is set for e-mail."""

    name: str
    type: str
    level: Level = Level.ALL
    started: bool = False
    url: Secret | None = None
    secret: Secret | None = None
    smtp: SmtpConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxConfig:
    """How notices wait for their group and are retried."""

    group_seconds: float = 3.0
    max_attempts: int = 10
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    poll_seconds: float = 5.0


def read_notifiers(r: Reader, value: object) -> tuple[NotifierConfig, ...]:
    notifiers: list[NotifierConfig] = []
    for i, m in enumerate(r.items(value, "notifiers")):
        path = f"notifiers[{i}]"
        kind = r.text(m, "type", path)
        if kind and kind not in TYPES:
            r.problems.append(f"{path}.type: expected one of {', '.join(TYPES)}")
            continue
        r.unknown(m, path, _COMMON | _KEYS.get(kind, set()))
        name = r.text(m, "name", path)
        if any(n.name == name for n in notifiers):
            r.problems.append(f"{path}.name: {name!r} is used by an earlier notifier")
        level = r.text(m, "level", path, Level.ALL.value)
        if level not in {lv.value for lv in Level}:
            r.problems.append(f"{path}.level: expected failures or all, got {level!r}")
            level = Level.ALL.value
        notifiers.append(
            NotifierConfig(
                name=name,
                type=kind,
                level=Level(level),
                started=r.boolean(m, "started", path, False),
                url=r.secret(m, "url", path, required=kind != "email"),
                secret=r.secret(m, "secret", path, required=kind == "webhook"),
                smtp=_smtp(r, m, path) if kind == "email" else None,
            )
        )
    return tuple(notifiers)


def read_outbox(r: Reader, value: object) -> OutboxConfig:
    m = r.mapping(value if value is not None else {}, "notices")
    r.unknown(m, "notices", set(OutboxConfig.__dataclass_fields__))
    d = OutboxConfig()
    return OutboxConfig(
        group_seconds=r.number(m, "group_seconds", "notices", d.group_seconds),
        max_attempts=r.integer(m, "max_attempts", "notices", d.max_attempts),
        retry_base_seconds=r.number(m, "retry_base_seconds", "notices", d.retry_base_seconds),
        retry_max_seconds=r.number(m, "retry_max_seconds", "notices", d.retry_max_seconds),
        poll_seconds=r.number(m, "poll_seconds", "notices", d.poll_seconds),
    )


def _smtp(r: Reader, m: dict[str, object], path: str) -> SmtpConfig:
    security = r.text(m, "security", path, "starttls")
    if security not in ("starttls", "tls", "none"):
        r.problems.append(f"{at(path, 'security')}: expected starttls, tls or none")
    recipients = m.get("to")
    if not isinstance(recipients, list) or not recipients:
        r.problems.append(f"{at(path, 'to')}: expected a list of at least one address")
        recipients = []
    ca_file = r.text(m, "ca_file", path, "")
    return SmtpConfig(
        host=r.text(m, "host", path),
        port=r.integer(m, "port", path, 465 if security == "tls" else 587),
        security=security,
        username=r.text(m, "username", path, "") or None,
        password=r.secret(m, "password", path, required=False),
        sender=r.text(m, "from", path),
        recipients=tuple(str(a) for a in recipients),
        ca_file=Path(ca_file) if ca_file else None,
    )
