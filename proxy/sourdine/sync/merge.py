"""The replicated state, and how two copies of it merge: a last-writer-wins map with hybrid logical clocks.

Pure: plain values in, plain values out; no sqlite, no network. The store and the transports call it.

What replicates, as rows keyed by (list, key):
- `mute` and `allow`: list entries, keyed by their normalised identity (`account:<platform>:<handle>`,
  `person:<id>`, `keyword:<text>`), the entry being `Entry.to_dict()`;
- `connection`: what the user decided on a suggested toxic connection, keyed `author:<platform>:<author id>`;
- `setting`: the work-hours schedule, keyed `schedule`.

A removal is a tombstone: a row with `deleted` set and an empty entry, stamped like any edit. Per key, the row
with the largest `(stamp, deleted, entry)` wins, where the stamp is the clock's `(wall, counter, node)`; the last
two only break a tie between rows with one stamp, which honest devices never make (one clock never gives a stamp
twice) but a faulty one might. Taking the largest of a total order is commutative, associative and idempotent,
so replicas that have seen the same rows hold the same state, whatever the order and however often rows came.

Tombstones are collected only when every known peer has seen them and they are older than `TOMBSTONE_DAYS`. A
peer not seen for that long is no longer waited for; when it comes back it gets a full-state exchange (see
`full_exchange`), in which rows older than the collection horizon that the other side no longer has are taken
for collected tombstones rather than brought back to life.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sourdine import authors, lists, schedule
from sourdine.hlc import MAX_DRIFT_MS, Stamp

LISTS = ("mute", "allow", "connection", "setting")
SETTING_KEYS = ("schedule",)
TOMBSTONE_DAYS = 180
DAY_MS = 86_400_000
MAX_KEY = lists.MAX_KEY
MAX_ENTRY = lists.MAX_ENTRY  # characters of an entry's JSON
canonical = lists.canonical  # an entry's JSON in one spelling

RowId = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Row:
    """One replicated row: the state of one key, as of one edit."""

    list: str
    key: str
    entry: str  # canonical JSON; "{}" for a tombstone
    stamp: Stamp
    deleted: bool = False

    @property
    def id(self) -> RowId:
        return (self.list, self.key)

    @property
    def rank(self) -> tuple[Stamp, bool, str]:
        return (self.stamp, self.deleted, self.entry)

    def value(self) -> dict[str, Any]:
        return json.loads(self.entry)

    def to_wire(self) -> dict[str, Any]:
        return {"list": self.list, "key": self.key, "entry": self.value(), "stamp": self.stamp.encode(),
                "deleted": self.deleted}

    @classmethod
    def make(cls, list_name: str, key: str, entry: Mapping[str, Any] | None, stamp: Stamp) -> Row:
        """A row for an edit: `entry` None makes a tombstone."""
        return cls(list_name, key, canonical(entry or {}), stamp, entry is None)

    @classmethod
    def from_wire(cls, data: object) -> Row:
        """A row as a peer sent it, its shape checked (`check` then checks its meaning). ValueError if bad."""
        if not isinstance(data, dict) or set(data) != {"list", "key", "entry", "stamp", "deleted"}:
            raise ValueError("a row is an object with list, key, entry, stamp and deleted")
        name, key, entry, stamp, deleted = (data[f] for f in ("list", "key", "entry", "stamp", "deleted"))
        if name not in LISTS:
            raise ValueError("list: an unknown list")
        if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY:
            raise ValueError("key: must be a non-empty string")
        if not isinstance(entry, dict) or not isinstance(deleted, bool) or not isinstance(stamp, str):
            raise ValueError("entry, stamp or deleted: wrong type")
        text = canonical(entry)
        if len(text) > MAX_ENTRY:
            raise ValueError("entry: too large")
        return cls(name, key, text, Stamp.decode(stamp), deleted)


def wins(new: Row, old: Row | None) -> bool:
    """Whether `new` replaces `old` for their key."""
    return old is None or new.rank > old.rank


def merge(state: Mapping[RowId, Row], rows: Iterable[Row]) -> dict[RowId, Row]:
    """The rows that change `state`: for each key, the winner among its current row and the given ones, when that
    is not the current row."""
    changed: dict[RowId, Row] = {}
    for row in rows:
        current = changed.get(row.id) or state.get(row.id)
        if wins(row, current):
            changed[row.id] = row
    return changed


def merged(state: Mapping[RowId, Row], rows: Iterable[Row]) -> dict[RowId, Row]:
    """`state` with `rows` merged in (a new mapping)."""
    return {**state, **merge(state, rows)}


# -- what a row may hold -------------------------------------------------------------------------------------

_AUTHOR_KEY = re.compile(r"author:([a-z]{1,20}):(.{1,500})", re.DOTALL)


class Refused(ValueError):
    """A row refused. Its message names only the list and the reason, so that it may be logged and shown; the key
    and the detail (which may hold a handle or a keyword) are for DEBUG logs only (see `detail`)."""

    def __init__(self, list_name: str, reason: str, key: str = "", detail: str = "") -> None:
        super().__init__(f"{list_name}: {reason}")
        self.key = key
        self.detail = detail


class Ahead(Refused):
    """A row whose clock is too far ahead: refused for now, it may pass later."""


def detail(error: Exception) -> str:
    """What a refusal says for a DEBUG log: the key and the detail (never log this above DEBUG)."""
    if isinstance(error, Refused):
        return f"{error} (key {error.key!r}: {error.detail or 'no detail'})"
    return str(error)


def check(row: Row, now_ms: int, max_ahead_ms: int = MAX_DRIFT_MS) -> None:
    """Refuse a row from a peer that Sourdine could not use (`Refused`), or whose clock is too far ahead (`Ahead`).
    """
    if row.stamp.wall - now_ms > max_ahead_ms:
        raise Ahead(row.list, f"its clock is more than {max_ahead_ms // 3_600_000} h ahead", row.key)
    try:
        _check_entry(row, now_ms)
    except Refused:
        raise
    except (ValueError, TypeError) as e:
        raise Refused(row.list, "an entry Sourdine cannot use", row.key, str(e)) from None


def _check_entry(row: Row, now_ms: int) -> None:
    entry = row.value()
    if row.deleted:
        if entry:
            raise Refused(row.list, "a removal carries no entry", row.key)
        _check_key(row)
        return
    if row.list in ("mute", "allow"):
        parse = lists.parse_mute if row.list == "mute" else lists.parse_allow
        parsed = parse(entry, datetime.fromtimestamp(now_ms / 1000, UTC))
        if parsed.key != row.key and parsed.key != lists.legacy_key(row.key):  # an older version's key: its own
            raise Refused(row.list, "the entry does not match its key", row.key, f"the entry's key is {parsed.key!r}")
    elif row.list == "connection":
        _check_key(row)
        if set(entry) - {"kind", "share", "hostile"}:
            raise Refused(row.list, "an unknown field", row.key)
        authors.AuthorDecision(**entry)
    else:
        _check_key(row)
        overrides = schedule.parse_schedule(entry).overrides
        # The API sets a pause or a filter-until for at most MAX_OVERRIDE from the edit, whose stamp comes after:
        # one ending later was not made so, and is refused (one ending in the year 9999 made working out the
        # schedule's state raise, a review found).
        latest = datetime.fromtimestamp(row.stamp.wall / 1000, UTC) + schedule.MAX_OVERRIDE
        if any(o.until > latest for o in overrides):
            raise Refused(row.list, f"a pause or a filter-until longer than {schedule.MAX_OVERRIDE.days} days",
                          row.key)


def _check_key(row: Row) -> None:
    if row.list in ("mute", "allow"):
        if not row.key.startswith(("account:", "person:", "keyword:")):
            raise Refused(row.list, "not a key of this list", row.key)
    elif row.list == "connection":
        if not _AUTHOR_KEY.fullmatch(row.key):
            raise Refused(row.list, "not a key of this list (author:<platform>:<id>)", row.key)
    elif row.key not in SETTING_KEYS:
        raise Refused(row.list, "not a replicated setting", row.key)


def check_all(rows: Iterable[Row], now_ms: int, max_ahead_ms: int = MAX_DRIFT_MS) -> None:
    """`check` every row: one bad row refuses them all, so that nothing of a bad message is applied."""
    for row in rows:
        check(row, now_ms, max_ahead_ms)


# -- tombstones ----------------------------------------------------------------------------------------------


def collectable(row: Row, now_ms: int, seen_by_all: bool, days: float = TOMBSTONE_DAYS) -> bool:
    """A tombstone may go once every known peer has seen it and it is older than `days`."""
    return row.deleted and seen_by_all and now_ms - row.stamp.wall >= days * DAY_MS


def lapsed(last_seen_ms: float | None, now_ms: int, days: float = TOMBSTONE_DAYS) -> bool:
    """A peer not seen for `days` is no longer waited for before collecting tombstones; when it returns, it gets a
    full-state exchange instead of a delta."""
    return last_seen_ms is not None and now_ms - last_seen_ms >= days * DAY_MS


def full_exchange(local: Mapping[RowId, Row], remote: Iterable[Row], horizon: Stamp | None) -> tuple[
        dict[RowId, Row], set[RowId]]:
    """Merge the full state of a peer that may have missed collected tombstones.

    `remote` is the other side's whole state (see `answer`); `horizon` is the newest stamp of a tombstone the
    other side collected. A local row at or before it whose key
    the other side does not have was removed there and its tombstone collected: it goes (returned as the second
    value) instead of coming back. Returns the rows that change and the keys that go.
    """
    remote = list(remote)
    present = {row.id for row in remote}
    gone = set()
    if horizon is not None:
        gone = {rid for rid, row in local.items() if rid not in present and row.stamp <= horizon}
    kept = {rid: row for rid, row in local.items() if rid not in gone}
    return merge(kept, remote), gone


def from_returning(local: Mapping[RowId, Row], remote: Iterable[Row], horizon: Stamp | None) -> list[Row]:
    """The other side of `full_exchange`: of the full state a returning peer sends, the rows to merge. A row at or
    before this side's own `horizon` for a key this side no longer has was removed here and its tombstone
    collected: it is not brought back."""
    if horizon is None:
        return list(remote)
    return [row for row in remote if row.id in local or row.stamp > horizon]


def answer(out: Iterable[Row], incoming: Iterable[Row], full: bool) -> list[Row]:
    """The rows to answer a peer's message with: `out`, less the peer's own rows straight back in a delta. In a
    full exchange every row goes back, those it sent included: the returning side takes a key missing from the
    answer for a collected tombstone (see `full_exchange`), so a row both sides hold must be in it."""
    if full:
        return list(out)
    sent = {(r.id, r.rank) for r in incoming}
    return [r for r in out if (r.id, r.rank) not in sent]
