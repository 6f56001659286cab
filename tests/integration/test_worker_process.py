"""`regdeploy worker` decides events that another process (`regdeploy serve` without a worker)
stored: the database is the only thing they share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.components import free_port
from tests.support.metrics import count, parse
from tests.support.polling import until_sync
from tests.support.service_process import ROOT, push_notification, request, write_config
from tests.support.settings import API_TOKEN, REGISTRY_TOKEN


def test_a_separate_worker_process_decides_what_serve_stored(tmp_path: Path, db_uri: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    configs = [
        write_config(
            tmp_path / f"{name}.yaml",
            db_uri=db_uri,
            port=port,
            target_kind="swarm",
            worker={"enabled": name == "worker"},
        )
        for name in ("serve", "worker")
    ]
    metrics_port = free_port()
    options = {"serve": [], "worker": ["--metrics-port", str(metrics_port)]}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "receiver", command, "-c", str(config), *options[command]],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for command, config in zip(("serve", "worker"), configs, strict=True)
    ]
    try:
        until_sync(
            "serve answers /ping",
            lambda: request(port, "GET", "/ping", None, ""),
            seconds=30,
            ignoring=(OSError,),  # not listening yet
        )
        push = push_notification("e-1", "1.1.0", "sha256:" + "3" * 64)
        assert request(port, "POST", "/webhooks/registry", push, REGISTRY_TOKEN)["accepted"] == 1

        def decided() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = request(
                port, "GET", "/api/v1/deployments", None, API_TOKEN
            )["deployments"]
            return found

        [decision] = until_sync(
            "the worker process decided the event", decided, seconds=30, ignoring=(OSError,)
        )
        assert decision["status"] == "skipped"
        assert decision["reason"] == "no deployer for kind 'swarm'"
        # The worker process serves its own metrics: it made the decision, serve did not.
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        with urllib.request.urlopen(metrics_url, timeout=10) as answer:
            scraped = parse(answer.read().decode())
        assert count(scraped, "regdeploy_decisions_total", outcome="skip") == 1
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        outputs = [proc.communicate(timeout=30)[0].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    worker_log = [json.loads(line) for line in outputs[1].splitlines() if line.startswith("{")]
    assert "worker_process_started" in {line["event"] for line in worker_log}
