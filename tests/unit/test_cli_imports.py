"""``regdeploy`` answers a person fast: ``--version`` and the client commands do not import the
server (the web app, the store, the console, the deployers, the logging set-up), which made every
command take a second. Each case runs in a fresh interpreter, as the command does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.components import free_port
from tests.support.service_process import ROOT

# Modules of the server, and the libraries only the server needs.
SERVER = (
    "aiohttp",
    "receiver.app",
    "receiver.runtime",
    "receiver.store",
    "receiver.console",
    "receiver.config.loading",
    "receiver.cli.running",
    "deployers",
    "notifiers",
    "jinja2",
    "psycopg2",
    "aiopg",
    "docker",
    "nomad",
    "structlog",
    "yaml",
)
SCRIPT = """
import json, sys
from receiver.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def modules_imported_by(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["--help"],
        ["serve", "--help"],
        ["status", "--url", "http://127.0.0.1:{port}"],
        ["repos", "--json", "--url", "http://127.0.0.1:{port}"],
        ["reload", "--url", "http://127.0.0.1:{port}"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_the_command_leaves_the_server_unimported(args: list[str]) -> None:
    # No regdeploy answers at that port: the client command runs its whole way, to exit 3.
    port = str(free_port())
    imported = modules_imported_by(*(arg.format(port=port) for arg in args))
    server = sorted(
        name for name in imported for top in SERVER if name == top or name.startswith(f"{top}.")
    )
    assert server == []


def test_a_service_command_imports_what_runs_it() -> None:
    assert "receiver.cli.running" in modules_imported_by("check-config", "config.example.yaml")
