"""Deploy windows: weekly spans of local wall-clock time in an IANA time zone (pure, no I/O).

A window opens on each of its ``days`` at ``start`` and closes at ``end`` in ``timezone``; an
``end`` at or before ``start`` closes on the next day (a window across midnight belongs to the
day it opens). Times are wall-clock times read through ``zoneinfo``, so a window follows the
daylight-saving changes of its zone:

- a time the clock skips (02:30 when it jumps from 02:00 to 03:00) counts as if the clock had not
  changed yet: the window opens (or closes) when the clock jumps, shifted by the gap;
- a time the clock passes twice (02:30 when it goes back from 03:00 to 02:00) is its first
  occurrence.

Every comparison is made in UTC: aware datetimes of one zone compare by their wall-clock time,
which is wrong across a change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from receiver.errors import ReleaseRuleError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
#: How the days and hours of a window are joined in words ("mon–fri 22:00–23:30").
DASH = "–"
_EVERY_DAY = frozenset(range(7))
_EVERY_DAY_WORDS = ("daily", "*", "every day")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
# Days before and after today whose openings are looked at: enough for a weekly window.
_LOOK_BACK, _LOOK_AHEAD = 1, 8


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A weekly deploy window: on ``days`` (0 = Monday) from ``start`` to ``end`` in
    ``timezone``."""

    days: frozenset[int]
    start: time
    end: time
    timezone: str

    def describe(self) -> str:
        """``mon–fri 22:00–23:30 Europe/Berlin``."""
        hours = f"{self.start:%H:%M}{DASH}{_clock(self.end, end=True)}"
        return f"{days_text(self.days, DASH)} {hours} {self.timezone}"

    def as_json(self) -> dict[str, str]:
        return {
            "days": days_text(self.days, "-"),
            "from": f"{self.start:%H:%M}",
            "to": _clock(self.end, end=True),
            "timezone": self.timezone,
        }

    def spans(self, around: datetime) -> Iterator[Opening]:
        """This window's openings from the day before ``around`` to a week after, in order."""
        zone = ZoneInfo(self.timezone)
        today = around.astimezone(zone).date()
        for offset in range(-_LOOK_BACK, _LOOK_AHEAD + 1):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            closing_day = day + timedelta(days=1) if self.end <= self.start else day
            opens, closes = _utc(day, self.start, zone), _utc(closing_day, self.end, zone)
            if closes > opens:
                yield Opening(opens=opens, closes=closes, window=self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Opening:
    """One opening of a window, in UTC: from ``opens`` until (not including) ``closes``."""

    opens: datetime
    closes: datetime
    window: Window


def open_now(windows: Sequence[Window], now: datetime) -> Opening | None:
    """The opening of ``windows`` that ``now`` is in (the one closing last), or None."""
    inside = [o for w in windows for o in w.spans(now) if o.opens <= now < o.closes]
    return max(inside, key=lambda o: o.closes, default=None)


def next_opening(windows: Sequence[Window], now: datetime) -> Opening | None:
    """The first opening of ``windows`` after ``now``, or None when none opens within a week
    (only possible with no window at all)."""
    later = [o for w in windows for o in w.spans(now) if o.opens > now]
    return min(later, key=lambda o: o.opens, default=None)


def read_window(raw: Mapping[str, object]) -> Window:
    """A window from the configuration: ``{days, from, to, timezone}`` (timezone: UTC when
    left out)."""
    unknown = sorted(set(raw) - {"days", "from", "to", "timezone"})
    if unknown:
        raise ReleaseRuleError(f"unknown key {unknown[0]!r} (expected days, from, to, timezone)")
    for key in ("days", "from", "to"):
        if raw.get(key) in (None, ""):
            raise ReleaseRuleError(f"a window needs {key!r}")
    return window(
        days=parse_days(raw["days"]),
        start=parse_clock(str(raw["from"])),
        end=parse_clock(str(raw["to"])),
        timezone=str(raw.get("timezone") or "UTC"),
    )


def parse_window_text(text: str) -> tuple[Window, ...]:
    """Windows written on one line, as a label or job meta holds them:
    ``mon-fri 22:00-23:30 Europe/Berlin; sat 10:00-12:00`` (the zone defaults to UTC);
    ``always`` for no window at all."""
    if text.strip().lower() == "always":
        return ()
    windows = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        words = part.split()
        if len(words) not in (2, 3):
            example = "mon-fri 22:00-23:30 Europe/Berlin"
            raise ReleaseRuleError(f"expected DAYS FROM-TO [TIMEZONE] ({example}), got {part!r}")
        start, dash, end = words[1].replace(DASH, "-").partition("-")
        if not dash:
            raise ReleaseRuleError(f"expected FROM-TO (22:00-23:30), got {words[1]!r}")
        zone = words[2] if len(words) == 3 else "UTC"
        windows.append(
            window(days=parse_days(words[0]), start=parse_clock(start), end=parse_clock(end),
                   timezone=zone)
        )  # fmt: skip
    if not windows:
        raise ReleaseRuleError("expected at least one window, or always")
    return tuple(windows)


def window(*, days: frozenset[int], start: time, end: time, timezone: str) -> Window:
    """A checked window: a known time zone, and a start that differs from the end."""
    if start == end:
        raise ReleaseRuleError(f"a window from {start:%H:%M} to {_clock(end, end=True)} is empty")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReleaseRuleError(
            f"unknown time zone {timezone!r} (e.g. Europe/Berlin, UTC)"
        ) from None
    return Window(days=days, start=start, end=end, timezone=timezone)


def parse_days(value: object) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``fri-mon`` (across the week's end), ``daily``, or a list of
    such parts."""
    parts = value if isinstance(value, list) else str(value).split(",")
    days: set[int] = set()
    for part in (str(p).strip().lower().replace(DASH, "-") for p in parts):
        if part in _EVERY_DAY_WORDS:
            days |= _EVERY_DAY
            continue
        first, dash, last = part.partition("-")
        start, end = _day(first), _day(last) if dash else _day(first)
        days |= {(start + i) % 7 for i in range((end - start) % 7 + 1)}
    if not days:
        raise ReleaseRuleError("a window needs at least one day")
    return frozenset(days)


def parse_clock(text: str) -> time:
    """``22:00``, ``7:30``; ``24:00`` is midnight at the end of a day."""
    found = _TIME.match(text.strip())
    if found is None:
        raise ReleaseRuleError(f"expected a time as HH:MM, got {text!r}")
    hours, minutes = int(found[1]), int(found[2])
    if (hours, minutes) == (24, 0):
        return time(0, 0)
    if hours > 23 or minutes > 59:
        raise ReleaseRuleError(f"expected a time from 00:00 to 24:00, got {text!r}")
    return time(hours, minutes)


def days_text(days: frozenset[int], dash: str) -> str:
    """Days as runs in week order: ``mon–fri``, ``mon, fri–sun``, ``daily``."""
    if days == _EVERY_DAY:
        return "daily"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(
        DAYS[run[0]] if len(run) == 1 else f"{DAYS[run[0]]}{dash}{DAYS[run[-1]]}" for run in runs
    )


def _day(text: str) -> int:
    for index, name in enumerate(DAYS):
        if text in (name, _DAY_NAMES[index]):
            return index
    raise ReleaseRuleError(f"unknown day {text!r} (expected {', '.join(DAYS)} or daily)")


def _clock(moment: time, *, end: bool = False) -> str:
    return "24:00" if end and moment == time(0, 0) else f"{moment:%H:%M}"


def _utc(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """The instant the wall clock of ``zone`` shows ``moment`` on ``day`` (fold 0: a skipped
    time as if the clock had not changed yet, a repeated time at its first occurrence)."""
    return datetime.combine(day, moment, tzinfo=zone).astimezone(UTC)
