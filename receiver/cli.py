"""The ``regdeploy`` command (also ``python -m receiver``).

regdeploy serve [--config FILE] [--host H] [--port P]
regdeploy worker [--config FILE] [--metrics-port P] [--metrics-host H]
regdeploy check-config [FILE]
regdeploy db {start,stop,restart,status,url} [--config FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence

import aiohttp
import structlog
from aiohttp import web

from handlers.errors import ConfigError, NoticeFailed, RegdeployError
from notifiers.base import sample_notice
from receiver import logs
from receiver.app import init_app
from receiver.config import loading as configuration
from receiver.config.loading import Config
from receiver.config.notifiers import NotifierConfig
from receiver.http.metrics import metrics_app
from receiver.metrics import Metrics
from receiver.runtime import build_deployers, build_notifier, running_services
from receiver.store.embedded import embedded_server

DEFAULT_CONFIG = "config.yaml"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    try:
        code: int = args.run(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.path}: {problem}", file=sys.stderr)
        return 2
    except RegdeployError as exc:
        structlog.get_logger("regdeploy").error("regdeploy_failed", error=str(exc))
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regdeploy", description="Redeploy workloads from container-registry notifications."
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="receive notifications and serve the API")
    _config_option(serve)
    serve.add_argument("--host", help="listen address (default: server.host)")
    serve.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker", help="decide and deploy without serving HTTP (beside `serve` processes)"
    )
    _config_option(worker)
    worker.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address /metrics listens on"
    )
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", nargs="?", default=None, help="the file (default: --config)")
    _config_option(check)
    check.set_defaults(run=_check_config)

    notify = commands.add_parser("notify-test", help="send a sample notice through a notifier")
    notify.add_argument("name", help="the notifier's name in the configuration")
    _config_option(notify)
    notify.set_defaults(run=_notify_test)

    db = commands.add_parser("db", help="control the embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "restart", "status", "url"])
    _config_option(db)
    db.set_defaults(run=_db)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default=os.environ.get("REGDEPLOY_CONFIG", DEFAULT_CONFIG),
        help="configuration file (default: $REGDEPLOY_CONFIG or config.yaml)",
    )


def _serve(args: argparse.Namespace) -> int:
    config = configuration.load(args.config)
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
    config = configuration.load(args.config)
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
            runner = web.AppRunner(metrics_app(config, metrics=metrics, store=services.store))
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        structlog.get_logger("regdeploy").info("worker_process_started", metrics_port=port)
        try:
            await stop.wait()
        finally:
            if runner is not None:
                await runner.cleanup()


def _notify_test(args: argparse.Namespace) -> int:
    config = configuration.load(args.config)
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
    path = args.file or args.config
    configuration.load(path)
    print("ok")
    return 0


def _db(args: argparse.Namespace) -> int:
    config: Config = configuration.load(args.config)
    if config.database.url is not None:
        print(
            "database.url is set: regdeploy uses that server, not an embedded one", file=sys.stderr
        )
        return 2
    server = embedded_server(config.database)
    if args.action == "start":
        print(server.start(keep_running=True))
    elif args.action == "url":
        uri = server.uri()
        if uri is None:
            print(f"no server running in {server.pgdata}", file=sys.stderr)
            return 1
        print(uri)
    else:
        print(server.pg_ctl(args.action).strip())
    return 0
