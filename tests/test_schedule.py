"""Work hours: fixed cases around DST changes, overrides, parsing, and a property against a reference."""

from __future__ import annotations

import json
import time as clock
from bisect import bisect_left
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourdine import schedule as sch
from sourdine.schedule import Override, Schedule, ScheduleError, Window

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def z(text: str) -> datetime:
    """An instant written in UTC: "2025-03-09T07:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def S(
    zone: str, *windows: tuple[tuple[int, ...], str, str], overrides: tuple[Override, ...] = ()
) -> Schedule:
    return Schedule(
        zone,
        tuple(Window(tuple(days), sch.parse_time(a), sch.parse_time(b)) for days, a, b in windows),
        overrides,
    )


def table(zone: str, windows: str) -> Schedule:
    """A schedule from short text: "mon,tue 09:00-18:00; sun 22:00-06:00"; "all" is every day, "none" none."""
    parsed = []
    for item in filter(None, windows.split("; ")):
        days, hours = item.split(" ")
        names = list(sch.DAY_NAMES) if days == "all" else [] if days == "none" else days.split(",")
        start, end = hours.split("-")
        parsed.append({"days": names, "start": start, "end": end})
    return sch.parse_schedule({"timezone": zone, "windows": parsed})


PARIS = "Europe/Paris"


# Fixed cases: zone | windows | now (UTC) | state | until (UTC), checked by hand ---------------------------
#
# America/New_York: 2025-03-09 02:00 EST -> 03:00 EDT at 07:00Z; 2025-11-02 02:00 EDT -> 01:00 EST at 06:00Z.
# Europe/Paris: 2025-03-30 02:00 -> 03:00 at 01:00Z; 2025-10-26 03:00 -> 02:00 at 01:00Z.
# Australia/Lord_Howe: 2025-04-06 02:00 +11 -> 01:30 +10:30 at 15:00Z on the 5th;
# 2025-10-05 02:00 +10:30 -> 02:30 +11 at 15:30Z on the 4th.

FIXED = """
# New York, spring forward.
ny spring: 09:00-18:00 is EDT after the change
    America/New_York | sun 09:00-18:00 | 2025-03-09T12:59 | off | 2025-03-09T13:00
ny spring: inside the window, until 18:00 EDT
    America/New_York | sun 09:00-18:00 | 2025-03-09T13:00 | on | 2025-03-09T22:00
ny spring: start in the gap begins at the change
    America/New_York | sun 02:30-03:30 | 2025-03-09T06:59 | off | 2025-03-09T07:00
ny spring: and ends at 03:30 EDT
    America/New_York | sun 02:30-03:30 | 2025-03-09T07:00 | on | 2025-03-09T07:30
ny spring: a window inside the gap skips that day
    America/New_York | sun 02:00-02:45 | 2025-03-09T06:00 | off | 2025-03-16T06:00
ny spring: overnight across the change is 10 real hours
    America/New_York | sat 22:00-09:00 | 2025-03-09T03:00 | on | 2025-03-09T13:00
# New York, fall back.
ny autumn: ambiguous start is the first 01:30 (EDT)
    America/New_York | sun 01:30-02:30 | 2025-11-02T05:29 | off | 2025-11-02T05:30
ny autumn: stays on through the repeated hour until 02:30 EST
    America/New_York | sun 01:30-02:30 | 2025-11-02T06:15 | on | 2025-11-02T07:30
ny autumn: ended at the first 01:30, not on again in the second
    America/New_York | sun 00:00-01:30 | 2025-11-02T06:10 | off | 2025-11-09T05:00
ny autumn: 09:00-18:00 is EST after the change
    America/New_York | sun 09:00-18:00 | 2025-11-02T13:59 | off | 2025-11-02T14:00
# Paris.
paris spring: daily hours on the Saturday are CET
    Europe/Paris | all 09:00-18:00 | 2025-03-29T12:00 | on | 2025-03-29T17:00
