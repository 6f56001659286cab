"""Running the load generators, each in its own process: wrk (closed loop) and bench.loadgen
(open loop at a fixed rate, or a closed loop of an exact number of pushes)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import pushes
from bench.processes import ROOT

LUA = Path(__file__).with_name("push.lua")
WRK_TIMEOUT = "10s"


class LoadFailed(RuntimeError):
    """A load generator failed or printed no result."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadResult:
    """What a generator saw: pushes sent, answered 2xx and otherwise, failed, ack latencies."""

    sent: int
    ok: int
    non_2xx: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rate: float
    p95_ms: float = math.nan
    started_at: float = math.nan
    ended_at: float = math.nan
    send_lag_ms: float = math.nan


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise LoadFailed("wrk is not installed: make bench installs it (apt-get install wrk)")
    return path


def run_wrk(
    url: str,
    *,
    run: str,
    seconds: float,
    tail: float,
    connections: int,
    prefix: str,
    repositories: int,
) -> LoadResult:
    """``wrk -t1 -cN``: distinct pushes for ``seconds``; wrk runs ``tail`` seconds longer,
    so that every push sent is answered before it stops."""
    argv = [
        wrk_path(),
        "-t1",
        f"-c{connections}",
        f"-d{math.ceil(seconds + tail)}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(LUA),
        url,
        "--",
        run,
        pushes.SOURCE_TOKEN,
        str(seconds),
        str(repositories),
        prefix,
        pushes.REGISTRY,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise LoadFailed(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH-RESULT "))
    failed = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return LoadResult(
        sent=raw["sent"],
        ok=raw["ok"],
        non_2xx=raw["non_2xx"],
        failed=failed,
        p50_ms=raw["p50_ms"],
        p99_ms=raw["p99_ms"],
        max_ms=raw["max_ms"],
        rate=raw["ok"] / raw["seconds"] if raw["seconds"] > 0 else math.nan,
    )


def start_loadgen(
    url: str,
    *,
    run: str,
    prefix: str,
    repositories: int,
    rate: float | None = None,
    duration: float = 0.0,
    count: int = 0,
    concurrency: int = 32,
) -> subprocess.Popen[str]:
    """``bench.loadgen`` in its own process: open loop at ``rate`` for ``duration`` seconds,
    or (no rate) a closed loop of ``count`` pushes from ``concurrency`` clients."""
    argv = [sys.executable, "-m", "bench.loadgen", url, "--run", run, "--prefix", prefix]
    argv += ["--repositories", str(repositories)]
    if rate is not None:
        argv += ["--rate", str(rate), "--duration", str(duration)]
    else:
        argv += ["--count", str(count), "--concurrency", str(concurrency)]
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish_loadgen(process: subprocess.Popen[str], *, timeout: float) -> LoadResult:
    """The generator's result; ``timeout`` bounds its whole run (beyond its last push's own
    limit of 600 s)."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise LoadFailed(f"the load generator ran over {timeout} s: {stderr}") from None
    if process.returncode != 0 or not stdout.strip():
        raise LoadFailed(f"the load generator failed ({process.returncode}): {stderr}")
    raw: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return LoadResult(
        sent=raw["sent"],
        ok=raw["ok"],
        non_2xx=raw["non_2xx"],
        failed=raw["failed"],
        p50_ms=raw["p50_ms"],
        p95_ms=raw["p95_ms"],
        p99_ms=raw["p99_ms"],
        max_ms=raw["max_ms"],
        rate=raw["rate"],
        started_at=raw["started_at"],
        ended_at=raw["ended_at"],
        send_lag_ms=raw["send_lag_ms"],
    )


def run_loadgen(url: str, *, timeout: float, **options: Any) -> LoadResult:
    return finish_loadgen(start_loadgen(url, **options), timeout=timeout)
