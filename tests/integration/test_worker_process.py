"""`regdeploy worker` decides events that another process (`regdeploy serve` without a worker)
stored: the database is the only thing they share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.components import free_port
from tests.conftest import API_TOKEN, REGISTRY_TOKEN
from tests.e2e.test_crash import request

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "registry.test:5000"


def write_config(path: Path, *, db_uri: str, port: int, worker: bool) -> Path:
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": db_uri},
        "sources": [
            {
                "name": "registry",
                "format": "distribution",
                "token": REGISTRY_TOKEN,
                "registry": REGISTRY,
            }
        ],
        "api": {"tokens": [{"name": "admin", "token": API_TOKEN, "scope": "write"}]},
        "repositories": [
            {
                "name": "team/app",
                "image": f"{REGISTRY}/team/app",
                "targets": [{"kind": "swarm", "name": "web"}],
            }
        ],
        "worker": {"enabled": worker, "poll_interval_seconds": 0.5},
        "reconciler": {"interval_seconds": 0},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_separate_worker_process_decides_what_serve_stored(tmp_path: Path, db_uri: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    serve_config = write_config(tmp_path / "serve.yaml", db_uri=db_uri, port=port, worker=False)
    worker_config = write_config(tmp_path / "worker.yaml", db_uri=db_uri, port=port, worker=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "receiver", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for args in (["serve", "-c", str(serve_config)], ["worker", "-c", str(worker_config)])
    ]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request(port, "GET", "/ping", None, "")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("serve did not answer /ping")
                time.sleep(0.1)
        push = {
            "events": [
                {
                    "id": "e-1",
                    "timestamp": "2026-11-22T10:00:00Z",
                    "action": "push",
                    "target": {
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": "sha256:" + "3" * 64,
                        "repository": "team/app",
                        "tag": "1.1.0",
                    },
                }
            ]
        }
        assert request(port, "POST", "/webhooks/registry", push, REGISTRY_TOKEN)["accepted"] == 1

        found: list[dict[str, Any]] = []
        while not found:
            found = request(port, "GET", "/api/v1/deployments", None, API_TOKEN)["deployments"]
            if time.monotonic() > deadline + 30:
                pytest.fail("the worker process decided nothing")
            time.sleep(0.1)
        [decision] = found
        assert decision["status"] == "skipped"
        assert decision["reason"] == "no deployer for kind 'swarm'"
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=30)[0].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    worker_log = [json.loads(line) for line in outputs[1].splitlines() if line.startswith("{")]
    assert "worker_process_started" in {line["event"] for line in worker_log}