paris spring: and CEST on the Sunday
    Europe/Paris | all 09:00-18:00 | 2025-03-29T17:00 | off | 2025-03-30T07:00
paris spring: a window inside the gap skips to next week
    Europe/Paris | sun 02:15-02:45 | 2025-03-30T00:00 | off | 2025-04-06T00:15
paris autumn: 02:30-04:00 spans the repeated hour, 2.5 h
    Europe/Paris | sun 02:30-04:00 | 2025-10-26T00:30 | on | 2025-10-26T03:00
paris autumn: on during the second 02:45 too
    Europe/Paris | sun 02:30-04:00 | 2025-10-26T01:45 | on | 2025-10-26T03:00
# Lord Howe: 30-minute changes.
lord howe spring: start in the 02:00-02:30 gap begins at 02:30
    Australia/Lord_Howe | sun 02:15-03:00 | 2025-10-04T15:00 | off | 2025-10-04T15:30
lord howe spring: ends at 03:00 +11
    Australia/Lord_Howe | sun 02:15-03:00 | 2025-10-04T15:30 | on | 2025-10-04T16:00
lord howe spring: a window inside the gap skips the day
    Australia/Lord_Howe | sun 02:00-02:20 | 2025-10-04T15:00 | off | 2025-10-11T15:00
lord howe autumn: 01:45 (first) to 02:15 (+10:30) is one real hour
    Australia/Lord_Howe | sun 01:45-02:15 | 2025-04-05T14:45 | on | 2025-04-05T15:45
lord howe autumn: on through the repeated half hour
    Australia/Lord_Howe | sun 01:45-02:15 | 2025-04-05T15:10 | on | 2025-04-05T15:45
# Overnight wrap from Sunday into Monday, in UTC.
wrap: Sunday 22:00 starts it
    UTC | sun 22:00-06:00 | 2025-11-23T21:59 | off | 2025-11-23T22:00
wrap: it runs into Monday morning
    UTC | sun 22:00-06:00 | 2025-11-24T03:00 | on | 2025-11-24T06:00
wrap: Monday evening is not a window day
    UTC | sun 22:00-06:00 | 2025-11-24T22:30 | off | 2025-11-30T22:00
wrap: Sunday window and Monday window merge
    UTC | sun 22:00-06:00; mon 06:00-09:00 | 2025-11-24T03:00 | on | 2025-11-24T09:00
wrap: end 00:00 is midnight the next day
    UTC | sun 20:00-00:00 | 2025-11-23T23:59 | on | 2025-11-24T00:00
# start == end: a full day.
start == end: 24 hours from start
    Europe/Paris | wed 09:00-09:00 | 2025-11-27T07:59 | on | 2025-11-27T08:00
start == end: 23 real hours across spring forward
    Europe/Paris | sat 12:00-12:00 | 2025-03-29T11:00 | on | 2025-03-30T10:00
start == end: every day all day is always
    America/New_York | all 00:00-00:00 | 2025-03-09T07:00 | on | never
start == end: six days all day leave a gap
    America/New_York | mon,tue,wed,thu,fri,sat 07:00-07:00 | 2025-11-23T13:00 | off | 2025-11-24T12:00
# No days, no windows.
a window with no days never applies
    America/New_York | none 09:00-18:00 | 2025-11-24T15:00 | off | never
no windows: never filtering
    America/New_York | - | 2025-11-24T15:00 | off | never
# Zones without DST and with odd offsets.
kolkata +05:30
    Asia/Kolkata | mon 09:00-18:00 | 2025-11-24T03:30 | on | 2025-11-24T12:30
chatham autumn: 02:45-03:45 repeats, start is the first
    Pacific/Chatham | sun 03:00-04:00 | 2025-04-05T13:00 | off | 2025-04-05T13:15
