"""Kill regdeploy (SIGKILL) in the middle of a container swap and start it again: the old
container is put back under its name, the deploy runs again, and the container ends on the new
image with nothing left aside."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from deployers.containers import ASIDE_SUFFIX
from tests.support.docker_engine import DockerEngine
from tests.support.docker_workloads import inspect, names
from tests.support.oci import build_image
from tests.support.polling import until_sync
from tests.support.registry import Registry
from tests.support.service_process import ROOT, request, stop_all
from tests.support.settings import API_TOKEN, REGISTRY_TOKEN


def write_config(path: Path, *, db_uri: str, port: int, registry: str, engine: str) -> Path:
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "database": {"url": db_uri},
        "sources": [{"name": "registry", "format": "distribution", "token": REGISTRY_TOKEN}],
        "api": {"tokens": [{"name": "admin", "token": API_TOKEN, "scope": "write"}]},
        "registries": [{"host": registry, "insecure": True}],
        "worker": {"poll_interval_seconds": 0.5, "stall_timeout_seconds": 2},
        "reconciler": {"interval_seconds": 0},
        # A long grace period: the kill lands while the new container is on probation.
        "deployers": {
            "docker": {
                "host": engine,
                "containers": {"grace_seconds": 8, "stop_timeout_seconds": 1},
            }
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_sigkill_mid_swap_then_restart_repairs_and_deploys(
    tmp_path: Path,
    db_uri: str,
    notifying: tuple[Registry, int],
    docker_engine: DockerEngine,
) -> None:
    reg, port = notifying
    repo, layout = f"{reg.host}/team/app", tmp_path / "layout"
    build_image(layout, tag="1.0.0", env={"VERSION": "1.0.0"})
    reg.push(layout, "1.0.0", "team/app")
    client = docker_engine.client()
    client.api.pull(repo, tag="1.0.0")
    client.networks.create("apps", driver="bridge")
    old = client.containers.run(
        f"{repo}:1.0.0",
        name="web",
        detach=True,
        network="apps",
        labels={"regdeploy.enable": "true", "regdeploy.policy": "minor"},
        environment={"MODE": "production"},
    )
    config = write_config(
        tmp_path / "config.yaml",
        db_uri=db_uri,
        port=port,
        registry=reg.host,
        engine=docker_engine.host,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "DOCKER_"))}
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        until_sync(
            "regdeploy answers /ping",
            lambda: request(port, "GET", "/ping", None, ""),
            seconds=30,
            ignoring=(OSError,),  # not listening yet
        )
        return proc

    try:
        first = start()
        new = build_image(layout, tag="1.1.0", env={"VERSION": "1.1.0"})
        reg.push(layout, "1.1.0", "team/app")
        until_sync(
            "the new container is on probation",
            lambda: (c := inspect(client, "web")) and c["Id"] != old.id and c["State"]["Running"],
            seconds=60,
            ignoring=(OSError,),
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        aside = inspect(client, "web" + ASIDE_SUFFIX)
        assert aside is not None and aside["Id"] == old.id  # the swap was cut short

        start()

        def finished() -> Any:
            found = request(port, "GET", "/api/v1/deployments", None, API_TOKEN)["deployments"]
            # The registry also delivers the push of 1.0.0 once regdeploy is up: a skip.
            moves = [d for d in found if d["status"] != "skipped"]
            done = [d for d in moves if d["status"] not in ("planned", "running")]
            return done if done and len(done) == len(moves) else None

        [deployment] = until_sync(
            "the deploy reached a final state", finished, seconds=90, ignoring=(OSError,)
        )
        assert deployment["status"] == "succeeded", deployment
        detail = request(port, "GET", f"/api/v1/deployments/{deployment['id']}", None, API_TOKEN)
        assert [a["outcome"] for a in detail["attempts"]] == ["stalled", "succeeded"]
        web = client.api.inspect_container("web")
        assert web["Config"]["Image"] == f"{repo}:1.1.0@{new}"
        assert "MODE=production" in web["Config"]["Env"]
        assert web["State"]["Running"]
        assert names(client) == ["web"]
    finally:
        stop_all(procs)
        client.close()
