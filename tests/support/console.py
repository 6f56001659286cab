"""The console under test: the app served on a real port with the worker on and a recording
deployer, team/app watched with two targets (``web`` and ``api``) that run 1.4.1, and the
registry's pushes of 1.4.0, 1.4.1 and 2.0.0 (which the policy, minor, refuses) decided; with
release rules (``approvals=1``), the deploys of 1.4.1 wait for them instead."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import requests

from deployers.base import Deployers, Target
from receiver.app import init_app
from tests.support.live import LiveApp
from tests.support.polling import until_sync
from tests.support.postgres import fresh_database
from tests.support.pushes import NAME, REGISTRY, WEB, push_body, ref, repository
from tests.support.recording import RecordingDeployer
from tests.support.release import TOKENS
from tests.support.settings import REGISTRY_TOKEN, api_headers, make_config

API = Target(kind="recording", name="api")
#: How long a deploy takes here: long enough to be seen running.
DEPLOY_SECONDS = 1.5
SETTLE_SECONDS = 30.0
TARGET_CONFIG = {name: {"kind": "recording", "name": name} for name in ("web", "api")}


@dataclass
class Console:
    url: str
    deployer: RecordingDeployer

    def api(self, path: str) -> Any:
        answer = requests.get(self.url + path, headers=api_headers(), timeout=10)
        answer.raise_for_status()
        return answer.json()

    def change(self, changes: dict[str, Any]) -> None:
        """Change team/app through the API, as the admin token."""
        answer = requests.patch(
            f"{self.url}/api/v1/repos/team/app", json=changes, headers=api_headers(), timeout=10
        )
        assert answer.status_code == 200, answer.text

    def push(self, tag: str, n: int) -> None:
        answer = requests.post(
            f"{self.url}/webhooks/registry",
            data=push_body(tag, n),
            headers={"Authorization": f"Bearer {REGISTRY_TOKEN}"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text

    def settle(self) -> list[dict[str, Any]]:
        """Wait until no event is pending and no deploy planned or running."""
        found: list[dict[str, Any]] = []
        busy: list[dict[str, Any]] = []

        def settled() -> bool:
            nonlocal found, busy
            events = self.api("/api/v1/events")["events"]
            found = self.api("/api/v1/deployments?limit=500")["deployments"]
            busy = [d for d in found if d["status"] in ("planned", "running")]
            return not busy and all(e["status"] != "pending" for e in events)

        until_sync(
            "settled: no event pending, no deploy planned or running",
            settled,
            seconds=SETTLE_SECONDS,
            interval=0.05,
            explain=lambda: f"busy: {busy}",
        )
        return found


@contextmanager
def running_console(pg_server_uri: str, **rules: Any) -> Iterator[Console]:
    """The console, team/app with the release ``rules`` given (none: its deploys go at once),
    and the API tokens of ``tests.support.release`` (approvers too)."""
    deployer = RecordingDeployer()
    for target in (WEB, API):
        deployer.run(target, ref("1.4.0", 1))
    config = make_config(
        fresh_database(pg_server_uri),
        registry=REGISTRY,
        confirm_digests=False,  # registry.test names no running registry
        repositories=[
            repository(targets=[{"kind": "recording", "name": n} for n in ("web", "api")], **rules)
        ],
        api={"tokens": TOKENS},
        worker={"poll_interval_seconds": 0.2, "retry_base_seconds": 0.05},
    )
    live = LiveApp(init_app(config, deployers=Deployers([deployer]))).start()
    try:
        console = Console(url=live.url, deployer=deployer)
        for tag, n in (("1.4.0", 1), ("2.0.0", 3), ("1.4.1", 2)):
            console.push(tag, n)
        console.settle()
        deployer.delay = DEPLOY_SECONDS
        yield console
    finally:
        live.stop()


__all__ = ["API", "NAME", "WEB", "Console", "running_console"]
