"""The app with release control under a clock the test moves: team/app watched with one
recording target ``web`` running 1.0.0, tokens that may approve, and its loops driven round by
round."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.api import Client, deployments
from tests.support.app import StartApp
from tests.support.clock import ManualClock
from tests.support.pushes import ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.rounds import Rounds, work_rounds, worker_of
from tests.support.settings import API_TOKEN, READ_TOKEN

ALICE_TOKEN = "alice-approve-token-0001"
BOB_TOKEN = "bob-approve-token-0002"
#: Wednesday 2 December 2026, 19:48 in Berlin: the evening window opens at 22:00 (21:00 UTC).
WEDNESDAY = datetime(2026, 12, 2, 18, 48, tzinfo=UTC)
EVENINGS = [{"days": "mon-fri", "from": "22:00", "to": "23:30", "timezone": "Europe/Berlin"}]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Released:
    """One app under test: its client, its recording deployer, the clock it judges by."""

    client: Client
    deployer: RecordingDeployer
    clock: ManualClock

    @property
    def worker(self) -> Rounds:
        return worker_of(self.client.app)

    async def rounds(self, count: int = 1) -> None:
        """``count`` rounds of deciding, releasing and launching; then the deploys end."""
        await work_rounds(self.worker, count)

    async def only(self) -> dict[str, Any]:
        """The one deployment that is not superseded."""
        [found] = [d for d in await deployments(self.client) if d["status"] != "superseded"]
        return found

    async def post(self, path: str, body: object = None, *, token: str = API_TOKEN) -> Any:
        response = await self.client.post(path, json=body, headers=auth(token))
        return response.status, await response.json()

    async def get(self, path: str, *, token: str = READ_TOKEN) -> Any:
        response = await self.client.get(path, headers=auth(token))
        assert response.status == 200, await response.text()
        return await response.json()


Start = Callable[..., Awaitable[Released]]


def starter(start_app: StartApp) -> Start:
    """Starts the app with team/app's release ``rules`` (``windows``, ``approvals``, ...);
    several apps may share the database, the deployer and the clock."""

    async def start(
        *,
        clock: ManualClock | None = None,
        deployer: RecordingDeployer | None = None,
        repositories: list[dict[str, Any]] | None = None,
        **rules: Any,
    ) -> Released:
        clock = clock or ManualClock(WEDNESDAY)
        client, deployer = await start_app(
            repositories=repositories or [repository(notify=["ops"], **rules)],
            # A new deployer runs 1.0.0; a given one runs what it ran.
            running=ref("1.0.0", 1) if deployer is None else None,
            deployer=deployer,
            clock=clock,
            api={"tokens": TOKENS},
            notifiers=[{"name": "ops", "type": "slack", "url": "http://127.0.0.1:9/hook"}],
        )
        return Released(client=client, deployer=deployer, clock=clock)

    return start


TOKENS = [
    {"name": "admin", "token": API_TOKEN, "scope": "write"},
    {"name": "viewer", "token": READ_TOKEN, "scope": "read"},
    {"name": "alice", "token": ALICE_TOKEN, "scope": "approve"},
    {"name": "bob", "token": BOB_TOKEN, "scope": "approve"},
]
