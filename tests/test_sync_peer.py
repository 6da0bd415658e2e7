"""Peer sync in one process: two real sync services with their TLS listeners on 127.0.0.1, real sqlite stores.
Pairing, deltas, and hostile input refused with nothing applied."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from pathlib import Path

import aiohttp
import pytest

from sourdine import lists, settings
from sourdine.engine import Engine
from sourdine.hlc import Stamp
from sourdine.platforms import ADAPTERS
from sourdine.runtime import Runtime
from sourdine.scoring import score
from sourdine.store import Writer
from sourdine.sync import peer as peer_mod
from sourdine.sync.live import Live
from sourdine.sync.merge import Row
from sourdine.sync.peer import Sync, SyncError, _mac


class Device:
    def __init__(self, path, name: str) -> None:
        path.mkdir()
        self.path = path
        self.writer = Writer(path / "db.sqlite")
        self.writer.start()
        self.runtime = Runtime(path, "t", settings.build(), Engine(score, ADAPTERS), self.writer)
        self.runtime.load_lists([], name)
        self.live = Live(self.runtime, asyncio.Lock())
        self.sync = Sync(self.live, path, name, name=name, interval=3600)

    async def mute(self, text: str) -> None:
        entry = lists.parse_mute({"kind": "keyword", "text": text}, __import__("datetime").datetime.now(
            __import__("datetime").UTC))
        async with self.live.lock:
            await self.live.write_local("mute", {entry.key: entry})

    async def unmute(self, text: str) -> None:
        """A removal, as the API makes it: a tombstone with a fresh stamp."""
        from sourdine.sync import db as sync_db

        key = f"keyword:{text}"
        async with self.live.lock:
            row = Row.make("mute", key, None, self.runtime.clock.tick())
            await self.live.committed(lambda db: sync_db.apply(db, [row]))
            self.runtime.entries = {n: dict(c) for n, c in self.runtime.entries.items()}
            self.runtime.entries["mute"].pop(key, None)

    def rows(self) -> list[tuple]:
        return sqlite3.connect(self.path / "db.sqlite").execute(
            "SELECT list, key, stamp, deleted FROM lists ORDER BY list, key").fetchall()

    async def close(self) -> None:
        await self.sync.stop()
        self.writer.close()


@pytest.fixture
async def pair(tmp_path):
    a, b = Device(tmp_path / "a", "deva"), Device(tmp_path / "b", "devb")
    await a.sync.start(0)
    await b.sync.start(0)
    code, _ = a.sync.new_code()
    await b.sync.accept(code)
    yield a, b
    await a.close()
    await b.close()


async def test_pairing_pins_each_side_and_sync_exchanges_deltas(pair):
    """After pairing each side knows the other; a sync sends both sides' edits, and the next one only what
    changed since."""
    a, b = pair
    assert set(a.sync.peers) == {"devb"} and set(b.sync.peers) == {"deva"}
    assert a.sync.peers["devb"].key == b.sync.peers["deva"].key
    await a.mute("honte")
    await b.mute("rage")
    [result] = await b.sync.sync_all()
    assert result["ok"] and result["sent"] == 1 and result["received"] == 1
    assert a.rows() == b.rows() and len(a.rows()) == 2
    assert set(a.runtime.entries["mute"]) == set(b.runtime.entries["mute"]) == {"keyword:honte", "keyword:rage"}
    await a.mute("colère")
    [result] = await b.sync.sync_all()
    assert (result["sent"], result["received"]) == (0, 1)
    assert a.sync.peers["devb"].last_seen is not None


async def test_a_wrong_code_pairs_nothing_and_spends_the_code(tmp_path):
    a, b = Device(tmp_path / "a", "deva"), Device(tmp_path / "b", "devb")
    try:
        await a.sync.start(0)
        await b.sync.start(None)
        code, _ = a.sync.new_code()
        wrong = code[:-1] + ("a" if code[-1] != "a" else "b")
        with pytest.raises(SyncError, match="could not prove|refused"):
            await b.sync.accept(wrong)
        with pytest.raises(SyncError, match="wrong, expired or already used"):
            await b.sync.accept(code)  # one attempt per code
        assert a.sync.peers == {} and b.sync.peers == {}
        with pytest.raises(SyncError, match="not a peer code"):
            await b.sync.accept("hello")
    finally:
        await a.close()
        await b.close()


async def _post(device: Device, target: Device, raw: bytes, key: bytes | None = None) -> int:
    peer = device.sync.peers[target.sync.device]
    key = key or bytes.fromhex(peer.key)
    async with aiohttp.ClientSession() as session, session.post(
            f"https://{peer.address}/v1/sync", data=raw, ssl=device.sync._client_ctx(peer),
            headers={"X-Sourdine-Mac": _mac(key, raw)}) as r:
        return r.status


def _message(device: str, rows: list[dict], n: int | None = None, when: int | None = None) -> bytes:
    return json.dumps({"device": device, "n": n or time.time_ns() // 1000, "time": when or int(time.time() * 1000),
                       "since": 0, "upto": 1, "full": False, "rows": rows}).encode()


def _row(text: str, wall: int | None = None) -> dict:
    stamp = Stamp(wall or int(time.time() * 1000), 0, "devb")
    return Row.make("mute", f"keyword:{text}", {"kind": "keyword", "text": text}, stamp).to_wire()


async def test_hostile_messages_are_refused_with_nothing_applied(pair):
    """Malformed data, a wrong key, a replayed message, a clock far in the future, a stale message: refused, and
    the store is as before."""
    a, b = pair
    before = a.rows()
    good = _row("ok")
    assert await _post(b, a, b"{not json") == 400
    assert await _post(b, a, _message("devb", [good, {"list": "mute", "key": "keyword:x"}])) == 400
    assert await _post(b, a, _message("devb", [good, {**_row("x"), "key": "keyword:y"}])) == 400
    assert await _post(b, a, _message("devb", [good]), key=b"k" * 32) == 401
    future = int(time.time() * 1000) + 3 * 86_400_000
    assert await _post(b, a, _message("devb", [good, _row("future", future)])) == 400
    assert await _post(b, a, _message("devb", [good], when=int(time.time() * 1000) - 3_600_000)) == 400
    assert await _post(b, a, _message("deva", [good])) == 400
    assert a.rows() == before == []
    assert a.runtime.entries["mute"] == {}
    # A good message goes in once; the same bytes again are a replay.
    raw = _message("devb", [good])
    assert await _post(b, a, raw) == 200
    assert await _post(b, a, raw) == 409
    assert [r[1] for r in a.rows()] == ["keyword:ok"]
    # The same message twice at once: applied once.
    raw = _message("devb", [_row("twice")])
    assert sorted(await asyncio.gather(_post(b, a, raw), _post(b, a, raw))) == [200, 409]


async def test_an_unpaired_certificate_is_refused(pair, tmp_path):
    """A third device with its own certificate cannot sync, even with a copy of the key."""
    a, b = pair
    c = Device(tmp_path / "c", "devc")
    try:
        intruder = peer_mod.Peer("deva", "a", b.sync.peers["deva"].address, a.sync.cert.decode(),
                                 b.sync.peers["deva"].key, time.time())
        c.sync.peers["deva"] = intruder
        with pytest.raises(SyncError):
            await c.sync.sync_peer(intruder)
        assert a.rows() == []
    finally:
        await c.close()


async def test_an_unreachable_peer_backs_off_within_bounds(pair):
    """10 s after the first failure, then twice as long after each, up to 15 minutes (on an injected clock that
    stands still, so that a slow machine does not blur the figures)."""
    a, b = pair
    await a.sync.stop()
    a.sync._runner = None
    a.sync._task = None
    b.sync.monotonic = lambda: 1000.0
    for expected in (10, 20, 40, 80, 160, 320, 640, 900, 900):
        [result] = await b.sync.sync_all()
        assert not result["ok"] and "unreachable" in result["error"]
        assert b.sync._next["deva"] - 1000.0 == expected


async def test_the_folder_transport_syncs_and_ignores_forged_lines(pair, tmp_path):
    """Through a shared folder: each device appends to its own file and merges the other's; a forged line, a
    conflict copy and a repeated line are ignored (and counted), the real ones applied."""
    from sourdine.sync.folder import Folder, check_folder

    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    with pytest.raises(ValueError, match="outside"):
        check_folder(a.path, a.path)
    a.sync.folder, b.sync.folder = Folder(shared, "deva"), Folder(shared, "devb")
    await a.mute("honte")
    await b.mute("rage")
    assert (await a.sync.sync_folder()).written == 1
    report = await b.sync.sync_folder()
    assert (report.written, report.read, report.ignored) == (1, 1, 0)
    await a.sync.sync_folder()
    assert set(a.runtime.entries["mute"]) == set(b.runtime.entries["mute"]) == {"keyword:honte", "keyword:rage"}
    assert not any(p.name.endswith(".db") or p.name.endswith(".sqlite") for p in shared.iterdir())

    # Someone who can write to the folder but has no pairing key.
    forged = Folder(shared, "devb").line([Row.from_wire(_row("forged"))], time.time_ns(), {"deva": b"x" * 32})
    with (shared / "ops-devb.jsonl").open("ab") as f:
        f.write(forged + b"not json\n")
    good = (shared / "ops-devb.jsonl").read_bytes().splitlines(keepends=True)[0]
    with (shared / "ops-devb.jsonl").open("ab") as f:
        f.write(good)  # a replayed line
    conflict = Folder(shared, "devb").line([Row.from_wire(_row("conflict"))], time.time_ns(),
                                           {"deva": bytes.fromhex(a.sync.peers["devb"].key)})
    (shared / "ops-devb.sync-conflict-20261122-101010-ABCDEFG.jsonl").write_bytes(conflict)
    (shared / "ops-devb (conflicted copy 2026-11-22).jsonl").write_bytes(conflict)
    report = await a.sync.sync_folder()
    assert (report.read, report.ignored) == (0, 3)
    assert set(a.runtime.entries["mute"]) == {"keyword:honte", "keyword:rage"}
    # A later genuine edit still comes through.
    await b.mute("colère")
    await b.sync.sync_folder()
    assert (await a.sync.sync_folder()).read == 1
    assert "keyword:colère" in a.runtime.entries["mute"]


def _planted_folder(a, b, tmp_path: Path) -> tuple[Path, Path]:
    """A sync folder shared by A and B, and a file of the user's that someone who can write to the folder would like
    Sourdine to append to."""
    from sourdine.sync.folder import Folder

    shared = tmp_path / "shared"
    shared.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"export PATH=$HOME/bin:$PATH\n")
    a.sync.folder, b.sync.folder = Folder(shared, "deva"), Folder(shared, "devb")
    return shared, victim


async def test_a_link_or_a_pipe_in_the_folder_is_never_followed_nor_waited_on(pair, tmp_path):
    """Someone who can write to the folder puts a link to another file, or a pipe, under a device's file name
    (a review showed the link was appended to, and the pipe held the sync for good): the sync reports the folder
    as unusable for our own file, skips (and logs) a paired device's, and writes nothing through either."""
    a, b = pair
    shared, victim = _planted_folder(a, b, tmp_path)
    await a.mute("honte")
    (shared / "ops-deva.jsonl").symlink_to(victim)
    [result] = [r for r in await asyncio.wait_for(a.sync.sync_all(), 10) if r["id"] == "folder"]
    assert not result["ok"] and "could not be used" in result["error"]
    assert victim.read_bytes() == b"export PATH=$HOME/bin:$PATH\n"
    (shared / "ops-deva.jsonl").unlink()
    os.mkfifo(shared / "ops-deva.jsonl")
    [result] = [r for r in await asyncio.wait_for(a.sync.sync_all(), 10) if r["id"] == "folder"]
    assert not result["ok"] and "could not be used" in result["error"]
    (shared / "ops-deva.jsonl").unlink()
    assert (await a.sync.sync_folder()).written == 1  # a regular file again: written
    # The paired device's file, as a link (to its genuine lines, moved) or a pipe: not read, and the sync goes on.
    await b.mute("rage")
    assert (await b.sync.sync_folder()).written >= 1
    genuine = tmp_path / "elsewhere.jsonl"
    (shared / "ops-devb.jsonl").rename(genuine)
    (shared / "ops-devb.jsonl").symlink_to(genuine)
    report = await asyncio.wait_for(a.sync.sync_folder(), 10)
    assert report.read == 0 and "keyword:rage" not in a.runtime.entries["mute"]
    (shared / "ops-devb.jsonl").unlink()
    os.mkfifo(shared / "ops-devb.jsonl")
    report = await asyncio.wait_for(a.sync.sync_folder(), 10)
    assert report.read == 0 and "keyword:rage" not in a.runtime.entries["mute"]
    (shared / "ops-devb.jsonl").unlink()
    genuine.rename(shared / "ops-devb.jsonl")
    assert (await a.sync.sync_folder()).read == 1 and "keyword:rage" in a.runtime.entries["mute"]


