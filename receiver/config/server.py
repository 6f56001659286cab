"""The sections that say how regdeploy itself runs: ``server``, ``database``, ``sources``,
``api``, ``metrics``, ``worker`` and ``reconciler``."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from handlers.events import RECONCILER
from handlers.formats import PARSERS
from receiver.config.reader import Reader
from receiver.secret import Secret

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SOURCE_KEYS = {"name", "format", "token", "token_file", "registry", "confirm_digests"}


class Scope(enum.StrEnum):
    """``read``: GET only; ``approve``: also approve or reject a waiting deploy; ``write``:
    everything."""

    READ = "read"
    APPROVE = "approve"
    WRITE = "write"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """``public_url``: where people reach this regdeploy (and its console), for the links in
    notices; by default its own address."""

    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    public_url: str = ""

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


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
    """A registry allowed to post notifications to ``/webhooks/{name}``.

    ``confirm_digests`` false: the operator chose to deploy what this source's ``registry``
    announces without asking the registry whether its tag really points at that digest (for a
    registry regdeploy cannot reach). Otherwise every deploy is confirmed first.
    """

    name: str
    format: str
    token: Secret
    registry: str | None = None
    confirm_digests: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiToken:
    name: str
    token: Secret
    scope: Scope = Scope.READ


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    """``GET /metrics`` is open unless ``token`` is set; then it needs ``Bearer TOKEN``."""

    token: Secret | None = None


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
    # The inventory of what runs where is listed again at least this often.
    inventory_refresh_seconds: float = 60.0


def read_server(r: Reader, m: dict[str, object]) -> ServerConfig:
    r.unknown(m, "server", {"host", "port", "max_body_bytes", "public_url"})
    port = r.integer(m, "port", "server", 8080)
    if not 0 < port < 65536:
        r.problems.append(f"server.port: expected 1-65535, got {port}")
    return ServerConfig(
        host=r.text(m, "host", "server", "127.0.0.1"),
        port=port,
        max_body_bytes=r.integer(m, "max_body_bytes", "server", DEFAULT_MAX_BODY_BYTES),
        public_url=r.text(m, "public_url", "server", ""),
    )


def read_database(r: Reader, m: dict[str, object], env: Mapping[str, str]) -> DatabaseConfig:
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


def read_sources(r: Reader, value: object) -> tuple[Source, ...]:
    if not isinstance(value, list) or not value:
        r.problems.append("sources: expected a list of at least one source")
        return ()
    sources: list[Source] = []
    names: set[str] = set()
    for i, item in enumerate(value):
        path = f"sources[{i}]"
        m = r.mapping(item, path)
        r.unknown(m, path, _SOURCE_KEYS)
        name = r.text(m, "name", path)
        if name and not _NAME.match(name):
            r.problems.append(f"{path}.name: use letters, digits, '.', '_' and '-' only")
        if name == RECONCILER:
            r.problems.append(f"{path}.name: {RECONCILER!r} names the reconciler's own events")
        if name in names:
            r.problems.append(f"{path}.name: {name!r} is used by an earlier source")
        names.add(name)
        fmt = r.text(m, "format", path)
        if fmt and fmt not in PARSERS:
            r.problems.append(f"{path}.format: expected one of {', '.join(sorted(PARSERS))}")
        token = r.secret(m, "token", path, required=True)
        registry = r.text(m, "registry", path, "") or None
        confirm = r.boolean(m, "confirm_digests", path, True)
        if not confirm and registry is None:
            r.problems.append(
                f"{path}.confirm_digests: false needs registry: the registry whose images are "
                "then deployed without asking it"
            )
        if token is not None:
            sources.append(
                Source(
                    name=name,
                    format=fmt,
                    token=token,
                    registry=registry and registry.lower(),
                    confirm_digests=confirm,
                )
            )
    return tuple(sources)


def read_api_tokens(r: Reader, m: dict[str, object]) -> tuple[ApiToken, ...]:
    r.unknown(m, "api", {"tokens"})
    value = m.get("tokens")
    if not isinstance(value, list) or not value:
        r.problems.append("api.tokens: expected a list of at least one token")
        return ()
    tokens: list[ApiToken] = []
    names: set[str] = set()
    for i, item in enumerate(value):
        path = f"api.tokens[{i}]"
        t = r.mapping(item, path)
        r.unknown(t, path, {"name", "token", "token_file", "scope"})
        scope = r.text(t, "scope", path, Scope.READ.value)
        if scope not in {s.value for s in Scope}:
            r.problems.append(f"{path}.scope: expected read, approve or write, got {scope!r}")
            scope = Scope.READ.value
        name = r.text(t, "name", path, f"token{i}")
        if name in names:  # the name is who approved, and the audit's actor
            r.problems.append(f"{path}.name: {name!r} is used by an earlier token")
        names.add(name)
        secret = r.secret(t, "token", path, required=True)
        if secret is not None:
            tokens.append(ApiToken(name=name, token=secret, scope=Scope(scope)))
    return tuple(tokens)


def read_metrics(r: Reader, m: dict[str, object]) -> MetricsConfig:
    r.unknown(m, "metrics", {"token", "token_file"})
    return MetricsConfig(token=r.secret(m, "token", "metrics", required=False))


def read_worker(r: Reader, m: dict[str, object]) -> WorkerConfig:
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
        inventory_refresh_seconds=r.number(
            m, "inventory_refresh_seconds", "worker", d.inventory_refresh_seconds
        ),
    )


def read_reconcile_interval(r: Reader, root: dict[str, object]) -> float:
    m = r.mapping(root.get("reconciler", {}), "reconciler")
    r.unknown(m, "reconciler", {"interval_seconds"})
    value = m.get("interval_seconds", 300.0)
    if value in (0, "0"):
        return 0.0
    return r.number(m, "interval_seconds", "reconciler", 300.0)
