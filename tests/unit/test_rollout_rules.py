"""Rollout rules (``receiver.decide.rules.rollout``): wave sizes, which targets go first, and
what a look at a wave means, exhaustively with tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from receiver.decide.rules.health import Health, HealthState
from receiver.decide.rules.rollout import (
    Settled,
    TargetLook,
    WaveAction,
    WaveLook,
    WaveSize,
    assign_waves,
    clock_span,
    judge_wave,
    parse_wave,
    settled,
    wave_order,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def ten(waves: list[str | int], total: int = 10) -> list[int]:
    names = [f"t{i:02}" for i in range(total)]
    return [len(w) for w in assign_waves(names, [parse_wave(w) for w in waves])]


@pytest.mark.parametrize(
    ("waves", "total", "sizes"),
    [
        ([1, "50%", "100%"], 10, [1, 4, 5]),
        ([1, "25%", "100%"], 10, [1, 2, 7]),
        ([1, "25%", "100%"], 1, [1]),
        ([1, "25%", "100%"], 2, [1, 1]),
        ([1, "25%", "100%"], 4, [1, 3]),
        (["100%"], 7, [7]),
        ([2, 5, "100%"], 3, [2, 1]),
        (["10%", "100%"], 50, [5, 45]),
        (["33%", "66%", "100%"], 3, [1, 1, 1]),
        ([3, "100%"], 0, []),
    ],
)
def test_waves_are_cumulative_and_leave_out_empty_ones(
    waves: list[str | int], total: int, sizes: list[int]
) -> None:
    assert ten(waves, total) == sizes


@given(
    total=st.integers(min_value=0, max_value=200),
    waves=st.lists(
        st.one_of(
            st.integers(min_value=1, max_value=300).map(str),
            st.integers(min_value=1, max_value=100).map(lambda p: f"{p}%"),
        ),
        max_size=6,
    ),
)
def test_every_target_is_in_exactly_one_wave_in_order(total: int, waves: list[str]) -> None:
    names = [f"t{i:03}" for i in range(total)]
    groups = assign_waves(names, [parse_wave(w) for w in [*waves, "100%"]])
    assert [n for g in groups for n in g] == names
    assert all(groups)


@pytest.mark.parametrize("text", ["0", "-1", "0%", "101%", "x", "", "1.5", "abc%", True])
def test_a_wave_must_be_a_count_or_a_share(text: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_wave(text)


def test_a_share_and_a_count_say_themselves() -> None:
    assert parse_wave("25%") == WaveSize(percent=25)
    assert parse_wave(3) == WaveSize(count=3)
    assert parse_wave("12.5%").describe() == "12.5%"


def test_targets_go_by_their_wave_label_then_by_name() -> None:
    labels = {
        "c": {"wave": "1"},
        "a": {},
        "b": {"wave": "2"},
        "d": {"wave": "1"},
        "e": {"wave": "x"},
    }
    order = sorted(labels, key=lambda k: wave_order(k, k, labels[k]))
    assert order == ["c", "d", "b", "a", "e"]


def look(
    key: str,
    state: HealthState | None = HealthState.HEALTHY,
    marks: str = "m",
    *,
    baseline: str | None = None,
    settled_as: Settled = Settled.DONE,
) -> TargetLook:
    health = None if state is None else Health(state=state, words=f"{state}", marks=marks)
    return TargetLook(key=key, settled=settled_as, words="deploy words", health=health,
                      baseline=baseline)  # fmt: skip


def wave(*, since: datetime | None = None, settled_at: datetime | None = NOW,
         verify: str | None = None) -> WaveLook:  # fmt: skip
    return WaveLook(number=1, count=3, soak=timedelta(minutes=5),
                    health_timeout=timedelta(minutes=10), settled_at=settled_at,
                    healthy_since=since, verify_failure=verify)  # fmt: skip


SOAKING = NOW - timedelta(minutes=2)


@pytest.mark.parametrize(
    ("the_wave", "looks", "action", "words"),
    [
        (
            wave(),
            [look("a"), look("b")],
            WaveAction.SOAK,
            "wave 2 of 3 starts when wave 1 has been healthy for 5 min: 5 min to go",
        ),
        (wave(since=SOAKING), [look("a", baseline="m")], WaveAction.WAIT, "3 min to go"),
        (
            wave(since=NOW - timedelta(minutes=5)),
            [look("a", baseline="m")],
            WaveAction.ADVANCE,
            "wave 1 of 3 healthy for 5 min",
        ),
        (
            wave(since=SOAKING),
            [look("a", marks="n", baseline="m")],
            WaveAction.FAIL,
            "a restarted during the soak",
        ),
        (
            wave(since=SOAKING),
            [look("a", HealthState.PENDING, marks="n", baseline="m")],
            WaveAction.FAIL,
            "restarted during the soak",
        ),
        (
            wave(since=SOAKING),
            [look("a", HealthState.UNKNOWN, marks="", baseline="m")],
            WaveAction.WAIT,
            "cannot tell whether a is healthy",
        ),
        (wave(), [look("a"), look("b", HealthState.FAILED)], WaveAction.FAIL, "b: failed"),
        (
            wave(),
            [look("a"), look("b", HealthState.PENDING)],
            WaveAction.WAIT,
            "waiting for b to be healthy",
        ),
        (
            wave(settled_at=NOW - timedelta(minutes=10)),
            [look("b", HealthState.PENDING)],
            WaveAction.FAIL,
            "not healthy within 10 min: b",
        ),
        (
            wave(settled_at=NOW - timedelta(minutes=10)),
            [look("b", HealthState.UNKNOWN)],
            WaveAction.WAIT,
            "cannot tell",
        ),
        (
            wave(),
            [look("a"), look("b", settled_as=Settled.UNDERWAY)],
            WaveAction.WAIT,
            "wave 1 of 3 deploying: 1 of 2 done",
        ),
        (wave(), [look("a", settled_as=Settled.FAILED)], WaveAction.FAIL, "a: deploy words"),
        (
            wave(since=SOAKING, verify="http://x answered 503, expected 200"),
            [look("a", baseline="m")],
            WaveAction.FAIL,
            "verify: http://x answered 503",
        ),
    ],
)
def test_a_look_at_a_wave(
    the_wave: WaveLook, looks: list[TargetLook], action: WaveAction, words: str
) -> None:
    verdict = judge_wave(the_wave, looks, now=NOW)
    assert (verdict.action, words in verdict.words) == (action, True), verdict.words


def test_a_dry_run_is_not_asked_for_its_health() -> None:
    dry = TargetLook(key="a", settled=Settled.DONE, health=None, deployed=False)
    assert judge_wave(wave(), [dry], now=NOW).action is WaveAction.SOAK


def test_the_last_wave_completes_the_rollout() -> None:
    last = WaveLook(
        number=3,
        count=3,
        soak=timedelta(seconds=90),
        health_timeout=timedelta(minutes=10),
        settled_at=NOW,
        healthy_since=None,
    )
    assert judge_wave(last, [look("a")], now=NOW).words == (
        "wave 3 of 3 completes the rollout when it has been healthy for 1 min 30 s: "
        "1 min 30 s to go"
    )


@pytest.mark.parametrize(
    ("status", "as_seen"),
    [("succeeded", Settled.DONE), ("dry_run", Settled.DONE), ("adopted", Settled.DONE),
     ("planned", Settled.UNDERWAY), ("running", Settled.UNDERWAY), ("waiting", Settled.UNDERWAY),
     ("failed", Settled.FAILED), ("refused", Settled.FAILED), ("rolled_back", Settled.FAILED),
     ("superseded", Settled.FAILED), ("cancelled", Settled.FAILED), ("skipped", Settled.FAILED)],
)  # fmt: skip
def test_a_deployment_status_as_a_wave_sees_it(status: str, as_seen: Settled) -> None:
    assert settled(status) is as_seen


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (0.2, "1 s"), (12, "12 s"), (60, "1 min"), (192, "3 min 12 s"),
     (3600, "1 h"), (5400, "1 h 30 min"), (-5, "0 s")],
)  # fmt: skip
def test_a_span_to_the_second(seconds: float, words: str) -> None:
    assert clock_span(timedelta(seconds=seconds)) == words


def test_a_wave_without_a_soak_advances_in_the_look_that_finds_it_healthy() -> None:
    no_soak = WaveLook(
        number=1,
        count=2,
        soak=timedelta(0),
        health_timeout=timedelta(minutes=10),
        settled_at=NOW,
        healthy_since=None,
    )
    assert judge_wave(no_soak, [look("a")], now=NOW).action is WaveAction.ADVANCE
    pending = [look("a", HealthState.PENDING)]
    assert judge_wave(no_soak, pending, now=NOW).action is WaveAction.WAIT