async def test_a_hard_link_in_the_folder_is_not_used_and_a_refused_file_is_warned_about_once(pair, tmp_path,
                                                                                           caplog):
    """A hard link under a device's file name (to a file of the user's on the same disk) is neither appended to nor
    read (a review); a file refused is warned about once, not at every sync, and again if it comes back after a
    regular file."""
    a, b = pair
    shared, victim = _planted_folder(a, b, tmp_path)
    for peer in a.sync.peers.values():
        peer.address = None  # the folder alone: what reaches A here came through it
    await a.mute("honte")
    caplog.set_level(logging.WARNING, "sourdine.sync.folder")
    own = shared / "ops-deva.jsonl"
    words = iter(["colère", "fureur", "dégoût"])
    for plant in (lambda: os.link(victim, own), lambda: own.symlink_to(victim), lambda: os.mkfifo(own)):
        word = next(words)
        await b.mute(word)
        assert (await b.sync.sync_folder()).written >= 1
        own.unlink(missing_ok=True)  # A's own lines, if it wrote any: the planted file takes their place
        plant()
        for _ in range(3):  # said in every answer, naming the file; logged once; the other device's file read
            [result] = [r for r in await asyncio.wait_for(a.sync.sync_all(), 10) if r["id"] == "folder"]
            assert not result["ok"] and result["error"] == ("the sync folder could not be used: ops-deva.jsonl in "
                                                            "the sync folder is not a regular file with one link")
        assert f"keyword:{word}" in a.runtime.entries["mute"]
        assert victim.read_bytes() == b"export PATH=$HOME/bin:$PATH\n"
        assert sum("ops-deva.jsonl" in r.getMessage() for r in caplog.records) == 1
        own.unlink()
        assert (await a.sync.sync_folder()).written >= 1
        caplog.clear()
    # With nothing to write, a planted file is said all the same.
    assert (await a.sync.sync_folder()).written == 0
    own.unlink()
    os.link(victim, own)
    [result] = [r for r in await asyncio.wait_for(a.sync.sync_all(), 10) if r["id"] == "folder"]
    assert not result["ok"] and "ops-deva.jsonl" in result["error"]
    own.unlink()
    caplog.clear()
    await b.mute("rage")
    assert (await b.sync.sync_folder()).written >= 1
    genuine = tmp_path / "elsewhere.jsonl"
    os.link(shared / "ops-devb.jsonl", genuine)  # the genuine lines, under two names
    for _ in range(3):
        assert (await a.sync.sync_folder()).read == 0
    assert "keyword:rage" not in a.runtime.entries["mute"]
    warned = [r for r in caplog.records if "ops-devb.jsonl" in r.getMessage() and "one link" in r.getMessage()]
    assert len(warned) == 1
    genuine.unlink()
    assert (await a.sync.sync_folder()).read == 1 and "keyword:rage" in a.runtime.entries["mute"]
    (shared / "ops-devb.jsonl").rename(genuine)
    os.mkfifo(shared / "ops-devb.jsonl")
    await a.sync.sync_folder()
    await a.sync.sync_folder()
    warned = [r for r in caplog.records if "ops-devb.jsonl" in r.getMessage() and "one link" in r.getMessage()]
    assert len(warned) == 2


