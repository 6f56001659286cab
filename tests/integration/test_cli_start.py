"""What an operator meets when ``regdeploy serve`` or ``regdeploy worker`` cannot start, run as a
user runs them: one line saying what and what to do, a non-zero status, never a traceback.

A port another program holds (exit 2) is found before anything starts: no database is opened,
no worker runs, nothing is logged but that line. A configuration file that cannot be read (exit
2), a data directory that cannot be made (exit 1) and a database still unreachable after
``database.startup_wait_seconds`` (exit 1, the log line ``regdeploy_failed``) are one line each.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.components import free_port
from tests.support.example_service import (
    EXAMPLE,
    ROOT,
    START_SECONDS,
    STOP_SECONDS,
    Answer,
    clean_env,
    cli,
    http,
)
from tests.support.polling import until_sync

BUSY = "another regdeploy, or another program, listens there already; stop it, or"


@pytest.fixture
def listener() -> Iterator[int]:
    """A port another program listens on."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock.getsockname()[1]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr
    assert "uncaught_exception" not in result.stdout


@pytest.fixture
def first(tmp_path: Path, db_uri: str) -> Iterator[int]:
    """A regdeploy serving the example on a free port; that port."""
    port = free_port()
    env = clean_env(REGDEPLOY_PORT=str(port), DATABASE_URL=db_uri)
    with (tmp_path / "first.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve", "--config", EXAMPLE],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def pinged() -> Answer:
                if process.poll() is not None:
                    pytest.fail(f"the first regdeploy exited with {process.returncode}")
                return http("GET", f"http://127.0.0.1:{port}/ping")

            until_sync(
                "the first regdeploy answers /ping",
                pinged,
                seconds=START_SECONDS,
                explain=lambda: (tmp_path / "first.log").read_text(),
                ignoring=(urllib.error.URLError, ConnectionError, TimeoutError),
            )
            yield port
        finally:
            process.terminate()
            process.wait(timeout=STOP_SECONDS)


@pytest.mark.pg
def test_a_second_serve_on_a_busy_port_is_one_line_and_starts_nothing(
    first: int, tmp_path: Path, db_uri: str
) -> None:
    env = clean_env(REGDEPLOY_PORT=str(first), DATABASE_URL=db_uri)

    result = cli("serve", "--config", EXAMPLE, env=env)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"regdeploy serve: cannot listen on 127.0.0.1:{first}: {BUSY} choose another port "
        f"with --port or server.port ({EXAMPLE})\n"
    )
    assert http("GET", f"http://127.0.0.1:{first}/ping").status == 200


def test_serve_on_a_port_another_program_holds_opens_no_database(
    listener: int, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = clean_env(REGDEPLOY_DATA_DIR=str(data_dir))

    result = cli("serve", "--config", EXAMPLE, "--port", str(listener), env=env)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"regdeploy serve: cannot listen on 127.0.0.1:{listener}: {BUSY} choose another port "
        f"with --port or server.port ({EXAMPLE})"
    ]
    assert result.stdout == ""
    assert not data_dir.exists(), "it started the embedded PostgreSQL"


def test_a_worker_whose_metrics_port_is_busy_is_one_line_and_starts_nothing(
    listener: int, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    env = clean_env(REGDEPLOY_DATA_DIR=str(data_dir))

    result = cli("worker", "--config", EXAMPLE, "--metrics-port", str(listener), env=env)

    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"regdeploy worker: cannot listen on 127.0.0.1:{listener}: {BUSY} choose another port "
        "with --metrics-port\n"
    )
    assert not data_dir.exists(), "it started the embedded PostgreSQL"


def test_an_address_that_is_not_this_machines_names_the_host_option(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: documentation only, never an address of this machine.
    env = clean_env(REGDEPLOY_DATA_DIR=str(tmp_path / "data"))
    result = cli(
        "serve", "--config", EXAMPLE, "--host", "192.0.2.1", "--allow-example-secrets", env=env
    )
    assert result.returncode == 2
    assert result.stderr == (
        "regdeploy serve: cannot listen on 192.0.2.1:8080: cannot assign requested address; "
        f"choose another address with --host or server.host ({EXAMPLE})\n"
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_database_unreachable_at_start_is_one_line(command: str, tmp_path: Path) -> None:
    config = {
        "server": {"host": "127.0.0.1", "port": free_port()},
        # Nothing listens there; the password is never shown.
        "database": {
            "url": f"postgresql://regdeploy:s3cret@127.0.0.1:{free_port()}/regdeploy",
            "startup_wait_seconds": 1,
        },
        "sources": [{"name": "registry", "format": "distribution", "token": "source-token-0123"}],
        "api": {"tokens": [{"name": "admin", "token": "api-token-0123456", "scope": "read"}]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    result = cli(command, "--config", str(path))

    assert result.returncode == 1, result.stdout + result.stderr
    assert_no_traceback(result)
    assert result.stderr == ""
    last = json_lines(result.stdout)[-1]
    assert (last["event"], last["level"]) == ("regdeploy_failed", "error")
    assert last["error"].startswith("database unavailable")
    assert "s3cret" not in result.stdout


@pytest.mark.parametrize("command", ["serve", "worker", "check-config", "db"])
def test_a_config_file_that_cannot_be_read_is_one_line(command: str, tmp_path: Path) -> None:
    extra = ["status"] if command == "db" else []

    result = cli(command, *extra, "--config", str(tmp_path))

    assert result.returncode == 2
    assert_no_traceback(result)
    assert result.stderr == f"{tmp_path}: cannot read the file: Is a directory\n"


def test_no_config_file_at_all_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "serve"],
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert_no_traceback(result)
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("no configuration file: --config is not given")


def test_a_data_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    env = clean_env(REGDEPLOY_PORT=str(free_port()), REGDEPLOY_DATA_DIR=str(blocker / "data"))

    result = cli("serve", "--config", EXAMPLE, env=env)

    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stderr == f"regdeploy serve: {blocker / 'data'}: Not a directory\n"
