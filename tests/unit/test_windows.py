"""Deploy windows: days, times, zones, midnight and both sides of the daylight-saving changes of
Europe/Berlin and America/New_York (2026: Berlin moves to summer time on 29 March and back on 25
October; New York on 8 March and 1 November)."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from receiver.decide.rules.windows import (
    Window,
    days_text,
    next_opening,
    open_now,
    parse_clock,
    parse_days,
    parse_window_text,
    read_window,
)
from receiver.errors import ReleaseRuleError


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def one(text: str) -> Window:
    [found] = parse_window_text(text)
    return found


TWICE = list(
    parse_window_text("mon-fri 06:00-07:00 Europe/Berlin; mon-fri 22:00-23:30 Europe/Berlin")
)
EVENINGS = one("mon-fri 22:00-23:30 Europe/Berlin")
NY_NIGHT = one("daily 01:30-02:30 America/New_York")
FRIDAY_NIGHT = one("fri 22:00-02:00 UTC")
BERLIN_NIGHT = one("daily 23:00-04:00 Europe/Berlin")


@pytest.mark.parametrize(
    ("window", "now", "opens", "closes"),
    [
        # Berlin, winter time (UTC+1) before 29 March, summer time (UTC+2) after.
        (EVENINGS, "2026-03-27 21:10", "2026-03-27 21:00", "2026-03-27 22:30"),
        (EVENINGS, "2026-03-30 20:00", "2026-03-30 20:00", "2026-03-30 21:30"),
        (EVENINGS, "2026-10-23 21:29", "2026-10-23 20:00", "2026-10-23 21:30"),
        (EVENINGS, "2026-10-26 22:29", "2026-10-26 21:00", "2026-10-26 22:30"),
        # New York: 02:30 does not exist on 8 March (the window closes when the clock jumps,
        # one real hour after it opened); 01:30 happens twice on 1 November (it opens at the
        # first, and stays open through the repeated hour: two real hours).
        (NY_NIGHT, "2026-03-07 06:45", "2026-03-07 06:30", "2026-03-07 07:30"),
        (NY_NIGHT, "2026-03-08 07:00", "2026-03-08 06:30", "2026-03-08 07:30"),
        (NY_NIGHT, "2026-03-09 05:30", "2026-03-09 05:30", "2026-03-09 06:30"),
        (NY_NIGHT, "2026-11-01 06:45", "2026-11-01 05:30", "2026-11-01 07:30"),
        (NY_NIGHT, "2026-11-02 07:00", "2026-11-02 06:30", "2026-11-02 07:30"),
        # Across midnight: Friday's window is still open early on Saturday.
        (FRIDAY_NIGHT, "2026-12-05 01:59", "2026-12-04 22:00", "2026-12-05 02:00"),
        # Across midnight on the night Berlin moves to summer time: 4 real hours become 4
        # hours of wall clock less the skipped one.
        (BERLIN_NIGHT, "2026-03-29 01:30", "2026-03-28 22:00", "2026-03-29 02:00"),
        (BERLIN_NIGHT, "2026-10-25 02:30", "2026-10-24 21:00", "2026-10-25 03:00"),
    ],
)
def test_open_now(window: Window, now: str, opens: str, closes: str) -> None:
    found = open_now([window], utc(now))
    assert found is not None
    assert (found.opens, found.closes) == (utc(opens), utc(closes))


@pytest.mark.parametrize(
    ("windows", "now", "opens"),
    [
        ([EVENINGS], "2026-12-02 12:00", "2026-12-02 21:00"),  # Wednesday, later that day
        ([EVENINGS], "2026-12-04 22:30", "2026-12-07 21:00"),  # Friday's closed: Monday
        ([EVENINGS], "2026-03-28 12:00", "2026-03-30 20:00"),  # over the change to summer time
        ([EVENINGS], "2026-10-24 12:00", "2026-10-26 21:00"),  # over the change back
        ([NY_NIGHT], "2026-03-08 07:30", "2026-03-09 05:30"),
        ([NY_NIGHT], "2026-10-31 12:00", "2026-11-01 05:30"),
        ([NY_NIGHT], "2026-11-01 07:30", "2026-11-02 06:30"),
        ([FRIDAY_NIGHT], "2026-12-05 02:00", "2026-12-11 22:00"),
        ([FRIDAY_NIGHT], "2026-12-07 01:00", "2026-12-11 22:00"),  # Sunday night is not Friday's
        # Two windows a day: the morning's, then the evening's, then the next morning's.
        (
            TWICE,
            "2026-12-02 07:00",
            "2026-12-02 21:00",
        ),
        (
            TWICE,
            "2026-12-02 22:45",
            "2026-12-03 05:00",
        ),
    ],
)  # fmt: skip
def test_next_opening(windows: list[Window], now: str, opens: str) -> None:
    assert open_now(windows, utc(now)) is None
    found = next_opening(windows, utc(now))
    assert found is not None
    assert found.opens == utc(opens)


@pytest.mark.parametrize(
    ("window", "now"),
    [
        (EVENINGS, "2026-03-27 22:30"),  # the closing minute is outside
        (EVENINGS, "2026-03-30 19:59"),
        (EVENINGS, "2026-12-05 21:30"),  # Saturday
        (NY_NIGHT, "2026-03-08 07:30"),
        (NY_NIGHT, "2026-11-01 05:29"),
        (FRIDAY_NIGHT, "2026-12-04 21:59"),
    ],
)
def test_closed(window: Window, now: str) -> None:
    assert open_now([window], utc(now)) is None


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("mon–fri", {0, 1, 2, 3, 4}),
        ("sat,sun", {5, 6}),
        ("fri-mon", {4, 5, 6, 0}),
        ("Monday", {0}),
        ("daily", set(range(7))),
        ("mon, wed-thu", {0, 2, 3}),
    ],
)
def test_days(text: str, days: set[int]) -> None:
    assert parse_days(text) == frozenset(days)


def test_days_from_a_list_and_in_words() -> None:
    assert parse_days(["mon", "fri-sun"]) == frozenset({0, 4, 5, 6})
    assert days_text(frozenset({0, 4, 5, 6}), "–") == "mon, fri–sun"
    assert days_text(frozenset(range(7)), "-") == "daily"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("someday 10:00-11:00", "unknown day 'someday'"),
        ("mon 10:00", "expected FROM-TO"),
        ("mon 10:00-10:00 UTC", "is empty"),
        ("mon 10:00-11:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("mon 25:00-26:00", "expected a time from 00:00 to 24:00"),
        ("mon", "expected DAYS FROM-TO"),
        (";", "at least one window"),
    ],
)
def test_refused_window_texts(text: str, problem: str) -> None:
    with pytest.raises(ReleaseRuleError, match=problem):
        parse_window_text(text)


def test_windows_from_the_configuration_and_back() -> None:
    raw = {"days": "mon-fri", "from": "22:00", "to": "24:00", "timezone": "Europe/Berlin"}
    window = read_window(raw)
    assert (window.start, window.end) == (time(22), time(0))
    assert window.describe() == "mon–fri 22:00–24:00 Europe/Berlin"
    assert read_window(window.as_json()) == window
    assert read_window({"days": "sat", "from": "1:00", "to": "2:00"}).timezone == "UTC"
    assert parse_clock("7:05") == time(7, 5)
    assert parse_window_text("always") == ()
    with pytest.raises(ReleaseRuleError, match="unknown key 'at'"):
        read_window({**raw, "at": "x"})
    with pytest.raises(ReleaseRuleError, match="needs 'to'"):
        read_window({"days": "mon", "from": "10:00"})
