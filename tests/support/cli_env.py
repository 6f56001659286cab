"""Running the ``regdeploy`` command in a test, against an app served in the test's own event
loop: nothing of the user's client set-up reaches it, and what it prints is captured."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from receiver.cli import main
from tests.support.release import Released
from tests.support.settings import API_TOKEN

#: The variables a person's shell may set for the client.
CLIENT_VARIABLES = ("REGDEPLOY_URL", "REGDEPLOY_PORT", "REGDEPLOY_TOKEN", "REGDEPLOY_TOKEN_FILE")


def isolated_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """For an autouse fixture: no client variable or token file of the user's, and the app's
    log lines (it runs in this process) kept out of what the command prints."""
    for name in CLIENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))
    yield
    structlog.reset_defaults()


async def run_cli(
    app: Released, capsys: pytest.CaptureFixture[str], *args: str, token: str = API_TOKEN
) -> tuple[int, str, str]:
    """``regdeploy ARGS --url URL --token TOKEN`` in a thread: its exit status, standard output
    and standard error."""
    url = f"http://127.0.0.1:{app.client.server.port}"
    capsys.readouterr()
    code = await asyncio.to_thread(main, [*args, "--url", url, "--token", token])
    out = capsys.readouterr()
    return code, out.out, out.err
