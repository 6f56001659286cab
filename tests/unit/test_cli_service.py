"""What ``regdeploy serve`` counts as a published secret, which addresses are loopback, and
what the service commands' help says of the configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from receiver.cli import service
from receiver.cli.running import PUBLISHED_SECRETS, is_loopback, published_secrets_in_use
from receiver.config import loading as configuration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_KEYS = ("api.tokens[0].token", "sources[0].token", "sources[1].token")
# Every file of the repository that publishes a development token.
PUBLISHING_FILES = ("config.example.yaml", "deploy/regdeploy.yml", "deploy/registry.yml")


def own_secrets(**extra: Any) -> dict[str, Any]:
    """A configuration with secrets of its own, then ``extra`` sections."""
    return {
        "sources": [{"name": "registry", "format": "distribution", "token": "registry-own"}],
        "api": {"tokens": [{"name": "admin", "token": "api-own", "scope": "write"}]},
        **extra,
    }


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),  # aiohttp listens on every interface
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("fe80::1", False),
        ("regdeploy.internal", False),
        ("localhost.example", False),
    ],
)
def test_only_loopback_addresses_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_example_left_at_its_defaults_uses_its_three_published_tokens() -> None:
    config = configuration.load(ROOT / "config.example.yaml", env={})
    assert published_secrets_in_use(config) == EXAMPLE_KEYS


def test_the_example_with_its_variables_set_uses_none() -> None:
    env = {
        "REGDEPLOY_REGISTRY_TOKEN": "registry-own",
        "REGDEPLOY_HARBOR_TOKEN": "harbor-own",
        "REGDEPLOY_API_TOKEN": "api-own",
    }
    config = configuration.load(ROOT / "config.example.yaml", env=env)
    assert published_secrets_in_use(config) == ()


def test_a_variable_set_to_a_published_token_still_counts() -> None:
    env = {"REGDEPLOY_REGISTRY_TOKEN": "registry-own", "REGDEPLOY_HARBOR_TOKEN": "harbor-own"}
    config = configuration.load(
        ROOT / "config.example.yaml", env={**env, "REGDEPLOY_API_TOKEN": "dev-api-token"}
    )
    assert published_secrets_in_use(config) == ("api.tokens[0].token",)


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        (own_secrets(), ()),
        (own_secrets(metrics={"token": "dev-harbor-token"}), ("metrics.token",)),
        (
            {
                "sources": [
                    {"name": "a", "format": "distribution", "token": "own"},
                    {"name": "b", "format": "harbor", "token": "dev-registry-token"},
                ],
                "api": {"tokens": [{"token": "own"}, {"token": "dev-api-token"}]},
            },
            ("api.tokens[1].token", "sources[1].token"),
        ),
        # A published value only counts whole, and as it is written.
        (own_secrets(metrics={"token": "dev-api-token-2"}), ()),
        (own_secrets(metrics={"token": "DEV-API-TOKEN"}), ()),
    ],
)
def test_a_literal_copy_of_a_published_token_counts(
    raw: dict[str, Any], keys: tuple[str, ...]
) -> None:
    assert published_secrets_in_use(configuration.parse(raw, env={})) == keys


def test_a_development_default_counts_whatever_its_value() -> None:
    raw = own_secrets(metrics={"token": "${METRICS_TOKEN:-scrape-me}"})
    assert published_secrets_in_use(configuration.parse(raw, env={})) == ("metrics.token",)


def test_published_secrets_name_every_development_token_the_repository_publishes() -> None:
    written = {
        token
        for name in PUBLISHING_FILES
        for token in re.findall(r"dev-[a-z]+-token", (ROOT / name).read_text(encoding="utf-8"))
    }
    assert written == PUBLISHED_SECRETS


def test_the_help_looks_for_the_configuration_where_it_is_loaded_from() -> None:
    """The service commands' parser spells these out, so as not to import the loader."""
    assert (service.CONFIG_VARIABLE, service.CONFIG_FILES) == (
        configuration.CONFIG_VARIABLE,
        configuration.CONFIG_FILES,
    )
