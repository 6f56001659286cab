"""Deploy notices end to end: a real push, a deploy through the queue (recording deployer), and
Slack and Teams capture servers that check the envelopes and answer as the vendors do."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from deployers.base import Deployers, DeployOutcome, DeployResult, Target
from receiver.app import init_app
from receiver.config.loading import Config
from tests.support.api import Client, settle
from tests.support.chat_capture import ChatCapture
from tests.support.oci import build_image
from tests.support.polling import until
from tests.support.recording import RecordingDeployer
from tests.support.registry import Registry
from tests.support.rounds import outbox_of, send_rounds, without_loops
from tests.support.settings import REGISTRY_TOKEN, api_headers, make_config

WEB = Target(kind="recording", name="web")


def config_for(db_uri: str, registry: Registry, slack: ChatCapture, teams: ChatCapture) -> Config:
    return make_config(
        db_uri,
        registry=registry.host,
        repositories=[
            {
                "name": "team/app",
                "image": f"{registry.host}/team/app",
                "policy": "minor",
                "targets": [{"kind": "recording", "name": "web"}],
                "notify": ["chat", "channel"],
            }
        ],
        notifiers=[
            {"name": "chat", "type": "slack", "url": slack.url},
            {"name": "channel", "type": "teams", "url": teams.url, "level": "all"},
        ],
        notices={
            "group_seconds": 0.3,
            "retry_base_seconds": 0.5,
            "retry_max_seconds": 2,
            "poll_seconds": 0.5,
            "max_attempts": 100,
        },
        worker={"poll_interval_seconds": 0.5},
    )


async def running_first(reg: Registry, layout: Path) -> tuple[str, RecordingDeployer]:
    """Push team/app 1.0.0 and a deployer whose target runs it; its digest and the deployer."""
    first = build_image(layout, tag="1.0.0", env={"V": "1"})
    await asyncio.to_thread(reg.push, layout, "1.0.0", "team/app")
    deployer = RecordingDeployer()
    deployer.run(WEB, f"{reg.host}/team/app:1.0.0@{first}")
    return first, deployer


async def start(config: Config, deployer: RecordingDeployer, port: int) -> Client:
    """regdeploy on ``port``, where the registry notifies it; its test client."""
    client: Client = TestClient(
        TestServer(init_app(config, deployers=Deployers([deployer])), port=port)
    )
    await client.start_server()
    return client


async def assert_nothing_left_to_send(config: Config, deployer: RecordingDeployer) -> None:
    """Start regdeploy again without its loops and run three rounds of its outbox: they send
    nothing, and no notice is left waiting (for its group or a retry) for a later round. So no
    chat hears anything more, however long it waited."""
    app = init_app(without_loops(config), deployers=Deployers([deployer]))
    async with TestClient(TestServer(app)) as idle:
        assert await send_rounds(outbox_of(app), 3) == 0
        response = await idle.get(
            "/api/v1/notices", params={"status": "pending"}, headers=api_headers()
        )
        assert (await response.json())["notices"] == []


def texts(body: Any) -> str:
    """Every string in a message, to look for what it names."""
    if isinstance(body, dict):
        return " ".join(texts(v) for v in body.values())
    if isinstance(body, list):
        return " ".join(texts(v) for v in body)
    return str(body) if isinstance(body, str) else ""


async def test_each_chat_gets_one_message_per_outcome_naming_what_moved(
    db_uri: str, notifying: tuple[Registry, int], tmp_path: Path
) -> None:
    reg, port = notifying
    layout = tmp_path / "layout"
    first, deployer = await running_first(reg, layout)
    async with ChatCapture("slack") as slack, ChatCapture("teams") as teams:
        config = config_for(db_uri, reg, slack, teams)
        with capture_logs() as logs:
            client = await start(config, deployer, port)
            try:
                second = build_image(layout, tag="1.1.0", env={"V": "2"})
                await asyncio.to_thread(reg.push, layout, "1.1.0", "team/app")
                await until(
                    "both chats told", lambda: slack.received and teams.received, seconds=30
                )

                deployer.scripted.append(
                    DeployResult(
                        outcome=DeployOutcome.ROLLED_BACK,
                        message="the new container exited at once",
                    )
                )
                build_image(layout, tag="1.2.0", env={"V": "3"})
                await asyncio.to_thread(reg.push, layout, "1.2.0", "team/app")
                await until(
                    "the rollback told",
                    lambda: len(slack.received) == len(teams.received) == 2,
                    seconds=30,
                )
                await settle(client)
            finally:
                await client.close()
            await assert_nothing_left_to_send(config, deployer)

        assert len(slack.received) == len(teams.received) == 2
        for chat in (slack, teams):
            deployed, rolled = (texts(body) for body in chat.received)
            for word in ("team/app", "recording:web", "1.0.0", "1.1.0", first[7:19], second[7:19]):
                assert word in deployed, (chat, word, deployed)
            assert "succeeded" in deployed.lower() or "deployed" in deployed.lower()
            assert "roll" in rolled.lower()
            assert "the new container exited at once" in rolled
        secrets = (slack.url, slack.token, teams.url, teams.token, REGISTRY_TOKEN)
        logged = repr(logs)
        assert not [s for s in secrets if s in logged]


async def test_a_chat_outage_and_a_restart_lose_no_notice_and_send_it_once(
    db_uri: str, notifying: tuple[Registry, int], tmp_path: Path
) -> None:
    reg, port = notifying
    layout = tmp_path / "layout"
    _, deployer = await running_first(reg, layout)
    async with ChatCapture("slack") as slack, ChatCapture("teams") as teams:
        outage_ends = time.monotonic() + 30
        slack.fail_with(503, until=outage_ends)
        config = config_for(db_uri, reg, slack, teams)
        client = await start(config, deployer, port)
        try:
            build_image(layout, tag="1.1.0", env={"V": "2"})
            await asyncio.to_thread(reg.push, layout, "1.1.0", "team/app")
            await until("Slack was tried", lambda: slack.requests_total >= 2, seconds=30)
            assert not slack.received
        finally:
            await client.close()  # regdeploy stops in the middle of the outage
        tried_while_down = slack.requests_total
        client = await start(config, deployer, port)
        try:
            await until("the notice after the outage", lambda: slack.received, seconds=60)
            await settle(client)
        finally:
            await client.close()
        await assert_nothing_left_to_send(config, deployer)

    assert time.monotonic() >= outage_ends
    assert tried_while_down >= 2
    assert len(slack.received) == 1
    assert len(teams.received) == 1
