import ctypes
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from sourdine import home, store
from sourdine.engine import Decision


def decision(post_id: str, action: str = "keep", t: float | None = None) -> Decision:
    return Decision(t or time.time(), "mastodon", "timeline", post_id, "42", "alice@example.org", "en",
                    0.1, 0.2, 0.15, action, "" if action == "keep" else "outrage, score 0.90")


def written(writer: store.Writer) -> None:
    """Start the writer, wait until everything queued is committed, and stop it."""
    writer.start()
    try:
        assert writer.flush()
    finally:
        writer.close()


def test_stats_group_a_score_reason_by_its_dimension_whether_written_in_the_old_form_or_the_new(tmp_path):
    """"outrage 0.90" (an older Sourdine's) and "outrage, score 0.62" count under "outrage" alike; a rule's reason
    under its name, a flagged post under "allowed"."""
    path = tmp_path / "s.db"
    writer = store.Writer(path)
    reasons = [("collapse", "outrage 0.90"), ("collapse", "outrage, score 0.62"), ("hide", "negativity 0.37"),
               ("hide", "negativity, score 0.85"), ("hide", "muted: keyword:honte, rage"),
               ("collapse", "toxic connection: 7 of 12 recent posts hostile"),
               ("keep", "allowed: account:x:brand; flagged: would be hide (outrage, score 0.99)")]
    writer.start()
    try:
        for i, (action, reason) in enumerate(reasons):
            writer.record(Decision(time.time(), "x", "timeline", str(i), "42", "someone", "en", 0.4, 0.6, 0.62,
                                   action, reason))
        assert writer.flush()
    finally:
        writer.close()
    counted: dict[tuple[str, str], int] = {}
    for row in store.read_stats(path, 1)["by_reason"]:
        counted[row["action"], row["reason"]] = counted.get((row["action"], row["reason"]), 0) + row["posts"]
    assert counted == {("collapse", "outrage"): 2, ("hide", "negativity"): 2, ("hide", "muted"): 1,
                       ("collapse", "toxic connection"): 1, ("flagged", "allowed"): 1}


def test_open_db_migrates_once_in_wal_mode(tmp_path):
    """A new database gets the numbered migrations, WAL mode, and re-opening applies nothing twice."""
    path = tmp_path / "s.db"
    store.open_db(path).close()
    db = store.open_db(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [m.name for m in store.migrations.applied(db)]
    assert applied == ["0001_settings_and_decisions", "0002_clients", "0003_authors", "0004_lists", "0005_feedback",
                       "0006_excerpts", "0007_sync"]
    assert {"settings", "decisions", "clients", "authors"} <= set(db.table_names())


@pytest.mark.parametrize("platform", ["linux", "darwin"])
def test_every_commit_waits_for_the_disk_itself(tmp_path, monkeypatch, platform):
    """Synchronous FULL everywhere; on macOS, where fsync leaves a commit in the drive's own cache, sqlite is told
    to use F_FULLFSYNC (the pragma is only set here: this machine is not a Mac)."""
    monkeypatch.setattr(sys, "platform", platform)
    db = store.open_db(tmp_path / "s.db")
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA fullfsync").fetchone()[0] == (platform == "darwin")


@pytest.mark.parametrize("refused", [False, True], ids=["full", "refused"])
def test_on_macos_files_are_flushed_past_the_drives_cache(tmp_path, monkeypatch, refused):
    """home.write_private on macOS (imitated: sys.platform, and fcntl's F_FULLFSYNC, which Linux lacks): the file
    and then its folder are flushed with F_FULLFSYNC, not fsync; where the file system refuses it, with fsync."""
    import fcntl

    done: list[tuple[str, str]] = []
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(fcntl, "F_FULLFSYNC", 51, raising=False)

    def full(fd: int, cmd: int, arg: int = 0) -> int:
        assert cmd == 51
        if refused:
            raise OSError(45, "Operation not supported")
        done.append(("F_FULLFSYNC", os.readlink(f"/proc/self/fd/{fd}")))
        return 0

    def fsync(fd: int) -> None:
        done.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))

    monkeypatch.setattr(fcntl, "fcntl", full)
    monkeypatch.setattr(os, "fsync", fsync)
    home.write_private(tmp_path / "token", b"secret\n")
    how = "fsync" if refused else "F_FULLFSYNC"
    assert [what for what, _ in done] == [how, how], done
    assert Path(done[0][1]).name.startswith(".token.") and done[1][1] == str(tmp_path), done
    assert (tmp_path / "token").read_bytes() == b"secret\n"


