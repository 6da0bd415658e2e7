"""What the addon and the API share in one process: the settings snapshot, the engine and the writer."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sourdine import __version__, authors, lean, lists, pairing, schedule, settings, store
from sourdine.authors import AuthorBook
from sourdine.engine import Engine
from sourdine.hlc import Clock, Stamp
from sourdine.pairing import Client, Codes
from sourdine.platforms import ADAPTERS
from sourdine.settings import Snapshot
from sourdine.store import Writer

logger = logging.getLogger(__name__)


def filter_clock():
    """The clock the filter judges posts by: the system's, moved by $SOURDINE_TIME_OFFSET seconds when that is
    set. The offset exists for tests of expiring mutes through a real `sourdine run`; nothing else reads it."""
    raw = os.environ.get("SOURDINE_TIME_OFFSET")
    if not raw:
        return time.time
    try:
        offset = float(raw)
    except ValueError:
        raise ValueError(f"SOURDINE_TIME_OFFSET must be a number of seconds, not {raw!r}") from None
    return lambda: time.time() + offset


def own_accounts(stored: object) -> dict[str, set[str]]:
    """The user's own account ids per platform, as stored in the settings (`own_accounts`); anything else in
    that value is left out."""
    return {
        platform: {ids} if isinstance(ids, str) else {i for i in ids if isinstance(i, str)}
        for platform, ids in (stored.items() if isinstance(stored, dict) else ())
        if isinstance(platform, str) and isinstance(ids, str | list)
    }


def maintenance_interval() -> float:
    """How often author records expire and the decisions log is pruned: hourly, or every
    $SOURDINE_MAINTENANCE_SECONDS seconds when that is set (for scripts/soak, which crosses the retention limit
    within minutes; nothing else reads it)."""
    raw = os.environ.get("SOURDINE_MAINTENANCE_SECONDS")
    if not raw:
        return 3600.0
    try:
        every = float(raw)
    except ValueError:
        every = 0.0
    if not every > 0:
        raise ValueError(f"SOURDINE_MAINTENANCE_SECONDS must be a positive number of seconds, not {raw!r}")
    return every


@dataclass(slots=True)
class Listen:
    proxy: tuple[str, int] = ("127.0.0.1", 0)
    api: tuple[str, int] = ("127.0.0.1", 0)
    sync: tuple[str, int] = ("127.0.0.1", 0)  # the peers' listener, with --sync-port


@dataclass
class Runtime:
    home: Path
    token: str
    snapshot: Snapshot
    engine: Engine
    writer: Writer
    listen: Listen = field(default_factory=Listen)
    version: str = __version__
    # Called with the new snapshot whenever it changes (the runner uses it to update mitmproxy's allow_hosts).
    on_change: list = field(default_factory=list)
    # Paired extensions, by the digest of their token; pairing codes outstanding.
    clients: dict[str, Client] = field(default_factory=dict)
    codes: Codes = field(default_factory=Codes)

    _filtering: tuple[Snapshot, datetime, bool, datetime | None] | None = None

    def filtering(self, now: datetime | None = None) -> tuple[bool, datetime | None]:
        """Whether Sourdine filters now (work hours and overrides), and until when. The answer is kept until it
        changes or the settings do, so the hot path pays for it about once a state change. It holds from the
        instant it was worked out: a clock set back before that instant works it out again."""
        now = now or datetime.now(UTC)
        cached = self._filtering
        if (cached is not None and cached[0] is self.snapshot and cached[1] <= now
                and (cached[3] is None or now < cached[3])):
            return cached[2], cached[3]
        active, until = schedule.active(self.snapshot.schedule, now)
        self._filtering = (self.snapshot, now, active, until)
        return active, until

    @property
    def token_hash(self) -> str:
        return pairing.digest(self.token)

    def origins(self) -> set[str]:
        return {client.origin for client in self.clients.values()}

    # When each paired extension last called the API, to the minute: kept in memory at once (GET /api/v1/clients
    # shows it), and queued for the database with the author records (save_authors_forever) and at the end.
    SEEN_EVERY = 60.0
    _seen: dict[str, float] = field(default_factory=dict)

    def saw(self, client: Client, now: float) -> None:
        """Note that `client` called the API at `now` (at most once a minute: the hot path pays a comparison)."""
        if client.last_seen is not None and now - client.last_seen < self.SEEN_EVERY:
            return
        if self.clients.get(client.token_hash) is client:  # not one revoked meanwhile
            self.clients[client.token_hash] = replace(client, last_seen=now)
            self._seen[client.id] = now

    def save_seen(self) -> None:
        """Queue the times noted by `saw` since last time (a client revoked since updates nothing)."""
        if self._seen:
            seen, self._seen = list(self._seen.items()), {}
            self.writer.submit(lambda db: store.save_seen(db, seen))

    # Mute and allow lists: the live entries by list ("mute", "allow") and key, and the clock that stamps edits.
    entries: dict[str, dict[str, lists.Entry]] = field(default_factory=lambda: {"mute": {}, "allow": {}})
    stamps: dict[tuple[str, str], str] = field(default_factory=dict)
    clock: Clock = field(default_factory=lambda: Clock("local"))

    # What the user decided on toxic connections (muted, allowed, dismissed), by (platform, author id).
    author_decisions: dict[tuple[str, str], authors.AuthorDecision] = field(default_factory=dict)

    def load_lists(self, rows: list[dict], device: str) -> None:
        """The stored entries (tombstones included, for their stamps), and the clock past every stamp seen."""
        now = datetime.now(UTC)
        last = Stamp(0, 0, device)
        for row in rows:
            try:
                stamp = Stamp.decode(row["stamp"])
                last = max(last, stamp)
                self.stamps[(row["list"], row["key"])] = row["stamp"]
                if row["deleted"] or row["list"] == "setting":  # the schedule is read from the settings
                    continue
                if row["list"] == "connection":
                    _, platform, author_id = row["key"].split(":", 2)
                    self.author_decisions[(platform, author_id)] = authors.AuthorDecision(**row["entry"])
                    continue
                parse = lists.parse_mute if row["list"] == "mute" else lists.parse_allow
                self.entries[row["list"]][row["key"]] = parse(row["entry"], now)
            except (ValueError, KeyError, TypeError, AttributeError) as e:  # a row edited by hand, or damaged
                logger.warning("a list entry could not be read and is skipped: %s", type(e).__name__)
        self.clock = Clock(device, last=Stamp(last.wall, last.counter, device))
        self.recompile()

    def recompile(self) -> None:
        """Build the hot path's lists from the live entries. Lists that RE2 cannot compile (stored by an older
        version, say) must not stop Sourdine: the keywords are then left out, loudly, and accounts still apply."""
        now = datetime.now(UTC)
        mutes, allows = self.entries["mute"].values(), self.entries["allow"].values()
        try:
            self.engine.lists = lists.compile_lists(mutes, allows, now)
        except ValueError:
            logger.warning("the keyword lists could not be compiled; only account entries apply")
            self.engine.lists = lists.compile_lists(
                [e for e in mutes if isinstance(e, lists.AccountEntry)],
                [e for e in allows if isinstance(e, lists.AccountEntry)], now)

    @classmethod
    def create(cls, home: Path, token: str, user_settings: dict, writer: Writer,
               clients: list[Client] | None = None, author_rows: Iterable[dict] | None = None,
               list_rows: list[dict] | None = None, device: str = "local") -> Runtime:
        from sourdine import scoring

        # The user's own accounts have no record: one counted by an older Sourdine, before the account was known,
        # is left out of the book and deleted (rows past the book's limit included; few accounts, few deletes).
        own = own_accounts(user_settings.get("own_accounts", {}))

        def records() -> Iterator[authors.AuthorRecord]:  # one at a time: the book keeps its own form of each
            for row in author_rows or ():
                try:
                    record = authors.from_row(row)
                except ValueError as e:
                    logger.warning("an author record could not be read and is skipped: %s", type(e).__name__)
                    continue
                if record.author_id not in own.get(record.platform, ()):
                    yield record

        toxicity, changed = authors.stored_toxicity(user_settings.get("toxicity", {}))
        if changed:
            logger.warning("stored toxicity settings out of range, clamped or set back to defaults: %s",
                           ", ".join(changed))
        book = AuthorBook(toxicity, records())
        engine = Engine(scoring.score, ADAPTERS, record=writer.record, authors=book, clock=filter_clock())
        runtime = cls(home, token, settings.build(user_settings), engine, writer)
        runtime.maintenance_every = maintenance_interval()
        engine.own = own
        writer.authors([], [(platform, author_id) for platform, ids in own.items() for author_id in ids])
        runtime.clients = {c.token_hash: c for c in clients or []}
        runtime.load_lists(list_rows or [], device)
        return runtime

    def learn_own(self, platform: str, account_id: str) -> bool:
        """Remember one of the user's own accounts; whether it was new. The engine neither counts nor judges the
        user's own posts, but a record of theirs counted before the account was known would stay: it goes, from
        memory and from the database (their decisions stay, as any post's)."""
        own = self.engine.own
        if account_id in own.setdefault(platform, set()):
            return False
        own[platform].add(account_id)
        self.writer.set("own_accounts", {p: sorted(ids) for p, ids in own.items()})
        if self.engine.authors is not None:
            self.engine.authors.forget(platform, account_id)
        # A call, not `writer.authors`: the writer serves it after the record rows queued before it, where it
        # would delete first and write them after in a batch that holds both.
        self.writer.submit(lambda db: store.forget_record(db, platform, account_id))
        return True

    async def save_authors_forever(self, every: float = 2.0, trim_every: float = 10.0) -> None:
        """Author records change in memory on the hot path; they reach sqlite in batches from here. Freed memory
        goes back to the system from here too, every ten seconds (lean.trim_memory)."""
        trimmed = time.monotonic()
        while True:
            await asyncio.sleep(every)
            try:
                self.save_authors(time.time())
                self.save_seen()
            except Exception:
                logger.exception("could not queue author records")
            self.follow_zone(time.monotonic())
            self.collect_when_idle(time.monotonic())
            if time.monotonic() - trimmed >= trim_every:
                trimmed = time.monotonic()
                lean.trim_memory()

    # How often the machine's time zone is read again, for work hours in the "system" zone (the default): a laptop
    # that travels, or a zone the user changes, applies within a minute, not at the next start.
    zone_every: float = 60.0
    _zone_read_at: float | None = None

    def follow_zone(self, now: float) -> bool:
        """Read the machine's time zone again, at most every `zone_every` seconds of `now` (time.monotonic()); when
        it changed, the kept "filtering until" answer goes, and the next one is worked out in the new zone.
        Whether it changed."""
        if self._zone_read_at is not None and now - self._zone_read_at < self.zone_every:
            return False
        self._zone_read_at = now
        try:
            changed = schedule.follow_system_zone()
        except Exception:  # a zone file being replaced, say: read it again next time
            logger.exception("could not read the machine's time zone")
            return False
        if changed:
            self._filtering = None
            logger.info("the machine's time zone changed: work hours in the system zone follow it")
        return changed

    _expired_at: float = 0.0
    maintenance_every: float = 3600.0
    last_busy: float = 0.0  # when the proxy last filtered a response (time.monotonic())
    collected_at: float = 0.0  # when collect_when_idle last ran (time.monotonic())

    def collect_when_idle(self, now: float, idle: float = 0.5, every: float = 60.0, at_most: float = 120.0) -> bool:
        """Run the full cycle collection, which `sourdine run` takes off Python's automatic schedule (it takes
        tens of milliseconds with the caches full, and it would land on a response): when the proxy has been
        idle for `idle` seconds, at most once every `every` seconds, and at least every `at_most` seconds
        whatever happens: under constant traffic, the garbage in cycles it alone frees (a few megabytes a
        minute) must not pile up. Whether it ran."""
        since = now - self.collected_at
        if since < every or (now - self.last_busy < idle and since < at_most):
            return False
        gc.collect()
        self.collected_at = now
        return True

    def save_authors(self, now: float) -> None:
        """Queue the author records changed since last time, and (hourly) drop and delete those past retention."""
        book = self.engine.authors
        if book is None:
            return
        gone = []
        if now - self._expired_at >= self.maintenance_every:
            gone = book.expire(now)
            self._expired_at = now
            # The decisions log is bounded too (30 days unless the user chose otherwise).
            days = float(self.snapshot.user.get("decisions_retention_days", 30))
            self.writer.submit(lambda db: store.prune_decisions(db, now - days * 86400))
            # The records past retention that left memory (AuthorBook's limit): expire() knows only those in it.
            cutoff = now - book.settings.retention
            self.writer.submit(lambda db: store.prune_authors(db, cutoff))
        self.writer.authors([authors.to_row(r) for r in book.drain_dirty()], gone)

    def swap(self, snapshot: Snapshot, **saved: object) -> None:
        """Replace the snapshot; `saved` are the user settings that changed, queued for the database."""
        self.snapshot = snapshot
        for key, value in saved.items():
            self.writer.set(key, value)
        for callback in self.on_change:
            callback(snapshot)
