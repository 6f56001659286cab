"""``make demo``, run as a user runs it: a real push moves a real container within two minutes,
the commands it prints reach its regdeploy on ``$REGDEPLOY_PORT``, and a Ctrl-C leaves nothing
of it running.

The demo runs ``config.example.yaml`` unchanged but for the environment, with the Docker
deployers on because ``DOCKER_HOST`` names the engine: this is also the proof that a labelled
container on an engine named only by ``DOCKER_HOST`` is moved by a push.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.components import free_port, require_binary
from tests.support.polling import until_sync

ROOT = Path(__file__).resolve().parents[2]
SHOWN_SECONDS = 120.0
STOP_SECONDS = 60.0
WAITING = "Running until Ctrl-C"

pytestmark = [pytest.mark.docker, pytest.mark.registry]


def demo_environment() -> dict[str, str]:
    """This environment without what would point the demo's regdeploy elsewhere."""
    drop = ("REGDEPLOY_", "DOCKER_", "NOMAD_", "DATABASE_URL", "LOG_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def read_until(process: subprocess.Popen[str], marker: str, seconds: float) -> str:
    """What the demo printed until a line holding ``marker`` (failing after ``seconds``)."""
    stdout = process.stdout
    assert stdout is not None
    seen: list[str] = []

    def printed() -> str | None:
        line = stdout.readline()  # blocks until a line: the poll needs no pause of its own
        if not line and process.poll() is not None:
            pytest.fail(f"the demo ended without printing {marker!r}:\n{''.join(seen)}")
        seen.append(line)
        return "".join(seen) if marker in line else None

    return until_sync(
        f"the demo prints {marker!r}",
        printed,
        seconds=seconds,
        interval=0,
        explain=lambda: f"it printed:\n{''.join(seen)}",
    )


def printed_exports(printed: str) -> dict[str, str]:
    """The variables of the ``export`` line the demo prints for another terminal."""
    line = next(line for line in printed.splitlines() if line.strip().startswith("export "))
    return dict(word.split("=", 1) for word in shlex.split(line)[1:])


def stopped(process: subprocess.Popen[str]) -> str:
    """What the demo printed after its Ctrl-C, until it ended; when it does not end within
    ``STOP_SECONDS``, it is killed (its pipe closed) and the test fails with what it printed."""
    try:
        rest, _ = process.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        rest, _ = process.communicate()
        pytest.fail(f"the demo did not end within {STOP_SECONDS:.0f} s of Ctrl-C:\n{rest}")
    return rest


def test_make_demo_shows_a_real_deploy_and_cleans_up_after_ctrl_c() -> None:
    for tool in ("make", "dockerd", "docker-registry", "skopeo", "busybox"):
        require_binary(tool)
    # Not the Makefile's 8080: the demo serves where $REGDEPLOY_PORT says.
    port = free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env={**demo_environment(), "REGDEPLOY_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        shown = read_until(process, WAITING, SHOWN_SECONDS + 60)
        # The printed commands, run while the demo runs, as in another terminal.
        status = subprocess.run(
            [sys.executable, "-m", "receiver", "status"],
            cwd=ROOT,
            env={**demo_environment(), **printed_exports(shown)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends
        rest = stopped(process)
    printed = shown + rest

    assert f"started regdeploy on http://127.0.0.1:{port} " in printed
    assert printed_exports(printed)["REGDEPLOY_URL"] == f"http://127.0.0.1:{port}"
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.match(rf"regdeploy \S+ at http://127\.0\.0\.1:{port}: ok\n", status.stdout)

    moved = re.search(r"a real push moved a real container, ([\d.]+) s after the install", printed)
    assert moved, printed
    assert float(moved.group(1)) < SHOWN_SECONDS
    assert re.search(
        r"deployment \d+: succeeded \(1\.1\.0 is newer than running 1\.0\.0\)", printed
    )
    assert re.search(
        r"demo-web now runs 127\.0\.0\.1:\d+/team/app:1\.1\.0@sha256:[0-9a-f]{64}", printed
    )
    assert "container:demo-web" in printed  # the `regdeploy deployments` table
    assert "stopping the demo's regdeploy, Docker engine and registry" in rest

    started = re.findall(r"(/tmp/(?:dk|rd-demo)-[\w]+)", printed)
    assert len(set(started)) == 2, printed
    for path in set(started):
        assert not Path(path).exists(), f"{path} is left behind"
        leftover = subprocess.run(
            ["pgrep", "-f", path], capture_output=True, text=True, check=False
        ).stdout
        assert leftover == "", f"processes of {path} still run: {leftover}"
