"""The machine a run measured: what to print beside its figures."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return "wrk missing"
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def describe() -> str:
    cores = os.cpu_count() or 0
    return "\n".join(
        [
            f"- machine: {cores} cores (nproc {len(os.sched_getaffinity(0))}), {_cpu_model()}, "
            f"{_memory_gib():.1f} GiB memory, {platform.system()} {platform.release()}",
            f"- software: Python {platform.python_version()}, {_wrk_version()}",
            f"- load average at start (1/5/15 min): {load_average()}",
        ]
    )