async def test_a_peer_back_after_180_days_gets_the_full_state(pair):
    """A peer last seen more than 180 days ago is sent everything, not a delta, and both sides end equal."""
    a, b = pair
    await a.mute("honte")
    await b.sync.sync_all()
    await a.mute("rage")
    peer = b.sync.peers["deva"]
    peer.last_seen = time.time() - 181 * 86400
    peer.got = peer.sent = 10**6  # watermarks that would skip everything in a delta
    [result] = await b.sync.sync_all()
    assert result["ok"] and result["received"] == 2, "the whole state, rage included (a delta would skip it)"
    assert a.rows() == b.rows() and len(b.rows()) == 2 and "keyword:rage" in b.runtime.entries["mute"]


async def test_a_returning_peer_keeps_the_rows_both_sides_share(pair):
    """A full exchange against a peer that has collected tombstones since: the rows both sides hold stay on the
    returning side (the answer carries them back, so none looks like a collected removal)."""
    from sourdine.sync import db as sync_db

    a, b = pair
    await a.mute("honte")
    await b.sync.sync_all()
    assert [r[1] for r in b.rows()] == ["keyword:honte"]
    horizon = a.runtime.clock.tick()  # A collected a tombstone newer than the row both hold
    await a.live.committed(lambda db: sync_db.set_state(db, "horizon", horizon.encode()))
    b.sync.peers["deva"].last_seen = time.time() - 181 * 86400
    [result] = await b.sync.sync_all()
    assert result["ok"]
    assert a.rows() == b.rows() and [r[1] for r in b.rows()] == ["keyword:honte"]
    assert set(b.runtime.entries["mute"]) == {"keyword:honte"}


DAY = 86400