"""


def fixed_cases(text: str) -> list:
    """Each case is a line naming it, then an indented line: zone | windows | now | on/off | until/never.

    Lines starting with # are comments; "-" is no windows.
    """
    cases = []
    name = ""
    for line in text.strip().splitlines():
        if line.startswith("#"):
            continue
        if not line.startswith(" "):
            name = line
            continue
        zone, windows, now, state, until = (cell.strip() for cell in line.split("|"))
        expected = (state == "on", None if until == "never" else z(until))
        cases.append(pytest.param(table(zone, "" if windows == "-" else windows), z(now), expected, id=name))
    return cases


@pytest.mark.parametrize(("schedule", "now", "expected"), fixed_cases(FIXED))
def test_fixed_cases(schedule, now, expected):
    """active() gives the state and the exact next change for hand-checked instants around DST changes."""
    assert sch.active(schedule, now) == expected


def test_always_is_the_unconfigured_default():
    """ALWAYS, for users who set no hours, filters at every instant and never changes."""
    assert sch.active(sch.ALWAYS, z("2025-03-09T07:00")) == (True, None)
    assert sch.to_json(sch.ALWAYS)["windows"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "00:00"}
    ]


def test_system_zone_follows_tz(monkeypatch):
    """ "system" reads the machine's zone, here from $TZ."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    sch.system_zone.cache_clear()
    try:
        assert sch.active(S("system", ((MON,), "09:00", "18:00")), z("2025-11-24T03:30")) == (
            True,
            z("2025-11-24T12:30"),
        )
    finally:
        sch.system_zone.cache_clear()


def test_naive_now_is_refused():
    """A naive `now` is a bug in the caller, not a local time to guess at."""
    with pytest.raises(ValueError, match="aware"):
        sch.active(sch.ALWAYS, datetime(2025, 1, 1))


# Overrides -------------------------------------------------------------------------------------------------

OFFICE = S(PARIS, ((MON, TUE, WED, THU, FRI), "09:00", "18:00"))  # Monday 2025-11-24: 08:00Z to 17:00Z


def test_pause_turns_filtering_off_for_its_length():
    """Pausing 30 min inside work hours: off until now + 30 min, then the window again."""
    now = z("2025-11-24T10:00")
    paused = sch.pause(OFFICE, now, 30)
    assert sch.active(paused, now) == (False, z("2025-11-24T10:30"))
    assert sch.active(paused, z("2025-11-24T10:30")) == (True, z("2025-11-24T17:00"))
    assert sch.to_json(paused)["overrides"] == [
        {"kind": "pause", "until": "2025-11-24T10:30:00Z", "since": "2025-11-24T10:00:00Z"}
    ]


def test_pause_outside_hours_changes_nothing_until_the_window():
    """A pause ending before the window opens is no change: until is the window's start."""
    now = z("2025-11-24T06:00")
    assert sch.active(sch.pause(OFFICE, now, 30), now) == (False, z("2025-11-24T08:00"))


def test_pause_running_past_the_window_end():
    """A pause that outlasts the window: off until the next morning's window."""
    now = z("2025-11-24T16:30")
    assert sch.active(sch.pause(OFFICE, now, 120), now) == (False, z("2025-11-25T08:00"))


def test_filter_until_local_time():
    """ "Filter now until 20:00" on a Saturday: on until 20:00 Paris time, then off."""
    now = z("2025-11-22T10:00")
    forced = sch.filter_until(OFFICE, now, time(20, 0))
    assert sch.active(forced, now) == (True, z("2025-11-22T19:00"))
    assert sch.active(forced, z("2025-11-22T19:00")) == (False, z("2025-11-24T08:00"))


def test_filter_until_a_passed_time_means_tomorrow():
    """A local time already past today means that time tomorrow."""
    now = z("2025-11-22T21:00")  # 22:00 in Paris
    forced = sch.filter_until(OFFICE, now, time(7, 0))
    assert forced.overrides[0].until == z("2025-11-23T06:00")


