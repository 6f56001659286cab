"""The commands that run regdeploy itself, on this machine: ``serve``, ``worker``,
``check-config``, ``notify-test`` and ``db``: their options.

What they do is ``receiver.cli.running``, which imports the server (the web app, the store, the
console, the deployers): this module imports none of it, so that ``regdeploy --version`` and the
client commands start without it; ``running`` is imported when one of these commands runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Run = Callable[[argparse.Namespace], int]
# ``regdeploy db status`` exits with pg_ctl's (and LSB's) status for a server that is not running.
NOT_RUNNING = 3
ALLOW_FLAG = "--allow-example-secrets"
# Where the configuration is looked for (``receiver.config.loading``, which imports too much to
# be imported for a help text: tests/unit/test_cli_service.py holds the two together).
CONFIG_VARIABLE = "REGDEPLOY_CONFIG"
CONFIG_FILES = ("config.yaml", "config.example.yaml")


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
    serve.set_defaults(run=_running("serve"))

    worker = commands.add_parser(
        "worker", help="decide and deploy without serving HTTP (beside `serve` processes)"
    )
    _config_option(worker)
    worker.add_argument("--metrics-port", type=int, help="serve /metrics on this port")
    worker.add_argument(
        "--metrics-host", default="127.0.0.1", help="the address /metrics listens on"
    )
    worker.set_defaults(run=_running("worker"))

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", nargs="?", default=None, help="the file (default: --config)")
    _config_option(check)
    check.set_defaults(run=_running("check-config"))

    notify = commands.add_parser("notify-test", help="send a sample notice through a notifier")
    notify.add_argument("name", help="the notifier's name in the configuration")
    _config_option(notify)
    notify.set_defaults(run=_running("notify-test"))

    db = commands.add_parser("db", help="control the embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "restart", "status", "url"])
    _config_option(db)
    db.set_defaults(run=_running("db"))


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default=None,
        metavar="FILE",
        help=f"configuration file (default: ${CONFIG_VARIABLE}, else the first of "
        f"{', '.join(CONFIG_FILES)} in this directory)",
    )


def _running(command: str) -> Run:
    """What runs ``command``: ``receiver.cli.running``, imported then."""

    def run(args: argparse.Namespace) -> int:
        from receiver.cli import running  # the server: only a service command needs it

        return running.run(command, args)

    return run
