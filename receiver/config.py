"""The configuration file, read and validated once into frozen records.

Every problem is reported with its key path (``sources[1].token: missing``) so that
``regdeploy check-config`` can list them all at once.
"""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from handlers.errors import ConfigError
from handlers.formats import PARSERS
from receiver.interpolation import Interpolation, interpolate
from receiver.secrets import Secret

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
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
class Config:
    server: ServerConfig
    database: DatabaseConfig
    sources: tuple[Source, ...]
    api_tokens: tuple[ApiToken, ...]
    # Key paths of secrets that still hold the development default written in the file.
    development_secrets: tuple[str, ...] = ()

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


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
    reader = _Reader(substituted.problems)
    root = reader.mapping(tree, "")
    config = Config(
        server=_server(reader, reader.mapping(root.get("server", {}), "server")),
        database=_database(reader, reader.mapping(root.get("database", {}), "database"), env),
        sources=_sources(reader, root.get("sources")),
        api_tokens=_api_tokens(reader, reader.mapping(root.get("api", {}), "api")),
        development_secrets=tuple(
            sorted(p for p in substituted.defaulted if p.endswith(("token", "url")))
        ),
    )
    reader.unknown(root, "", {"server", "database", "sources", "api"})
    if reader.problems:
        raise ConfigError(reader.problems, path=path)
    return config


class _Reader:
    """Reads typed values out of the YAML tree, collecting problems instead of stopping."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def mapping(self, value: object, path: str) -> dict[str, object]:
        if isinstance(value, dict):
            return value
        self.problems.append(f"{path or '<top>'}: expected a mapping")
        return {}

    def text(self, m: dict[str, object], key: str, path: str, default: str | None = None) -> str:
        value = m.get(key, default)
        if value is None or value == "":
            if default is None:
                self.problems.append(f"{_at(path, key)}: missing")
            return default or ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problems.append(f"{_at(path, key)}: expected a string")
            return default or ""
        return str(value)

    def number(self, m: dict[str, object], key: str, path: str, default: float) -> float:
        value = m.get(key, default)
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.problems.append(f"{_at(path, key)}: expected a number, got {value!r}")
            return default
        if not (number > 0 and math.isfinite(number)) or isinstance(value, bool):
            self.problems.append(f"{_at(path, key)}: expected a positive number, got {value!r}")
            return default
        return number

    def integer(self, m: dict[str, object], key: str, path: str, default: int) -> int:
        number = self.number(m, key, path, default)
        if number != int(number):
            self.problems.append(f"{_at(path, key)}: expected a whole number")
        return int(number)

    def secret(self, m: dict[str, object], key: str, path: str, *, required: bool) -> Secret | None:
        """``key`` inline, or ``key_file`` naming a file holding it (trailing newline dropped)."""
        inline, file_key = m.get(key), f"{key}_file"
        if inline not in (None, "") and m.get(file_key):
            self.problems.append(f"{_at(path, key)}: give either {key} or {file_key}, not both")
            return None
        if m.get(file_key):
            file_name = self.text(m, file_key, path)
            try:
                value = Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                self.problems.append(
                    f"{_at(path, file_key)}: cannot read {file_name}: {exc.strerror}"
                )
                return None
        else:
            value = "" if inline is None else str(inline)
        if not value:
            if required:
                self.problems.append(f"{_at(path, key)}: missing")
            return None
        return Secret(value)

    def unknown(self, m: dict[str, object], path: str, known: set[str]) -> None:
        for key in sorted(set(m) - known, key=str):
            self.problems.append(f"{_at(path, key)}: unknown key")


def _server(r: _Reader, m: dict[str, object]) -> ServerConfig:
    r.unknown(m, "server", {"host", "port", "max_body_bytes"})
    port = r.integer(m, "port", "server", 8080)
    if not 0 < port < 65536:
        r.problems.append(f"server.port: expected 1-65535, got {port}")
    return ServerConfig(
        host=r.text(m, "host", "server", "127.0.0.1"),
        port=port,
        max_body_bytes=r.integer(m, "max_body_bytes", "server", DEFAULT_MAX_BODY_BYTES),
    )


def _database(r: _Reader, m: dict[str, object], env: Mapping[str, str]) -> DatabaseConfig:
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


def _sources(r: _Reader, value: object) -> tuple[Source, ...]:
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


def _api_tokens(r: _Reader, m: dict[str, object]) -> tuple[ApiToken, ...]:
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


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
