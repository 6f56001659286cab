"""The release-control commands of ``regdeploy`` against a running regdeploy (the real app on a
real port, a real PostgreSQL, a recording deployer, a clock the test moves): what ``approve``,
``reject``, ``freeze``, ``unfreeze``, ``freezes``, ``explain`` and ``deployments`` print."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import deployments
from tests.support.app import StartApp
from tests.support.cli_env import isolated_client, run_cli
from tests.support.pushes import NAME, push
from tests.support.release import ALICE_TOKEN, BOB_TOKEN, EVENINGS, Start, starter
from tests.support.settings import READ_TOKEN

WINDOW = "outside the window mon–fri 22:00–23:30 Europe/Berlin; opens in 2 h 12 min"


@pytest.fixture(autouse=True)
def no_client_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from isolated_client(monkeypatch, tmp_path)


@pytest.fixture
def start(start_app: StartApp) -> Start:
    return starter(start_app)


async def test_approve_explain_and_deployments_say_what_a_deploy_waits_for(
    start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await start(windows=EVENINGS, approvals=2)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    waiting = (await app.only())["id"]

    code, out, _ = await run_cli(app, capsys, "approve", str(waiting), token=ALICE_TOKEN)
    assert code == 0
    assert out == (
        f"deployment {waiting} (team/app 1.1.0 to recording:web): approved by alice; "
        f"waits for: {WINDOW}; 1 of 2 approvals (alice)\n"
    )
    code, out, _ = await run_cli(app, capsys, "explain", NAME)
    assert "  release: windows mon–fri 22:00–23:30 Europe/Berlin; 2 approvals\n" in out
    assert (
        f"  waiting: deployment {waiting} (1.1.0@sha256:000000000000) waits for: {WINDOW}; "
        "1 of 2 approvals (alice)\n"
    ) in out
    code, out, _ = await run_cli(app, capsys, "deployments")
    assert f"waiting  push     1.1.0 is newer than running 1.0.0 (waits for: {WINDOW};" in out

    code, _, err = await run_cli(app, capsys, "approve", str(waiting), token=READ_TOKEN)
    assert (code, err) == (1, "regdeploy: this token may only read (HTTP 403)\n")
    code, out, _ = await run_cli(
        app, capsys, "reject", str(waiting), "-m", "not today", token=BOB_TOKEN
    )
    assert (code, out.endswith("): rejected by bob: not today\n")) == (0, True)
    code, _, err = await run_cli(app, capsys, "approve", str(waiting))
    assert (code, err) == (
        1,
        f"regdeploy: deployment {waiting} is rejected, not waiting (HTTP 409)\n",
    )


async def test_freeze_unfreeze_and_the_freezes(
    start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await start()
    code, out, _ = await run_cli(app, capsys, "freeze", NAME, "--reason", "incident 42")
    assert code == 0
    assert out.startswith("team/app frozen by admin: incident 42\n\nFROZEN    BY     SINCE")
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)

    code, out, _ = await run_cli(app, capsys, "status")
    assert "frozen      team/app frozen by admin: incident 42\n" in out
    assert "1 waiting" in out
    code, out, _ = await run_cli(app, capsys, "freezes", "--json")
    assert [f["reason"] for f in json.loads(out)["freezes"]] == ["incident 42"]

    code, out, _ = await run_cli(app, capsys, "unfreeze", NAME)
    waiting = (await app.only())["id"]
    assert (
        out == f"team/app unfrozen by admin; released deployment {waiting}\n\nnothing is frozen\n"
    )
    await app.rounds(1)
    assert len(app.deployer.calls) == 1
    code, out, _ = await run_cli(app, capsys, "unfreeze")
    assert out.startswith("every repository was not frozen\n")


async def test_a_pin_under_a_freeze_says_its_deploy_waits(
    start: Start, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await start()
    await push(app.client, "1.0.0", 1)
    await push(app.client, "1.1.0", 2)
    await app.rounds(1)
    assert len(app.deployer.calls) == 1
    code, _, _ = await run_cli(app, capsys, "freeze", NAME, "--reason", "incident 42")
    assert code == 0

    code, out, err = await run_cli(app, capsys, "pin", NAME, "1.0.0")
    assert code == 0, err
    [waiting] = [d["id"] for d in await deployments(app.client) if d["status"] == "waiting"]
    lines = out.splitlines()
    assert lines[0] == (
        'team/app: pinned_tag: "" → "1.0.0"; '
        "1.0.0 to recording:web waits for: team/app frozen by admin: incident 42"
    )
    [row] = [line for line in lines if line.startswith("recording:web")]
    assert row.split()[3] == "waits"
    assert lines[-1] == (
        f"deployment {waiting} waits (`regdeploy explain {NAME}` says for what): "
        f"`regdeploy deployments --repo {NAME} --follow` shows how it goes"
    )
    assert "planned" not in out
    await app.rounds(1)
    assert len(app.deployer.calls) == 1