def test_settings_round_trip(tmp_path):
    """Saved settings load back as the same JSON values."""
    db = store.open_db(tmp_path / "s.db")
    store.save_settings(db, {"mastodon_instances": ["a.example"], "platforms": {"mastodon": {"hide": 0.9}}})
    assert store.load_settings(db) == {"mastodon_instances": ["a.example"], "platforms": {"mastodon": {"hide": 0.9}}}


def test_writer_batches_and_upserts_decisions(tmp_path):
    """Queued decisions are committed by the writer thread; a later decision on the same post updates it."""
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    writer.start()
    try:
        for i in range(500):
            writer.record(decision(str(i)))
        writer.record(decision("7", "hide", t=time.time() + 1))
        writer.set("mastodon_streaming_hosts", ["streaming.example.org"])
        assert writer.flush()
    finally:
        writer.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 500
    row = conn.execute("SELECT action, reason, first_seen < last_changed FROM decisions WHERE post_id = '7'").fetchone()
    assert row == ("hide", "outrage, score 0.90", 1)
    assert conn.execute("SELECT value FROM settings").fetchone()[0] == '["streaming.example.org"]'


def test_writer_close_flushes_what_is_queued(tmp_path):
    """close() commits everything queued before it, so a clean stop loses no decision."""
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=5.0)
    writer.start()
    for i in range(50):
        writer.record(decision(str(i)))
    writer.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM decisions").fetchone()[0] == 50


def test_flush_on_a_writer_that_never_started_says_so(tmp_path):
    """flush() reports False rather than hanging when the writer thread is not running."""
    assert store.Writer(tmp_path / "s.db").flush(timeout=0.1) is False


