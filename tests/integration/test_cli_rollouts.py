"""The rollout commands of ``regdeploy`` against a running regdeploy (the real app on a real
port, a real PostgreSQL, the recording deployer with ten targets, a clock the test moves and the
rollout loop's rounds driven): what ``rollouts``, ``rollout ID``, ``rollout ID resume|abandon``
and ``promote`` print, and how they exit when the service refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployers.base import Health, HealthState
from tests.support.app import StartApp
from tests.support.cli_env import isolated_client, run_cli
from tests.support.pushes import NAME, digest, push
from tests.support.rollouts import TARGET_ENTRIES, Fleet, fleet_starter, pushed, step
from tests.support.settings import READ_TOKEN

#: team/app in two stages: staging (web-01 to web-05), then prod (the rest), 30 min later.
STAGES = [
    {"name": "staging", "select": {"targets": TARGET_ENTRIES[:5]}},
    {"name": "prod", "select": {"targets": TARGET_ENTRIES[5:]}, "promote": {"soak": "30m"}},
]


@pytest.fixture(autouse=True)
def no_client_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    yield from isolated_client(monkeypatch, tmp_path)


@pytest.fixture
def fleet(start_app: StartApp) -> Fleet:
    return fleet_starter(start_app)


def row_of(out: str, first: str) -> list[str]:
    """The cells (split on runs of two spaces) of the line of ``out`` that starts ``first``."""
    [line] = [line for line in out.splitlines() if line.strip().startswith(first)]
    return [cell.strip() for cell in line.strip().split("  ") if cell.strip()]


async def test_rollouts_lists_the_rollout_with_where_it_stands(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await fleet()
    rollout = await pushed(app)
    code, out, err = await run_cli(app, capsys, "rollouts", token=READ_TOKEN)
    assert (code, err) == (0, "")
    header, _ = out.splitlines()
    assert header == "ID  REPOSITORY  STAGE  TAG    STATE    WAVE  WHERE IT STANDS"
    assert row_of(out, str(rollout["id"])) == [
        str(rollout["id"]), NAME, "-", "1.1.0", "running", "1/3", rollout["words"],
    ]  # fmt: skip
    assert "wave 2 of 3 starts when wave 1 has been healthy for 10 s" in rollout["words"]

    code, out, _ = await run_cli(app, capsys, "rollouts", "--json", token=READ_TOKEN)
    assert json.loads(out) == {"rollouts": [rollout]}
    code, out, _ = await run_cli(app, capsys, "rollouts", "--state", "completed", "--repo", NAME)
    assert (code, out) == (
        0, "no rollouts (a repository with rollout: or stages: rolls out its pushes)\n"
    )  # fmt: skip
    code, _, err = await run_cli(app, capsys, "rollouts", "--state", "sideways")
    assert code == 1 and err.startswith("regdeploy: state must be one of running, halted")


async def test_rollout_shows_each_wave_with_its_targets(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await fleet()
    rollout = await pushed(app)
    number = rollout["id"]
    [first] = rollout["waves"][0]["targets"]

    code, out, err = await run_cli(app, capsys, "rollout", str(number), token=READ_TOKEN)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[:3] == [
        f"rollout {number} of {NAME}: 1.1.0@sha256:000000000000",
        f"running, wave 1 of 3: {rollout['words']}",
        f"trigger push (event {rollout['event_id']}); each wave soaks 10 s; on failure: rollback",
    ]
    assert "wave 1 of 3: soaking; started 2026-12-02 18:48:00; healthy since 2026-12-02 18:48:00" \
        in lines  # fmt: skip
    assert row_of(out, "recording:web-01") == [
        "recording:web-01", str(first["deployment_id"]), "succeeded",
        "1.0.0@sha256:000000000000", "-", "running",
    ]  # fmt: skip
    assert "wave 2 of 3: pending" in lines and "wave 3 of 3: pending" in lines
    assert row_of(out, "recording:web-10")[2] == "waiting"

    code, out, _ = await run_cli(app, capsys, "rollout", str(number), "--json", token=READ_TOKEN)
    assert json.loads(out) == rollout
    code, _, err = await run_cli(app, capsys, "rollout", "999", token=READ_TOKEN)
    assert (code, err) == (1, "regdeploy: no rollout 999 (HTTP 404)\n")


async def test_abandon_stops_it_and_a_second_abandon_says_why_not(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await fleet()
    number = (await pushed(app))["id"]

    code, _, err = await run_cli(app, capsys, "rollout", str(number), "abandon", token=READ_TOKEN)
    assert (code, err) == (1, "regdeploy: this token may only read (HTTP 403)\n")
    code, out, err = await run_cli(app, capsys, "rollout", str(number), "abandon")
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == "abandoned, wave 1 of 3: abandoned by admin at wave 1 of 3"
    assert row_of(out, "recording:web-10")[2] == "cancelled"
    app.clock.advance(seconds=10)
    await step(app)
    assert len(app.deployer.calls) == 1

    code, out, err = await run_cli(app, capsys, "rollout", str(number), "abandon")
    assert (code, out) == (1, "")
    assert err == (
        f"regdeploy: rollout {number} is abandoned: only a running or halted rollout can be "
        "abandoned (HTTP 409)\n"
    )
    code, _, err = await run_cli(app, capsys, "rollout", str(number), "resume")
    assert code == 1 and "only a halted rollout that was not rolled back" in err


async def test_resume_goes_on_with_a_halted_rollout(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await fleet(rollout={"on_failure": "halt"})
    sick = Health(state=HealthState.FAILED, words="healthcheck failing")
    app.deployer.health_of["recording:web-01"] = sick
    await push(app.client, "1.1.0", 2)
    await step(app, 3)
    [halted] = (await app.get("/api/v1/rollouts"))["rollouts"]
    code, out, _ = await run_cli(app, capsys, "rollouts")
    assert row_of(out, str(halted["id"]))[4:6] == ["halted", "1/3"]
    assert "resume or abandon it" in out

    del app.deployer.health_of["recording:web-01"]
    code, out, err = await run_cli(app, capsys, "rollout", str(halted["id"]), "resume")
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == ("running, wave 1 of 3: resumed by admin: wave 1 of 3 deploying")


async def test_promote_refuses_a_digest_that_has_not_passed_the_stage_before(
    fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    app = await fleet(stages=STAGES)
    staging = await pushed(app)
    assert (staging["stage"], staging["state"]) == ("staging", "running")

    code, out, err = await run_cli(app, capsys, "promote", NAME, "prod")
    assert (code, out) == (1, "")
    assert err.startswith(f"regdeploy: {digest(2)} has not passed staging: rollout ")
    assert err.endswith("; --force to promote anyway (HTTP 409)\n")
    code, _, err = await run_cli(app, capsys, "promote", NAME, "qa")
    assert (code, err) == (
        1, f"regdeploy: no stage 'qa' of {NAME} (stages: staging, prod) (HTTP 404)\n"
    )  # fmt: skip

    code, out, err = await run_cli(app, capsys, "promote", NAME, "prod", "--force")
    assert (code, err) == (0, "")
    first, second = out.splitlines()
    assert first == (
        f"{NAME} 1.1.0@sha256:000000000000 promoted to prod from rollout {staging['id']}; "
        "forced: it had not passed the stage before (audited)"
    )
    assert second.startswith("deployments ") and second.endswith(
        f" decided: `regdeploy rollouts --repository {NAME}` shows how it goes"
    )
    code, out, _ = await run_cli(app, capsys, "rollouts", "--repository", NAME)
    stages = [line.split()[2] for line in out.splitlines()[1:]]
    assert stages == ["prod", "staging"]  # newest first