async def _removed_and_collected_on(here, away, monkeypatch) -> None:
    """Both hold "rage" (made 200 days ago); `here` removes it 199 days ago while `away` is away, and, `away` not
    seen for 181 days, collects the removal."""
    real = time.time
    monkeypatch.setattr(here.runtime.clock, "physical", lambda: real() - 200 * DAY)
    await here.mute("rage")
    for device in (here, away):
        await device.sync.sync_all()
    assert "keyword:rage" in away.runtime.entries["mute"]
    monkeypatch.setattr(here.runtime.clock, "physical", lambda: real() - 199 * DAY)
    await here.unmute("rage")
    monkeypatch.setattr(here.runtime.clock, "physical", real)
    for device in (here, away):
        for peer in device.sync.peers.values():
            peer.last_seen = real() - 181 * DAY
    await here.sync._collect()
    assert here.rows() == []


@pytest.mark.parametrize("starts", ["the device that collected", "the returning device"])
async def test_a_collected_removal_stays_removed_whichever_side_starts_the_full_exchange(pair, monkeypatch, starts):
    """A peer back after 180 days gets the full state. When the device that removed an entry and collected its
    tombstone began that exchange, the returning device's copy came back on both (a review's finding): now each
    side drops the other's rows that it removed and collected, and the message carries the sender's horizon so
    that the returning side drops its copy too."""
    a, b = pair
    await _removed_and_collected_on(a, b, monkeypatch)
    [result] = await (a if starts == "the device that collected" else b).sync.sync_all()
    assert result["ok"], result
    assert "keyword:rage" not in a.runtime.entries["mute"] and "keyword:rage" not in b.runtime.entries["mute"]
    assert a.rows() == [] and b.rows() == []


async def test_an_edit_made_while_a_full_exchange_waits_is_kept(pair, monkeypatch):
    """The keys a full exchange drops (removed and collected on the other side) were worked out from a state read
    before the merge waited for the lock the API's edits take: an edit of such a key, acknowledged meanwhile, was
    deleted (a review's finding). They are worked out in the merge's own transaction now."""
    import datetime

    a, b = pair
    await _removed_and_collected_on(b, a, monkeypatch)
    async with a.live.lock:  # the user's edit on A holds the lock while A's full exchange comes back
        task = asyncio.create_task(a.sync.sync_all())
        await asyncio.sleep(0.5)
        entry = lists.parse_mute({"kind": "keyword", "text": "rage", "note": "again"},
                                 datetime.datetime.now(datetime.UTC))
        await a.live.write_local("mute", {entry.key: entry})
    [result] = await task
    assert result["ok"], result
    assert a.runtime.entries["mute"]["keyword:rage"].note == "again"
    assert [r[1] for r in a.rows()] == ["keyword:rage"]
    await a.sync.sync_all()
    assert b.runtime.entries["mute"]["keyword:rage"].note == "again", "and it reaches the other side"


async def test_a_peer_removed_while_its_message_waits_stores_nothing(pair):
    """`sourdine peers remove` while a message of that peer waits for the lock (an import holds it): its rows were
    applied and the peer written back to the database, paired again at the next start (a review's finding).
    Now nothing of it is stored, and it stays removed."""
    a, b = pair
    await a.sync.sync_all()
    await b.mute("apres")
    async with a.live.lock:
        task = asyncio.create_task(b.sync.sync_all())
        await asyncio.sleep(0.5)
        assert await a.sync.remove("devb")
    [result] = await task
    assert not result["ok"]
    assert "keyword:apres" not in a.runtime.entries["mute"] and a.rows() == []
    assert sqlite3.connect(a.path / "db.sqlite").execute("SELECT count(*) FROM peers").fetchone()[0] == 0
    assert a.sync.peers == {}


async def test_connection_decisions_and_work_hours_replicate(pair):
    """A dismissed toxic-connection suggestion and the schedule, edited on A, hold on B after a sync; the schedule
    is stored in B's settings too, so that it survives a restart."""
    from sourdine.sync import db as sync_db

    a, b = pair
    hours = {"timezone": "Europe/Paris", "windows": [{"days": ["mon"], "start": "09:00", "end": "18:00"}],
             "overrides": []}
    rows = [Row.make("connection", "author:mastodon:42", {"kind": "dismissed", "share": 0.5, "hostile": 2.0},
                     a.runtime.clock.tick()),
            Row.make("setting", "schedule", hours, a.runtime.clock.tick())]
    await a.live.committed(lambda db: sync_db.apply(db, rows))
    [result] = await b.sync.sync_all()
    assert result["ok"] and result["received"] == 2
    assert b.runtime.author_decisions[("mastodon", "42")].kind == "dismissed"
    assert b.runtime.snapshot.schedule.timezone == "Europe/Paris"
    stored = sqlite3.connect(b.path / "db.sqlite").execute(
        "SELECT value FROM settings WHERE key = 'schedule'").fetchone()
    assert json.loads(stored[0])["windows"][0]["start"] == "09:00"


def _restarted(device: Device, folder=None) -> Sync:
    """A new sync service for `device`, its state read back from the sqlite file, as after a restart."""
    from sourdine import store

    fresh = Sync(device.live, device.path, device.sync.device, name=device.sync.device, interval=3600)
    db = store.open_db(device.path / "db.sqlite")
    try:
        fresh.load(db)
    finally:
        db.close()
    fresh.folder = folder
    return fresh


async def test_folder_lines_after_a_restart_with_the_clock_set_back_still_count(pair, tmp_path, monkeypatch):
    """A restart with the clock an hour behind: the next folder line is numbered past the last one written, so the
    other device takes it instead of ignoring it as a repeat."""
    from sourdine.sync.folder import Folder

    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder, b.sync.folder = Folder(shared, "deva"), Folder(shared, "devb")
    await a.mute("honte")
    await a.sync.sync_folder()
    assert (await b.sync.sync_folder()).read == 1
    await a.sync.stop()
    real = time.time_ns
    monkeypatch.setattr(peer_mod.time, "time_ns", lambda: real() - 3600 * 10**9)
    a.sync = _restarted(a, Folder(shared, "deva"))
    await a.mute("rage")
    assert (await a.sync.sync_folder()).written == 1
    report = await b.sync.sync_folder()
    assert (report.read, report.ignored) == (1, 0)
    assert set(b.runtime.entries["mute"]) == {"keyword:honte", "keyword:rage"}