def test_home_resolution_order(tmp_path, monkeypatch):
    """--home wins over $SOURDINE_HOME, which wins over the default data directory."""
    monkeypatch.setenv("SOURDINE_HOME", str(tmp_path / "env"))
    assert home.resolve(str(tmp_path / "arg")) == tmp_path / "arg"
    assert home.resolve(None) == tmp_path / "env"
    monkeypatch.delenv("SOURDINE_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if home.sys.platform.startswith("linux"):
        assert home.resolve(None) == tmp_path / "xdg" / "sourdine"


def test_home_token_and_run_info_are_private(tmp_path):
    """The home is 0700; token and run.json are 0600; the token is stable; a dead pid's run.json counts as none."""
    where = home.ensure(tmp_path / "h")
    assert where.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    home.ensure(shared)
    assert shared.stat().st_mode & 0o777 == 0o755, "an existing folder keeps its mode"
    token = home.token(where)
    assert len(token) >= 40 and home.token(where) == token
    assert (where / "token").stat().st_mode & 0o777 == 0o600
    home.write_run_info(where, {"pid": home.os.getpid(), "api": ["127.0.0.1", 1]})
    assert (where / "run.json").stat().st_mode & 0o777 == 0o600
    assert home.read_run_info(where)["api"] == ["127.0.0.1", 1]
    home.remove_run_info(where, home.os.getpid() + 1)
    assert (where / "run.json").exists(), "another instance's run.json is not ours to remove"
    home.remove_run_info(where, home.os.getpid())
    assert not (where / "run.json").exists()
    home.write_run_info(where, {"pid": 2**22 + 12345})
    assert home.read_run_info(where) is None


@pytest.mark.parametrize("content", ["", "{not json", '{"no_pid": 1}', "[1]", '{"pid": 0}', '{"pid": -1}',
                                     '{"pid": 1180591620717411303424}', '{"pid": true}', '{"pid": "1"}',
                                     '{"pid": 1.5}', '{"pid": null}'])
def test_broken_run_info_counts_as_not_running(tmp_path, content):
    """A truncated or odd run.json means nothing is running, not a crash; nor a pid no process can have (0 and -1
    would ask about a whole process group, 2**70 overflows the system's pid)."""
    (tmp_path / "run.json").write_text(content)
    assert home.read_run_info(tmp_path) is None


def test_a_pid_reused_by_another_users_process_is_not_a_running_sourdine(tmp_path, monkeypatch):
    """run.json is written by the user's own Sourdine: its pid now owned by another user was reused, and nothing
    runs with this home. The sweep leaves such a pid's files alone. (Imitated: os.kill refusing as the system
    does for another user's process, since these tests may run as root, whom it never refuses.)"""
    real_kill = os.kill

    def kill(pid, sig):
        if pid == 4242:
            raise PermissionError(1, "Operation not permitted")
        return real_kill(pid, sig)

    monkeypatch.setattr(os, "kill", kill)
    assert home.pid_runs(4242) is None and home.pid_runs(os.getpid()) is True
    home.write_run_info(tmp_path, {"pid": 4242})
    assert home.read_run_info(tmp_path) is None
    (tmp_path / ".token.4242.tmp").write_bytes(b"x")
    assert home.sweep(tmp_path) == [] and (tmp_path / ".token.4242.tmp").exists()


class FakeKernel32:
    """Windows' kernel32 as home.pid_runs calls it, imitated (this machine is not Windows): `processes` maps a
    pid to its exit code (259, STILL_ACTIVE, while it runs), or to the error OpenProcess gives for it."""

    def __init__(self, processes: dict[int, int | str]) -> None:
        self.processes = processes
        self.open: list[int] = []
        self.asked: list[tuple[int, bool, int]] = []
        self.last_error = 0

    def OpenProcess(self, access, inherit, pid):  # noqa: N802 - the API's names
        self.asked.append((access, inherit, pid))
        state = self.processes.get(pid, "gone")
        if isinstance(state, str):
            self.last_error = {"gone": 87, "denied": 5}[state]  # what ctypes.get_last_error then gives
            return 0
        self.open.append(1000 + pid)
        return 1000 + pid

    def GetExitCodeProcess(self, handle, code_ref):  # noqa: N802
        code_ref._obj.value = self.processes[handle - 1000]
        return 1

    def CloseHandle(self, handle):  # noqa: N802
        self.open.remove(handle)
        return 1


def test_on_windows_a_pid_is_asked_about_through_its_exit_code_not_os_kill(tmp_path, monkeypatch):
    """On Windows os.kill(pid, 0) sends CTRL_C_EVENT (0) to a console's processes: the run's own check for another
    instance, the CLI's for a running one, and the sweep would interrupt the very Sourdine they ask about.
    pid_runs asks Windows for the process's exit code instead (imitated: sys.platform and kernel32), with the
    least access there is (PROCESS_QUERY_LIMITED_INFORMATION), and closes every handle it opened."""
    kernel32 = FakeKernel32({40: 259, 44: 0, 48: "denied"})  # running, exited, another user's; others: gone
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(home, "_kernel32", lambda: kernel32)
    monkeypatch.setattr(ctypes, "get_last_error", lambda: kernel32.last_error, raising=False)  # Windows only

    def no_kill(pid, sig):
        raise AssertionError(f"os.kill({pid}, {sig}) on Windows")

    monkeypatch.setattr(os, "kill", no_kill)
    assert [home.pid_runs(pid) for pid in (40, 44, 48, 52)] == [True, False, None, False]
    assert {access for access, _, _ in kernel32.asked} == {0x1000} and kernel32.open == []
    for pid, running in ((40, True), (44, False), (48, False), (52, False)):
        home.write_run_info(tmp_path, {"pid": pid})
        assert (home.read_run_info(tmp_path) is not None) is running, pid
    for pid in (40, 44, 48, 52):
        (tmp_path / f".token.{pid}.tmp").write_bytes(b"x")
    assert sorted(home.sweep(tmp_path, ("token",))) == [".token.44.tmp", ".token.52.tmp"]
    assert kernel32.open == []


def test_submit_commits_before_it_resolves_and_rolls_back_on_error(tmp_path):
    """A submitted write is committed when its future resolves; a failing one leaves nothing behind."""
    from sourdine.pairing import Client

    path = tmp_path / "s.db"
    writer = store.Writer(path)
    writer.start()
    try:
        client = Client("c1", "Firefox", "moz-extension://x", "h" * 64, 1.0)
        writer.submit(lambda db: store.add_client(db, client)).result(5)
        other = sqlite3.connect(path)
        assert other.execute("SELECT origin FROM clients").fetchall() == [("moz-extension://x",)]

        def half_then_fail(db):
            store.add_client(db, Client("c2", "Chrome", "chrome-extension://y", "g" * 64, 2.0))
            raise ValueError("boom")

        with pytest.raises(ValueError):
            writer.submit(half_then_fail).result(5)
        assert other.execute("SELECT count(*) FROM clients").fetchone()[0] == 1
        assert writer.submit(lambda db: store.remove_client(db, "c1")).result(5) is True
        assert other.execute("SELECT count(*) FROM clients").fetchone()[0] == 0
    finally:
        writer.close()


def _mute(key: str, stamp: str) -> dict:
    return {"list": "mute", "key": key, "entry": {"kind": "keyword", "text": key.split(":", 1)[1]}, "stamp": stamp,
            "device": "d1", "deleted": 0}


def test_a_write_waits_for_another_process_s_lock_and_no_later_write_is_lost(tmp_path):
    """Another process holding the database's write lock (a backup, a database browser, the sqlite3 shell) for a
    moment: a write submitted then waits for it (busy_timeout) rather than failing at once, and writes after it
    are stored. A review found the opposite: the first write failed in 60 ms (its deferred transaction had read
    before it wrote), and sqlite-utils' upsert, whose first use on a connection met the lock, wrote no new row of
    a list, setting or peer for the rest of the run while the API acknowledged each one."""
    from sourdine.sync.peer import Peer, save_peer

    path = tmp_path / "s.db"
    store.open_db(path).close()
    writer = store.Writer(path)
    writer.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        during = writer.submit(lambda db: store.put_list_entry(db, _mute("keyword:during", "s1")))
        time.sleep(0.5)
        assert not during.done(), "the write waits for the lock"
        other.execute("ROLLBACK")
        during.result(5)
        writer.submit(lambda db: store.put_list_entry(db, _mute("keyword:after", "s2"))).result(5)
        writer.submit(lambda db: store.save_settings(db, {"keep_excerpts": True, "x": {"hide": 0.9}})).result(5)
        peer = Peer("p1", "laptop", "127.0.0.1:1", "CERT", "KEY", 1.0)
        writer.submit(lambda db: save_peer(db, peer)).result(5)
        peer.name = "laptop 2"
        writer.submit(lambda db: save_peer(db, peer)).result(5)
        writer.submit(lambda db: store.put_list_entry(db, {**_mute("keyword:after", "s3"), "deleted": 1})).result(5)
    finally:
        other.close()
        writer.close()
    db = store.open_db(path)
    assert [(r["key"], r["stamp"], r["deleted"], r["seq"]) for r in db["lists"].rows_where(order_by="seq")] == [
        ("keyword:during", "s1", 0, 1), ("keyword:after", "s3", 1, 3)]
    assert store.load_settings(db) == {"keep_excerpts": True, "x": {"hide": 0.9}}
    assert [(r["id"], r["name"], r["cert"]) for r in db["peers"].rows] == [("p1", "laptop 2", "CERT")]
    assert not [name for name in db.table_names() if name.startswith("t") and len(name) == 33], \
        "no probe table of sqlite-utils' left behind"


def test_upserts_do_not_depend_on_sqlite_utils_asking_sqlite_about_on_conflict(tmp_path):
    """What made the lost writes: a connection on which sqlite-utils had concluded that sqlite lacks ON CONFLICT
    (as a lock during its probe made it conclude). Sourdine's writes do not go through that path at all."""
    from sourdine.sync.peer import Peer, save_peer

    db = store.open_db(tmp_path / "s.db")
    db._supports_on_conflict = False  # sqlite-utils' cached answer, as the lock left it
    store.put_list_entry(db, _mute("keyword:honte", "s1"))
    store.save_settings(db, {"keep_excerpts": True})
    save_peer(db, Peer("p1", "laptop", "127.0.0.1:1", "CERT", "KEY", 1.0))
    db.conn.commit()
    assert [r["key"] for r in db["lists"].rows] == ["keyword:honte"]
    assert store.load_settings(db) == {"keep_excerpts": True}
    assert [r["id"] for r in db["peers"].rows] == ["p1"]


def test_submit_to_a_stopped_writer_fails_at_once(tmp_path):
    """Submitting to a writer that is not running fails instead of hanging."""
    with pytest.raises(RuntimeError):
        store.Writer(tmp_path / "s.db").submit(lambda db: None).result(1)


def test_damaged_rows_are_skipped_not_fatal(tmp_path):
    """An author or list row whose JSON is damaged is skipped at load, so Sourdine still starts."""
    db = store.open_db(tmp_path / "s.db")
    db["authors"].insert({"platform": "x", "author_id": "1", "handle": "a", "first_seen": 1.0, "last_seen": 1.0,
                          "posts": 1, "weight": 1.0, "hostile": 0.0, "score_sum": 0.1, "reasons": "not json",
                          "recent": ""})
    db["lists"].insert({"list": "mute", "key": "keyword:x", "entry": "{bad", "stamp": "s", "device": "d",
                        "deleted": 0})
    assert list(store.iter_authors(tmp_path / "s.db")) == [] and store.load_lists(db) == []


def test_the_decisions_log_is_pruned_by_age(tmp_path):
    """prune_decisions drops what was last changed before the cutoff and keeps the rest."""
    path = tmp_path / "s.db"
    writer = store.Writer(path)
    writer.start()
    try:
        writer.record(decision("old", t=1000.0))
        writer.record(decision("new", t=time.time()))
        assert writer.submit(lambda db: store.prune_decisions(db, time.time() - 30 * 86400)).result(5) == 1
    finally:
        writer.close()
    assert [r[0] for r in sqlite3.connect(path).execute("SELECT post_id FROM decisions")] == ["new"]


def test_record_wakes_the_writer_once_a_batch(tmp_path):
    """A feed's decisions wait in memory and wake the writer once, not once each (each wake-up takes the GIL
    from the event loop in the middle of a response); all of them are still written."""
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    for i in range(300):
        writer.record(decision(str(i)))
    assert writer._queue.qsize() == 1
    written(writer)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM decisions").fetchone()[0] == 300


def test_decisions_recorded_while_the_writer_writes_are_not_lost(tmp_path):
    """Decisions recorded from another thread in bursts, while batches are being written, all reach the file, and
    a call submitted after them sees them committed."""
    import threading

    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.002)
    writer.start()
    total = 20_000

    def burst() -> None:
        for i in range(total):
            writer.record(decision(f"b{i}"))
            if i % 97 == 0:
                time.sleep(0.0005)

    try:
        thread = threading.Thread(target=burst)
        thread.start()
        thread.join(60)
        seen = writer.submit(lambda db: db.execute("SELECT count(*) FROM decisions").fetchone()[0]).result(30)
    finally:
        writer.close()
    assert seen == total


