"""The ``registries:`` section: how to reach each registry's HTTP API (TLS, credentials) and the
other names it goes by."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from deployers.docker_engine import RegistryLogin
from receiver.config.reader import Reader
from receiver.secret import Secret


@dataclass(frozen=True, slots=True, kw_only=True)
class HarborAccess:
    """Where a Harbor registry's API answers (its scan results), and the robot account that
    reads them."""

    url: str
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryConfig:
    """How to reach a registry's HTTP API (for the reconciler and digest checks)."""

    host: str
    aliases: tuple[str, ...] = ()
    insecure: bool = False
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None
    harbor: HarborAccess | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the registry goes by: its host, then its aliases."""
        return (self.host, *self.aliases)


def read_registries(r: Reader, value: object) -> tuple[RegistryConfig, ...]:
    registries: list[RegistryConfig] = []
    for i, m in enumerate(r.items(value, "registries")):
        path = f"registries[{i}]"
        r.unknown(
            m,
            path,
            {"host", "aliases", "insecure", "username", "password", "password_file", "ca_file",
             "harbor"},
        )  # fmt: skip
        aliases = m.get("aliases") or []
        if not isinstance(aliases, list):
            r.problems.append(f"{path}.aliases: expected a list of host names")
            aliases = []
        ca_file = r.text(m, "ca_file", path, "") or None
        registries.append(
            RegistryConfig(
                host=r.text(m, "host", path).lower(),
                aliases=tuple(str(a).lower() for a in aliases),
                insecure=r.boolean(m, "insecure", path, False),
                username=r.text(m, "username", path, "") or None,
                password=r.secret(m, "password", path, required=False),
                ca_file=Path(ca_file) if ca_file else None,
                harbor=_harbor(r, m.get("harbor"), f"{path}.harbor"),
            )
        )
    return tuple(registries)


def _harbor(r: Reader, value: object, path: str) -> HarborAccess | None:
    """``harbor: {url, username, password | password_file, ca_file}``."""
    if value is None:
        return None
    m = r.mapping(value, path)
    r.unknown(m, path, {"url", "username", "password", "password_file", "ca_file"})
    url = r.text(m, "url", path).rstrip("/")
    if url and not url.startswith(("https://", "http://")):
        r.problems.append(f"{path}.url: expected https://host, got {url!r}")
    ca_file = r.text(m, "ca_file", path, "") or None
    return HarborAccess(
        url=url,
        username=r.text(m, "username", path, "") or None,
        password=r.secret(m, "password", path, required=False),
        ca_file=Path(ca_file) if ca_file else None,
    )


def logins(registries: tuple[RegistryConfig, ...]) -> dict[str, RegistryLogin]:
    """Each registry's credentials under every name it is known by."""
    logins = {}
    for registry in registries:
        if registry.username and registry.password:
            login = RegistryLogin(username=registry.username, password=registry.password.reveal())
            for host in registry.names:
                logins[host] = login
    return logins