async def test_a_message_number_is_saved_even_when_the_exchange_fails(pair):
    """The number of a message that never got its answer is saved: after a restart the next one is higher (the
    peer may have applied that message, and would refuse a lower number as a replay)."""
    a, b = pair
    await a.sync.stop()
    a.sync._runner = None
    a.sync._task = None
    [result] = await b.sync.sync_all()
    assert not result["ok"]
    assert _restarted(b)._last_n >= b.sync._last_n > 0


async def test_a_folder_line_from_a_clock_ahead_waits_and_is_read_later(pair, tmp_path, monkeypatch):
    """A signed line whose clock is two days ahead is not applied, and not skipped either: it is read again each
    round, and taken once our clock has caught up."""
    from sourdine.sync import folder as folder_mod

    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder = folder_mod.Folder(shared, "deva")
    ahead = int(time.time() * 1000) + 2 * 86_400_000
    line = folder_mod.Folder(shared, "devb").line([Row.from_wire(_row("tomorrow", ahead))], time.time_ns() // 1000,
                                                   {"deva": bytes.fromhex(a.sync.peers["devb"].key)})
    folder_mod.Folder(shared, "devb").append(line)
    for _ in range(2):
        report = await a.sync.sync_folder()
        assert (report.read, report.ignored) == (0, 1)
        assert "keyword:tomorrow" not in a.runtime.entries["mute"]
    real = time.time
    monkeypatch.setattr(folder_mod.time, "time", lambda: real() + 3 * 86400)
    monkeypatch.setattr(a.runtime.clock, "physical", folder_mod.time.time)
    report = await a.sync.sync_folder()
    assert (report.read, report.ignored) == (1, 0)
    assert "keyword:tomorrow" in a.runtime.entries["mute"]


async def test_refusals_name_no_handle_or_keyword_above_debug(pair, tmp_path, caplog):
    """Rows refused in a peer's message, in its answer and in a folder line: the logs above DEBUG and the peer's
    `last_error` give the list and the reason, never the handle or the keyword; the DEBUG log has the key."""
    from sourdine.sync import db as sync_db
    from sourdine.sync.folder import Folder

    caplog.set_level(logging.DEBUG)
    a, b = pair
    now = int(time.time() * 1000)
    bad = Row.make("mute", "account:mastodon:alice@example.social",
                   {"kind": "account", "platform": "mastodon", "handle": "bob@example.social"}, Stamp(now, 0, "devb"))
    ahead = Row.make("mute", "keyword:motsecret", {"kind": "keyword", "text": "motsecret"},
                     Stamp(now + 3 * 86_400_000, 0, "devb"))
    assert await _post(b, a, _message("devb", [bad.to_wire()])) == 400
    assert await _post(b, a, _message("devb", [ahead.to_wire()])) == 400
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder = Folder(shared, "deva")
    Folder(shared, "devb").append(Folder(shared, "devb").line([bad], time.time_ns() // 1000,
                                                              {"deva": bytes.fromhex(a.sync.peers["devb"].key)}))
    assert (await a.sync.sync_folder()).ignored == 1
    await a.live.committed(lambda db: sync_db.apply(db, [bad]))  # A holds a row B refuses in its answer
    [result] = await b.sync.sync_all()
    assert not result["ok"] and "mute: the entry does not match its key" in result["error"]
    assert "alice" not in b.sync.peers["deva"].last_error
    loud = " ".join(r.getMessage() for r in caplog.records if r.levelno > logging.DEBUG)
    assert "refused a sync message" in loud and "ignored a line" in loud and "sent a bad answer" in loud
    assert "alice" not in loud and "bob@" not in loud and "motsecret" not in loud
    quiet = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert "account:mastodon:alice@example.social" in quiet and "keyword:motsecret" in quiet


async def test_an_answer_past_the_size_cap_is_refused_unread(pair, monkeypatch):
    """An answer larger than the cap is refused, nothing of it applied (the cap lowered here to a few kB: 100 rows
    are past it)."""
    from sourdine.sync import db as sync_db

    a, b = pair
    rows = [Row.from_wire(_row(f"mot{i}")) for i in range(100)]
    await a.live.committed(lambda db: sync_db.apply(db, rows))
    monkeypatch.setattr(peer_mod, "MAX_MESSAGE", 4096)
    [result] = await b.sync.sync_all()
    assert not result["ok"] and "too large" in result["error"]
    assert b.rows() == []
    monkeypatch.setattr(peer_mod, "MAX_MESSAGE", 64 * 1024 * 1024)
    [result] = await b.sync.sync_all()
    assert result["ok"] and len(b.rows()) == 100


async def test_a_pairing_answer_past_the_size_cap_is_refused(tmp_path, monkeypatch):
    """A pairing answer larger than its cap is refused before it is parsed: nothing is paired on this side (the cap
    lowered here below the size of a certificate)."""
    a, b = Device(tmp_path / "a", "deva"), Device(tmp_path / "b", "devb")
    try:
        await a.sync.start(0)
        await b.sync.start(None)
        monkeypatch.setattr(peer_mod, "MAX_PAIR", 200)
        code, _ = a.sync.new_code()
        with pytest.raises(SyncError, match="too large"):
            await b.sync.accept(code)
        assert b.sync.peers == {}
    finally:
        await a.close()
        await b.close()