def test_a_lone_surrogate_in_a_handle_does_not_lose_the_batch(tmp_path):
    """A handle read from a page that was not valid UTF-8 keeps its row, written with "?", and the rest of its
    batch is written too; the numbers go through JSON unchanged."""
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    writer.record(Decision(1.25, "reddit", "page", "t3_1", "u1", "bad\udcffname", "en", 0.1, 0.3333333333333333,
                           0.7071067811865476, "hide", "outrage, score 0.90"))
    writer.record(decision("2"))
    written(writer)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] == 2
    row = conn.execute("SELECT author, first_seen, outrage, score, excerpt FROM decisions WHERE post_id = 't3_1'")
    assert row.fetchone() == ("bad?name", 1.25, 0.3333333333333333, 0.7071067811865476, None)


def test_decisions_wait_for_the_writer_as_rows_the_collector_lets_go(tmp_path):
    """A decision waits for the writer as its row (engine.decision_row: the columns in DECISION_COLUMNS' order),
    a tuple of strings, numbers and None that Python's cycle collector stops tracking at its first pass; the
    row is written as it stands, excerpt and all."""
    import gc

    from sourdine.engine import DECISION_COLUMNS

    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    made = Decision(1.5, "x", "HomeTimeline", "9", "7", "someone", "fr", 0.25, 0.5, 0.75, "collapse",
                    "outrage, score 0.50",
                    "an excerpt")
    writer.record(made)
    [row] = writer._decisions
    assert type(row) is tuple and len(row) == len(DECISION_COLUMNS)
    assert row == (1.5, "x", "HomeTimeline", "9", "7", "someone", "fr", 0.25, 0.5, 0.75, "collapse",
                   "outrage, score 0.50", 1.5, "an excerpt")
    assert row[0] is row[12]  # one float for first_seen and last_changed
    gc.collect(0)
    assert not gc.is_tracked(row)
    written(writer)
    conn = sqlite3.connect(path)
    names = ", ".join(DECISION_COLUMNS)
    assert conn.execute(f"SELECT {names} FROM decisions").fetchall() == [row]


