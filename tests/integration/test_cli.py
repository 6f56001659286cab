"""The ``regdeploy`` command run as a user runs it: ``python -m receiver`` in a subprocess.

The service tests keep the promise of ``make run``: the example configuration, an embedded
PostgreSQL in the data directory, development secrets that are used but never logged.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.components import free_port
from tests.support.fixture_files import FIXTURES, load_recorded

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "config.example.yaml"
PUSH_03 = FIXTURES / "distribution" / "03-push-oci-manifest-push-manifest.json"
REGISTRY_AUTH = "Bearer dev-registry-token"
API_AUTH = "Bearer dev-api-token"
DEV_SECRETS = ("dev-registry-token", "dev-harbor-token", "dev-api-token")

START_SECONDS = 30.0
STOP_SECONDS = 15.0
CLI_SECONDS = 60.0


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would change the example's meaning."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name != "DATABASE_URL"
        and not name.startswith("REGDEPLOY_")
        and name not in {"LOG_FORMAT", "LOG_LEVEL"}
    }
    return {**env, **extra}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver", *args],
        cwd=ROOT,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=CLI_SECONDS,
        check=False,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Answer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(
                status=response.status, body=response.read(), headers=dict(response.headers)
            )
    except urllib.error.HTTPError as error:
        with error:
            return Answer(status=error.code, body=error.read(), headers=dict(error.headers))


@dataclass(slots=True, kw_only=True)
class Service:
    """``regdeploy serve --config config.example.yaml`` over one data directory.

    Every run appends to the same stdout/stderr files so a test can scan all it logged.
    """

    env: dict[str, str]
    data_dir: Path
    logs: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    _files: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def postmaster_pid(self) -> Path:
        return self.data_dir / "pgdata" / "postmaster.pid"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        stdout = (self.logs / "stdout").open("ab")
        stderr = (self.logs / "stderr").open("ab")
        self._files += [stdout, stderr]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve", "--config", EXAMPLE],
            cwd=ROOT,
            env=self.env,
            stdout=stdout,
            stderr=stderr,
        )
        self._wait_until_answering()

    def _wait_until_answering(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"regdeploy serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                answer = http("GET", f"{self.url}/ping")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
                continue
            assert answer.status == 200
            assert answer.json() == {"message": "pong"}
            return
        pytest.fail(f"regdeploy serve did not answer /ping within {START_SECONDS} s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, as a service manager would; return the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)
            pytest.fail(f"regdeploy serve ignored SIGTERM for {STOP_SECONDS} s:\n{self.log()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_SECONDS)
        for file in self._files:
            file.close()

    def stdout(self) -> str:
        return (self.logs / "stdout").read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return (self.logs / "stderr").read_text(encoding="utf-8", errors="replace")

    def log(self) -> str:
        return f"--- stdout\n{self.stdout()}--- stderr\n{self.stderr()}"

    def events(self) -> list[dict[str, Any]]:
        """The JSON log lines of stdout (every line must be one)."""
        return [json.loads(line) for line in self.stdout().splitlines() if line.strip()]

    def post_push(self) -> Answer:
        headers, body = load_recorded(PUSH_03)
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = REGISTRY_AUTH
        return http("POST", f"{self.url}/webhooks/registry", body=body, headers=headers)

    def db(self, action: str) -> subprocess.CompletedProcess[str]:
        return cli("db", action, "--config", EXAMPLE, env=self.env)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """The example's service, which runs its own embedded PostgreSQL: a test using it is marked
    ``pg`` by hand (no fixture of the session's PostgreSQL is in its closure)."""
    # The embedded server's Unix socket lives in DATA_DIR/pgdata: keep that path short.
    data_dir = Path(tempfile.mkdtemp(prefix="rd-", dir="/tmp"))
    port = free_port()
    env = clean_env(REGDEPLOY_PORT=str(port), REGDEPLOY_DATA_DIR=str(data_dir))
    running = Service(env=env, data_dir=data_dir, logs=tmp_path, port=port)
    try:
        yield running
    finally:
        running.kill()
        # A server started by ``regdeploy db start`` outlives the service by design.
        if running.postmaster_pid.exists():
            running.db("stop")
        leftover = running.postmaster_pid.exists()
        shutil.rmtree(data_dir, ignore_errors=True)
        assert not leftover, "the embedded PostgreSQL still runs after the test"


def assert_no_secret_logged(service: Service) -> None:
    for line in (service.stdout() + service.stderr()).splitlines():
        for secret in DEV_SECRETS:
            assert secret not in line


# --- check-config -----------------------------------------------------------------------------


def test_check_config_accepts_the_example() -> None:
    result = cli("check-config", EXAMPLE)
    assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")


def test_check_config_reads_the_config_option_when_no_file_is_given() -> None:
    result = cli("check-config", "--config", EXAMPLE)
    assert (result.returncode, result.stdout) == (0, "ok\n")


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
            "api.tokens[0].scope: expected read or write, got 'admin'",
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
