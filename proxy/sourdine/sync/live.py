"""Rows into a running instance: stored first (one transaction, with their stamps), then made live.

Local batches (an import) are stamped here under the settings lock that the API's edits take, so that every edit
gets its stamp, its row and its place in the live lists in one order; rows from a peer are checked in full before
anything is written (one bad row refuses the batch), merged in one transaction, then applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from sourdine import authors, lists, settings, store
from sourdine.runtime import Runtime
from sourdine.sync import db as sync_db
from sourdine.sync import merge
from sourdine.sync.merge import Row

logger = logging.getLogger(__name__)


def _compile_or_accounts(mutes: list[lists.Entry], allows: list[lists.Entry]) -> lists.Lists:
    now = datetime.now(UTC)
    try:
        return lists.compile_lists(mutes, allows, now)
    except ValueError:
        logger.warning("the keyword lists could not be compiled; only account entries apply")
        return lists.compile_lists([e for e in mutes if isinstance(e, lists.AccountEntry)],
                                   [e for e in allows if isinstance(e, lists.AccountEntry)], now)


class Live:
    """The replicated state of one running instance: its runtime, the lock its edits take, and who to tell when a
    local edit lands (the sync loop)."""

    def __init__(self, runtime: Runtime, lock: asyncio.Lock) -> None:
        self.runtime = runtime
        self.lock = lock
        self.edited = asyncio.Event()
        # The lists write_local last installed, and the entries they were compiled from: while the runtime still
        # holds them, the next write puts its entries in instead of compiling every entry again.
        self._compiled: tuple[dict[str, lists.Entry], dict[str, lists.Entry], lists.Lists] | None = None

    async def committed(self, fn: Callable[[sqlite_utils.Database], Any]) -> Any:
        return await asyncio.wrap_future(self.runtime.writer.submit(fn))

    def compile(self, changes: dict[str, dict[str, lists.Entry | None]]) -> tuple[dict, lists.Lists]:
        """The live entries with `changes` made, and their compiled lists (ValueError if RE2 cannot). Entries added
        to or changed in one list are put into the live lists when they are those write_local installed: an import
        of many batches into a long list compiled all of it for each (a review measured 279 s for 609,125 rows)."""
        current = self.runtime.entries
        entries = {name: dict(listed) for name, listed in current.items()}
        for name, changed in changes.items():
            for key, entry in changed.items():
                if entry is None:
                    entries[name].pop(key, None)
                else:
                    entries[name][key] = entry
        now = datetime.now(UTC)
        compiled = None
        base = self._compiled
        if base is not None and base[0] is current["mute"] and base[1] is current["allow"] \
                and base[2] is self.runtime.engine.lists and len(changes) == 1:
            [(name, changed)] = changes.items()
            if all(entry is not None for entry in changed.values()):
                compiled = base[2].updated(name == "allow", changed.values(), current[name], now)  # type: ignore[arg-type]
        if compiled is None:
            compiled = lists.compile_lists(entries["mute"].values(), entries["allow"].values(), now)
        return entries, compiled

    async def write_local(self, name: str, changed: dict[str, lists.Entry], check: Callable[[], None] = lambda: None
                          ) -> None:
        """Store entries of one list with fresh stamps, then make them live. Call with the lock held.

        The lists are compiled first (off the event loop: 20,000 keywords take about 60 ms; the entries only, when
        the live lists are those the last call installed), and refused, with nothing stored, if RE2 cannot compile
        their regexes."""
        entries, compiled = await asyncio.to_thread(self.compile, {name: dict(changed)})
        clock = self.runtime.clock
        rows = [Row.make(name, key, entry.to_dict(), clock.tick()) for key, entry in changed.items()]
        check()
        await self.committed(lambda db: sync_db.apply(db, rows))
        for row in rows:
            self.runtime.stamps[row.id] = row.stamp.encode()
        self.runtime.entries = entries
        self.runtime.engine.lists = compiled
        self._compiled = (entries["mute"], entries["allow"], compiled)
        self.edited.set()

    async def _install(self) -> None:
        """Compile the live entries in a thread and install them, unless they changed meanwhile. Lists RE2 cannot
        compile together leave the keywords out, loudly (accounts still apply), as at start-up."""
        current = self.runtime.entries
        mutes, allows = current["mute"], current["allow"]
        compiled = await asyncio.to_thread(_compile_or_accounts, list(mutes.values()), list(allows.values()))
        now = self.runtime.entries
        if now["mute"] is mutes and now["allow"] is allows:
            self.runtime.engine.lists = compiled

    async def refresh(self) -> None:
        """Make the live entries apply."""
        await self._install()

    async def merge_remote(self, rows: list[Row], extra: Callable[[sqlite_utils.Database, int], Any] | None = None,
                           full: bool = False, their_horizon: merge.Stamp | None = None) -> list[Row]:
        """Check, store and apply a peer's rows; `extra(db, seq)` runs in the same transaction (the peer's
        bookkeeping), with the highest sequence number before the merge. ValueError (nothing applied) if a row is
        bad, or `extra` raises it.

        `full`: `rows` are the peer's whole state, after one of us was away past the tombstones' lifetime (see
        merge.full_exchange). Then a row of the peer's that this side removed and collected does not come back
        (whichever side began the exchange), and a row of ours that the peer removed and collected (at or before
        `their_horizon`) goes. Both are worked out in the write's own transaction, under the lock the API's edits
        take: from a state read earlier, an edit made meanwhile was deleted (a review's finding)."""
        merge.check_all(rows, int(time.time() * 1000))
        gone: list[merge.RowId] = []

        def write(db: sqlite_utils.Database) -> list[Row]:
            before = sync_db.max_seq(db)
            taken = rows
            if full:
                local = sync_db.load(db)
                taken = merge.from_returning(local, rows, sync_db.horizon(db))
                gone.extend(sorted(merge.full_exchange(local, rows, their_horizon)[1]))
                sync_db.remove(db, gone)
            won = sync_db.apply(db, taken)
            for row in won:
                if row.list == "setting" and row.key == "schedule" and not row.deleted:
                    store.save_settings(db, {"schedule": row.value()})
            if extra is not None:
                extra(db, before)
            return won

        async with self.lock:
            won = await self.committed(write)
            if self.apply(won, gone):
                await self.refresh()
        return won

    def apply(self, won: list[Row], gone: Iterable[merge.RowId] = ()) -> bool:
        """Make stored rows live: entries, decisions, the schedule, stamps and the clock. Whether the lists changed
        (then `refresh` compiles them)."""
        runtime = self.runtime
        now = datetime.now(UTC)
        touched = False
        # New dicts, never changed in place: a compile running in a thread meanwhile sees that they changed.
        runtime.entries = {name: dict(current) for name, current in runtime.entries.items()}
        for rid in gone:
            runtime.stamps.pop(rid, None)
            if rid[0] in ("mute", "allow"):
                runtime.entries[rid[0]].pop(rid[1], None)
                touched = True
        for row in won:
            runtime.clock.observe(row.stamp)
            runtime.stamps[row.id] = row.stamp.encode()
            try:
                if row.list in ("mute", "allow"):
                    touched = True
                    if row.deleted:
                        runtime.entries[row.list].pop(row.key, None)
                    else:
                        parse = lists.parse_mute if row.list == "mute" else lists.parse_allow
                        runtime.entries[row.list][row.key] = parse(row.value(), now)
                elif row.list == "connection":
                    _, platform, author_id = row.key.split(":", 2)
                    if row.deleted:
                        runtime.author_decisions.pop((platform, author_id), None)
                    else:
                        runtime.author_decisions[(platform, author_id)] = authors.AuthorDecision(**row.value())
                elif row.list == "setting" and row.key == "schedule" and not row.deleted:
                    runtime.swap(settings.with_user(runtime.snapshot, schedule=row.value()))
            except (ValueError, TypeError) as e:  # checked before storing: only a bug lands here
                logger.warning("a synced row could not be applied: %s", type(e).__name__)
        return touched
