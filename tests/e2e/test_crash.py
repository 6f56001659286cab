"""Kill the service (SIGKILL) in the middle of a deploy and start it again: the intent reaches
a final state and the target is deployed exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import free_port
from tests.support.polling import until_sync
from tests.support.service_process import (
    REGISTRY,
    ROOT,
    push_notification,
    request,
    stop_all,
    write_config,
)
from tests.support.settings import API_TOKEN, REGISTRY_TOKEN

RUNNING = f"{REGISTRY}/team/app:1.0.0@sha256:{'1' * 64}"
NEW = f"{REGISTRY}/team/app:1.1.0@sha256:{'2' * 64}"


@pytest.fixture
def service(tmp_path: Path, db_uri: str) -> Iterator[Any]:
    port = free_port()
    config_file = write_config(
        tmp_path / "config.yaml",
        db_uri=db_uri,
        port=port,
        target_kind="recording",
        worker={"stall_timeout_seconds": 2},
    )
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"recording:web": RUNNING}))
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.serve_recording",
                str(config_file),
                str(state),
                "3",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        until_sync(
            "the service answers /ping",
            lambda: request(port, "GET", "/ping", None, ""),
            seconds=30,
            ignoring=(OSError,),  # not listening yet
        )
        return proc

    yield port, state, start
    stop_all(procs)


def test_sigkill_mid_deploy_then_restart_deploys_exactly_once(service: Any) -> None:
    port, state, start = service
    first = start()
    push = push_notification("push-1.1.0", "1.1.0", "sha256:" + "2" * 64)
    assert request(port, "POST", "/webhooks/registry", push, REGISTRY_TOKEN)["accepted"] == 1
    log = state.with_suffix(".log")
    until_sync(
        "the deploy started",
        lambda: log.exists() and "start" in log.read_text(),
        seconds=30,
        ignoring=(OSError,),
    )

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert "done" not in log.read_text()

    start()

    def finished() -> Any:
        found = request(port, "GET", "/api/v1/deployments", None, API_TOKEN)["deployments"]
        final = [d for d in found if d["status"] not in ("planned", "running")]
        return final if final and len(final) == len(found) else None

    [deployment] = until_sync(
        "the deployment reached a final state", finished, seconds=60, ignoring=(OSError,)
    )
    assert deployment["status"] == "succeeded"
    assert deployment["image"] == NEW
    assert log.read_text().count(f"done recording:web {NEW}") == 1
    assert json.loads(state.read_text()) == {"recording:web": NEW}
    detail = request(port, "GET", f"/api/v1/deployments/{deployment['id']}", None, API_TOKEN)
    assert [a["outcome"] for a in detail["attempts"]] == ["stalled", "succeeded"]
