"""Several regdeploy processes on one PostgreSQL, as an operator runs them, for tests that kill,
stop and restart them.

Each member is ``regdeploy serve`` (on a port of its own) or ``regdeploy worker``, started from
one configuration file. A member's stdout and stderr (JSON log lines) go to a log file of its
own, kept across restarts. Nothing here proves anything: the tests read what happened from the
database and the fakes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
import yaml

from tests.support.components import free_port
from tests.support.nomad_fake import FakeNomad
from tests.support.polling import until
from tests.support.settings import API_TOKEN, HARBOR_TOKEN, REGISTRY_TOKEN, UNLIMITED

ROOT = Path(__file__).resolve().parents[2]
# What a member must not inherit from the test's environment.
_NOT_INHERITED = ("DATABASE_URL", "NOMAD_", "REGDEPLOY_")
# What a worker process logs once it decides events and starts deploys.
WORKER_LOOPS = {"decider_started", "launcher_started"}


def cluster_config(
    *,
    db_uri: str,
    registry: str,
    repositories: list[dict[str, Any]],
    nomad_address: str | None = None,
    registries: list[dict[str, Any]] | None = None,
    worker: dict[str, Any] | None = None,
    reconciler_seconds: float = 0,
) -> dict[str, Any]:
    """A configuration for every member: Distribution (``registry``) and Harbor (``harbor``)
    sources speaking for ``registry``. Without ``registries`` naming it, that registry stands
    for none that runs, so its digests are not confirmed (the operator's explicit choice)."""
    confirm = registries is not None and any(r["host"] == registry for r in registries)
    sources: list[dict[str, Any]] = []
    for name, fmt, token in (
        ("registry", "distribution", REGISTRY_TOKEN),
        ("harbor", "harbor", HARBOR_TOKEN),
    ):
        source = {"name": name, "format": fmt, "token": token, "registry": registry}
        sources.append(source if confirm else {**source, "confirm_digests": False})
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 8080},
        "database": {"url": db_uri, "pool_size": 4, "startup_wait_seconds": 20},
        "sources": sources,
        "api": {"tokens": [{"name": "admin", "token": API_TOKEN, "scope": "write"}]},
        "repositories": repositories,
        "registries": registries or [],
        "worker": {"poll_interval_seconds": 0.5, **(worker or {})},
        "reconciler": {"interval_seconds": reconciler_seconds},
        # The senders are registries as busy as an operator raises the rates for; the rates
        # themselves are tested where a test sets them (test_hostile_source).
        "rates": UNLIMITED,
    }
    if nomad_address is not None:
        config["nomad"] = {"address": nomad_address, "poll_seconds": 0.2, "timeout_seconds": 5}
    return config


@dataclass
class Member:
    """One regdeploy process (``serve`` with its port, or ``worker``), across its restarts."""

    name: str
    command: str
    port: int | None
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    offset: int = 0  # where the log of its current run begins

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, *, current: bool = False) -> list[dict[str, Any]]:
        """Every JSON line it logged so far, across its restarts (``current``: in this run)."""
        with self.log_path.open("rb") as file:
            file.seek(self.offset if current else 0)
            lines = file.read().decode(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


class Cluster:
    """``serve`` replicas and ``worker`` processes sharing one configuration file."""

    def __init__(self, workdir: Path, config: dict[str, Any], *, serve: int, workers: int) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "regdeploy.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.members = [
            Member(f"serve-{i}", "serve", free_port(), workdir / f"serve-{i}.log")
            for i in range(serve)
        ] + [
            Member(f"worker-{i}", "worker", None, workdir / f"worker-{i}.log")
            for i in range(workers)
        ]
        self._logs: list[IO[bytes]] = []

    @property
    def bases(self) -> list[str]:
        """The base URLs of the ``serve`` replicas."""
        return [m.base for m in self.members if m.command == "serve"]

    def member(self, pid: int) -> Member | None:
        """The member running as process ``pid`` now, if any."""
        running = (m for m in self.members if m.proc is not None and m.proc.poll() is None)
        return next((m for m in running if m.proc is not None and m.proc.pid == pid), None)

    def start(self, member: Member | None = None) -> None:
        """Start ``member`` (every member when None)."""
        for m in [member] if member is not None else self.members:
            log = m.log_path.open("ab")
            self._logs.append(log)
            m.offset = log.tell()
            port = ["--port", str(m.port)] if m.port is not None else []
            m.proc = subprocess.Popen(
                [sys.executable, "-m", "receiver", m.command, "-c", str(self.config_path), *port],
                cwd=ROOT,
                env=_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            m.starts += 1

    async def ready(self, seconds: float = 60) -> None:
        """Until every ``serve`` answers ``/ping`` and every worker has started its loops."""
        waiting: list[str] = []
        async with aiohttp.ClientSession(trust_env=False) as session:

            async def all_ready() -> bool:
                waiting.clear()
                for m in self.members:
                    if await _is_ready(session, m):
                        continue
                    if m.proc is not None and m.proc.poll() is not None:
                        pytest.fail(f"{m.name} exited with {m.proc.returncode}: {m.log()[-5:]}")
                    waiting.append(m.name)
                return not waiting

            await until(
                "every member ready", all_ready, seconds=seconds, explain=lambda: f"not: {waiting}"
            )

    def kill(self, member: Member) -> None:
        """SIGKILL ``member`` and reap it."""
        assert member.proc is not None
        member.proc.send_signal(signal.SIGKILL)
        member.proc.wait(timeout=10)

    def stop(self) -> None:
        """End every member still running: SIGCONT (it may be stopped), SIGTERM, then SIGKILL
        after 30 s."""
        running = [m.proc for m in self.members if m.proc is not None and m.proc.poll() is None]
        for proc in running:
            proc.send_signal(signal.SIGCONT)
            proc.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self._logs:
            log.close()


async def _is_ready(session: aiohttp.ClientSession, member: Member) -> bool:
    if member.command != "serve":
        started = {line.get("event") for line in member.log(current=True)}
        return started >= WORKER_LOOPS
    try:
        async with session.get(f"{member.base}/ping", timeout=aiohttp.ClientTimeout(2)) as res:
            return res.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}


# The fixtures of tests/chaos/conftest.py, as the tests see them.
ServeNomad = Callable[[FakeNomad], Awaitable[str]]
StartCluster = Callable[..., "Cluster"]