def test_author_records_round_trip_through_the_writer(tmp_path):
    """Author records the writer stores load back as the same records; in one batch the later row of an author
    wins; a handle with a lone surrogate keeps its row, with "?"; a deletion queued later removes its row."""
    from sourdine import authors

    book = authors.AuthorBook()
    now = 1_700_000_000.0
    for i in range(300):
        for j in range(3):
            book.add("mastodon", f"a{i}", f"p{i}-{j}", 0.2 + 0.3 * j, j == 2, now + j,
                     reasons=("insult: idiot",) if j else (), handle=f"user{i}@example.org")
    book.add("reddit", "t2_x", "t3_1", 0.9, True, now, reasons=("outrage: shame",), handle="bad\udcffname")
    first = {r.key: r for r in book.drain_dirty()}
    book.add("mastodon", "a7", "p7-later", 0.95, True, now + 10, reasons=("insult: liar",))
    later = {r.key: r for r in book.drain_dirty()}
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    writer.authors([authors.to_row(r) for r in first.values()])
    writer.authors([authors.to_row(r) for r in later.values()])
    writer.start()
    try:
        assert writer.flush()
        writer.authors([], gone=[("mastodon", "a9")])
        assert writer.flush()
    finally:
        writer.close()
    loaded = {(r.platform, r.author_id): r for r in map(authors.from_row, store.iter_authors(path))}
    expected = {**first, **later}
    del expected[("mastodon", "a9")]
    assert set(loaded) == set(expected)
    bad = ("reddit", "t2_x")
    assert loaded.pop(bad).handle == "bad?name"
    assert loaded == {k: v for k, v in expected.items() if k != bad}
    assert loaded[("mastodon", "a7")].posts == 4


