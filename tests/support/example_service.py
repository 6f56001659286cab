"""``regdeploy`` run as a user runs it: ``python -m receiver`` in a subprocess, and the example's
service (``config.example.yaml``, an embedded PostgreSQL in its own data directory) started as
``make run`` starts it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.components import free_port
from tests.support.fixture_files import FIXTURES, load_recorded
from tests.support.polling import until_sync

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
        process = self.process
        assert process is not None

        def pinged() -> Answer:
            if process.poll() is not None:
                pytest.fail(f"regdeploy serve exited with {process.returncode}:\n{self.log()}")
            return http("GET", f"{self.url}/ping")

        answer = until_sync(
            "regdeploy serve answers /ping",
            pinged,
            seconds=START_SECONDS,
            explain=lambda: f"its log:\n{self.log()}",
            ignoring=(urllib.error.URLError, ConnectionError, TimeoutError),
        )
        assert answer.status == 200
        assert answer.json() == {"message": "pong"}

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


@contextlib.contextmanager
def example_service(logs: Path) -> Iterator[Service]:
    """The example's service (not started yet), which runs its own embedded PostgreSQL: a test
    using it is marked ``pg`` by hand (no fixture of the session's PostgreSQL is in its
    closure). Its output goes to files in ``logs``."""
    # The embedded server's Unix socket lives in DATA_DIR/pgdata: keep that path short.
    data_dir = Path(tempfile.mkdtemp(prefix="rd-", dir="/tmp"))
    port = free_port()
    env = clean_env(REGDEPLOY_PORT=str(port), REGDEPLOY_DATA_DIR=str(data_dir))
    running = Service(env=env, data_dir=data_dir, logs=logs, port=port)
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
