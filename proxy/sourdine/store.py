"""The sqlite store: numbered migrations, settings, and decisions written in batches by one writer thread.

The event loop never waits on sqlite while a feed is in flight: `record()` only appends a decision to a list
in memory, and wakes the writer thread once for a whole batch, not once a decision. The writer thread owns its
own connection and commits what has queued up, at most every `interval` seconds, in transactions of at most
`batch` decisions. `flush()` waits until everything queued so far is committed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import closing
from dataclasses import asdict
from itertools import chain
from pathlib import Path
from typing import Any

from sourdine import lean, policy
from sourdine.authors import MAX_RECORDS, ROW_FIELDS
from sourdine.engine import DECISION_COLUMNS, Decision, decision_row
from sourdine.pairing import Client

with lean.without("numpy"):  # sqlite-utils would import numpy, which Sourdine needs late or never (lean.py)
    import sqlite_utils
    from sqlite_utils.migrations import Migrations

logger = logging.getLogger(__name__)

migrations = Migrations("sourdine")
KNOWN_MIGRATIONS: list[str] = []  # this version's, in order


def _migration(name: str) -> Callable[[Callable[[sqlite_utils.Database], None]], Any]:
    KNOWN_MIGRATIONS.append(name)
    return migrations(name=name)


class NewerDatabase(ValueError):
    """The database was migrated by a newer Sourdine than this one: its tables may not be what this version
    writes, so it is left alone."""


@_migration("0001_settings_and_decisions")
def _m0001(db: sqlite_utils.Database) -> None:
    db["settings"].create({"key": str, "value": str}, pk="key", not_null={"value"}, strict=True)
    db["decisions"].create(
        {
            "platform": str,
            "post_id": str,
            "first_seen": float,
            "last_changed": float,
            "endpoint": str,
            "author_id": str,
            "author": str,
            "lang": str,
            "negativity": float,
            "outrage": float,
            "score": float,
            "action": str,
            "reason": str,
        },
        pk=("platform", "post_id"),
        not_null={"first_seen", "last_changed", "action"},
        strict=True,
    )
    db["decisions"].create_index(["last_changed"])


@_migration("0002_clients")
def _m0002(db: sqlite_utils.Database) -> None:
    db["clients"].create(
        {"id": str, "name": str, "origin": str, "token_hash": str, "created": float, "last_seen": float},
        pk="id",
        not_null={"name", "origin", "token_hash", "created"},
        strict=True,
    )
    db["clients"].create_index(["token_hash"], unique=True)


@_migration("0003_authors")
def _m0003(db: sqlite_utils.Database) -> None:
    db["authors"].create(
        {"platform": str, "author_id": str, "handle": str, "first_seen": float, "last_seen": float, "posts": int,
         "weight": float, "hostile": float, "score_sum": float, "reasons": str, "recent": str},
        pk=("platform", "author_id"),
        not_null={"last_seen"},
        strict=True,
    )
    db["authors"].create_index(["last_seen"])


@_migration("0004_lists")
def _m0004(db: sqlite_utils.Database) -> None:
    # Ready to sync (issue 7): an entry is keyed by its normalised identity, stamped by a hybrid logical clock
    # and the device that made the edit, and a removal is a tombstone, not a deleted row.
    db["lists"].create(
        {"list": str, "key": str, "entry": str, "stamp": str, "device": str, "deleted": int},
        pk=("list", "key"),
        not_null={"entry", "stamp", "device", "deleted"},
        strict=True,
    )


@_migration("0005_feedback")
def _m0005(db: sqlite_utils.Database) -> None:
    db["decisions"].add_column("feedback", str)  # "fine" or "hostile": what the user said of the decision


@_migration("0006_excerpts")
def _m0006(db: sqlite_utils.Database) -> None:
    db["decisions"].add_column("excerpt", str)  # only when the user opted in to keeping excerpts


@_migration("0007_sync")
def _m0007(db: sqlite_utils.Database) -> None:
    # Issue 7: every stored row gets a local sequence number, so that a peer is sent the rows changed since the
    # last one it saw; the paired peers; and the sync bookkeeping (the tombstone horizon, folder offsets).
    db["lists"].add_column("seq", int)
    db.execute("UPDATE lists SET seq = rowid")
    db["lists"].create_index(["seq"])
    db["peers"].create(
        {"id": str, "name": str, "address": str, "cert": str, "key": str, "created": float, "last_seen": float,
         "last_error": str, "got": int, "sent": int, "recv_n": int},
        pk="id", not_null={"name", "cert", "key", "created", "got", "sent", "recv_n"}, strict=True,
    )
    db["sync_state"].create({"key": str, "value": str}, pk="key", not_null={"value"}, strict=True)


def open_db(path: Path) -> sqlite_utils.Database:
    """A connection to the database at `path`, created and migrated if needed, in WAL mode."""
    db = sqlite_utils.Database(path)
    db.enable_wal()
    db.execute("PRAGMA synchronous = FULL")
    if sys.platform == "darwin":  # a commit's fsync there leaves it in the drive's cache: F_FULLFSYNC instead
        db.execute("PRAGMA fullfsync = ON")
    db.execute("PRAGMA busy_timeout = 5000")
    # 1 MB of page cache instead of sqlite's 2 MB: the writer's inserts and prunes do not need more, and a long
    # session stays under its memory budget.
    db.execute("PRAGMA cache_size = -1024")
    if unknown := [m.name for m in migrations.applied(db) if m.name not in KNOWN_MIGRATIONS]:
        db.close()
        raise NewerDatabase(f"{path} was last changed by a newer Sourdine (its migration {unknown[-1]} is unknown "
                            f"to this version, whose last is {KNOWN_MIGRATIONS[-1]}): run that version, or move "
                            "the file away to start afresh")
    migrations.apply(db)
    return db


def load_settings(db: sqlite_utils.Database) -> dict[str, Any]:
    """The stored settings; ValueError naming the key of one that is not JSON."""
    out = {}
    for row in db["settings"].rows:
        try:
            out[row["key"]] = json.loads(row["value"])
        except ValueError as e:
            raise ValueError(f"{row['key']}: the stored value is not JSON ({e})") from None
    return out


def _decoded(rows, column: str, default: str) -> list[dict[str, Any]]:
    """Rows with one JSON column decoded; a row that does not decode is skipped (and counted in the log), so that
    one damaged row never stops Sourdine from starting."""
    return list(_decoding(rows, column, default))


def _decoding(rows, column: str, default: str) -> Iterator[dict[str, Any]]:
    """`_decoded`, one row at a time."""
    bad = 0
    for row in rows:
        try:
            decoded = {**row, column: json.loads(row[column] or default)}
        except (ValueError, TypeError):
            bad += 1
            continue
        yield decoded
    if bad:
        logger.warning("%d stored rows could not be read and are skipped", bad)


def iter_authors(path: Path, limit: int | None = MAX_RECORDS) -> Iterator[dict[str, Any]]:
    """Author records as `sourdine.authors.from_row` reads them: the `limit` seen last, by default as many as the
    book holds in memory (None: all of them). One row at a time, from a connection of its own, opened at the
    first row and closed after the last: the author book is built as they come. Read all at once, a full book's
    rows and records took 25 MB at start, which stayed in the process's RSS (2026-11-24)."""
    db = open_db(path)
    try:
        yield from _author_rows(db, limit)
    finally:
        db.close()


