"""The runtime's housekeeping off the hot path: full cycle collections only when the proxy is idle."""

from __future__ import annotations

from sourdine import settings
from sourdine.engine import Engine
from sourdine.platforms import ADAPTERS
from sourdine.runtime import Runtime
from sourdine.scoring import score
from sourdine.store import Writer


def test_full_collections_wait_for_an_idle_proxy_but_not_forever(tmp_path):
    """No collection within a minute of the last, none while responses are being filtered, one once the proxy
    has been idle half a second, and one after two minutes even if it never is."""
    runtime = Runtime(tmp_path, "t", settings.build(), Engine(score, ADAPTERS), Writer(tmp_path / "db"))
    runtime.collected_at = 1000.0
    runtime.last_busy = 1059.9
    assert not runtime.collect_when_idle(1030.0)  # within the minute
    assert not runtime.collect_when_idle(1060.0)  # busy 0.1 s ago
    assert runtime.collect_when_idle(1060.5)  # idle for 0.6 s
    assert runtime.collected_at == 1060.5
    runtime.last_busy = 1180.4
    assert not runtime.collect_when_idle(1180.45)  # busy, and under two minutes since the last
    runtime.last_busy = 1180.5
    assert runtime.collect_when_idle(1180.6)  # busy, but two minutes have passed


def test_damaged_list_rows_are_skipped_and_the_rest_loaded(tmp_path, caplog):
    """Rows edited by hand or damaged (a connection decision with a field it never had, entries that are not
    objects) are skipped with a warning; Sourdine starts with the rest (a review found a TypeError stopping it)."""
    runtime = Runtime(tmp_path, "t", settings.build(), Engine(score, ADAPTERS), Writer(tmp_path / "db"))
    stamp = "000000000001-0000-dev1"
    rows = [
        {"list": "connection", "key": "author:mastodon:1", "entry": {"kind": "muted", "note": "x"}, "stamp": stamp,
         "deleted": 0},
        {"list": "connection", "key": "author:mastodon:2", "entry": ["muted"], "stamp": stamp, "deleted": 0},
        {"list": "mute", "key": "keyword:honte", "entry": None, "stamp": stamp, "deleted": 0},
        {"list": "mute", "key": "keyword:rage", "entry": {"kind": "keyword", "text": "rage"}, "stamp": stamp,
         "deleted": 0},
        {"list": "connection", "key": "author:mastodon:3", "entry": {"kind": "dismissed"}, "stamp": stamp,
         "deleted": 0},
    ]
    runtime.load_lists(rows, "dev1")
    assert list(runtime.entries["mute"]) == ["keyword:rage"]
    assert list(runtime.author_decisions) == [("mastodon", "3")]
    assert caplog.text.count("could not be read and is skipped") == 3


def test_hourly_maintenance_deletes_author_rows_past_retention_out_of_memory_too(tmp_path):
    """The book holds its limit of records; the rows it let go of are deleted too once past retention (90 days),
    with those it expires, while a row within retention stays."""
    from sourdine import authors, store

    writer = Writer(tmp_path / "db")
    now = 200 * 86400.0
    writer.authors([authors.to_row(authors.AuthorRecord("mastodon", name, last_seen=seen))
                    for name, seen in [("old-out", now - 100 * 86400), ("recent-out", now - 10 * 86400)]])
    book = authors.AuthorBook(limit=1)
    book.add("mastodon", "old-in", "p1", 0.9, True, now - 95 * 86400)
    runtime = Runtime(tmp_path, "t", settings.build(), Engine(score, ADAPTERS, authors=book), writer)
    writer.start()
    try:
        runtime.save_authors(now)
        assert writer.flush()
    finally:
        writer.close()
    assert sorted(r["author_id"] for r in store.iter_authors(tmp_path / "db")) == ["recent-out"]


def test_a_record_of_the_users_own_account_left_by_an_older_sourdine_goes_at_start(tmp_path):
    """A record of an account the settings name as the user's own (counted before Sourdine knew it, by a version
    that kept it) is not loaded into the book, and its row is deleted; other records load as before."""
    import time

    from sourdine import authors, store

    writer = Writer(tmp_path / "db")
    now = time.time()
    writer.authors([authors.to_row(authors.AuthorRecord("x", name, last_seen=now)) for name in ("1234567", "42")])
    writer.start()
    try:
        assert writer.flush()
        rows = list(store.iter_authors(tmp_path / "db"))
        runtime = Runtime.create(tmp_path, "t", {"own_accounts": {"x": ["1234567"]}}, writer, author_rows=rows)
        assert runtime.engine.own == {"x": {"1234567"}}
        assert runtime.engine.authors.get("x", "1234567") is None
        assert runtime.engine.authors.get("x", "42") is not None
        assert writer.flush()
    finally:
        writer.close()
    assert [r["author_id"] for r in store.iter_authors(tmp_path / "db")] == ["42"]