def test_authors_load_the_latest_seen_first_and_prune_by_age(tmp_path):
    """A start reads as many author records as the book holds, those seen last; the hourly pruning deletes the
    rows past retention, those the book no longer holds included."""
    from sourdine import authors

    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    writer.authors([authors.to_row(authors.AuthorRecord("x", f"u{i}", last_seen=1000.0 + i)) for i in range(5)])
    writer.start()
    try:
        assert writer.flush()
    finally:
        writer.close()
    db = store.open_db(path)
    assert [r["author_id"] for r in store.iter_authors(path, 2)] == ["u4", "u3"]
    assert len(list(store.iter_authors(path))) == len(list(store.iter_authors(path, None))) == 5
    assert store.prune_authors(db, 1002.0) == 2
    assert sorted(r["author_id"] for r in store.iter_authors(path)) == ["u2", "u3", "u4"]
    # At start, the rows are read one at a time as the book is built, from a connection opened at the first and
    # closed after the last; a damaged row is skipped.
    db.execute("UPDATE authors SET reasons = 'not json' WHERE author_id = 'u3'")
    db.conn.commit()
    rows = store.iter_authors(path, 2)
    assert next(rows)["author_id"] == "u4"
    assert list(rows) == [] and rows.gi_frame is None  # u3 skipped; the generator ran its `finally`
    assert sorted(r["author_id"] for r in store.iter_authors(path, None)) == ["u2", "u4"]  # u3 skipped


