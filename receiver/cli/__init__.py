"""The ``regdeploy`` command (also ``python -m receiver``).

It runs the service on this machine (``receiver.cli.service``)::

    regdeploy serve [--config FILE] [--host H] [--port P] [--allow-example-secrets]
    regdeploy worker [--config FILE]
    regdeploy check-config [FILE]
    regdeploy notify-test NAME [--config FILE]
    regdeploy db {start,stop,restart,status,url} [--config FILE]

and is a client of a running service's API (``receiver.cli.client``), at ``--url`` /
``$REGDEPLOY_URL`` with ``--token`` / ``$REGDEPLOY_TOKEN`` or a token file::

    regdeploy repos
    regdeploy pin REPO TAG [--force] | unpin REPO | auto-deploy REPO on|off
    regdeploy deploy REPO [TAG] [--force]
    regdeploy explain REPO [--target T]
    regdeploy deployments [--repo R] [--follow] | events | status
    regdeploy approve ID | reject ID | freeze [REPO] --reason WHY | unfreeze [REPO] | freezes

Every command takes ``--version``; every client command takes ``--json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from receiver import version
from receiver.cli import client, service


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regdeploy",
        description="Redeploy workloads from container-registry notifications, and ask a "
        "running regdeploy what it does.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    service.add_commands(commands)
    client.add_commands(commands)
    for each in (parser, *commands.choices.values()):
        each.add_argument("--version", action="version", version=f"regdeploy {version()}")
    return parser
