"""The configuration file, read and validated once into frozen records.

Every problem is reported with its key path (``sources[1].token: missing``) so that
``regdeploy check-config`` can list them all at once.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from deployers.docker_engine import DockerSettings
from deployers.nomad import NomadSettings
from handlers.references import Aliases
from receiver.config.docker import LOCAL_SOCKET, read_docker
from receiver.config.interpolation import Interpolation, interpolate
from receiver.config.limits import Limits, Rates, Retention, read_limits, read_rates, read_retention
from receiver.config.nomad import read_nomad
from receiver.config.notifiers import (
    NotifierConfig,
    OutboxConfig,
    read_notifiers,
    read_outbox,
)
from receiver.config.reader import Reader, Switch
from receiver.config.registries import RegistryConfig, logins, read_registries
from receiver.config.repositories import (
    WatchedRepository,
    check_trust,
    read_defaults,
    read_repositories,
)
from receiver.config.server import (
    ApiToken,
    DatabaseConfig,
    MetricsConfig,
    ServerConfig,
    Source,
    WorkerConfig,
    read_api_tokens,
    read_database,
    read_metrics,
    read_reconcile_interval,
    read_server,
    read_sources,
    read_worker,
)
from receiver.config.trust import public_der
from receiver.decide.trust.policy import TrustPolicy
from receiver.errors import ConfigError
from receiver.secret import Secret

#: The variable naming the configuration file, and the files looked for without it.
CONFIG_VARIABLE = "REGDEPLOY_CONFIG"
CONFIG_FILES = ("config.yaml", "config.example.yaml")

_TOP_LEVEL = {
    "server",
    "database",
    "sources",
    "api",
    "metrics",
    "repositories",
    "registries",
    "worker",
    "reconciler",
    "dry_run",
    "nomad",
    "deployers",
    "notifiers",
    "notices",
    "limits",
    "retention",
    "rates",
    "defaults",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    server: ServerConfig
    database: DatabaseConfig
    sources: tuple[Source, ...]
    api_tokens: tuple[ApiToken, ...]
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    repositories: tuple[WatchedRepository, ...] = ()
    # What a deploy of an image of no watched repository is checked for (``defaults.trust``).
    default_trust: TrustPolicy = field(default_factory=TrustPolicy)
    registries: tuple[RegistryConfig, ...] = ()
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    # Seconds between two polls of the watched repositories; 0 turns the reconciler off.
    reconcile_interval_seconds: float = 300.0
    # Record every decision, call no deployer.
    dry_run: bool = False
    nomad: NomadSettings | None = None
    docker: DockerSettings | None = None
    # Whether each deployer family is on, and why (the section, the environment, a socket).
    nomad_switch: Switch = field(default_factory=lambda: Switch(on=False, why="not configured"))
    docker_switch: Switch = field(default_factory=lambda: Switch(on=False, why="not configured"))
    notifiers: tuple[NotifierConfig, ...] = ()
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    # What a notification may hold and how much of it is kept; how long rejected bodies are
    # kept; how fast sources may post and how often an address may fail to authenticate.
    limits: Limits = field(default_factory=Limits)
    retention: Retention = field(default_factory=Retention)
    rates: Rates = field(default_factory=Rates)
    # Key paths of secrets that still hold the development default written in the file.
    development_secrets: tuple[str, ...] = ()
    # Every name of each configured registry -> its canonical host (derived from registries).
    aliases: Aliases = field(default_factory=lambda: Aliases({}))
    # A digest of all of the above (``fingerprint_of``): equal where two processes run the same
    # configuration, whatever file and environment it came from.
    fingerprint: str = ""

    def switches(self) -> dict[str, Switch]:
        """Each deployer family (``docker``, ``nomad``) -> whether it is on, and why."""
        return {"docker": self.docker_switch, "nomad": self.nomad_switch}

    def notifier(self, name: str) -> NotifierConfig | None:
        return next((n for n in self.notifiers if n.name == name), None)

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    def registry(self, host: str) -> RegistryConfig | None:
        canonical = self.aliases.canonical(host)
        return next((r for r in self.registries if r.host == canonical), None)

    def confirms_digests(self, host: str) -> bool:
        """Whether a deploy of an image of registry ``host`` waits for the registry to confirm
        the digest; false only where a source says so for that registry."""
        canonical = self.aliases.canonical(host)
        return not any(
            not s.confirm_digests and self.aliases.canonical(s.registry or "") == canonical
            for s in self.sources
        )


def locate(given: str | None, *, env: Mapping[str, str], cwd: Path) -> Path:
    """The configuration file: ``given`` (``--config``), else ``$REGDEPLOY_CONFIG``, else
    ``config.yaml``, else ``config.example.yaml`` in ``cwd``. Raise ConfigError naming every
    place tried when none holds one."""
    if given:
        return Path(given)
    if env.get(CONFIG_VARIABLE):
        return Path(env[CONFIG_VARIABLE])
    for name in CONFIG_FILES:
        if (cwd / name).is_file():
            return cwd / name
    tried = ", ".join(str(cwd / name) for name in CONFIG_FILES)
    raise ConfigError(
        [
            f"no configuration file: --config is not given, ${CONFIG_VARIABLE} is unset, and "
            f"there is none of {tried}"
        ]
    )


def load(
    path: Path | str, *, env: Mapping[str, str] | None = None, local_socket: Path | None = None
) -> Config:
    """Read ``path``; raise ConfigError listing every problem found.

    ``env`` None reads this process's environment and looks for this machine's Docker socket;
    a given ``env`` stands for another machine, whose socket is ``local_socket`` (or none).
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"not UTF-8 text: {exc}"], path=str(path)) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {yaml_problem(exc)}"], path=str(path)) from exc
    if env is None:
        env, local_socket = os.environ, local_socket or LOCAL_SOCKET
    return parse(raw, env=env, path=str(path), local_socket=local_socket)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong with a file YAML cannot read, and where, without quoting the file: the
    line it shows may hold a secret, and a refused reload is shown to readers of ``status``."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return type(exc).__name__
    said = [
        f"{what} (line {mark.line + 1}, column {mark.column + 1})" if mark else what
        for what, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark))
        if what
    ]
    return ": ".join(said) or "unreadable"


