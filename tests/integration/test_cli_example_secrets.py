"""``regdeploy serve`` with the example's published tokens, run as a user runs it: beyond
loopback it refuses to start (exit 2, one line, nothing started) unless it is given
``--allow-example-secrets``; on loopback, or with tokens of its own, it starts."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import Any

import pytest

from tests.support.components import free_port
from tests.support.example_service import (
    EXAMPLE,
    ROOT,
    START_SECONDS,
    STOP_SECONDS,
    Answer,
    clean_env,
    cli,
    http,
)
from tests.support.polling import until_sync

EXAMPLE_KEYS = ("sources[0].token", "sources[1].token", "api.tokens[0].token")
OWN_TOKENS = {
    "REGDEPLOY_REGISTRY_TOKEN": "registry-token-of-our-own",
    "REGDEPLOY_HARBOR_TOKEN": "harbor-token-of-our-own",
    "REGDEPLOY_API_TOKEN": "api-token-of-our-own",
}


def json_lines(text: str) -> list[dict[str, Any]]:
    """The log lines of ``text``, each of which must be a JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("options", "variables", "host"),
    [
        (["--host", "0.0.0.0"], {}, "0.0.0.0"),
        (["--host", "::"], {}, "::"),
        ([], {"REGDEPLOY_HOST": "0.0.0.0"}, "0.0.0.0"),  # as the Docker image sets it
    ],
)
def test_serve_refuses_to_listen_beyond_loopback_with_the_example_tokens(
    tmp_path: Path, options: list[str], variables: dict[str, str], host: str
) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    env = clean_env(REGDEPLOY_PORT=str(port), REGDEPLOY_DATA_DIR=str(data_dir), **variables)

    result = cli("serve", "--config", EXAMPLE, *options, env=env)

    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f"{EXAMPLE}: refusing to listen on {host} with published example secrets in "
        "api.tokens[0].token, sources[0].token, sources[1].token: set their environment "
        "variables (or write secrets of your own there), listen on 127.0.0.1, or pass "
        "--allow-example-secrets\n"
    )
    assert "regdeploy_starting" not in {line["event"] for line in json_lines(result.stdout)}
    assert not data_dir.exists(), "it created the embedded PostgreSQL's data directory"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.parametrize(
    ("options", "variables", "warned"),
    [
        (["--host", "127.0.0.1"], {}, EXAMPLE_KEYS),
        (["--host", "0.0.0.0", "--allow-example-secrets"], {}, EXAMPLE_KEYS),
        (["--host", "0.0.0.0"], OWN_TOKENS, ()),
    ],
    ids=["loopback", "allowed", "own-tokens"],
)
def test_serve_starts_on_loopback_when_allowed_or_with_tokens_of_its_own(
    tmp_path: Path,
    db_uri: str,
    options: list[str],
    variables: dict[str, str],
    warned: tuple[str, ...],
) -> None:
    port = free_port()
    env = clean_env(REGDEPLOY_PORT=str(port), DATABASE_URL=db_uri, **variables)

    lines = run_until_answering(
        tmp_path, ["serve", *options], env=env, url=f"http://127.0.0.1:{port}/ping"
    )

    assert {line["key"] for line in lines if line["event"] == "development_secret_in_use"} == set(
        warned
    )


def test_the_worker_serves_its_metrics_beyond_loopback_with_the_example_tokens(
    tmp_path: Path, db_uri: str
) -> None:
    """Its /metrics is all it serves, open without a token by default: it only warns."""
    port = free_port()
    env = clean_env(DATABASE_URL=db_uri)
    options = ["--metrics-host", "0.0.0.0", "--metrics-port", str(port)]

    lines = run_until_answering(
        tmp_path, ["worker", *options], env=env, url=f"http://127.0.0.1:{port}/metrics"
    )

    assert {line["key"] for line in lines if line["event"] == "development_secret_in_use"} == set(
        EXAMPLE_KEYS
    )


def run_until_answering(
    tmp_path: Path, args: list[str], *, env: dict[str, str], url: str
) -> list[dict[str, Any]]:
    """Run ``regdeploy ARGS --config config.example.yaml`` until ``url`` answers 200, then stop
    it as a service manager does; its log lines (it exits 0 and writes nothing on stderr)."""
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"

    def log() -> str:
        return f"--- stdout\n{stdout.read_text()}--- stderr\n{stderr.read_text()}"

    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "receiver", *args, "--config", EXAMPLE],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )

        def answer() -> Answer:
            if process.poll() is not None:
                pytest.fail(f"regdeploy {args[0]} exited with {process.returncode}:\n{log()}")
            return http("GET", url)

        try:
            answered = until_sync(
                f"regdeploy {args[0]} answers {url}",
                answer,
                seconds=START_SECONDS,
                explain=log,
                ignoring=(urllib.error.URLError, ConnectionError, TimeoutError),
            )
            assert answered.status == 200, answered.body
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)
                raise

    assert code == 0, log()
    assert stderr.read_text() == ""
    return json_lines(stdout.read_text())