def _author_rows(db: sqlite_utils.Database, limit: int | None) -> Iterator[dict[str, Any]]:
    rows = db["authors"].rows if limit is None else db["authors"].rows_where(order_by="last_seen DESC", limit=limit)
    return _decoding(rows, "reasons", "[]")


def prune_authors(db: sqlite_utils.Database, before: float) -> int:
    """Delete the author records last seen before `before` (seconds since the epoch), those out of memory
    included (authors.AuthorBook's limit); how many."""
    return db.execute("DELETE FROM authors WHERE last_seen < ?", [before]).rowcount


def load_lists(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return _decoded(db["lists"].rows, "entry", "{}")


def next_seq(db: sqlite_utils.Database) -> int:
    """The next local sequence number of a list row (the sync sends a peer the rows past the last it saw)."""
    return max_seq(db) + 1


def max_seq(db: sqlite_utils.Database) -> int:
    """The highest sequence number given to a list row so far, that of a row deleted since included (kept in
    sync_state by sync.db.remove): numbers never go back, or an edit made after the newest row was collected would
    get a number that a peer had acknowledged already, and never reach it."""
    return db.execute("SELECT max(coalesce((SELECT max(seq) FROM lists), 0), "
                      "coalesce((SELECT CAST(value AS INTEGER) FROM sync_state WHERE key = 'seq'), 0))").fetchone()[0]


def put_list_entry(db: sqlite_utils.Database, row: dict[str, Any]) -> None:
    upsert(db, "lists", {**row, "entry": json.dumps(row["entry"]), "seq": next_seq(db)}, ("list", "key"))


def upsert(db: sqlite_utils.Database, table: str, row: dict[str, Any], key: tuple[str, ...]) -> None:
    """Insert `row`, or set its columns on the row that has its key: sqlite's own upsert (INSERT ... ON CONFLICT
    DO UPDATE). Not sqlite-utils' upsert, which asks each connection once whether sqlite has ON CONFLICT, by
    creating a table in the database: when another process held the database locked at that moment, it took the
    answer as no, for the connection's life, and then wrote a new row as INSERT OR IGNORE of its key alone (which
    a table's NOT NULL columns refuse, silently) followed by an UPDATE that found nothing. Every new mute, allow
    entry, setting and peer that the API then acknowledged was lost (a review's finding, 2026-11-25)."""
    columns = tuple(row)
    db.conn.execute(_upsert(table, columns, key, tuple(c for c in columns if c not in key), 1), list(row.values()))


def forget_author(db: sqlite_utils.Database, platform: str, author_id: str) -> int:
    """Remove an author's record and every decision about their posts; how many rows went."""
    gone = forget_record(db, platform, author_id)
    return gone + db.execute("DELETE FROM decisions WHERE platform = ? AND author_id = ?",
                             [platform, author_id]).rowcount


def forget_record(db: sqlite_utils.Database, platform: str, author_id: str) -> int:
    """Remove an author's record, not the decisions about their posts; how many rows went (0 or 1). The key is
    cleaned as its row's was when written (`_upsert_rows`)."""
    return db.execute("DELETE FROM authors WHERE platform = ? AND author_id = ?",
                      [_valid(platform), _valid(author_id)]).rowcount


def set_feedback(db: sqlite_utils.Database, platform: str, post_id: str, feedback: str) -> bool:
    return db.execute("UPDATE decisions SET feedback = ? WHERE platform = ? AND post_id = ?",
                      [feedback, platform, post_id]).rowcount > 0


def prune_decisions(db: sqlite_utils.Database, before: float) -> int:
    """The decisions log is bounded: drop the decisions last changed before `before`."""
    return db.execute("DELETE FROM decisions WHERE last_changed < ?", [before]).rowcount


def purge(db: sqlite_utils.Database) -> int:
    """Remove everything but the settings, the paired clients and the lists: decisions and author records."""
    return db.execute("DELETE FROM decisions").rowcount + db.execute("DELETE FROM authors").rowcount


def load_clients(db: sqlite_utils.Database) -> list[Client]:
    return [Client(**row) for row in db["clients"].rows]


def add_client(db: sqlite_utils.Database, client: Client) -> None:
    db["clients"].insert(asdict(client))


def save_seen(db: sqlite_utils.Database, seen: list[tuple[str, float]]) -> None:
    """When paired clients last called the API: (id, time) pairs; a client no longer paired is left out."""
    db.conn.executemany("UPDATE clients SET last_seen = ? WHERE id = ?", [(at, cid) for cid, at in seen])


def remove_client(db: sqlite_utils.Database, client_id: str) -> bool:
    return db.execute("DELETE FROM clients WHERE id = ?", [client_id]).rowcount > 0


def _reader(path: Path) -> sqlite3.Connection:
    """A read-only connection for one API read, off the event loop; WAL lets it read while the writer writes."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


# What `read_decisions` can select: the three actions, and "flagged", the posts that the allow list kept but
# would have been filtered, when the user asked to flag them (policy.decide's "...; flagged: would be ...").
DECISION_FILTERS = ("keep", "collapse", "hide", "flagged")
_FLAGGED = f"(action = 'keep' AND instr(reason, '{policy.FLAGGED}') > 0)"


def read_decisions(path: Path, actions: list[str], platform: str | None, before: float | None,
                   limit: int) -> list[dict[str, Any]]:
    plain = [a for a in actions if a != "flagged"]
    chosen = [f"action IN ({', '.join('?' * len(plain))})"] if plain else []
    if "flagged" in actions:
        chosen.append(_FLAGGED)
    where = [f"({' OR '.join(chosen)})"]
    params: list[Any] = list(plain)
    if platform is not None:
        where.append("platform = ?")
        params.append(platform)
    if before is not None:
        where.append("last_changed < ?")
        params.append(before)
    sql = (f"SELECT platform, post_id, author_id, author, lang, negativity, outrage, score, action, reason, "
           f"first_seen, last_changed, feedback, excerpt FROM decisions WHERE {' AND '.join(where)} "
           f"ORDER BY last_changed DESC LIMIT ?")
    with closing(_reader(path)) as conn:
        return [dict(row) for row in conn.execute(sql, [*params, limit])]


def read_decision(path: Path, platform: str, post_id: str) -> dict[str, Any] | None:
    with closing(_reader(path)) as conn:
        row = conn.execute("SELECT * FROM decisions WHERE platform = ? AND post_id = ?", [platform, post_id]).fetchone()
    return dict(row) if row else None


def read_stats(path: Path, days: int, collapse: dict[str, float] | None = None) -> dict[str, Any]:
    """Counts of distinct posts per local day (the last `days`) and per hour today, by platform."""
    since = time.time() - days * 86400
    counts = ("count(*) AS seen, sum(action = 'collapse') AS collapsed, sum(action = 'hide') AS hidden")
    with closing(_reader(path)) as conn:
        by_day = conn.execute(
            f"SELECT date(first_seen, 'unixepoch', 'localtime') AS day, platform, {counts} FROM decisions "
            "WHERE first_seen >= ? GROUP BY day, platform ORDER BY day, platform", [since]).fetchall()
        by_hour = conn.execute(
            f"SELECT CAST(strftime('%H', first_seen, 'unixepoch', 'localtime') AS INTEGER) AS hour, platform, "
            f"{counts} FROM decisions WHERE date(first_seen, 'unixepoch', 'localtime') = date('now', 'localtime') "
            "GROUP BY hour, platform ORDER BY hour, platform").fetchall()
        # Exposure: hostile posts (scored at or above their collapse threshold when decided) that reached the
        # user (kept: allowed, or outside the filter) against those kept away, today and over the week.
        # Each platform's own collapse threshold says what counts as hostile there.
        thresholds = collapse or {}
        case = ("CASE platform" + " WHEN ? THEN ?" * len(thresholds) + " ELSE 0.55 END") if thresholds else "0.55"
        case_params = [x for item in thresholds.items() for x in item]
        exposure = {}
        for name, since_day in (("today", "date('now', 'localtime')"), ("week", "date('now', 'localtime', '-6 days')")):
            row = conn.execute(
                "SELECT sum(action = 'keep') AS reached, sum(action != 'keep') AS kept_away FROM decisions "
                f"WHERE score >= {case} AND date(first_seen, 'unixepoch', 'localtime') >= {since_day}",
                case_params).fetchone()
            exposure[name] = {"reached": row["reached"] or 0, "kept_away": row["kept_away"] or 0}
        exposure["by_day"] = [dict(r) for r in conn.execute(
            "SELECT date(first_seen, 'unixepoch', 'localtime') AS day, coalesce(sum(action = 'keep'), 0) AS reached, "
            "coalesce(sum(action != 'keep'), 0) AS kept_away FROM decisions "
            f"WHERE score >= {case} "
            "AND date(first_seen, 'unixepoch', 'localtime') >= date('now', 'localtime', '-6 days') "
            "GROUP BY day ORDER BY day", case_params)]
        # Per reason: the dominant dimension or rule, without its figure ("outrage", "muted", "toxic connection").
        # A rule's reason is cut at its colon ("muted: ..."), a score's at its comma ("outrage, score 0.62"); one
        # recorded by an older Sourdine ("outrage 0.82") loses its figure, so that both forms count together.
        by_reason = [dict(r) for r in conn.execute(
            "SELECT date(first_seen, 'unixepoch', 'localtime') AS day, "
            "CAST(strftime('%H', first_seen, 'unixepoch', 'localtime') AS INTEGER) AS hour, platform, "
            "CASE WHEN action = 'keep' THEN 'flagged' ELSE action END AS action, "
            "CASE WHEN instr(reason, ':') > 0 THEN substr(reason, 1, instr(reason, ':') - 1) "
            "WHEN instr(reason, ',') > 0 THEN substr(reason, 1, instr(reason, ',') - 1) "
            "ELSE rtrim(reason, ' 0123456789.') END AS reason, count(*) AS posts "
            f"FROM decisions WHERE first_seen >= ? AND (action != 'keep' OR {_FLAGGED}) "
            "GROUP BY day, hour, platform, 4, 5 ORDER BY day, hour, platform, 4", [since])]
        feedback = {row["feedback"]: row["n"] for row in conn.execute(
            "SELECT feedback, count(*) AS n FROM decisions WHERE feedback IS NOT NULL AND first_seen >= ? "
            "GROUP BY feedback", [since])}
    return {"days": days, "by_day": [dict(r) for r in by_day], "by_hour_today": [dict(r) for r in by_hour],
            "by_reason": by_reason, "exposure": exposure,
            "feedback": {"fine": feedback.get("fine", 0), "hostile": feedback.get("hostile", 0)}}


def save_settings(db: sqlite_utils.Database, values: dict[str, Any]) -> None:
    with db.atomic():
        db.conn.executemany(_UPSERT_SETTING, [(k, json.dumps(v)) for k, v in values.items()])


# Decisions and author records are written many rows a statement (INSERT ... VALUES (...), (...), ...): sqlite
# runs a statement with the GIL released, so the event loop's thread keeps it while a batch is written, where
# executemany would hand it back and forth at every row. Measured on 3,300 decisions: 7.4 ms of CPU this way,
# 10.7 ms with executemany, 21.5 ms reading the same rows from JSON with json_each. Statements come in sizes of
# 64, 32, 16... 1 rows only: sqlite3 keeps each statement it prepared, and one for every count of rows from 1 to
# 100 held 10 MB.
_ROWS_PER_STATEMENT = 64
_DECISION_UPDATE = ("last_changed", "endpoint", "negativity", "outrage", "score", "action", "reason", "excerpt")


@functools.cache
def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...], update: tuple[str, ...], rows: int) -> str:
    """The statement that upserts `rows` rows into `table` at once."""
    row = "(" + ", ".join("?" * len(columns)) + ")"
    then = f"DO UPDATE SET {', '.join(f'{_q(c)} = excluded.{_q(c)}' for c in update)}" if update else "DO NOTHING"
    return (f"INSERT INTO {_q(table)} ({', '.join(map(_q, columns))}) VALUES {', '.join([row] * rows)} "
            f"ON CONFLICT ({', '.join(map(_q, key))}) {then}")


def _q(name: str) -> str:
    """An identifier of the code's own (never a user's), quoted."""
    return '"' + name.replace('"', '""') + '"'


def _upsert_rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], key: tuple[str, ...],
                 update: tuple[str, ...], values: list[Any]) -> None:
    """Upsert the rows whose values follow one another in `values`, a later row of a key winning."""
    width = len(columns)
    rows = len(values) // width
    done = 0
    while done < rows:
        left = rows - done
        size = _ROWS_PER_STATEMENT if left >= _ROWS_PER_STATEMENT else 1 << (left.bit_length() - 1)
        chunk = values[done * width:(done + size) * width]
        done += size
        statement = _upsert(table, columns, key, update, size)
        try:
            conn.execute(statement, chunk)
        except UnicodeEncodeError:
            # A handle read from a page that was not valid UTF-8 can hold a lone surrogate, which sqlite cannot
            # store: it is written with "?" in its place rather than losing the batch.
            conn.execute(statement, [_valid(v) for v in chunk])


def _valid(value: Any) -> Any:
    return value.encode("utf-8", "replace").decode("utf-8") if isinstance(value, str) else value


_UPSERT_SETTING = (
    "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


@contextlib.contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[None]:
    """A write transaction that takes the database's write lock first (BEGIN IMMEDIATE), committed at the end or
    rolled back on an error. sqlite-utils' atomic() begins a deferred one, which takes the lock at its first write:
    when another process holds it by then, sqlite fails that write at once, as the busy timeout cannot apply to a
    transaction that has read already (put_list_entry reads the next sequence number first). This one waits for
    the lock (busy_timeout) before anything is read."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    try:
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