async def test_folder_lines_are_encrypted_for_each_peer(pair, tmp_path, caplog):
    """The shared folder holds no entry in clear, yet the paired device reads it; a line (or one peer's part of it)
    moved to another device's file or offered to another device does not decrypt, even under the same key."""
    from sourdine.sync.folder import Folder

    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder, b.sync.folder = Folder(shared, "deva"), Folder(shared, "devb")
    await a.mute("motsecret")
    await a.sync.sync_folder()
    data = (shared / "ops-deva.jsonl").read_bytes()
    assert b"motsecret" not in data and b"keyword" not in data and b"mute" not in data
    assert (await b.sync.sync_folder()).read == 1 and "keyword:motsecret" in b.runtime.entries["mute"]

    other = tmp_path / "other"
    other.mkdir()
    key = b"k" * 32
    line = Folder(other, "deva").line([Row.from_wire(_row("x"))], 1, {"devb": key, "devc": key})
    Folder(other, "devx").append(line)  # deva's line in devx's file
    assert Folder(other, "devb").read("devx", other / "ops-devx.jsonl", 0, 0, key)[:2] == ([], 1)
    swapped = json.loads(line)
    swapped["boxes"]["devb"] = swapped["boxes"]["devc"]  # devc's part offered to devb
    (other / "ops-deva.jsonl").write_bytes(json.dumps(swapped).encode() + b"\n")
    assert Folder(other, "devb").read("deva", other / "ops-deva.jsonl", 0, 0, key)[:2] == ([], 1)
    (other / "ops-deva.jsonl").write_bytes(line)
    lines, bad, _, _ = Folder(other, "devb").read("deva", other / "ops-deva.jsonl", 0, 0, key)
    assert bad == 0 and [r.key for r in lines[0][1]] == ["keyword:x"]
    # A device paired after the line was written finds nothing for it there: no fault, no warning (a review found
    # a new device warning of lines that "do not decrypt", as of forged ones).
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="sourdine.sync.folder"):
        assert Folder(other, "devd").read("deva", other / "ops-deva.jsonl", 0, 0, key)[:2] == ([], 0)
    assert not caplog.records


def _folder_rows(texts, device="deva") -> list[Row]:
    return [Row.make("mute", f"keyword:{t}", {"kind": "keyword", "text": t},
                     Stamp(int(time.time() * 1000), 0, device)) for t in texts]


def test_a_line_written_in_part_is_cut_back_and_no_line_is_lost(tmp_path, monkeypatch):
    """A write that stops partway (a full disk: os.write writes part of what it is given, then fails) leaves no
    part of a line in the file: the part would be joined to the next line and both lost to the readers (a review
    found two lines lost). The failure reaches the caller, which records nothing as written."""
    from sourdine.sync import folder as folder_mod

    key = b"k" * 32
    ours = folder_mod.Folder(tmp_path, "deva")
    ours.append(ours.line(_folder_rows(["un"]), 1, {"devb": key}))
    size = (tmp_path / "ops-deva.jsonl").stat().st_size
    real_write, calls = os.write, []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space"):
        ours.append(ours.line(_folder_rows(["deux"]), 2, {"devb": key}))
    monkeypatch.setattr(os, "write", real_write)
    assert len(calls) == 2 and (tmp_path / "ops-deva.jsonl").stat().st_size == size
    ours.append(ours.line(_folder_rows(["trois"]), 3, {"devb": key}))
    lines, bad, _, _ = folder_mod.Folder(tmp_path, "devb").read("deva", tmp_path / "ops-deva.jsonl", 0, 0, key)
    assert bad == 0 and [r.key for _, rows in lines for r in rows] == ["keyword:un", "keyword:trois"]


def test_a_file_deleted_and_grown_again_is_read_from_its_start(tmp_path):
    """A device's file deleted from the folder (by hand, by a sync tool) and grown again past where the reader
    stopped was read from that point, in the middle of a line: lines lost with no warning. The reader keeps the
    file's first bytes with its offset, and reads a file whose first bytes changed from the start."""
    from sourdine.sync import folder as folder_mod

    key = b"k" * 32
    path = tmp_path / "ops-deva.jsonl"
    ours, theirs = folder_mod.Folder(tmp_path, "deva"), folder_mod.Folder(tmp_path, "devb")
    for n, text in enumerate(["un", "deux", "trois"], 1):
        ours.append(ours.line(_folder_rows([text]), n, {"devb": key}))
    lines, bad, offset, head = theirs.read("deva", path, 0, 0, key)
    assert len(lines) == 3 and bad == 0 and offset == path.stat().st_size and head
    # The same file, grown: read on from the offset, the head the same.
    ours.append(ours.line(_folder_rows(["quatre"]), 4, {"devb": key}))
    lines, bad, offset, head = theirs.read("deva", path, offset, 3, key, head)
    assert [r.key for _, rows in lines for r in rows] == ["keyword:quatre"] and bad == 0
    path.unlink()
    texts = ["cinq", "six", "sept", "huit", "neuf", "dix"]
    for n, text in enumerate(texts, 5):
        ours.append(ours.line(_folder_rows([text]), n, {"devb": key}))
    assert path.stat().st_size > offset
    lines, bad, offset, head = theirs.read("deva", path, offset, 4, key, head)
    assert [r.key for _, rows in lines for r in rows] == [f"keyword:{t}" for t in texts] and bad == 0
    assert offset == path.stat().st_size


