"""The processes a benchmark starts: regdeploy, the reference app, the Nomad fake.

Each runs from this checkout's interpreter with its output in a log file of the benchmark's
work directory, is waited for until it answers HTTP, and is stopped with SIGTERM (SIGKILL after
a grace period). A process that dies before it answers raises ``StartFailed`` with its log's tail.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
START_SECONDS = 60.0
STOP_SECONDS = 30.0


class StartFailed(RuntimeError):
    """A process did not come up."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get_json(url: str, *, timeout: float = 10.0) -> Any:
    with _OPENER.open(url, timeout=timeout) as response:
        return json.loads(response.read())


class Process:
    """A started process, its log, and where it answers."""

    def __init__(self, name: str, argv: list[str], *, log: Path, port: int) -> None:
        self.name = name
        self.port = port
        self.log = log
        self._log_file = log.open("ab")
        env = {**os.environ, "LOG_FORMAT": "json", "PYTHONPATH": str(ROOT)}
        for key in ("DATABASE_URL", "NOMAD_ADDR", "NOMAD_TOKEN", "REGDEPLOY_CONFIG"):
            env.pop(key, None)
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_up(self, path: str) -> Process:
        """This process once it answers ``path``; stopped if it does not, or if the wait is
        interrupted (the caller has nothing to stop yet)."""
        try:
            self._wait(path)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait(self, path: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                code = self.popen.returncode
                raise StartFailed(f"{self.name} exited with {code}:\n{self.tail()}")
            try:
                get_json(self.url + path, timeout=2)
                return
            except (OSError, ValueError):
                time.sleep(0.1)
        raise StartFailed(f"{self.name} did not answer {path} in {START_SECONDS} s:\n{self.tail()}")

    def rss_mb(self) -> float:
        """Resident memory now, in MB (MiB, as /proc counts it)."""
        return self._status_mb("VmRSS")

    def peak_rss_mb(self) -> float:
        """The most resident memory the process has had (its high-water mark)."""
        return self._status_mb("VmHWM")

    def _status_mb(self, key: str) -> float:
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
        raise StartFailed(f"{self.name}: no {key} in /proc/{self.popen.pid}/status")

    def tail(self, lines: int = 20) -> str:
        self._log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()


def _regdeploy_argv(command: str, config: Path) -> list[str]:
    script = Path(sys.executable).parent / "regdeploy"
    entry = [str(script)] if script.exists() else [sys.executable, "-m", "receiver"]
    return [*entry, command, "--config", str(config)]


def start_regdeploy(workdir: Path, config: dict[str, Any], *, name: str) -> Process:
    """``regdeploy serve`` with ``config`` (its ``server.port`` is where it answers)."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    port = int(config["server"]["port"])
    process = Process(name, _regdeploy_argv("serve", path), log=workdir / f"{name}.log", port=port)
    return process.wait_until_up("/ping")


def start_reference(workdir: Path, *, name: str = "reference") -> Process:
    port = free_port()
    argv = [sys.executable, "-m", "bench.reference", "--port", str(port)]
    return Process(name, argv, log=workdir / f"{name}.log", port=port).wait_until_up("/ping")


def start_nomad(workdir: Path, jobs: list[dict[str, Any]], *, name: str = "nomad") -> Process:
    """The Nomad fake with ``jobs`` (see ``bench.nomad_runner``)."""
    port = free_port()
    spec = workdir / f"{name}-jobs.json"
    spec.write_text(json.dumps(jobs))
    argv = [sys.executable, "-m", "bench.nomad_runner", "--port", str(port), "--jobs", str(spec)]
    process = Process(name, argv, log=workdir / f"{name}.log", port=port)
    return process.wait_until_up("/v1/jobs")


def registrations(nomad: Process) -> list[dict[str, Any]]:
    """Every register call the Nomad fake received: ``{at, job, image, status}``."""
    found: list[dict[str, Any]] = get_json(nomad.url + "/_bench/registrations")
    return found
