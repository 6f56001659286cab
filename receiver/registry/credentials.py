"""How to reach each configured registry (TLS, credentials), under every name it goes by."""

from __future__ import annotations

from receiver.config.loading import Config
from receiver.registry.client import RegistryAuth


def registry_auth(config: Config) -> dict[str, RegistryAuth]:
    """How to reach each configured registry, under every name it is known by."""
    table: dict[str, RegistryAuth] = {}
    for registry in config.registries:
        auth = RegistryAuth(
            username=registry.username,
            password=registry.password,
            insecure=registry.insecure,
            ca_file=registry.ca_file,
        )
        for host in registry.names:
            table[host] = auth
    return table