def test_a_full_state_is_written_in_lines_a_reader_takes_and_a_longer_line_is_skipped(tmp_path, monkeypatch):
    """A full state larger than a line may be (MAX_LINE) is written as several lines, each within it, which the
    reader takes whole (a review found an 81 MB line that the reader, which looks 64 MB ahead, never got past, so
    that nothing after it was read). A line longer than the reader's window, as an older version could write, is
    skipped with a warning once its end is there, and the lines after it are read."""
    from sourdine.sync import folder as folder_mod

    monkeypatch.setattr(folder_mod, "MAX_LINE", 40_000)
    monkeypatch.setattr(folder_mod, "_WINDOW", 100_000)
    key = b"k" * 32
    peers = {"devb": key, "devc": key, "devd": key}
    path = tmp_path / "ops-deva.jsonl"
    ours, theirs = folder_mod.Folder(tmp_path, "deva"), folder_mod.Folder(tmp_path, "devb")
    rows = _folder_rows([f"mot{i:04d}" for i in range(2000)])
    batches = ours.batches(rows, peers)
    assert len(batches) > 1 and [r for batch in batches for r in batch] == rows
    for n, batch in enumerate(batches, 1):
        line = ours.line(batch, n, peers)
        assert len(line) <= 40_000
        ours.append(line)
    assert ours.batches([], peers) == []
    got, offset, head, last = [], 0, "", 0
    while offset < path.stat().st_size:  # a read takes what ends within its window
        lines, bad, offset, head = theirs.read("deva", path, offset, last, key, head)
        assert lines and bad == 0
        got += [r for _, batch in lines for r in batch]
        last = lines[-1][0]
    assert got == rows and last == len(batches)
    # An older version's line past the window, then a line after it.
    with path.open("ab") as f:
        f.write(b'{"boxes":{"devb":"' + b"A" * 200_000 + b'"}}')
    assert theirs.read("deva", path, offset, len(batches), key, head)[:3] == ([], 0, offset), "its end not there yet"
    with path.open("ab") as f:
        f.write(b"\n")
    ours.append(ours.line(_folder_rows(["apres"]), 99, {"devb": key}))
    lines, bad, offset, head = theirs.read("deva", path, offset, len(batches), key, head)
    assert (lines, bad) == ([], 1)
    lines, bad, offset, head = theirs.read("deva", path, offset, len(batches), key, head)
    assert [r.key for _, got in lines for r in got] == ["keyword:apres"] and bad == 0


async def test_a_streamed_answer_is_read_only_up_to_the_cap():
    """An answer without a length (chunked) is read up to the cap + 1 byte, and refused past it; one within the cap
    comes whole."""
    from aiohttp import web

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"x" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/", stream)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as r:
                assert r.content_length is None
                with pytest.raises(SyncError, match="too large"):
                    await peer_mod._read_capped(r, 4096)
            async with session.get(url) as r:
                assert await peer_mod._read_capped(r, 10_000) == b"x" * 10_000
    finally:
        await runner.cleanup()


async def test_a_pause_is_kept_across_a_restart_until_resumed(pair):
    """A pause the API answered is in the database: a restart (or a crash) does not resume syncing behind the
    user's back, and a resume is kept too."""
    a, _ = pair
    assert not _restarted(a).paused
    await a.sync.pause(True)
    assert a.sync.paused and _restarted(a).paused
    await a.sync.pause(False)
    assert not a.sync.paused and not _restarted(a).paused


def test_the_identity_is_written_whole_and_synced_key_first(tmp_path, monkeypatch):
    """The certificate a peer pins, and its key, each reach the disk whole before anything uses them: written
    through home.write_private (a file synced, then renamed, then its folder synced), the key first."""
    from sourdine import home

    written: list[str] = []
    real = home.write_private
    monkeypatch.setattr(home, "write_private", lambda path, data: (written.append(path.name), real(path, data)))
    cert, key = peer_mod.identity(tmp_path, "deva")
    assert written == ["key.pem", "cert.pem"]
    assert (tmp_path / "sync" / "cert.pem").read_bytes() == cert and (tmp_path / "sync" / "key.pem").read_bytes() == key
    assert (tmp_path / "sync" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert peer_mod.identity(tmp_path, "deva") == (cert, key)  # read back, not made again


def test_a_private_file_and_its_folder_entry_are_synced_to_the_disk(tmp_path, monkeypatch):
    """home.write_private: the data whole, mode 0600, no temporary file left, and fsync on the file, then on the
    folder that names it (a rename is only kept through a power cut once the folder is synced); neither when the
    file need not be durable."""
    import stat

    from sourdine import home

    synced: list[bool] = []  # whether each fsync was on a folder
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(stat.S_ISDIR(os.fstat(fd).st_mode)), real(fd)))
    home.write_private(tmp_path / "secret", b"x" * 100_000)
    assert (tmp_path / "secret").read_bytes() == b"x" * 100_000
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert synced == [False, True]
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]
    home.write_private(tmp_path / "cache", b"y", durable=False)  # a cache, run.json: whole, not synced
    assert synced == [False, True] and (tmp_path / "cache").read_bytes() == b"y"


async def test_a_damaged_identity_is_named_with_what_to_do(pair, tmp_path):
    """Damaged or removed by hand, the identity gives one clear error, for a sync as for a listener, with the
    way out: never an SSL library's message."""
    a, b = pair
    (b.path / "sync" / "cert.pem").write_bytes(b"")
    [result] = await b.sync.sync_all()
    assert not result["ok"]
    assert "sync identity" in result["error"] and "move both" in result["error"] and "SSL" not in result["error"]
    (a.path / "sync" / "key.pem").unlink()
    await a.sync.stop()
    with pytest.raises(SyncError, match="sync identity .* is missing or damaged"):
        await a.sync.start(0)


async def test_a_device_started_over_a_damaged_identity_neither_pairs_nor_listens_and_says_what_to_do(tmp_path,
                                                                                                      caplog):
    """Made over an identity that cannot be read back (a certificate emptied, or a key that is not the
    certificate's), the sync service starts (so `sourdine run` does, and filters), and a pairing and the
    listener each say what to do (a sync, above)."""
    a = Device(tmp_path / "a", "deva")
    await a.close()
    (tmp_path / "a" / "sync" / "cert.pem").write_bytes(b"")
    broken = Device(tmp_path / "b", "devb")
    try:
        broken.sync = Sync(broken.live, tmp_path / "a", "deva", name="deva", interval=3600)
        assert broken.sync.damaged and "move both out of that folder" in broken.sync.damaged
        with pytest.raises(SyncError, match="missing or damaged"):
            await broken.sync.accept("1234-abcd-efgh-jkmn")
        with pytest.raises(SyncError, match="missing or damaged"):
            await broken.sync.start(0)
        with caplog.at_level(logging.WARNING, logger="sourdine.sync.peer"):
            await broken.sync.start(None)  # no listener: the warning is the start's one word of it
        assert [r.getMessage() for r in caplog.records] == [broken.sync.damaged]
    finally:
        await broken.close()
    (tmp_path / "c").mkdir()
    other = tmp_path / "c" / "sync"
    peer_mod.identity(tmp_path / "c", "devc")
    (tmp_path / "a" / "sync" / "cert.pem").write_bytes((other / "cert.pem").read_bytes())  # another key's
    with pytest.raises(SyncError, match="missing or damaged"):
        peer_mod.identity(tmp_path / "a", "deva")