def test_filter_until_joining_the_window():
    """Filtering until the window opens is one continuous active stretch, to the window's end."""
    now = z("2025-11-24T06:00")
    forced = sch.filter_until(OFFICE, now, z("2025-11-24T08:00"))
    assert sch.active(forced, now) == (True, z("2025-11-24T17:00"))


def test_last_override_wins():
    """When two overrides cover the same instant the later one in the list decides."""
    now = z("2025-11-24T10:00")
    both = (Override("filter", z("2025-11-24T12:00")), Override("pause", z("2025-11-24T11:00")))
    s = S(PARIS, overrides=both)
    assert sch.active(s, now) == (False, z("2025-11-24T11:00"))
    assert sch.active(s, z("2025-11-24T11:00")) == (True, z("2025-11-24T12:00"))


def test_override_since_in_the_future():
    """An override that starts later changes the state when it starts."""
    s = S(PARIS, overrides=(Override("filter", z("2025-11-24T12:00"), since=z("2025-11-24T11:00")),))
    assert sch.active(s, z("2025-11-24T10:00")) == (False, z("2025-11-24T11:00"))


def test_expired_overrides_are_ignored_and_pruned():
    """An override that ended changes nothing, and prune() drops it."""
    old = Override("pause", z("2025-11-24T09:00"), since=z("2025-11-24T08:30"))
    s = replace_overrides(OFFICE, (old,))
    now = z("2025-11-24T10:00")
    assert sch.active(s, now) == sch.active(OFFICE, now) == (True, z("2025-11-24T17:00"))
    assert sch.prune(s, now).overrides == ()
    assert sch.prune(s, z("2025-11-24T08:45")) == s


def replace_overrides(s: Schedule, overrides: tuple[Override, ...]) -> Schedule:
    return Schedule(s.timezone, s.windows, overrides)


@pytest.mark.parametrize(
    ("until", "message"),
    [
        ("2025-11-24T09:59", "not in the future"),
        ("2025-11-24T10:00", "not in the future"),
        ("2025-12-01T10:01", "more than 7 days"),
    ],
)
def test_check_overrides_refuses_past_and_far(until, message):
    """Writes must carry overrides that end in the future, within 7 days."""
    s = replace_overrides(OFFICE, (Override("pause", z(until)),))
    with pytest.raises(ScheduleError, match=message) as e:
        sch.check_overrides(s, z("2025-11-24T10:00"))
    assert e.value.field == "overrides[0].until"


@pytest.mark.parametrize("minutes", [0, -5, 10081, 1.5, True])
def test_pause_minutes_are_bounded(minutes):
    """A pause is 1 minute to 7 days."""
    with pytest.raises(ScheduleError, match="minutes"):
        sch.pause(OFFICE, z("2025-11-24T10:00"), minutes)


def test_long_pause_over_many_windows():
    """A week-long pause over hourly windows ends at its end, without stepping through every window."""
    hourly = Schedule(PARIS, tuple(Window(tuple(range(7)), h * 60, h * 60 + 30) for h in range(24)), ())
    now = z("2025-11-24T10:10")
    paused = sch.pause(hourly, now, 7 * 1440)
    assert sch.active(paused, now) == (False, z("2025-12-01T10:10"))
    assert sch.active(sch.prune(paused, z("2025-12-01T10:10")), z("2025-12-01T10:10")) == (
        True,
        z("2025-12-01T10:30"),
    )


def test_clear_overrides_resumes():
    """clear_overrides() returns to the windows alone."""
    now = z("2025-11-24T10:00")
    assert sch.active(sch.clear_overrides(sch.pause(OFFICE, now, 30)), now) == (True, z("2025-11-24T17:00"))


# Parsing ---------------------------------------------------------------------------------------------------

GOOD = {
    "timezone": "Europe/Paris",
    "windows": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"},
        {"days": ["sun"], "start": "22:00", "end": "06:00"},
    ],
    "overrides": [{"kind": "pause", "until": "2026-11-22T15:30:00Z"}],
}


