"""The ``regdeploy`` command (also ``python -m receiver``).

It runs the service on this machine (``receiver.cli.service`` parses those commands,
``receiver.cli.running`` runs them)::

    regdeploy serve [--config FILE] [--host H] [--port P] [--allow-example-secrets]
    regdeploy worker [--config FILE]
    regdeploy check-config [FILE]
    regdeploy notify-test NAME [--config FILE]
    regdeploy db {start,stop,restart,status,url} [--config FILE]

and is a client of a running service's API (``receiver.cli.client``), at ``--url`` /
``$REGDEPLOY_URL`` / ``$REGDEPLOY_PORT`` with ``--token`` / ``$REGDEPLOY_TOKEN`` or a token
file::

    regdeploy repos
    regdeploy pin REPO TAG [--force] | unpin REPO | auto-deploy REPO on|off
    regdeploy deploy REPO [TAG] [--force]
    regdeploy explain REPO [--target T]
    regdeploy deployments [--repo R] [--follow] | events | status
    regdeploy reload
    regdeploy approve ID | reject ID | freeze [REPO] --reason WHY | unfreeze [REPO] | freezes
    regdeploy rollouts [--repository R] [--state S] | rollout ID [resume|abandon]
    regdeploy promote REPO STAGE [--digest D] [--force]

Every command takes ``--version``; every client command takes ``--json``.

Building the parser and running a client command import none of the server (the web app, the
store, the console, the deployers, the logging set-up): only ``running`` does, when a service
command runs, so that a person's command answers in a tenth of a second, not in one
(``tests/unit/test_cli_imports.py`` holds that; ``python -m bench cli`` measures it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from receiver import version
from receiver.cli import api, client, rollouts, service

_ENVIRONMENT = f"""\
environment:
  {api.URL_VARIABLE:<22}the running regdeploy the client commands call (or --url)
  {api.PORT_VARIABLE:<22}when that is unset, they call http://{api.LOCAL_HOST}:$REGDEPLOY_PORT
  {"":<22}(the port `make run` serves on; unset too: {api.DEFAULT_PORT})
  {api.TOKEN_VARIABLE:<22}their API token (or --token)
  {api.TOKEN_FILE_VARIABLE:<22}a file holding it (or --token-file; else ~/.config/regdeploy/token)
  {service.CONFIG_VARIABLE:<22}the configuration the service commands read (or --config)
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regdeploy",
        description="Redeploy workloads from container-registry notifications, and ask a\n"
        "running regdeploy what it does.",
        epilog=_ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    service.add_commands(commands)
    client.add_commands(commands)
    rollouts.add_commands(commands)
    for each in (parser, *commands.choices.values()):
        each.add_argument("--version", action=_Version)
    return parser


class _Version(argparse.Action):
    """``--version``, as argparse's own, but the version is looked up when it is asked for, not
    whenever the parser is built (``importlib.metadata`` is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the version and exit")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"regdeploy {version()}")
        parser.exit()