def test_a_call_sees_the_decisions_recorded_before_it_and_not_those_after(tmp_path, monkeypatch):
    """A submitted call runs after the decisions recorded before it are written and before those recorded after
    it (a purge of the log must not take a feed judged just after it); those are written next, without a flush,
    and no transaction holds more than `batch` decisions."""
    import threading

    written: list[int] = []
    upsert = store._upsert_rows

    def spy(conn, table, columns, key, update, values):
        if table == "decisions":
            written.append(len(values) // len(columns))
        upsert(conn, table, columns, key, update, values)

    monkeypatch.setattr(store, "_upsert_rows", spy)
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05, batch=100)
    writer.start()
    go = threading.Event()
    try:
        writer.submit(lambda db: go.wait(10))  # holds the writer while the rest queues up
        for i in range(250):
            writer.record(decision(f"before{i}"))
        seen = writer.submit(lambda db: db.execute("SELECT count(*) FROM decisions").fetchone()[0])
        for i in range(30):
            writer.record(decision(f"after{i}"))
        go.set()
        assert seen.result(10) == 250
        deadline = time.monotonic() + 10
        while sum(written) < 280 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        go.set()
        writer.close()
    assert sum(written) == 280 and max(written) <= 100
    assert sqlite3.connect(path).execute("SELECT count(*) FROM decisions").fetchone()[0] == 280


def test_a_call_queued_while_the_writer_takes_its_batch_still_comes_first(tmp_path):
    """The writer has stopped gathering (its wait for more ran out) but not yet taken the recorded decisions when
    the event loop submits a purge and records a feed judged after it: those decisions are written after the
    purge, not taken into the batch before it and purged."""
    import queue
    import threading

    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.02)
    inner = writer._queue
    gap, resume = threading.Event(), threading.Event()

    class Paused:
        armed = False

        def put(self, item):
            inner.put(item)

        def get(self, timeout=None):
            try:
                return inner.get() if timeout is None else inner.get(timeout=timeout)
            except queue.Empty:
                if Paused.armed:  # the gather ran out: the event loop gets its turn here
                    Paused.armed = False
                    gap.set()
                    resume.wait(10)
                raise

    writer._queue = Paused()
    writer.start()
    try:
        for i in range(5):
            writer.record(decision(f"before{i}"))
        Paused.armed = True
        assert gap.wait(10)
        purged = writer.submit(store.purge)
        for i in range(3):
            writer.record(decision(f"after{i}"))
        resume.set()
        assert purged.result(10)
        assert writer.flush()
    finally:
        resume.set()
        writer.close()
    rows = sqlite3.connect(path).execute("SELECT post_id FROM decisions ORDER BY post_id").fetchall()
    assert [r[0] for r in rows] == ["after0", "after1", "after2"]


def test_a_call_whose_caller_gave_up_is_skipped_and_the_writer_goes_on(tmp_path):
    """A call cancelled before the writer reached it (its request cancelled, a shutdown) is not run, and the
    writer thread does not die of it: what comes after is written."""
    import threading

    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    writer.start()
    go = threading.Event()
    ran = []
    try:
        writer.submit(lambda db: go.wait(10))  # holds the writer while the call is cancelled
        cancelled = writer.submit(lambda db: ran.append(1))
        assert cancelled.cancel()
        writer.record(decision("1"))
        go.set()
        assert writer.submit(lambda db: db.execute("SELECT count(*) FROM decisions").fetchone()[0]).result(10) == 1
        assert writer.flush()
    finally:
        go.set()
        writer.close()
    assert ran == [] and writer.failures == 0


def test_an_author_id_with_a_lone_surrogate_is_written_and_deleted_without_failing_its_batch(tmp_path):
    """An author id read from a page that was not valid UTF-8 is stored with "?"; deleting it later matches that
    row, and the setting queued with the deletion is still written."""
    from sourdine import authors

    book = authors.AuthorBook()
    book.add("reddit", "t2_\udcffx", "t3_1", 0.9, True, 1_700_000_000.0, handle="someone")
    path = tmp_path / "s.db"
    writer = store.Writer(path, interval=0.05)
    writer.authors([authors.to_row(r) for r in book.drain_dirty()])
    writer.start()
    try:
        assert writer.flush()
        conn = sqlite3.connect(path)
        assert conn.execute("SELECT author_id FROM authors").fetchall() == [("t2_?x",)]
        writer.authors([], gone=[("reddit", "t2_\udcffx")])
        writer.set("own_accounts", {"reddit": ["t2_me"]})
        assert writer.flush()
    finally:
        writer.close()
    assert conn.execute("SELECT count(*) FROM authors").fetchone()[0] == 0
    own = conn.execute("SELECT value FROM settings WHERE key = 'own_accounts'").fetchone()
    assert own == ('{"reddit": ["t2_me"]}',)
    assert writer.failures == 0
