"""`regdeploy notify-test NAME` sends a sample notice and says how it went."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import yaml

from tests.support.chat_capture import ChatCapture
from tests.support.service_process import ROOT


async def run(config: Path, name: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGDEPLOY_", "DATABASE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "receiver",
        "notify-test",
        name,
        "--config",
        str(config),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, output.decode()


def write(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    config = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    config["notifiers"] = [{"name": "chat", "type": "slack", "url": url}]
    path.write_text(yaml.safe_dump(config))
    return path


async def test_a_sample_notice_is_delivered(tmp_path: Path) -> None:
    async with ChatCapture("slack") as slack:
        code, output = await run(write(tmp_path, slack.url), "chat")
    assert (code, output.strip().splitlines()[-1]) == (0, "chat: delivered")
    [message] = slack.received
    assert "example/app" in str(message)


async def test_a_refusal_is_reported_without_the_url(tmp_path: Path) -> None:
    async with ChatCapture("slack") as slack:
        slack.fail_with(404, body="no_service")
        code, output = await run(write(tmp_path, slack.url), "chat")
    assert code == 1
    assert "chat: not delivered" in output
    assert slack.token not in output


async def test_an_unknown_notifier_is_named(tmp_path: Path) -> None:
    code, output = await run(write(tmp_path, "https://hooks.example/x"), "nope")
    assert code == 2
    assert "no notifier named 'nope' (configured: chat)" in output
