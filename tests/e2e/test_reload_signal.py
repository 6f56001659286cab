"""``SIGHUP`` to a running regdeploy process: it reads its file again. A new repository deploys
without a restart, a broken file is refused while the old configuration serves on, and pushes
sent while it reloads, again and again, are each stored once and decided, none lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml

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

OTHER = "team/other"
RUNNING = f"{REGISTRY}/team/app:1.0.0@sha256:{'1' * 64}"
OTHER_RUNNING = f"{REGISTRY}/{OTHER}:1.0.0@sha256:{'a' * 64}"
PUSHES = 1000
TOO_MANY = 429
RELOADS = 5


class Service:
    """regdeploy's real service (``tests.support.serve_recording``) in its own process."""

    def __init__(self, tmp_path: Path, db_uri: str) -> None:
        self.db_uri = db_uri
        self.port = free_port()
        self.config = write_config(
            tmp_path / "config.yaml",
            db_uri=db_uri,
            port=self.port,
            target_kind="recording",
            worker={},
        )
        self.state = tmp_path / "state.json"
        self.state.write_text(
            json.dumps({"recording:web": RUNNING, "recording:api": OTHER_RUNNING})
        )
        self.log = self.state.with_suffix(".log")
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        command = [sys.executable, "-m", "tests.support.serve_recording"]
        proc = subprocess.Popen(
            [*command, str(self.config), str(self.state), "0"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        until_sync(
            "the service answers /ping",
            lambda: self.get("/ping"),
            seconds=30,
            ignoring=(OSError,),
        )
        return proc

    def get(self, path: str) -> Any:
        return request(self.port, "GET", path, None, API_TOKEN)

    def fingerprint(self) -> str:
        return str(self.get("/api/v1/status")["configuration"]["fingerprint"])

    def rewrite(self, change: Any) -> None:
        document = yaml.safe_load(self.config.read_text())
        change(document)
        self.config.write_text(yaml.safe_dump(document))

    def hang_up(self, proc: subprocess.Popen[bytes], *, until_not: str) -> str:
        """SIGHUP ``proc``; the fingerprint once it is no longer ``until_not``."""
        proc.send_signal(signal.SIGHUP)

        def changed() -> str | None:
            found = self.fingerprint()
            return found if found != until_not else None

        return until_sync("the service runs the file's new configuration", changed, seconds=30)

    def push(self, event_id: str, repository: str, tag: str, digest: str) -> dict[str, Any]:
        """Send a push notification as a registry does: again after a 429's ``Retry-After``."""
        body = push_notification(event_id, tag, digest)
        body["events"][0]["target"]["repository"] = repository
        while True:
            try:
                answer: dict[str, Any] = request(
                    self.port, "POST", "/webhooks/registry", body, REGISTRY_TOKEN
                )
            except urllib.error.HTTPError as exc:
                if exc.code != TOO_MANY:
                    raise
                time.sleep(float(exc.headers.get("Retry-After", "1")))
            else:
                return answer


@pytest.fixture
def service(tmp_path: Path, db_uri: str) -> Iterator[Service]:
    found = Service(tmp_path, db_uri)
    try:
        yield found
    finally:
        stop_all(found.procs)


def add_other(document: dict[str, Any]) -> None:
    document["repositories"].append(
        {
            "name": OTHER,
            "image": f"{REGISTRY}/{OTHER}",
            "policy": "minor",
            "targets": [{"kind": "recording", "name": "api"}],
        }
    )


def test_sighup_adds_a_repository_and_refuses_a_broken_file(service: Service) -> None:
    proc = service.start()
    first = service.fingerprint()
    service.rewrite(add_other)
    second = service.hang_up(proc, until_not=first)

    assert service.push("other-1.1.0", OTHER, "1.1.0", "sha256:" + "b" * 64)["accepted"] == 1
    deployed = f"done recording:api {REGISTRY}/{OTHER}:1.1.0@sha256:{'b' * 64}"
    until_sync(
        "the new repository's push is deployed",
        lambda: service.log.exists() and deployed in service.log.read_text(),
        seconds=30,
    )

    service.config.write_text(service.config.read_text() + "\nunknown_section: {}\n")
    proc.send_signal(signal.SIGHUP)
    refusal = until_sync(
        "the refusal shows in status",
        lambda: service.get("/api/v1/status")["configuration"]["refusal"],
        seconds=30,
    )
    assert any("unknown_section" in problem for problem in refusal)
    assert service.fingerprint() == second
    assert proc.poll() is None

    assert service.push("app-1.1.0", "team/app", "1.1.0", "sha256:" + "2" * 64)["accepted"] == 1
    until_sync(
        "the old configuration still deploys",
        lambda: f"done recording:web {REGISTRY}/team/app:1.1.0" in service.log.read_text(),
        seconds=30,
    )


def test_pushes_sent_across_reloads_are_each_stored_once(service: Service) -> None:
    proc = service.start()
    answers: list[dict[str, Any]] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    sent = threading.Semaphore(0)

    def send(first: int, step: int) -> None:
        for n in range(first, PUSHES, step):
            try:
                answer = service.push(f"push-{n}", "team/app", f"1.0.{n + 1}", f"sha256:{n:064x}")
            except BaseException as exc:  # every failure is a finding
                with lock:
                    failures.append(exc)
            else:
                with lock:
                    answers.append(answer)
            sent.release()

    senders = [threading.Thread(target=send, args=(i, 4)) for i in range(4)]
    for thread in senders:
        thread.start()
    fingerprint = service.fingerprint()
    for reload in range(RELOADS):
        for _ in range(PUSHES // (RELOADS + 1)):
            sent.acquire()
        service.rewrite(lambda d, r=reload: d["worker"].update(poll_interval_seconds=0.3 + r / 10))
        fingerprint = service.hang_up(proc, until_not=fingerprint)
    for thread in senders:
        thread.join(timeout=300)

    assert failures == []
    assert len(answers) == PUSHES
    assert all(a["accepted"] == 1 for a in answers)
    with psycopg2.connect(service.db_uri) as db, db.cursor() as cursor:
        cursor.execute("SELECT event_id, count(*) FROM events GROUP BY event_id")
        stored = cursor.fetchall()
        assert len(stored) == PUSHES
        assert {count for _, count in stored} == {1}
        assert {event_id for event_id, _ in stored} == {f"push-{n}" for n in range(PUSHES)}

    def decided() -> bool:
        with psycopg2.connect(service.db_uri) as db, db.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM events WHERE status <> 'done'")
            left = cursor.fetchone()
        return left is not None and left[0] == 0

    until_sync("every event is decided", decided, seconds=120)
    status = service.get("/api/v1/status")
    assert status["configuration"]["fingerprint"] == fingerprint
    assert status["configuration"]["refusal"] is None
    starts = [line for line in service.log.read_text().splitlines() if line.startswith("done ")]
    assert len(starts) == len(set(starts))  # no image deployed twice


def test_a_worker_reloads_on_sighup_and_a_hangup_while_serve_starts_ends_nothing(
    tmp_path: Path, db_uri: str
) -> None:
    port = free_port()
    files = {
        name: write_config(
            tmp_path / f"{name}.yaml",
            db_uri=db_uri,
            port=port,
            target_kind="swarm",
            worker={"enabled": name == "worker"},
        )
        for name in ("serve", "worker")
    }
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        log = tmp_path / "serve.log"
        with log.open("wb") as out:
            serve = subprocess.Popen(
                [sys.executable, "-m", "receiver", "serve", "-c", str(files["serve"])],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.append(serve)
        # Its first lines are said before the database is opened: a SIGHUP then must not end it.
        until_sync("serve says it starts", lambda: log.read_text(), seconds=30)
        assert "database_ready" not in log.read_text()
        serve.send_signal(signal.SIGHUP)
        until_sync(
            "serve answers /ping after a SIGHUP while it started",
            lambda: request(port, "GET", "/ping", None, ""),
            seconds=30,
            ignoring=(OSError,),
        )
        assert serve.poll() is None

        worker = subprocess.Popen(
            [sys.executable, "-m", "receiver", "worker", "-c", str(files["worker"])],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(worker)

        def worker_runs() -> str | None:
            processes = request(port, "GET", "/api/v1/status", None, API_TOKEN)["processes"]
            found = [p["fingerprint"] for p in processes if p["role"] == "worker"]
            return found[0] if found else None

        before = until_sync("the worker says what it runs", worker_runs, seconds=30)
        document = yaml.safe_load(files["worker"].read_text())
        add_other(document)
        files["worker"].write_text(yaml.safe_dump(document))
        checked = subprocess.run(
            [sys.executable, "-m", "receiver", "check-config", str(files["worker"])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        expected = checked.stdout.split("fingerprint ")[1].strip()
        assert expected != before
        worker.send_signal(signal.SIGHUP)
        until_sync(
            "the worker runs the file's new configuration",
            lambda: worker_runs() == expected,
            seconds=30,
        )
        assert worker.poll() is None
    finally:
        stop_all(procs)
    assert [proc.returncode for proc in procs] == [0, 0]
