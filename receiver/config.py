"""The configuration file, read and validated once into frozen records.

Every problem is reported with its key path (``sources[1].token: missing``) so that
``regdeploy check-config`` can list them all at once.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deployers.docker_engine import DockerSettings, RegistryLogin
from deployers.nomad import NomadSettings
from handlers.errors import ConfigError
from handlers.formats import PARSERS
from handlers.references import Aliases
from receiver.config_docker import read_docker
from receiver.config_notifiers import (
    NotifierConfig,
    OutboxConfig,
    read_notifiers,
    read_outbox,
)
from receiver.config_reader import Reader
from receiver.interpolation import Interpolation, interpolate
from receiver.secrets import Secret
from receiver.watchlist import WatchedRepository, read_repositories

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_TOP_LEVEL = {
    "server",
    "database",
    "sources",
    "api",
    "repositories",
    "registries",
    "worker",
    "reconciler",
    "dry_run",
    "nomad",
    "deployers",
    "notifiers",
    "notices",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Scope(enum.StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseConfig:
    """``url`` selects an external PostgreSQL; without it an embedded one runs in ``data_dir``."""

    url: Secret | None = None
    data_dir: Path = Path(".regdeploy")
    pool_size: int = 10
    timeout_seconds: float = 5.0
    startup_wait_seconds: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """A registry allowed to post notifications to ``/webhooks/{name}``."""

    name: str
    format: str
    token: Secret
    registry: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    name: str
    token: Secret
    scope: Scope = Scope.READ


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    """The background worker that decides and deploys."""

    enabled: bool = True
    poll_interval_seconds: float = 5.0
    stall_timeout_seconds: float = 60.0
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    deploy_timeout_seconds: float = 900.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryConfig:
    """How to reach a registry's HTTP API (for the reconciler and digest checks)."""

    host: str
    aliases: tuple[str, ...] = ()
    insecure: bool = False
    username: str | None = None
    password: Secret | None = None
    ca_file: Path | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the registry goes by: its host, then its aliases."""
        return (self.host, *self.aliases)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    server: ServerConfig
    database: DatabaseConfig
    sources: tuple[Source, ...]
    api_tokens: tuple[ApiToken, ...]
    repositories: tuple[WatchedRepository, ...] = ()
    registries: tuple[RegistryConfig, ...] = ()
    worker: WorkerConfig = WorkerConfig()
    # Seconds between two polls of the watched repositories; 0 turns the reconciler off.
    reconcile_interval_seconds: float = 300.0
    # Record every decision, call no deployer.
    dry_run: bool = False
    nomad: NomadSettings | None = None
    docker: DockerSettings | None = None
    notifiers: tuple[NotifierConfig, ...] = ()
    outbox: OutboxConfig = field(default_factory=OutboxConfig)

    def notifier(self, name: str) -> NotifierConfig | None:
        return next((n for n in self.notifiers if n.name == name), None)

    # Key paths of secrets that still hold the development default written in the file.
    development_secrets: tuple[str, ...] = ()
    # Every name of each configured registry -> its canonical host (derived from registries).
    aliases: Aliases = field(default_factory=lambda: Aliases({}))

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    def registry(self, host: str) -> RegistryConfig | None:
        canonical = self.aliases.canonical(host)
        return next((r for r in self.registries if r.host == canonical), None)


def load(path: Path | str, *, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path``; raise ConfigError listing every problem found."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text: {exc}"], path=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], path=str(path)) from exc
    return parse(raw, env=os.environ if env is None else env, path=str(path))


def parse(raw: object, *, env: Mapping[str, str], path: str = "<config>") -> Config:
    """Validate an already loaded YAML document."""
    substituted = Interpolation()
    tree = interpolate(raw if raw is not None else {}, env, substituted)
    reader = Reader(substituted.problems)
    root = reader.mapping(tree, "")
    registries = _registries(reader, root.get("registries"))
    config = Config(
        server=_server(reader, reader.mapping(root.get("server", {}), "server")),
        database=_database(reader, reader.mapping(root.get("database", {}), "database"), env),
        sources=_sources(reader, root.get("sources")),
        api_tokens=_api_tokens(reader, reader.mapping(root.get("api", {}), "api")),
        repositories=read_repositories(reader, root.get("repositories")),
        registries=registries,
        aliases=Aliases.from_groups((r.host, r.aliases) for r in registries),
        worker=_worker(reader, reader.mapping(root.get("worker", {}), "worker")),
        reconcile_interval_seconds=_reconcile_interval(reader, root),
        dry_run=reader.boolean(root, "dry_run", "", False),
        nomad=_nomad(reader, root, env),
        docker=read_docker(reader, root.get("deployers"), env=env, logins=_logins(registries)),
        notifiers=read_notifiers(reader, root.get("notifiers")),
        outbox=read_outbox(reader, root.get("notices")),
        development_secrets=tuple(
            sorted(p for p in substituted.defaulted if p.endswith(("token", "url")))
        ),
    )
    _check_notify_names(reader, config)
    reader.unknown(root, "", _TOP_LEVEL)
    if reader.problems:
        raise ConfigError(reader.problems, path=path)
    return config


def _server(r: Reader, m: dict[str, object]) -> ServerConfig:
    r.unknown(m, "server", {"host", "port", "max_body_bytes"})
    port = r.integer(m, "port", "server", 8080)
    if not 0 < port < 65536:
        r.problems.append(f"server.port: expected 1-65535, got {port}")
    return ServerConfig(
        host=r.text(m, "host", "server", "127.0.0.1"),
        port=port,
        max_body_bytes=r.integer(m, "max_body_bytes", "server", DEFAULT_MAX_BODY_BYTES),
    )


def _database(r: Reader, m: dict[str, object], env: Mapping[str, str]) -> DatabaseConfig:
    r.unknown(
        m,
        "database",
        {"url", "url_file", "data_dir", "pool_size", "timeout_seconds", "startup_wait_seconds"},
    )
    url = r.secret(m, "url", "database", required=False)
    if url is None and env.get("DATABASE_URL"):
        url = Secret(env["DATABASE_URL"])
    return DatabaseConfig(
        url=url,
        data_dir=Path(r.text(m, "data_dir", "database", ".regdeploy")),
        pool_size=r.integer(m, "pool_size", "database", 10),
        timeout_seconds=r.number(m, "timeout_seconds", "database", 5.0),
        startup_wait_seconds=r.number(m, "startup_wait_seconds", "database", 30.0),
    )


def _sources(r: Reader, value: object) -> tuple[Source, ...]:
    if not isinstance(value, list) or not value:
        r.problems.append("sources: expected a list of at least one source")
        return ()
    sources: list[Source] = []
    names: set[str] = set()
    for i, item in enumerate(value):
        path = f"sources[{i}]"
        m = r.mapping(item, path)
        r.unknown(m, path, {"name", "format", "token", "token_file", "registry"})
        name = r.text(m, "name", path)
        if name and not _NAME.match(name):
            r.problems.append(f"{path}.name: use letters, digits, '.', '_' and '-' only")
        if name in names:
            r.problems.append(f"{path}.name: {name!r} is used by an earlier source")
        names.add(name)
        fmt = r.text(m, "format", path)
        if fmt and fmt not in PARSERS:
            r.problems.append(f"{path}.format: expected one of {', '.join(sorted(PARSERS))}")
        token = r.secret(m, "token", path, required=True)
        registry = r.text(m, "registry", path, "") or None
        if token is not None:
            sources.append(
                Source(name=name, format=fmt, token=token, registry=registry and registry.lower())
            )
    return tuple(sources)


def _api_tokens(r: Reader, m: dict[str, object]) -> tuple[ApiToken, ...]:
    r.unknown(m, "api", {"tokens"})
    value = m.get("tokens")
    if not isinstance(value, list) or not value:
        r.problems.append("api.tokens: expected a list of at least one token")
        return ()
    tokens: list[ApiToken] = []
    for i, item in enumerate(value):
        path = f"api.tokens[{i}]"
        t = r.mapping(item, path)
        r.unknown(t, path, {"name", "token", "token_file", "scope"})
        scope = r.text(t, "scope", path, Scope.READ.value)
        if scope not in {s.value for s in Scope}:
            r.problems.append(f"{path}.scope: expected read or write, got {scope!r}")
            scope = Scope.READ.value
        secret = r.secret(t, "token", path, required=True)
        if secret is not None:
            tokens.append(
                ApiToken(
                    name=r.text(t, "name", path, f"token{i}"), token=secret, scope=Scope(scope)
                )
            )
    return tuple(tokens)


def _worker(r: Reader, m: dict[str, object]) -> WorkerConfig:
    r.unknown(m, "worker", set(WorkerConfig.__dataclass_fields__))
    d = WorkerConfig()
    return WorkerConfig(
        enabled=r.boolean(m, "enabled", "worker", d.enabled),
        poll_interval_seconds=r.number(
            m, "poll_interval_seconds", "worker", d.poll_interval_seconds
        ),
        stall_timeout_seconds=r.number(
            m, "stall_timeout_seconds", "worker", d.stall_timeout_seconds
        ),
        max_attempts=r.integer(m, "max_attempts", "worker", d.max_attempts),
        retry_base_seconds=r.number(m, "retry_base_seconds", "worker", d.retry_base_seconds),
        retry_max_seconds=r.number(m, "retry_max_seconds", "worker", d.retry_max_seconds),
        deploy_timeout_seconds=r.number(
            m, "deploy_timeout_seconds", "worker", d.deploy_timeout_seconds
        ),
    )


def _registries(r: Reader, value: object) -> tuple[RegistryConfig, ...]:
    registries: list[RegistryConfig] = []
    for i, m in enumerate(r.items(value, "registries")):
        path = f"registries[{i}]"
        r.unknown(
            m,
            path,
            {"host", "aliases", "insecure", "username", "password", "password_file", "ca_file"},
        )
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
            )
        )
    return tuple(registries)


def _reconcile_interval(r: Reader, root: dict[str, object]) -> float:
    m = r.mapping(root.get("reconciler", {}), "reconciler")
    r.unknown(m, "reconciler", {"interval_seconds"})
    value = m.get("interval_seconds", 300.0)
    if value in (0, "0"):
        return 0.0
    return r.number(m, "interval_seconds", "reconciler", 300.0)


_NOMAD_KEYS = {
    "address",
    "token",
    "token_file",
    "region",
    "namespace",
    "ca_file",
    "client_cert",
    "client_key",
    "tls_verify",
    "timeout_seconds",
    "rollout_timeout_seconds",
    "poll_seconds",
    "vault_token",
    "vault_token_file",
    "consul_token",
    "consul_token_file",
    "opt_in_key",
    "policy_key",
    "notify_key",
}


def _nomad(r: Reader, root: dict[str, object], env: Mapping[str, str]) -> NomadSettings | None:
    """The ``nomad:`` section; absent means no Nomad deployer. NOMAD_ADDR, NOMAD_TOKEN,
    NOMAD_REGION and NOMAD_NAMESPACE fill what the section leaves out."""
    if "nomad" not in root:
        return None
    m = r.mapping({} if root["nomad"] is None else root["nomad"], "nomad")
    r.unknown(m, "nomad", _NOMAD_KEYS)
    d = NomadSettings()
    token = r.secret(m, "token", "nomad", required=False)

    def path(key: str) -> Path | None:
        text = r.text(m, key, "nomad", "")
        return Path(text) if text else None

    def secret(key: str) -> str | None:
        value = r.secret(m, key, "nomad", required=False)
        return value.reveal() if value else None

    return NomadSettings(
        address=r.text(m, "address", "nomad", env.get("NOMAD_ADDR") or d.address),
        token=token.reveal() if token else env.get("NOMAD_TOKEN") or None,
        region=r.text(m, "region", "nomad", env.get("NOMAD_REGION", "")) or None,
        namespace=r.text(m, "namespace", "nomad", env.get("NOMAD_NAMESPACE") or d.namespace),
        ca_file=path("ca_file"),
        client_cert=path("client_cert"),
        client_key=path("client_key"),
        tls_verify=r.boolean(m, "tls_verify", "nomad", True),
        timeout_seconds=r.number(m, "timeout_seconds", "nomad", d.timeout_seconds),
        rollout_timeout_seconds=r.number(
            m, "rollout_timeout_seconds", "nomad", d.rollout_timeout_seconds
        ),
        poll_seconds=r.number(m, "poll_seconds", "nomad", d.poll_seconds),
        vault_token=secret("vault_token"),
        consul_token=secret("consul_token"),
        opt_in_key=r.text(m, "opt_in_key", "nomad", d.opt_in_key),
        policy_key=r.text(m, "policy_key", "nomad", d.policy_key),
        notify_key=r.text(m, "notify_key", "nomad", d.notify_key),
    )


def _logins(registries: tuple[RegistryConfig, ...]) -> dict[str, RegistryLogin]:
    """Each registry's credentials under every name it is known by."""
    logins = {}
    for registry in registries:
        if registry.username and registry.password:
            login = RegistryLogin(username=registry.username, password=registry.password.reveal())
            for host in registry.names:
                logins[host] = login
    return logins


def _check_notify_names(r: Reader, config: Config) -> None:
    known = {n.name for n in config.notifiers}
    for i, repo in enumerate(config.repositories):
        for name in repo.notify:
            if name not in known:
                r.problems.append(f"repositories[{i}].notify: no notifier named {name!r}")
