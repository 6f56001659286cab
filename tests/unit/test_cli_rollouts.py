"""How ``regdeploy rollouts``, ``rollout ID`` and ``promote`` show the API's answers: the table
of rollouts, one rollout wave by wave, and a promotion."""

from __future__ import annotations

from typing import Any, cast

import pytest

from receiver.cli import rollouts as shown
from receiver.views.rollout_answers import (
    PromotionJson,
    RolloutJson,
    RolloutTargetJson,
    RolloutWaveJson,
)

IMAGE = "registry.test:5000/team/app:1.1.0@sha256:" + "ab" * 32
BEFORE = "registry.test:5000/team/app:1.0.0@sha256:" + "cd" * 32
AT = "2026-12-02T18:48:00+00:00"
SOON = "2026-12-02T18:48:10.5+00:00"
WORDS = "wave 2 of 3 starts when wave 1 has been healthy for 10 s: 7 s to go"


def target(name: str, status: str | None, **said: Any) -> RolloutTargetJson:
    return {
        "key": f"recording:{name}",
        "kind": "recording",
        "name": name,
        "deployment_id": said.get("deployment_id"),
        "status": status,
        "message": said.get("message"),
        "previous_image": BEFORE,
        "health": said.get("health"),
        "rollback_id": said.get("rollback_id"),
        "rollback_status": said.get("rollback_status"),
    }


def wave(number: int, state: str, *targets: RolloutTargetJson, **times: str) -> RolloutWaveJson:
    return {
        "number": number,
        "state": state,
        "targets": list(targets),
        "started_at": times.get("started_at"),
        "healthy_since": times.get("healthy_since"),
        "finished_at": times.get("finished_at"),
    }


def rollout(**overrides: Any) -> RolloutJson:
    answer: RolloutJson = {
        "id": 7,
        "repository": "team/app",
        "stage": None,
        "image": IMAGE,
        "tag": "1.1.0",
        "digest": "sha256:" + "ab" * 32,
        "state": "running",
        "rolling_back": False,
        "words": WORDS,
        "reason": None,
        "trigger": "push",
        "event_id": 3,
        "wave": 1,
        "waves": [
            wave(
                1,
                "soaking",
                target("web-01", "succeeded", deployment_id=11, health="running"),
                started_at=AT,
                healthy_since=SOON,
            ),
            wave(2, "pending", target("web-02", "waiting", deployment_id=12, message="waits")),
            wave(3, "pending"),
        ],
        "soak_seconds": 10.0,
        "on_failure": "rollback",
        "promoted_from": None,
        "promote_at": None,
        "created_at": AT,
        "updated_at": SOON,
        "finished_at": None,
    }
    return cast(RolloutJson, {**answer, **overrides})


@pytest.mark.parametrize(
    ("answer", "row"),
    [
        (rollout(), ["7", "team/app", "-", "1.1.0", "running", "1/3", WORDS]),
        (
            rollout(stage="prod", wave=2, state="halted", rolling_back=True, words="rolling back"),
            ["7", "team/app", "prod", "1.1.0", "halted, rolling back", "2/3", "rolling back"],
        ),
        (
            rollout(tag="", state="completed", wave=3, words="completed"),
            ["7", "team/app", "-", "-", "completed", "3/3", "completed"],
        ),
    ],
    ids=["running", "rolling back in a stage", "completed without a tag"],
)
def test_the_table_of_rollouts(answer: RolloutJson, row: list[str]) -> None:
    header, line = shown.rollouts({"rollouts": [answer]}).splitlines()
    assert header.startswith("ID  REPOSITORY  STAGE")
    assert header.endswith("WAVE  WHERE IT STANDS")
    assert [cell.strip() for cell in line.split("  ") if cell.strip()] == row


def test_no_rollouts_says_where_they_come_from() -> None:
    assert shown.rollouts({"rollouts": []}) == (
        "no rollouts (a repository with rollout: or stages: rolls out its pushes)"
    )


