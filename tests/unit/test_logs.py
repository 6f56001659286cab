"""``receiver.logs``: one stream (stdout) and one format for structlog's and stdlib's records.

Each test runs a real Python process, so that what lands on its stdout and stderr is what a
service manager would collect.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# Logs one of each kind of record, with ``configure(env=ENV)`` called ``TIMES`` times first. The
# structlog logger is created before ``configure``, as modules create theirs at import time.
SCRIPT = """
import logging, warnings
import structlog
from receiver import logs

log = structlog.get_logger("regdeploy.decider")
for _ in range(TIMES):
    logs.configure(env=ENV)
log.debug("decider_dozed")
log.info("decider_decided", repository="team/app")
logging.getLogger("aiohttp.access").info("GET /ping 200")
logging.getLogger("asyncio").info("Using selector")
logging.getLogger("aiohttp.server").error("Error handling request from %s", "127.0.0.1")
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger("asyncio").error("Task exception was never retrieved", exc_info=True)
    log.error("decider_failed", exc_info=True)
warnings.warn("an old way", UserWarning)
"""


def run(script: str, *, env: dict[str, str], times: int = 1) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(script).replace("TIMES", str(times)).replace("ENV", repr(env))
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def json_lines(ran: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """stdout's lines as JSON objects, once stderr is known to be empty."""
    assert ran.stderr == ""
    lines: list[dict[str, Any]] = [json.loads(line) for line in ran.stdout.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


def by_event(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["event"]: line for line in lines}


def test_every_record_is_one_json_line_on_stdout() -> None:
    lines = json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"}))
    assert len(lines) == 5
    for line in lines:
        assert {"logger", "level", "timestamp", "event"} <= line.keys()
        assert line["timestamp"].endswith("Z")


def test_lines_name_their_logger_and_level() -> None:
    lines = by_event(json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"})))
    assert lines["decider_decided"]["logger"] == "regdeploy.decider"
    assert lines["decider_decided"]["level"] == "info"
    assert lines["decider_decided"]["repository"] == "team/app"
    assert lines["decider_failed"]["logger"] == "regdeploy.decider"
    server = lines["Error handling request from 127.0.0.1"]
    assert (server["logger"], server["level"]) == ("aiohttp.server", "error")
    task = lines["Task exception was never retrieved"]
    assert (task["logger"], task["level"]) == ("asyncio", "error")


def test_exceptions_are_a_field_of_their_line() -> None:
    lines = by_event(json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"})))
    for event in ("Task exception was never retrieved", "decider_failed"):
        assert "ZeroDivisionError: division by zero" in lines[event]["exception"]
        assert "exc_info" not in lines[event]


def test_warnings_are_lines_of_py_warnings() -> None:
    [warning] = [
        line
        for line in json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"}))
        if line["logger"] == "py.warnings"
    ]
    assert warning["level"] == "warning"
    assert "UserWarning: an old way" in warning["event"]


def test_events_below_the_level_and_libraries_below_warning_are_dropped() -> None:
    events = {line["event"] for line in json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"}))}
    assert "decider_dozed" not in events
    assert "Using selector" not in events
    assert "GET /ping 200" not in events


def test_debug_lets_libraries_speak_but_not_the_access_log() -> None:
    events = {line["event"] for line in json_lines(run(SCRIPT, env={"LOG_LEVEL": "debug"}))}
    assert {"decider_dozed", "Using selector"} <= events
    assert "GET /ping 200" not in events


def test_error_level_keeps_errors_only() -> None:
    lines = json_lines(run(SCRIPT, env={"LOG_LEVEL": "error"}))
    assert {line["level"] for line in lines} == {"error"}


def test_configuring_again_writes_each_line_once() -> None:
    once = json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"}))
    thrice = json_lines(run(SCRIPT, env={"LOG_LEVEL": "info"}, times=3))
    assert [line["event"] for line in thrice] == [line["event"] for line in once]


def test_an_uncaught_exception_is_a_line_too() -> None:
    ran = run(
        """
        from receiver import logs
        logs.configure(env={})
        raise RuntimeError("nobody caught this")
        """,
        env={},
    )
    assert ran.returncode == 1
    [line] = json_lines(ran)
    assert (line["logger"], line["level"], line["event"]) == (
        "regdeploy",
        "critical",
        "uncaught_exception",
    )
    assert "RuntimeError: nobody caught this" in line["exception"]


def test_console_format_writes_readable_lines_to_stdout() -> None:
    ran = run(SCRIPT, env={"LOG_LEVEL": "info", "LOG_FORMAT": "console"})
    assert ran.stderr == ""
    assert not any(line.startswith("{") for line in ran.stdout.splitlines())
    for name in ("regdeploy.decider", "aiohttp.server", "asyncio", "py.warnings"):
        assert name in ran.stdout
    assert "decider_decided" in ran.stdout
    assert "ZeroDivisionError: division by zero" in ran.stdout
    assert "decider_dozed" not in ran.stdout
