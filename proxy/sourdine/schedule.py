"""Work hours: when Sourdine filters, as pure functions over plain values.

A `Schedule` has a time zone (an IANA name, or "system" for the machine's own zone), weekly `Window`s and
`Override`s. `active(schedule, now)` says whether filtering is on at the instant `now`, and until when.

The rules, and the decisions this module makes about them:

- A window belongs to the day it starts on. When end < start it runs overnight into the next day;
  when end == start it lasts a full day (24 local hours, from start to the same wall-clock time the next
  day): "mon 00:00-00:00" is all of Monday, and "every day 00:00-00:00" is always.
- Times are local wall-clock times, the same on both sides of a DST change: a 09:00-18:00 window is
  09:00-18:00 local on the day the clocks change too. Each boundary becomes the first instant whose local
  wall clock reads that time or later. So in the autumn fold an ambiguous boundary means its first
  occurrence (fold=0), and in the spring gap a boundary that does not exist means the first instant after
  the gap (the transition itself). A window is then the real-time interval between its two boundary
  instants: it never switches on twice when the clock repeats an hour, and a window lying wholly inside a
  gap does not happen that day.
- A window with no days never applies. A schedule with no windows never filters; `ALWAYS` (every day,
  00:00-00:00, in the system zone) is the schedule to use when the user has configured none.
- Overrides: "pause" turns filtering off, "filter" turns it on, from `since` (or forever before, when None)
  until `until`, both aware UTC instants. While one lasts it takes precedence over the windows; when several
  cover the same instant the last one in the list wins. Expired overrides change nothing; `prune` drops
  them. `pause` and `filter_until` replace every override with the new one: the newest instruction wins.

`active()` is cheap (a few microseconds: one zone conversion, one cached timeline, one bisection) and its
answer stays true until the `until` it returns, so a caller may keep it until then, or until the schedule
changes.

The JSON shape, read by `parse_schedule` and written by `to_json`:

    {"timezone": "Europe/Paris",
     "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}],
     "overrides": [{"kind": "pause", "until": "2026-11-22T15:30:00Z", "since": "2026-11-22T15:00:00Z"}]}

"overrides" and each override's "since" are optional. Times are "HH:MM", 00:00 to 23:59.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SYSTEM = "system"
MAX_WINDOWS = 64
MAX_OVERRIDES = 8
# How far ahead an override may reach: a pause or a "filter until" is for today, not for a holiday.
MAX_OVERRIDE = timedelta(days=7)

_DAY = 1440  # minutes
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")


def _show(value: Any) -> str:
    """A value for an error message, cut short: messages echo what was sent, never a whole body."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ScheduleError(ValueError):
    """A value that is not a valid schedule; `field` names where, like "windows[0].start"."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Window:
    """Weekly hours: on each of `days` (0 = Monday .. 6 = Sunday), from `start` to `end`, in minutes since
    local midnight (0..1439). end < start runs overnight into the next day; end == start lasts 24 hours."""

    days: tuple[int, ...]
    start: int
    end: int

    def __post_init__(self) -> None:
        if not isinstance(self.days, tuple) or any(
            not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in self.days
        ):
            raise ScheduleError("days", f"{self.days!r} is not a tuple of weekdays 0..6")
        if len(set(self.days)) != len(self.days) or list(self.days) != sorted(self.days):
            raise ScheduleError("days", f"{self.days!r} must be sorted, without repeats")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _DAY:
                raise ScheduleError(name, f"{value!r} is not a minute of the day 0..1439")

    @property
    def length(self) -> int:
        """Its length in wall-clock minutes: 1 to 1440."""
        return (self.end - self.start) % _DAY or _DAY


@dataclass(frozen=True, slots=True)
class Override:
    """A "pause" (no filtering) or "filter" (filtering) from `since` (None: already) until `until`, in UTC."""

    kind: Literal["pause", "filter"]
    until: datetime
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("pause", "filter"):
            raise ScheduleError("kind", f"{self.kind!r} is not 'pause' or 'filter'")
        for name in ("until", "since"):
            value = getattr(self, name)
            if value is None and name == "since":
                continue
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ScheduleError(name, f"{value!r} is not an aware datetime")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.since is not None and self.since >= self.until:
            raise ScheduleError("since", "must come before until")

    def covers(self, at: datetime) -> bool:
        return (self.since is None or self.since <= at) and at < self.until


@dataclass(frozen=True, slots=True)
class Schedule:
    """A time zone (IANA name or "system"), weekly windows, and overrides."""

    timezone: str
    windows: tuple[Window, ...] = ()
    overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        if self.timezone != SYSTEM:
            zone(self.timezone)  # raises ScheduleError for an unknown zone
        if not isinstance(self.windows, tuple) or not all(isinstance(w, Window) for w in self.windows):
            raise ScheduleError("windows", "must be a tuple of Window")
        if not isinstance(self.overrides, tuple) or not all(isinstance(o, Override) for o in self.overrides):
            raise ScheduleError("overrides", "must be a tuple of Override")
        if len(self.windows) > MAX_WINDOWS:
            raise ScheduleError("windows", f"at most {MAX_WINDOWS}, got {len(self.windows)}")
        if len(self.overrides) > MAX_OVERRIDES:
            raise ScheduleError("overrides", f"at most {MAX_OVERRIDES}, got {len(self.overrides)}")


# Time zones ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def system_zone() -> tzinfo:
    """The machine's zone: $TZ, else /etc/localtime, else /etc/timezone, else the current fixed offset.

    Cached: `follow_system_zone()` reads it again (a laptop that travels changes zones while Sourdine runs).
    """
    candidates = []
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        candidates.append(tz.split("/zoneinfo/", 1)[-1])
    try:
        target = os.path.realpath("/etc/localtime")
        if "/zoneinfo/" in target:
            candidates.append(target.split("/zoneinfo/", 1)[1])
    except OSError:
        pass
    try:
        with open("/etc/timezone", encoding="utf-8") as f:
            candidates.append(f.read().strip())
    except OSError:
        pass
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f)
    except (OSError, ValueError):
        pass
    # Windows without tzdata names: the current offset, without DST changes.
    return datetime.now().astimezone().tzinfo or UTC


def _same_zone(a: tzinfo, b: tzinfo) -> bool:
    """Whether two readings of the machine's zone are the same zone: by name, or, for a zone read without one
    (from /etc/localtime's bytes), by its offsets now and half a year from now."""
    if a is b:
        return True
    name_a, name_b = getattr(a, "key", None), getattr(b, "key", None)
    if name_a is not None or name_b is not None:
        return bool(name_a == name_b)
    now = datetime.now(UTC)
    return all(t.astimezone(a).utcoffset() == t.astimezone(b).utcoffset() for t in (now, now + timedelta(days=182)))


def follow_system_zone() -> bool:
    """Read the machine's zone again; whether it changed since it was last read (then the "system" schedules'
    answers worked out before are stale)."""
    before = system_zone()
    system_zone.cache_clear()
    return not _same_zone(before, system_zone())


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Every IANA zone name this machine knows (its own database and the tzdata package), for pickers."""
    return frozenset(available_timezones()) - {"localtime", "posixrules", "Factory"}


def zone(name: str) -> tzinfo:
    """The tzinfo for an IANA name or "system"; a `ScheduleError` naming the zone otherwise."""
    if name == SYSTEM:
        return system_zone()
    # The list, not just the files: ZoneInfo() also opens "localtime", and "europe/paris" on macOS.
    if not isinstance(name, str) or name not in zone_names():
        raise ScheduleError("timezone", f"{_show(name)} is not an IANA time zone name or 'system'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError("timezone", f"{_show(name)} is not an IANA time zone name or 'system'") from None


# The schedule to use when the user has configured none: filtering always on.
ALWAYS = Schedule(SYSTEM, (Window(tuple(range(7)), 0, 0),))


# JSON at the edge ----------------------------------------------------------------------------------------


def _check_keys(obj: Any, where: str, required: Iterable[str], optional: Iterable[str] = ()) -> None:
    if not isinstance(obj, Mapping):
        raise ScheduleError(where, f"must be an object, got {type(obj).__name__}")
    required = tuple(required)
    allowed = set(required) | set(optional)
    for key in obj:
        if key not in allowed:
            raise ScheduleError(f"{where}.{key}" if where != "schedule" else str(key), "unknown field")
    for key in required:
        if key not in obj:
            raise ScheduleError(f"{where}.{key}" if where != "schedule" else key, "missing")


def parse_time(text: Any, where: str = "time") -> int:
    """ "HH:MM" (00:00 to 23:59) to minutes since midnight."""
    m = _TIME.fullmatch(text) if isinstance(text, str) else None
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ScheduleError(where, f"{_show(text)} is not a time HH:MM from 00:00 to 23:59")
    return int(m[1]) * 60 + int(m[2])


def format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_instant(text: Any, where: str = "until") -> datetime:
    """An ISO 8601 instant with its offset ("2026-11-22T15:30:00Z") to an aware UTC datetime."""
    if isinstance(text, str):
        try:
            value = datetime.fromisoformat(text)
            if value.utcoffset() is not None:
                return value.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
    raise ScheduleError(
        where, f"{_show(text)} is not an ISO 8601 instant with an offset, like 2026-11-22T15:30:00Z"
    )


def format_instant(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_window(obj: Any, where: str = "window") -> Window:
    _check_keys(obj, where, ("days", "start", "end"))
    days = obj["days"]
    if not isinstance(days, list):
        raise ScheduleError(f"{where}.days", "must be a list of days like ['mon', 'tue']")
    numbers = []
    for i, name in enumerate(days):
        if name not in DAY_NAMES:
            raise ScheduleError(f"{where}.days[{i}]", f"{_show(name)} is not a day ({', '.join(DAY_NAMES)})")
        if DAY_NAMES.index(name) in numbers:
            raise ScheduleError(f"{where}.days[{i}]", f"{name!r} is listed twice")
        numbers.append(DAY_NAMES.index(name))
    return Window(
        tuple(sorted(numbers)),
        parse_time(obj["start"], f"{where}.start"),
        parse_time(obj["end"], f"{where}.end"),
    )


def parse_override(obj: Any, where: str = "override") -> Override:
    _check_keys(obj, where, ("kind", "until"), ("since",))
    if obj["kind"] not in ("pause", "filter"):
        raise ScheduleError(f"{where}.kind", f"{_show(obj['kind'])} is not 'pause' or 'filter'")
    until = parse_instant(obj["until"], f"{where}.until")
    since = parse_instant(obj["since"], f"{where}.since") if obj.get("since") is not None else None
    if since is not None and since >= until:
        raise ScheduleError(f"{where}.since", "must come before until")
    return Override(obj["kind"], until, since)


def parse_schedule(obj: Any) -> Schedule:
    """A schedule from its JSON object; a `ScheduleError` (a ValueError) naming the bad field otherwise.

    It does not look at the clock: `check_overrides` says whether overrides are in the future and near enough.
    """
    _check_keys(obj, "schedule", ("timezone", "windows"), ("overrides",))
    name = obj["timezone"]
    zone(name)
    windows, overrides = obj["windows"], obj.get("overrides", [])
    if not isinstance(windows, list):
        raise ScheduleError("windows", "must be a list")
    if not isinstance(overrides, list):
        raise ScheduleError("overrides", "must be a list")
    return Schedule(
        name,
        tuple(parse_window(w, f"windows[{i}]") for i, w in enumerate(windows)),
        tuple(parse_override(o, f"overrides[{i}]") for i, o in enumerate(overrides)),
    )


def to_json(schedule: Schedule) -> dict[str, Any]:
    """The JSON object `parse_schedule` reads back to an equal schedule."""
    overrides = []
    for o in schedule.overrides:
        item = {"kind": o.kind, "until": format_instant(o.until)}
        if o.since is not None:
            item["since"] = format_instant(o.since)
        overrides.append(item)
    return {
        "timezone": schedule.timezone,
        "windows": [
            {"days": [DAY_NAMES[d] for d in w.days], "start": format_time(w.start), "end": format_time(w.end)}
            for w in schedule.windows
        ],
        "overrides": overrides,
    }


# Wall clock to instants ----------------------------------------------------------------------------------


def _wall(ts: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(ts, tz).replace(tzinfo=None)


def resolve(tz: tzinfo, wall: datetime) -> int:
    """The first instant (POSIX seconds) whose wall clock in `tz` reads `wall` (naive) or later.

    An ambiguous time gives its first occurrence; a time in a spring gap gives the end of the gap.
    """
    ts = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    if _wall(ts, tz) == wall:
        return ts
    # In a gap: fold=0 read it with the offset from before the change, past the gap; fold=1 with the one
    # after, before it. The change lies between: find the first second whose wall clock has reached `wall`.
    lo = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    hi = ts
    if lo > hi:  # a zone whose fold semantics are reversed: search the other way round
        lo, hi = hi, lo
    while lo < hi:
        mid = (lo + hi) // 2
        if _wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return hi


@lru_cache(maxsize=256)
def _coverage(windows: tuple[Window, ...]) -> bool | None:
    """True when the windows cover the whole week in wall-clock time, False when they never apply, else
    None."""
    spans = []
    for w in windows:
        for d in w.days:
            start = d * _DAY + w.start
            end = start + w.length
            spans.append((start, min(end, 7 * _DAY)))
            if end > 7 * _DAY:
                spans.append((0, end - 7 * _DAY))
    if not spans:
        return False
    reached = 0
    for start, end in sorted(spans):
        if start > reached:
            return None
        reached = max(reached, end)
    return True if reached >= 7 * _DAY else None


@lru_cache(maxsize=64)
def _timeline(
    tz: tzinfo, windows: tuple[Window, ...], first: date, days: int
) -> tuple[list[int], list[int], int]:
    """Merged active intervals (starts, ends in POSIX seconds) of the windows' occurrences on the local
    dates from `first` for `days` days, and the horizon before which they are exact (no later date can start
    sooner)."""
    spans = []
    for n in range(days):
        d = first + timedelta(days=n)
        midnight = datetime(d.year, d.month, d.day)
        weekday = d.weekday()
        for w in windows:
            if weekday in w.days:
                start = resolve(tz, midnight + timedelta(minutes=w.start))
                end = resolve(tz, midnight + timedelta(minutes=w.start + w.length))
                if start < end:
                    spans.append((start, end))
    spans.sort()
    starts: list[int] = []
    ends: list[int] = []
    for start, end in spans:
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    last = first + timedelta(days=days)
    return starts, ends, resolve(tz, datetime(last.year, last.month, last.day))


def _windows_state(tz: tzinfo, windows: tuple[Window, ...], at: datetime) -> tuple[bool, datetime | None]:
    """Whether the windows alone cover `at`, and the next instant that changes (None: never)."""
    always = _coverage(windows)
    if always is not None:
        return always, None
    ts = at.timestamp()
    today = _wall(ts, tz).date()
    first = today - timedelta(days=2)
    days = 18
    while True:
        starts, ends, horizon = _timeline(tz, windows, first, days)
        i = bisect_right(starts, ts) - 1
        if i >= 0 and ts < ends[i]:
            if ends[i] < horizon:
                return True, datetime.fromtimestamp(ends[i], UTC)
        elif i + 1 < len(starts) and starts[i + 1] < horizon:
            return False, datetime.fromtimestamp(starts[i + 1], UTC)
        # Only a schedule whose every change falls in DST gaps gets here; a week or two more settles it.
        days *= 4
        if days > 1200:  # cannot happen: some change happens on a day without a DST change
            raise AssertionError(f"no change in {days} days for {windows!r}")


# Asking and changing ---------------------------------------------------------------------------------------


def _aware(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    return now


def current_override(schedule: Schedule, now: datetime) -> Override | None:
    """The override in force at `now`, if any (the last of those covering it)."""
    _aware(now)
    for o in reversed(schedule.overrides):
        if o.covers(now):
            return o
    return None


def _state(schedule: Schedule, tz: tzinfo, at: datetime) -> bool:
    o = current_override(schedule, at)
    if o is not None:
        return o.kind == "filter"
    return _windows_state(tz, schedule.windows, at)[0]


def active(schedule: Schedule, now: datetime) -> tuple[bool, datetime | None]:
    """Whether filtering is on at the aware instant `now`, and the UTC instant it next changes (None: never).

    The answer holds for every instant from `now` up to, not including, that instant.
    """
    _aware(now)
    tz = zone(schedule.timezone)
    if not schedule.overrides:
        return _windows_state(tz, schedule.windows, now)
    current = _state(schedule, tz, now)
    try:
        return _next_change(schedule, tz, now, current)
    except OverflowError:  # an override ending near the year 9999 (an older version took one from a peer)
        return current, None


def _next_change(schedule: Schedule, tz: tzinfo, now: datetime, current: bool) -> tuple[bool, datetime | None]:
    at = now
    # Each step moves to the next instant where the state may change: an override boundary, or, when no
    # override holds, the windows' next change (where it does change). Each boundary is passed at most once.
    for _ in range(2 * len(schedule.overrides) + 2):
        boundaries = [b for o in schedule.overrides for b in (o.since, o.until) if b is not None and b > at]
        candidate = min(boundaries) if boundaries else None
        if current_override(schedule, at) is None:
            change = _windows_state(tz, schedule.windows, at)[1]
            if change is not None and (candidate is None or change < candidate):
                candidate = change
        if candidate is None:
            return current, None
        if _state(schedule, tz, candidate) != current:
            return current, candidate
        at = candidate
    raise AssertionError("overrides and windows did not settle")  # each boundary is passed at most once


def prune(schedule: Schedule, now: datetime) -> Schedule:
    """The schedule without the overrides that ended at or before `now`."""
    _aware(now)
    kept = tuple(o for o in schedule.overrides if o.until > now)
    return schedule if kept == schedule.overrides else replace(schedule, overrides=kept)


def check_overrides(schedule: Schedule, now: datetime) -> None:
    """A `ScheduleError` unless every override ends after `now`, within `MAX_OVERRIDE` of it (for writes)."""
    _aware(now)
    for i, o in enumerate(schedule.overrides):
        if o.until <= now:
            raise ScheduleError(f"overrides[{i}].until", f"{format_instant(o.until)} is not in the future")
        if o.until - now > MAX_OVERRIDE:
            raise ScheduleError(
                f"overrides[{i}].until",
                f"{format_instant(o.until)} is more than {MAX_OVERRIDE.days} days away",
            )


def _with_override(
    schedule: Schedule, now: datetime, kind: Literal["pause", "filter"], until: datetime
) -> Schedule:
    new = replace(schedule, overrides=(Override(kind, until, now.astimezone(UTC).replace(microsecond=0)),))
    check_overrides(new, now)
    return new


def pause(schedule: Schedule, now: datetime, minutes: int) -> Schedule:
    """No filtering from `now` for `minutes` (1 to 7 days' worth); replaces any other override."""
    _aware(now)
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not 0 < minutes <= MAX_OVERRIDE // timedelta(minutes=1)
    ):
        raise ScheduleError("minutes", f"{minutes!r} is not a number of minutes from 1 to 10080")
    until = (now + timedelta(minutes=minutes)).astimezone(UTC).replace(microsecond=0)
    return _with_override(schedule, now, "pause", until)


def filter_until(schedule: Schedule, now: datetime, until: time | datetime) -> Schedule:
    """Filtering from `now` until an aware instant, or until the next time the schedule's local clock reads
    `until` (a naive `time`, like 18:00: today if still ahead, else tomorrow); replaces any other override."""
    _aware(now)
    if isinstance(until, datetime):
        end = _aware(until).astimezone(UTC)
    elif isinstance(until, time) and until.tzinfo is None:
        tz = zone(schedule.timezone)
        today = _wall(now.timestamp(), tz).date()
        for d in (today, today + timedelta(days=1)):
            wall = datetime.combine(d, until)
            end = datetime.fromtimestamp(resolve(tz, wall), UTC)
            if end <= now:  # a time the clock reads twice (autumn): its second reading may still be ahead
                second = datetime.fromtimestamp(int(wall.replace(tzinfo=tz, fold=1).timestamp()), UTC)
                if second > now and _wall(second.timestamp(), tz) == wall:
                    end = second
            if end > now:
                break
    else:
        raise ScheduleError("until", f"{until!r} is not an aware datetime or a local time")
    return _with_override(schedule, now, "filter", end)


def clear_overrides(schedule: Schedule) -> Schedule:
    """Back to the windows alone ("resume")."""
    return replace(schedule, overrides=())