async def test_a_pairing_that_sends_no_certificate_is_refused_and_stores_nothing(tmp_path):
    """An older Sourdine over an emptied identity sent an empty certificate, which its code and MAC covered: the
    listener stored it as the peer's pin, and its next start failed. It is refused now; and a peer stored so by an
    older version no longer stops the listener."""
    a, b = Device(tmp_path / "a", "deva"), Device(tmp_path / "b", "devb")
    try:
        await a.sync.start(0)
        b.sync.cert = b""  # as sent by that older version
        code, _ = a.sync.new_code()
        with pytest.raises(SyncError, match="HTTP 400"):
            await b.sync.accept(code)
        stored = await a.live.committed(lambda db: db.execute("SELECT count(*) FROM peers").fetchone())
        assert a.sync.peers == {} and tuple(stored) == (0,)
        bad = peer_mod.Peer("devx", "x", "127.0.0.1:1", "", "00", time.time())
        await a.live.committed(lambda db: peer_mod.save_peer(db, bad))
        a.sync.peers["devx"] = bad
        await a.sync.stop()
        await a.sync.start(0)  # the listener opens; that peer alone cannot sync
        assert a.sync.port
    finally:
        await a.close()
        await b.close()


async def test_a_window_of_lines_for_other_devices_is_read_past(pair, tmp_path, monkeypatch):
    """Lines of a device's file that hold nothing for this device (written for another one, before these two
    paired) are read past for good: when they filled the reader's whole window, the reader stopped before them at
    every round and never saw the lines after them (a big list's full state for another peer is several such
    lines). Now each round reads on past them, a window a round."""
    from sourdine.sync import folder as folder_mod

    monkeypatch.setattr(folder_mod, "MAX_LINE", 40_000)
    monkeypatch.setattr(folder_mod, "_WINDOW", 100_000)
    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder, b.sync.folder = folder_mod.Folder(shared, "deva"), folder_mod.Folder(shared, "devb")
    other = {"devc": b"c" * 32}
    rows = _folder_rows([f"mot{i:04d}" for i in range(3000)])
    for n, batch in enumerate(a.sync.folder.batches(rows, other), 1):
        a.sync.folder.append(a.sync.folder.line(batch, n, other))
    assert (shared / "ops-deva.jsonl").stat().st_size > 2 * folder_mod._WINDOW
    await a.mute("honte")
    assert (await a.sync.sync_folder()).written == 1
    for _ in range(10):  # a window a round
        await b.sync.sync_folder()
    assert "keyword:honte" in b.runtime.entries["mute"]
    assert not any(key.startswith("keyword:mot") for key in b.runtime.entries["mute"])


async def test_a_line_left_in_part_by_a_crash_is_cut_away_before_the_next_one(pair, tmp_path):
    """A process killed (or a power cut) while it appended a line leaves part of it at the end of its file, with no
    chance to cut it back: the next line, after a restart, was joined to that part and both were lost to the
    readers, although the writer counted its line as written (its mute never reached the other device through
    the folder). The writer now cuts a part-line off its file's end before it appends."""
    from sourdine.sync import folder as folder_mod

    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder, b.sync.folder = folder_mod.Folder(shared, "deva"), folder_mod.Folder(shared, "devb")
    await a.mute("honte")
    await a.sync.sync_folder()
    assert (await b.sync.sync_folder()).read == 1
    ours = shared / "ops-deva.jsonl"
    whole = ours.stat().st_size
    # What a kill in the middle of the next append leaves: the start of a line, no newline.
    line = a.sync.folder.line(_folder_rows(["perdu"]), time.time_ns() // 1000, {"devb": bytes.fromhex(
        a.sync.peers["devb"].key)})
    with ours.open("ab") as f:
        f.write(line[:len(line) // 2])
    assert (await b.sync.sync_folder()).read == 0  # a line not yet whole waits
    await a.mute("rage")
    assert (await a.sync.sync_folder()).written == 1
    report = await b.sync.sync_folder()
    assert "keyword:rage" in b.runtime.entries["mute"]
    assert (report.read, report.ignored) == (1, 0)
    assert ours.read_bytes()[whole:].count(b"\n") == 1 and not ours.read_bytes()[whole:].startswith(line[:40])


async def test_a_device_paired_just_before_a_restart_still_gets_the_full_state_through_the_folder(pair, tmp_path):
    """A device paired (C) while the sync folder already carried this device's (A's) rows to another (B) must get
    them through the folder: A owes C a line with its full state. That debt was kept in memory only, so a restart
    before the next folder sync (the folder unreachable for a while, say) dropped it, and C never got the entries
    A had written for B before."""
    from sourdine.sync import folder as folder_mod

    a, b = pair
    shared = tmp_path / "shared"
    shared.mkdir()
    a.sync.folder = folder_mod.Folder(shared, "deva")
    await a.mute("honte")
    assert (await a.sync.sync_folder()).written == 1
    c = Device(tmp_path / "c", "devc")
    try:
        await c.sync.start(None)
        code, _ = a.sync.new_code()
        await c.sync.accept(code)
        await a.sync.stop()
        a.sync = _restarted(a, folder_mod.Folder(shared, "deva"))
        assert (await a.sync.sync_folder()).written == 1
        c.sync.folder = folder_mod.Folder(shared, "devc")
        assert (await c.sync.sync_folder()).read == 1
        assert "keyword:honte" in c.runtime.entries["mute"]
        # Owed once: the next round writes nothing more.
        assert (await a.sync.sync_folder()).written == 0
    finally:
        await c.close()
