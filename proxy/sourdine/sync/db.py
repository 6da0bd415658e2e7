"""The replicated rows in sqlite: read them, merge rows in, and find what a peer has not seen yet.

Every function runs inside the caller's transaction (the store's writer gives each call its own), so that a
merged batch lands whole or not at all, together with the clock it moved (the rows carry their stamps; the
clock starts past the newest of them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from sourdine import store
from sourdine.hlc import Stamp
from sourdine.sync import merge
from sourdine.sync.merge import Row, RowId


def _row(record: dict[str, Any] | Any) -> Row:
    entry = json.loads(record["entry"] or "{}")
    return Row(record["list"], record["key"], merge.canonical(entry), Stamp.decode(record["stamp"]),
               bool(record["deleted"]))


def load(db: sqlite_utils.Database) -> dict[RowId, Row]:
    """Every replicated row, tombstones included. A damaged row is skipped (the loaders log those)."""
    out = {}
    for record in db.execute("SELECT list, key, entry, stamp, deleted FROM lists").fetchall():
        try:
            row = _row(dict(zip(("list", "key", "entry", "stamp", "deleted"), record, strict=True)))
        except (ValueError, TypeError):
            continue
        out[row.id] = row
    return out


def _current(db: sqlite_utils.Database, ids: Iterable[RowId]) -> dict[RowId, Row]:
    out = {}
    for name, key in set(ids):
        found = db.execute("SELECT list, key, entry, stamp, deleted FROM lists WHERE list = ? AND key = ?",
                           [name, key]).fetchone()
        if found is not None:
            try:
                out[(name, key)] = _row(dict(zip(("list", "key", "entry", "stamp", "deleted"), found, strict=True)))
            except (ValueError, TypeError):
                continue  # a damaged row loses to any valid one
    return out


def apply(db: sqlite_utils.Database, rows: Iterable[Row]) -> list[Row]:
    """Merge `rows` into the stored ones; the rows that won, each stored with a new sequence number."""
    rows = list(rows)
    changed = list(merge.merge(_current(db, (r.id for r in rows)), rows).values())
    seq = store.next_seq(db)
    db.conn.executemany(
        "INSERT INTO lists (list, key, entry, stamp, device, deleted, seq) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (list, key) DO UPDATE SET entry = excluded.entry, stamp = excluded.stamp, "
        "device = excluded.device, deleted = excluded.deleted, seq = excluded.seq",
        [(r.list, r.key, r.entry, r.stamp.encode(), r.stamp.node, int(r.deleted), seq + i)
         for i, r in enumerate(changed)])
    return changed


def remove(db: sqlite_utils.Database, ids: Iterable[RowId]) -> None:
    """Delete rows, keeping the highest sequence number given so far (store.max_seq), which one of them may hold."""
    set_state(db, "seq", str(max_seq(db)))
    db.conn.executemany("DELETE FROM lists WHERE list = ? AND key = ?", list(ids))


def max_seq(db: sqlite_utils.Database) -> int:
    return store.max_seq(db)


def since(db: sqlite_utils.Database, seq: int, limit: int = 5000) -> tuple[list[Row], int]:
    """Up to `limit` rows stored after `seq`, oldest first, and the sequence number they reach."""
    found = db.execute("SELECT list, key, entry, stamp, deleted, seq FROM lists WHERE seq > ? ORDER BY seq LIMIT ?",
                       [seq, limit]).fetchall()
    rows, upto = [], seq
    for record in found:
        upto = record[5]
        try:
            rows.append(_row(dict(zip(("list", "key", "entry", "stamp", "deleted"), record[:5], strict=True))))
        except (ValueError, TypeError):
            continue
    return rows, upto


def get_state(db: sqlite_utils.Database, key: str) -> str | None:
    found = db.execute("SELECT value FROM sync_state WHERE key = ?", [key]).fetchone()
    return found[0] if found else None


def set_state(db: sqlite_utils.Database, key: str, value: str) -> None:
    db.execute("INSERT INTO sync_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
               "value = excluded.value", [key, value])


def horizon(db: sqlite_utils.Database) -> Stamp | None:
    """The newest stamp of a tombstone collected here, if any."""
    value = get_state(db, "horizon")
    return Stamp.decode(value) if value else None


def collect(db: sqlite_utils.Database, now_ms: int, seen_upto: int | None, days: float = merge.TOMBSTONE_DAYS) -> int:
    """Drop the tombstones every known peer has seen (`seen_upto`: the lowest sequence number acknowledged by a
    peer that has not lapsed; None when there is no such peer) and that are older than `days`. Moves the horizon
    past them. How many went."""
    limit = seen_upto if seen_upto is not None else max_seq(db)
    found = db.execute("SELECT list, key, entry, stamp, deleted FROM lists WHERE deleted = 1 AND seq <= ?",
                       [limit]).fetchall()
    gone = []
    newest = horizon(db)
    for record in found:
        row = _row(dict(zip(("list", "key", "entry", "stamp", "deleted"), record, strict=True)))
        if merge.collectable(row, now_ms, True, days):
            gone.append(row.id)
            newest = max(newest, row.stamp) if newest is not None else row.stamp
    if gone:
        remove(db, gone)
        set_state(db, "horizon", newest.encode())  # type: ignore[union-attr]
    return len(gone)


def last_stamp(db: sqlite_utils.Database) -> Stamp | None:
    """The newest stamp stored (rows, or collected tombstones): a restarted clock starts past it."""
    found = db.execute("SELECT max(stamp) FROM lists").fetchone()[0]
    stamps = [s for s in (Stamp.decode(found) if found else None, horizon(db)) if s is not None]
    return max(stamps, key=lambda s: (s.wall, s.counter)) if stamps else None
