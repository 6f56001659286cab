"""The configuration of the app under test, and the tokens it accepts."""

from __future__ import annotations

from typing import Any

from receiver.config import loading as configuration
from receiver.config.loading import Config

REGISTRY_TOKEN = "registry-secret-token-0123"
#: ``rates:`` that no test reaches.
UNLIMITED = {
    "per_source": {"requests_per_second": 1_000_000, "bytes_per_second": "100GB"},
    "failed_auth_per_address": {"per_minute": 1_000_000},
}
HARBOR_TOKEN = "harbor-secret-token-4567"
API_TOKEN = "api-secret-token-89ab"
READ_TOKEN = "api-read-token-cdef"


def make_config(
    db_uri: str, *, registry: str | None = None, confirm_digests: bool = True, **overrides: Any
) -> Config:
    """A valid configuration on ``db_uri``; ``registry`` names the registry source's registry,
    ``confirm_digests`` false deploys its images without asking it (for a registry name that
    stands for no running registry)."""
    raw = config_document(db_uri, registry=registry, confirm_digests=confirm_digests, **overrides)
    return configuration.parse(raw, env={})


def config_document(
    db_uri: str, *, registry: str | None = None, confirm_digests: bool = True, **overrides: Any
) -> dict[str, Any]:
    """What ``make_config`` parses, as a configuration file holds it."""
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080, "max_body_bytes": 1024 * 1024},
        "database": {"url": db_uri, "startup_wait_seconds": 5, "timeout_seconds": 5},
        "sources": [
            {
                "name": "registry",
                "format": "distribution",
                "token": REGISTRY_TOKEN,
                **({"registry": registry} if registry else {}),
                **({} if confirm_digests else {"confirm_digests": False}),
            },
            {"name": "harbor", "format": "harbor", "token": HARBOR_TOKEN},
        ],
        "api": {
            "tokens": [
                {"name": "admin", "token": API_TOKEN, "scope": "write"},
                {"name": "viewer", "token": READ_TOKEN, "scope": "read"},
            ]
        },
    }
    # The worker runs only where a test asks for it, so receiving tests see events as stored.
    raw["worker"] = {"enabled": False}
    raw["reconciler"] = {"interval_seconds": 0}
    # Tests send thousands of requests, wrong tokens among them, from one address: the rates
    # are tested where a test sets them (tests/integration/test_rates.py).
    raw["rates"] = UNLIMITED
    for key, value in overrides.items():
        raw[key] = value
    return raw


def api_headers(token: str = API_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