class Writer:
    """One thread, one connection, batched commits."""

    def __init__(self, path: Path, interval: float = 0.25, batch: int = 2000) -> None:
        self.path = path
        self.interval = interval
        self.batch = batch
        self._queue: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        # Decisions wait here rather than on the queue: a feed of 100 posts is one wake-up of the writer, not 100.
        # Each wake-up is the writer taking the GIL from the event loop in the middle of a response (measured:
        # 0.6-1.7 ms more added p50 on cold 100-post feeds, 4-7 ms more at p99).
        self._decisions: deque[tuple[object, ...]] = deque()  # as rows: see engine.decision_row
        self._woken = False
        # Decisions recorded, and taken by the writer. Each call or flush queued and not yet run leaves here the
        # count recorded before it: no round takes a decision past the first of those marks, so a call runs after
        # the decisions recorded before it are written and before those recorded after it (a purge of the log
        # must not take a feed judged just after it), even when it comes in a later round than they do.
        self._recorded = 0
        self._taken = 0
        self._marks: deque[int] = deque()
        self._thread = threading.Thread(target=self._run, name="sourdine-writer", daemon=True)
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def record(self, decision: Decision) -> None:
        self._decisions.append(decision_row(decision))
        self._recorded += 1
        if not self._woken:
            self._woken = True
            self._queue.put(("decisions", None))

    def authors(self, rows: list[dict[str, Any]], gone: list[tuple[str, str]] = ()) -> None:
        """Queue author records to write (as `authors.to_row` gives them) and records to delete."""
        if rows or gone:
            self._queue.put(("authors", (rows, list(gone))))

    def set(self, key: str, value: Any) -> None:
        self._queue.put(("setting", (key, json.dumps(value))))

    def submit(self, fn: Callable[[sqlite_utils.Database], Any]) -> Future:
        """Run `fn(db)` in the writer thread, in a transaction of its own, after everything queued before it.
        The future resolves once the transaction has committed (or with fn's exception, nothing written): an API
        change is acknowledged only then."""
        future: Future = Future()
        if not self._thread.is_alive():
            future.set_exception(RuntimeError("the database writer is not running"))
        else:
            self._marks.append(self._recorded)
            self._queue.put(("call", (fn, future)))
        return future

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before this call is committed. False on timeout or a dead writer."""
        if not self._thread.is_alive():
            return False
        done = threading.Event()
        self._marks.append(self._recorded)
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._queue.put(("stop", None))
            self._thread.join(timeout)

    def _run(self) -> None:
        db = open_db(self.path)
        stopping = False
        while not stopping:
            items = [self._queue.get()]
            # Gather whatever else arrives within the interval, up to one batch; a call, a flush or a stop is
            # served at once.
            while items[-1][0] in ("decisions", "setting", "authors") and len(items) < self.batch:
                try:
                    items.append(self._queue.get(timeout=self.interval))
                except queue.Empty:
                    break
            # Cleared before the list is read: a decision recorded from now on wakes the writer again (at worst
            # for an empty batch), and none is left waiting unseen.
            self._woken = False
            pending, marks = self._decisions, self._marks
            take = min(len(pending), marks[0] - self._taken) if marks else len(pending)
            self._taken += take
            self._write(db, [pending.popleft() for _ in range(take)],
                        [value for kind, value in items if kind == "setting"],
                        [row for kind, value in items if kind == "authors" for row in value[0]],
                        [key for kind, value in items if kind == "authors" for key in value[1]])
            for kind, value in items:
                if kind == "call":
                    marks.popleft()
                    fn, future = value
                    if not future.set_running_or_notify_cancel():
                        continue  # its caller gave up waiting (a request cancelled, a shutdown): nothing is done
                    try:
                        with _immediate(db):
                            result = fn(db)
                    except Exception as e:
                        future.set_exception(e)
                    else:
                        future.set_result(result)
                elif kind == "flush":
                    marks.popleft()
                    value.set()
                elif kind == "stop":
                    stopping = True
            if pending and not self._woken:  # decisions recorded after a call: another round
                self._woken = True
                self._queue.put(("decisions", None))
        db.close()

    def _write(self, db: sqlite_utils.Database, decisions: list[tuple[object, ...]], settings: list[tuple[str, str]],
               authors: list[dict[str, Any]], gone: list[tuple[str, str]]) -> None:
        """Commit decisions, `batch` a transaction (the first one with the settings and author records)."""
        for start in range(0, max(len(decisions), 1), self.batch):
            chunk = decisions[start:start + self.batch]
            first = start == 0
            if not (chunk or first and (settings or authors or gone)):
                continue
            try:
                with _immediate(db):
                    _upsert_rows(db.conn, "decisions", DECISION_COLUMNS, ("platform", "post_id"), _DECISION_UPDATE,
                                 list(chain.from_iterable(chunk)))
                    if first:
                        db.conn.executemany(_UPSERT_SETTING, settings)
                        # Deletes first: an author expired and back again in one batch must keep its new row. A
                        # key is cleaned as its row was when written (`_upsert_rows`), or it would fail the batch.
                        db.conn.executemany("DELETE FROM authors WHERE platform = ? AND author_id = ?",
                                            [(_valid(platform), _valid(author)) for platform, author in gone])
                        _upsert_rows(db.conn, "authors", ROW_FIELDS, ROW_FIELDS[:2], ROW_FIELDS[2:], [
                            json.dumps(row[c]) if c == "reasons" else row[c] for row in authors for c in ROW_FIELDS
                        ])
            except Exception:
                self.failures += 1
                logger.exception("could not write a batch (%d decisions, %d author records) to the database",
                                 len(chunk), len(authors) if first else 0)

