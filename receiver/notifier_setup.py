"""Notifiers built from the ``notifiers:`` section, sharing one outbound HTTP session."""

from __future__ import annotations

import aiohttp

from notifiers.base import Notifier
from notifiers.email import EmailNotifier
from notifiers.slack import SlackNotifier
from notifiers.teams import TeamsNotifier
from notifiers.webhook import WebhookNotifier
from receiver.config import Config
from receiver.config_notifiers import NotifierConfig


def build_notifiers(config: Config, session: aiohttp.ClientSession) -> dict[str, Notifier]:
    return {n.name: build_notifier(n, session) for n in config.notifiers}


def build_notifier(config: NotifierConfig, session: aiohttp.ClientSession) -> Notifier:
    if config.type == "email":
        assert config.smtp is not None  # the configuration sets it for e-mail
        smtp = config.smtp
        return EmailNotifier(
            config.name,
            host=smtp.host,
            port=smtp.port,
            security=smtp.security,
            username=smtp.username,
            password=smtp.password,
            sender=smtp.sender,
            recipients=smtp.recipients,
            ca_file=smtp.ca_file,
        )
    assert config.url is not None  # required for every HTTP notifier
    if config.type == "webhook":
        assert config.secret is not None
        return WebhookNotifier(config.name, url=config.url, secret=config.secret, session=session)
    if config.type == "teams":
        return TeamsNotifier(config.name, url=config.url, session=session)
    return SlackNotifier(config.name, url=config.url, session=session)