def parse(
    raw: object,
    *,
    env: Mapping[str, str],
    path: str = "<config>",
    local_socket: Path | None = None,
) -> Config:
    """Validate an already loaded YAML document; ``local_socket``: the Docker socket whose
    existence turns the Docker deployers on (None: none is looked for)."""
    substituted = Interpolation()
    tree = interpolate(raw if raw is not None else {}, env, substituted)
    reader = Reader(substituted.problems)
    root = reader.mapping(tree, "")
    registries = read_registries(reader, root.get("registries"))
    defaults = read_defaults(reader, root.get("defaults"))
    nomad, nomad_switch = read_nomad(reader, root, env)
    docker, docker_switch = read_docker(
        reader, root.get("deployers"), env=env, logins=logins(registries), local_socket=local_socket
    )
    config = Config(
        server=read_server(reader, reader.mapping(root.get("server", {}), "server")),
        database=read_database(reader, reader.mapping(root.get("database", {}), "database"), env),
        sources=read_sources(reader, root.get("sources")),
        api_tokens=read_api_tokens(reader, reader.mapping(root.get("api", {}), "api")),
        metrics=read_metrics(reader, reader.mapping(root.get("metrics", {}), "metrics")),
        repositories=read_repositories(reader, root.get("repositories"), defaults=defaults),
        default_trust=defaults.trust or TrustPolicy(),
        registries=registries,
        aliases=Aliases.from_groups((r.host, r.aliases) for r in registries),
        worker=read_worker(reader, reader.mapping(root.get("worker", {}), "worker")),
        reconcile_interval_seconds=read_reconcile_interval(reader, root),
        dry_run=reader.boolean(root, "dry_run", "", False),
        nomad=nomad,
        nomad_switch=nomad_switch,
        docker=docker,
        docker_switch=docker_switch,
        notifiers=read_notifiers(reader, root.get("notifiers")),
        outbox=read_outbox(reader, root.get("notices")),
        limits=read_limits(reader, root.get("limits")),
        retention=read_retention(reader, root.get("retention")),
        rates=read_rates(reader, root.get("rates")),
        development_secrets=tuple(
            sorted(
                p
                for p in substituted.defaulted
                if p.endswith(("token", "url", "password", "secret"))
            )
        ),
    )
    _check_notify_names(reader, config)
    check_trust(reader, config.repositories, registries=registries, sources=config.sources,
                aliases=config.aliases)  # fmt: skip
    reader.unknown(root, "", _TOP_LEVEL)
    if reader.problems:
        raise ConfigError(reader.problems, path=path)
    return dataclasses.replace(config, fingerprint=fingerprint_of(config))


def fingerprint_of(config: Config) -> str:
    """16 hex digits of the SHA-256 of everything ``config`` holds, in an order and a form that
    do not depend on the process: ``regdeploy status`` compares them across processes. Secrets
    count (two processes whose tokens differ run different configurations) through a slow hash
    (``_secret_digest``), so that the fingerprint, shown in ``/metrics`` too, is no cheap test
    of a guessed secret."""
    whole = json.dumps(config, default=_plain, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(whole.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=64)
def _secret_digest(secret: str) -> str:
    """A secret's scrypt (2^14 rounds: some 50 ms here), the same in every process."""
    return hashlib.scrypt(
        secret.encode(), salt=b"regdeploy configuration fingerprint", n=2**14, r=8, p=1
    ).hex()


def _secret_text(value: object) -> object:
    """A secret field's value as ``_plain`` gives a ``Secret``'s."""
    return {"secret": _secret_digest(value)} if isinstance(value, str) else value


def _plain(value: object) -> object:
    """``value`` as JSON can hold it, for ``fingerprint_of``."""
    if isinstance(value, Secret):
        return {"secret": _secret_digest(value.reveal())}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [f for f in dataclasses.fields(value) if f.name != "fingerprint"]
        # A field kept out of its repr holds a secret (a Nomad token, a registry password).
        return {
            f.name: _secret_text(getattr(value, f.name)) if not f.repr else getattr(value, f.name)
            for f in fields
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if (der := public_der(value)) is not None:  # a key or a certificate: its fingerprint
        return {"sha256": hashlib.sha256(der).hexdigest()}
    if isinstance(source := getattr(value, "pattern", None), str):
        return {"pattern": source}
    said = str(value)
    if " at 0x" in said:  # a default repr: the same value would differ between processes
        raise TypeError(f"no stable form for {type(value).__name__} in a fingerprint")
    return said


def _check_notify_names(r: Reader, config: Config) -> None:
    known = {n.name for n in config.notifiers}
    for i, repo in enumerate(config.repositories):
        for name in repo.notify:
            if name not in known:
                r.problems.append(f"repositories[{i}].notify: no notifier named {name!r}")