def test_one_rollout_wave_by_wave() -> None:
    assert shown.rollout(rollout()).splitlines() == [
        "rollout 7 of team/app: 1.1.0@sha256:abababababab",
        f"running, wave 1 of 3: {WORDS}",
        "trigger push (event 3); each wave soaks 10 s; on failure: rollback",
        "created 2026-12-02 18:48:00, updated 2026-12-02 18:48:10, finished -",
        "",
        "wave 1 of 3: soaking; started 2026-12-02 18:48:00; healthy since 2026-12-02 18:48:10",
        "  TARGET            DEPLOYMENT  STATUS     BEFORE                     ROLLBACK  DETAIL",
        "  recording:web-01  11          succeeded  1.0.0@sha256:cdcdcdcdcdcd  -         running",
        "",
        "wave 2 of 3: pending",
        "  TARGET            DEPLOYMENT  STATUS   BEFORE                     ROLLBACK  DETAIL",
        "  recording:web-02  12          waiting  1.0.0@sha256:cdcdcdcdcdcd  -         waits",
        "",
        "wave 3 of 3: pending",
        "  no targets",
    ]


def test_a_rolled_back_rollout_of_a_stage_says_why_and_where_it_came_from() -> None:
    failed = target(
        "web-01", "succeeded", deployment_id=11, health="exited with code 1",
        rollback_id=21, rollback_status="succeeded",
    )  # fmt: skip
    answer = rollout(
        stage="prod",
        state="rolled_back",
        words="rolled back: 1 of 1 target on the image they ran before",
        reason="wave 1 of 3 failed: exited with code 1",
        trigger="promote",
        event_id=None,
        soak_seconds=1800.0,
        promoted_from=5,
        finished_at=SOON,
        waves=[wave(1, "failed", failed, started_at=AT, finished_at=SOON)],
    )
    lines = shown.rollout(answer).splitlines()
    assert lines[:6] == [
        "rollout 7 of team/app (stage prod): 1.1.0@sha256:abababababab",
        "rolled_back, wave 1 of 1: rolled back: 1 of 1 target on the image they ran before",
        "why: wave 1 of 3 failed: exited with code 1",
        "trigger promote; each wave soaks 30 min; on failure: rollback",
        "promoted from rollout 5",
        "created 2026-12-02 18:48:00, updated 2026-12-02 18:48:10, finished 2026-12-02 18:48:10",
    ]
    assert (
        lines[7] == "wave 1 of 1: failed; started 2026-12-02 18:48:00; finished 2026-12-02 18:48:10"
    )
    assert lines[-1].split("  ")[-1] == "exited with code 1"
    assert "21 succeeded" in lines[-1]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(10.0, "10 s"), (90.0, "90 s"), (300.0, "5 min"), (7200.0, "2 h"), (0.5, "0.5 s")],
)
def test_a_soak_reads_as_it_is_configured(seconds: float, text: str) -> None:
    assert shown.seconds_text(seconds) == text


@pytest.mark.parametrize(
    ("source", "forced", "deployments", "lines"),
    [
        (
            5,
            False,
            [31, 32],
            [
                "team/app 1.1.0@sha256:abababababab promoted to prod from rollout 5",
                "deployments 31, 32 decided: `regdeploy rollouts --repository team/app` shows how "
                "it goes",
            ],
        ),
        (
            None,
            True,
            [31],
            [
                "team/app 1.1.0@sha256:abababababab promoted to prod from no rollout; forced: it "
                "had not passed the stage before (audited)",
                "deployment 31 decided: `regdeploy rollouts --repository team/app` shows how it "
                "goes",
            ],
        ),
    ],
    ids=["passed", "forced"],
)
def test_a_promotion_says_what_went_where(
    source: int | None, forced: bool, deployments: list[int], lines: list[str]
) -> None:
    answer: PromotionJson = {
        "source": source,
        "stage": "prod",
        "image": IMAGE,
        "deployments": deployments,
        "forced": forced,
    }
    assert shown.promotion(answer, repository="team/app").splitlines() == lines