def test_the_kept_filtering_answer_is_worked_out_again_when_the_clock_is_set_back(tmp_path):
    """runtime.filtering() keeps its answer until the `until` it got, but that answer holds only from the instant it
    was worked out: with the clock set back from Monday 10:00 in Paris (inside 09:00-18:00) to Sunday noon, it says
    Sourdine does not filter, until Monday 09:00, as the schedule does, instead of Monday's kept "on until 18:00"."""
    from datetime import UTC, datetime

    from sourdine import schedule

    snapshot = settings.build({"schedule": {"timezone": "Europe/Paris", "windows": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]}})
    runtime = Runtime(tmp_path, "t", snapshot, Engine(score, ADAPTERS), Writer(tmp_path / "db"))
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 10:00 in Paris
    assert runtime.filtering(monday) == (True, datetime(2026, 3, 2, 17, 0, tzinfo=UTC))
    sunday = datetime(2026, 3, 1, 11, 0, tzinfo=UTC)  # noon in Paris, the day before
    assert runtime.filtering(sunday) == (False, datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    assert runtime.filtering(sunday) == schedule.active(snapshot.schedule, sunday)
    # Forward again, within the new answer's span and then past it: each instant gets the schedule's answer.
    assert runtime.filtering(datetime(2026, 3, 1, 20, 0, tzinfo=UTC))[0] is False
    assert runtime.filtering(monday) == (True, datetime(2026, 3, 2, 17, 0, tzinfo=UTC))


def test_work_hours_in_the_system_zone_follow_the_machine_when_its_zone_changes(tmp_path, monkeypatch):
    """Work hours in the "system" zone (the default, kept when windows are added to it) follow the machine's zone
    while Sourdine runs: after the machine moves from Paris to New York, the loop that saves author records reads
    the zone again and Monday 09:30 UTC (10:30 in Paris, 04:30 in New York) is outside 09:00-18:00. Before, the
    zone was read once, and Paris's hours held until the next start."""
    import asyncio
    from datetime import UTC, datetime

    from sourdine import schedule

    monkeypatch.setenv("TZ", "Europe/Paris")
    schedule.system_zone.cache_clear()
    try:
        snapshot = settings.build({"schedule": {"timezone": "system", "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}]}})
        runtime = Runtime(tmp_path, "t", snapshot, Engine(score, ADAPTERS), Writer(tmp_path / "db"))
        runtime.zone_every = 0.0
        monday = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
        assert runtime.filtering(monday) == (True, datetime(2026, 3, 2, 17, 0, tzinfo=UTC))
        monkeypatch.setenv("TZ", "America/New_York")

        async def run_the_loop_a_little() -> None:
            task = asyncio.create_task(runtime.save_authors_forever(every=0.01))
            await asyncio.sleep(0.2)
            task.cancel()

        asyncio.run(run_the_loop_a_little())
        assert runtime.filtering(monday) == (False, datetime(2026, 3, 2, 14, 0, tzinfo=UTC))  # 09:00 EST
        assert schedule.zone("system").key == "America/New_York"
    finally:
        schedule.system_zone.cache_clear()


def test_the_machine_zone_is_read_again_at_most_every_zone_every_seconds(tmp_path, monkeypatch):
    """follow_zone reads the machine's zone at most once a `zone_every` (a minute) and says whether it changed;
    the same zone read again keeps the kept answer."""
    from sourdine import schedule

    monkeypatch.setenv("TZ", "Europe/Paris")
    schedule.system_zone.cache_clear()
    try:
        runtime = Runtime(tmp_path, "t", settings.build(), Engine(score, ADAPTERS), Writer(tmp_path / "db"))
        assert runtime.follow_zone(1000.0) is False  # the first reading: the same zone
        runtime.filtering()
        kept = runtime._filtering
        monkeypatch.setenv("TZ", "Asia/Kathmandu")
        assert runtime.follow_zone(1059.0) is False  # within the minute: not read
        assert schedule.zone("system").key == "Europe/Paris"
        assert runtime._filtering is kept
        assert runtime.follow_zone(1060.0) is True
        assert schedule.zone("system").key == "Asia/Kathmandu" and runtime._filtering is None
        assert runtime.follow_zone(1200.0) is False
    finally:
        schedule.system_zone.cache_clear()
