"""Running regdeploy as a separate process in tests: its configuration and a small HTTP client."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.settings import API_TOKEN, REGISTRY_TOKEN

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "registry.test:5000"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def write_config(
    path: Path, *, db_uri: str, port: int, target_kind: str, worker: dict[str, Any]
) -> Path:
    """A configuration watching team/app (policy minor) with one target ``web``."""
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": db_uri},
        "sources": [
            {
                "name": "registry",
                "format": "distribution",
                "token": REGISTRY_TOKEN,
                "registry": REGISTRY,
                "confirm_digests": False,  # registry.test names no running registry
            }
        ],
        "api": {"tokens": [{"name": "admin", "token": API_TOKEN, "scope": "write"}]},
        "repositories": [
            {
                "name": "team/app",
                "image": f"{REGISTRY}/team/app",
                "policy": "minor",
                "targets": [{"kind": target_kind, "name": "web"}],
            }
        ],
        "worker": {"poll_interval_seconds": 0.5, **worker},
        "reconciler": {"interval_seconds": 0},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def push_notification(event_id: str, tag: str, digest: str) -> dict[str, Any]:
    return {
        "events": [
            {
                "id": event_id,
                "timestamp": "2026-11-22T10:00:00Z",
                "action": "push",
                "target": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest,
                    "repository": "team/app",
                    "tag": tag,
                },
            }
        ]
    }


def request(port: int, method: str, path: str, body: object, token: str) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with _OPENER.open(req, timeout=10) as response:
        return json.loads(response.read())


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each service still running, SIGKILL it after 30 s."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