def test_parse_good_schedule():
    """The editor's JSON becomes typed values: weekdays 0..6, minutes since midnight, UTC instants."""
    s = sch.parse_schedule(GOOD)
    assert s.windows[1] == Window((SUN,), 22 * 60, 6 * 60)
    assert s.overrides == (Override("pause", z("2026-11-22T15:30")),)
    assert sch.to_json(s) == GOOD


def test_parse_defaults_and_offsets():
    """Overrides are optional; an until with an offset is stored in UTC."""
    s = sch.parse_schedule({"timezone": "system", "windows": []})
    assert s.overrides == ()
    o = sch.parse_schedule({**GOOD, "overrides": [{"kind": "filter", "until": "2026-11-22T18:00:00+01:00"}]})
    assert o.overrides[0].until == z("2026-11-22T17:00")


def with_window(**changes):
    return {**GOOD, "windows": [{**GOOD["windows"][0], **changes}]}


@pytest.mark.parametrize(
    ("obj", "field", "message"),
    [
        ({**GOOD, "timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA"),
        ({**GOOD, "timezone": "../etc/passwd"}, "timezone", "not an IANA"),
        ({**GOOD, "timezone": ""}, "timezone", "not an IANA"),
        ({**GOOD, "timezone": 3}, "timezone", "not an IANA"),
        (with_window(days=["mon", "mo"]), "windows[0].days[1]", "'mo' is not a day"),
        (with_window(days=["mon", "mon"]), "windows[0].days[1]", "listed twice"),
        (with_window(days="mon"), "windows[0].days", "must be a list"),
        (with_window(start="25:00"), "windows[0].start", "'25:00' is not a time HH:MM"),
        (with_window(end="9:00"), "windows[0].end", "'9:00' is not a time"),
        (with_window(end="09:60"), "windows[0].end", "not a time"),
        (with_window(end="24:00"), "windows[0].end", "not a time"),
        (with_window(end=540), "windows[0].end", "not a time"),
        (with_window(extra=1), "windows[0].extra", "unknown field"),
        ({"timezone": "UTC"}, "windows", "missing"),
        ({**GOOD, "colour": "red"}, "colour", "unknown field"),
        ({**GOOD, "windows": {}}, "windows", "must be a list"),
        ({**GOOD, "windows": ["mon"]}, "windows[0]", "must be an object"),
        (
            {**GOOD, "overrides": [{"kind": "snooze", "until": "2026-11-22T15:30:00Z"}]},
            "overrides[0].kind",
            "snooze",
        ),
        (
            {**GOOD, "overrides": [{"kind": "pause", "until": "2026-11-22T15:30:00"}]},
            "overrides[0].until",
            "offset",
        ),
        ({**GOOD, "overrides": [{"kind": "pause", "until": "tomorrow"}]}, "overrides[0].until", "ISO 8601"),
        ({**GOOD, "overrides": [{"kind": "pause"}]}, "overrides[0].until", "missing"),
        (
            {
                **GOOD,
                "overrides": [
                    {"kind": "pause", "until": "2026-11-22T15:30:00Z", "since": "2026-11-22T16:00:00Z"}
                ],
            },
            "overrides[0].since",
            "before until",
        ),
        ({**GOOD, "windows": [GOOD["windows"][0]] * 65}, "windows", "at most 64"),
        ([], "schedule", "must be an object"),
    ],
)
def test_parse_errors_name_the_field(obj, field, message):
    """Each bad value is a ValueError naming its field and the value."""
    with pytest.raises(ValueError, match=message) as e:
        sch.parse_schedule(obj)
    assert isinstance(e.value, ScheduleError)
    assert e.value.field == field
    assert str(e.value).startswith(field + ": ")


minute = st.one_of(st.integers(0, 1439), st.integers(0, 95).map(lambda q: q * 15))
windows = st.builds(Window, st.sets(st.integers(0, 6)).map(lambda s: tuple(sorted(s))), minute, minute)
instants = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
overrides = st.builds(
    lambda kind, until, since: Override(kind, until, until - since if since else None),
    st.sampled_from(["pause", "filter"]),
    instants,
    st.one_of(st.none(), st.timedeltas(timedelta(seconds=1), timedelta(days=3))),
)
ZONES = ["America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Kolkata", "UTC"]
schedules = st.builds(
    Schedule,
    st.sampled_from([*ZONES, "system"]),
    st.lists(windows, max_size=4).map(tuple),
    st.lists(overrides, max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None, database=None)
@given(schedules)
def test_json_round_trip(s):
    """to_json() gives plain JSON that parse_schedule() reads back to an equal schedule."""
    assert sch.parse_schedule(json.loads(json.dumps(sch.to_json(s)))) == s


# The property: active() against a brute-force reference -----------------------------------------------------


@cache
def transitions(name: str) -> tuple[datetime, ...]:
    """The instants (to the minute) where `name` changes its UTC offset in 2024-2027, by scanning hours."""
    tz = ZoneInfo(name)
    found = []
    t = datetime(2024, 1, 1, tzinfo=UTC)
    previous = t.astimezone(tz).utcoffset()
    while t.year < 2028:
        t += timedelta(hours=1)
        offset = t.astimezone(tz).utcoffset()
        if offset != previous:
            lo, hi = t - timedelta(hours=1), t  # to the minute
            while hi - lo > timedelta(minutes=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == previous else (lo, mid)
            found.append(hi)
        previous = offset
    return tuple(found) or (datetime(2025, 6, 1, tzinfo=UTC),)


def reference(s: Schedule, now: datetime) -> tuple[bool, datetime | None, datetime]:
    """The rules applied minute by minute: state at `now`, the first minute that differs (None: none before
    the horizon), and the horizon.

    It lists every UTC minute from a day before `now` to ten days after with its local wall-clock minute. A
    window occurrence starts at the first listed minute whose wall clock has reached its start, and ends
    likewise; a minute is on when an override covering it says so, else when some occurrence holds it.
    """
    tz = ZoneInfo(s.timezone)
    m0 = int(now.timestamp()) // 60 * 60
    first = m0 - 86400
    stamps = list(range(first, m0 + 10 * 86400, 60))
    walls = []
    for ts in stamps:
        local = datetime.fromtimestamp(ts, tz)
        walls.append((ts + int(local.utcoffset().total_seconds())) // 60)
    reached = []  # the highest wall clock so far: "has reached" is monotone even when the clock goes back
    top = walls[0]
    for w in walls:
        top = max(top, w)
        reached.append(top)
    epoch = date(1970, 1, 1)
    on = [0] * (len(stamps) + 1)
    day = datetime.fromtimestamp(first, tz).date() - timedelta(days=2)
    last = datetime.fromtimestamp(stamps[-1], tz).date()
    while day <= last:
        base = (day - epoch).days * 1440
        for w in s.windows:
            if day.weekday() in w.days:
                start = base + w.start
                end = (
                    base + w.end if w.end > w.start else base + 1440 + w.end
                )  # overnight, or 24 h when equal
                a, b = bisect_left(reached, start), bisect_left(reached, end)
                if a < b:
                    on[a] += 1
                    on[b] -= 1
        day += timedelta(days=1)
    spans = [
        (o.since.timestamp() if o.since else float("-inf"), o.until.timestamp(), o.kind == "filter")
        for o in reversed(s.overrides)  # the last one listed wins
    ]
    state = []
    depth = 0
    for i, ts in enumerate(stamps):
        depth += on[i]
        state.append(next((kind for since, until, kind in spans if since <= ts < until), depth > 0))
    k = (m0 - first) // 60
    flip = next((i for i in range(k + 1, len(stamps)) if state[i] != state[k]), None)
    horizon = datetime.fromtimestamp(stamps[-1] + 60, UTC)
    return state[k], None if flip is None else datetime.fromtimestamp(stamps[flip], UTC), horizon


@st.composite
def cases(draw):
    name = draw(st.sampled_from([*ZONES[:4], *ZONES]))  # zones with DST twice as often
    near = draw(st.sampled_from(transitions(name)))
    spread = draw(st.sampled_from([120, 120, 120, 1440, 3 * 1440]))  # minutes; mostly close to the change
    now = near + timedelta(minutes=draw(st.integers(-spread, spread)), seconds=draw(st.integers(0, 59)))
    now = now + timedelta(microseconds=draw(st.sampled_from([0, 1, 999_999])))
    # Boundaries near the local wall clock just before and just after the change, on the day of the change
    # (or the day before, for overnight windows), so that gaps and folds get hit often.
    tz = ZoneInfo(name)
    walls = [(near - timedelta(minutes=1)).astimezone(tz), near.astimezone(tz)]
    edges = sorted(((walls[0].hour * 60 + walls[0].minute + 1) % 1440, walls[1].hour * 60 + walls[1].minute))
    hot = st.integers(edges[0] - 30, edges[1] + 30).map(
        lambda m: m % 1440
    )  # the gap or fold, and either side
    boundary = st.one_of(minute, hot, hot)
    weekday = walls[1].weekday()
    days = (
        st.sets(st.integers(0, 6))
        .flatmap(lambda s: st.sampled_from([s, s | {weekday}, s | {weekday}, s | {(weekday - 1) % 7}]))
        .map(lambda s: tuple(sorted(s)))
    )
    ws = tuple(draw(st.lists(st.builds(Window, days, boundary, boundary), min_size=1, max_size=3)))
    base = now.replace(second=0, microsecond=0)
    os_ = []
    for _ in range(draw(st.integers(0, 2))):
        since = base + timedelta(minutes=draw(st.integers(-600, 3000)))
        until = since + timedelta(minutes=draw(st.integers(1, 3000)))
        os_.append(
            Override(draw(st.sampled_from(["pause", "filter"])), until, draw(st.sampled_from([since, None])))
        )
    return Schedule(name, ws, tuple(os_)), now


@settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases())
def test_active_matches_reference(case):
    """Around DST changes in six zones, active() and its until agree with a minute-by-minute walk of rules."""
    s, now = case
    on, until = sch.active(s, now)
    ref_on, ref_until, horizon = reference(s, now)
    assert on == ref_on
    if ref_until is not None:
        assert until == ref_until
    else:
        assert until is None or until >= horizon
    if until is not None:
        assert sch.active(s, until)[0] != on
        assert sch.active(s, until - timedelta(microseconds=1))[0] == on


# Speed -----------------------------------------------------------------------------------------------------


def test_active_speed():
    """active() costs microseconds on the hot path (printed; run with -s to see it)."""
    s = S(PARIS, ((MON, TUE, WED, THU, FRI), "09:00", "18:00"), ((SUN,), "22:00", "06:00"))
    paused = sch.pause(s, z("2025-11-24T10:00"), 30)
    results = {}
    for label, schedule in (("windows", s), ("with a pause", paused)):
        now = z("2025-11-24T10:05")
        sch.active(schedule, now)
        n = 20_000
        t0 = clock.perf_counter()
        for i in range(n):
            sch.active(schedule, now + timedelta(seconds=i % 600))
        results[label] = (clock.perf_counter() - t0) / n * 1e6
    print("active(): " + ", ".join(f"{label} {us:.1f} µs/call" for label, us in results.items()))
    assert results["windows"] < 200  # generous: a few µs on a laptop; only a regression to real work fails it


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
near_good = st.fixed_dictionaries(
    {
        "timezone": st.one_of(st.sampled_from([*ZONES, "system", "localtime", "Europe"]), json_values),
        "windows": st.lists(
            st.fixed_dictionaries(
                {
                    "days": st.lists(st.sampled_from([*sch.DAY_NAMES, "Mon", "", 0]), max_size=8),
                    "start": st.one_of(st.sampled_from(["09:00", "24:00", "9:00", "23:59"]), json_values),
                    "end": st.sampled_from(["18:00", "00:00", "-1:00", "18:00:00"]),
                }
            ),
            max_size=3,
        ),
        "overrides": st.lists(
            st.fixed_dictionaries(
                {
                    "kind": st.sampled_from(["pause", "filter", "off"]),
                    "until": st.sampled_from(
                        [
                            "2026-11-22T15:30:00Z",
                            "9999-12-31T23:59:59-01:00",
                            "0001-01-01T00:00:00+01:00",
                            "x",
                        ]
                    ),
                }
            ),
            max_size=2,
        ),
    }
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(json_values, near_good))
def test_parse_any_json_gives_a_schedule_or_a_schedule_error(obj):
    """Whatever JSON arrives, parse_schedule() returns a Schedule or raises ScheduleError, nothing else."""
    try:
        s = sch.parse_schedule(obj)
    except ScheduleError as e:
        assert len(str(e)) < 200
    else:
        assert sch.parse_schedule(sch.to_json(s)) == s


@pytest.mark.parametrize("name", ["localtime", "posixrules", "Factory", "europe/paris", "Europe"])
def test_only_real_zone_names(name):
    """Files in the zone database that are not zones, and misspelt names, are refused."""
    with pytest.raises(ScheduleError, match="IANA"):
        sch.zone(name)


@pytest.mark.parametrize(("zone_name", "now", "until", "wait"), [
    ("Europe/Paris", datetime(2026, 10, 25, 1, 15, tzinfo=UTC), time(2, 30), timedelta(minutes=15)),  # 2nd 02:15
    ("Europe/Paris", datetime(2026, 10, 25, 0, 15, tzinfo=UTC), time(2, 30), timedelta(minutes=15)),  # 1st 02:15
    ("America/New_York", datetime(2026, 11, 1, 6, 20, tzinfo=UTC), time(1, 45), timedelta(minutes=25)),
])
def test_filter_until_a_time_the_clock_reads_twice_is_its_next_reading(zone_name, now, until, wait):
    """In the hour an autumn change repeats, "filter until 02:30" asked at the second 02:15 is 15 minutes away
    (the second 02:30), not a day (a review found 1 day 0:15: the first 02:30 had passed, so tomorrow's was
    taken)."""
    new = sch.filter_until(Schedule(zone_name, ()), now, until)
    assert new.overrides[0].until - now == wait


def test_a_stored_override_ending_near_the_year_9999_does_not_raise():
    """An older version could take such a schedule from a peer and keep it: its state is worked out all the same
    (the pause holds, no next change) instead of an OverflowError on every response."""
    far = Schedule("Europe/Paris", (Window((0,), 9 * 60, 18 * 60),),
                   (Override("pause", datetime(9999, 12, 30, tzinfo=UTC)),))
    assert sch.active(far, datetime(2026, 11, 25, 10, tzinfo=UTC)) == (False, None)


def test_a_zone_read_without_a_name_is_the_same_zone_when_its_offsets_are():
    """follow_system_zone compares two readings of the machine's zone: by name, or, for zones read from a file's
    bytes (no name), by their offsets now and in half a year, so that reading the same file again is no change."""
    from importlib.resources import files

    def from_file(name: str):
        with files("tzdata.zoneinfo").joinpath(name).open("rb") as f:
            return ZoneInfo.from_file(f)

    assert sch._same_zone(from_file("Europe/Paris"), from_file("Europe/Paris"))
    assert sch._same_zone(from_file("Europe/Paris"), from_file("Europe/Berlin"))  # the same offsets all year
    assert not sch._same_zone(from_file("Europe/Paris"), from_file("Europe/London"))
    assert not sch._same_zone(ZoneInfo("Europe/Paris"), ZoneInfo("Europe/Berlin"))  # by name when named
    assert sch._same_zone(ZoneInfo("Europe/Paris"), ZoneInfo("Europe/Paris"))
