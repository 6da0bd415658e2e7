"""Author records and toxic connections, as pure functions over plain values.

An `AuthorRecord` holds, for one (platform, author id), what Sourdine saw of that author's scored posts. No post
text: only 8-byte fingerprints of recent post ids (to count each post once), when each was seen and whether it
was hostile, and the scorer's short reason labels.

Two views of the same posts, each for what it is good at:

- The toxic rule reads an exact sliding window, as the rule is worded: an author is a toxic connection when, among
  the posts seen in the last `window_days` (14 by default), at least `min_posts` (5) were scored and at least
  `share` (40%) of them were hostile. The record keeps, for its author's last 64 posts, the time each was seen
  and a hostile flag, sorted by time, so the rule is a binary search and a byte count: no decay makes five hostile
  posts from five days ago count as three and a half. The cap bounds memory (64 x 13 bytes per author); for an
  author who posted more than 64 times in the window, the window holds their 64 latest posts, which is more
  evidence than any N the settings allow (at most 64).
- The rolling statistics are time-decayed: a post weighs e^(-age / window), so three decayed sums (posts,
  hostile posts, scores) give the mean score and the hostile share "lately" without storing every post, and the
  reason labels fade the same way. Suggestions show them next to the window's figures.

An author stops being toxic as a person would expect: friendly posts dilute the share at once (6 hostile then
10 friendly posts is 6 of 16, 37.5%), and once their hostile posts are older than the window they no longer
count at all.

Counting once: the caller hands in the post id; the record keeps fingerprints of its author's last 64 post
ids and ignores a post it has already counted. The natural caller is the engine's first decision on a post
(recorded once per post while its score cache holds it); the fingerprints also cover restarts and cache
evictions, for an author's 64 most recent posts. A post is counted with its first score: edits do not count.

`hostile` must mean "the post's own score reached the collapse threshold", never "the post was folded": a
toxic author's friendly posts are folded too, and counting them as hostile would keep them toxic forever.
Only scored posts belong here (a language Sourdine does not score says nothing about its author).

Time is always a parameter (seconds since the epoch, like `time.time()`). A post seen before the record's
`last_seen` (a clock step back, a late row) is placed by its own time and never makes the decayed sums grow.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

# What the user chooses (settings, decisions) is checked in a module of its own, left pure Python: see there.
# Callers read DAY, parse_toxicity and stored_toxicity here too (hence the noqa).
from sourdine.authorprefs import (  # noqa: F401
    DAY,
    DEFAULTS,
    RECENT_IDS,
    AuthorDecision,
    Toxicity,
    _number,
    _show,
    parse_toxicity,
    stored_toxicity,
)

_FP = 8  # bytes per fingerprint
_ENTRY = struct.Struct("<8sIB")  # a stored entry: fingerprint, whole seconds since the epoch, 1 if hostile
_STORED = "w1:"  # the prefix of the stored form of `recent`; without it, a row holds fingerprints only
_MAX_TIME = 2**32 - 1
MAX_REASONS = 8  # reason labels counted per author
TOP_REASONS = 3  # shown in a suggestion, and taken from each post
MAX_REASON_LEN = 60
WORSE_SHARE = 0.10  # a dismissed author is suggested again when their hostile share rose by 10 points
WORSE_HOSTILE = 2.0  # ... or their recent hostile posts doubled
_EPS = 1e-9

Key = tuple[str, str]  # (platform, author id)


@dataclass(frozen=True, slots=True)
class AuthorRecord:
    """One author's decayed statistics: `weight`, `hostile` and `score_sum` are decayed sums as of
    `last_seen`. `AuthorRecord(platform, author_id)` is the empty record an author starts from."""

    platform: str
    author_id: str
    handle: str = ""  # the last handle seen, for people to read
    first_seen: float = 0.0
    last_seen: float = 0.0
    posts: int = 0  # every post counted, never decayed
    weight: float = 0.0  # decayed number of posts
    hostile: float = 0.0  # decayed number of hostile posts, never above weight
    score_sum: float = 0.0  # decayed sum of scores
    reasons: tuple[tuple[str, float], ...] = ()  # (label, decayed weight) of hostile posts, heaviest first
    # The last RECENT_IDS posts, sorted by the time they were seen, as three aligned sequences:
    recent: bytes = b""  # 8-byte fingerprints of their ids
    times: tuple[int, ...] = ()  # when each was seen, whole seconds since the epoch
    flags: bytes = b""  # 1 for a hostile post, 0 otherwise

    @property
    def key(self) -> Key:
        return (self.platform, self.author_id)


_EMPTY = AuthorRecord("", "")  # what `_Live.empty` starts a new author from


def decay(record: AuthorRecord, settings: Toxicity, now: float) -> float:
    """The factor that brings the record's sums from `last_seen` to `now` (1 when now is not later)."""
    dt = now - record.last_seen
    return math.exp(-dt / settings.window) if dt > 0 else 1.0


def count(record: AuthorRecord, settings: Toxicity, now: float) -> float:
    """The decayed number of posts at `now`."""
    return record.weight * decay(record, settings, now)


def window(record: AuthorRecord | _Live, settings: Toxicity, now: float) -> tuple[int, int]:
    """(hostile, posts) among the posts seen in the window that ends at `now` (posts seen after `now`, as
    after a clock step back, count too)."""
    times = record.times
    cutoff = now - settings.window
    # Most records hold only posts within the window (a new author's one post, say): no search then.
    start = 0 if not times or times[0] >= cutoff else bisect_left(times, cutoff)
    return record.flags.count(1, start), len(times) - start


def share(record: AuthorRecord) -> float:
    """The decayed share of hostile posts, in [0, 1]; time alone does not change it."""
    return min(record.hostile / record.weight, 1.0) if record.weight > 0 else 0.0


def mean(record: AuthorRecord) -> float:
    """The decayed mean score, in [0, 1]."""
    return min(record.score_sum / record.weight, 1.0) if record.weight > 0 else 0.0


def _fingerprint(post_id: str) -> bytes:
    return hashlib.blake2b(post_id.encode("utf-8", "surrogatepass"), digest_size=_FP).digest()


def _counted(recent: bytes | bytearray, fp: bytes) -> bool:
    i = recent.find(fp)
    while i != -1:
        if i % _FP == 0:
            return True
        i = recent.find(fp, i + 1)
    return False


_NUMBER = re.compile(r"\s+[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)%?$")


def label(reason: str) -> str:
    """A reason without its figure, so that reasons can be counted: "outrage 0.82" -> "outrage"."""
    return _NUMBER.sub("", reason.strip())[:MAX_REASON_LEN]


# The scorer's reasons are few and come back again and again: each is cut to its label once.
_label = functools.lru_cache(maxsize=1024)(label)
_WEIGHT = itemgetter(1)


def _tally(
    reasons: tuple[tuple[str, float], ...], factor: float, new: Iterable[str], weight: float
) -> tuple[tuple[str, float], ...]:
    """Decay the counter and add `weight` to each new label. When the counter is full, a new label replaces
    the lightest one and starts from its weight (Space-Saving), so a label that keeps coming back gets in."""
    table = dict(reasons) if factor == 1.0 else {name: w * factor for name, w in reasons}
    for name in new:
        if name in table:
            table[name] += weight
        elif len(table) < MAX_REASONS:
            table[name] = weight
        else:
            table[name] = table.pop(_lightest(table)) + weight
    # Heaviest first, ties by label: sorted by label, then by weight alone (a stable sort keeps ties in order).
    items = sorted(table.items())
    items.sort(key=_WEIGHT, reverse=True)
    return tuple(items)


def _lightest(table: dict[str, float]) -> str:
    """`min(table, key=lambda k: (table[k], k))`, as a loop that compiles to C (the engine tallies every hostile
    post of a known author)."""
    lightest = ""
    low = 0.0
    first = True
    for name, weight in table.items():
        if first or weight < low or weight == low and name < lightest:
            lightest, low, first = name, weight, False
    return lightest


def observe(
    record: AuthorRecord,
    post_id: str,
    score: float,
    hostile: bool,
    now: float,
    *,
    settings: Toxicity = DEFAULTS,
    reasons: Iterable[str] = (),
    handle: str = "",
) -> AuthorRecord:
    """The record with one more scored post; the same record when this post id was already counted.

    `hostile`: the post's own score reached the collapse threshold. `reasons`: the verdict's or the scorer's
    short reasons; the first three distinct labels of a hostile post are counted.
    """
    _check_score(score)
    fp = _fingerprint(post_id)
    if _counted(record.recent, fp):
        return record
    first, last, weight, bad, score_sum, tally = _step(record, score, hostile, now, settings, reasons)
    recent, times, flags = _remember(record, fp, min(max(int(now), 0), _MAX_TIME), hostile)
    return AuthorRecord(
        record.platform,
        record.author_id,
        handle or record.handle,
        first,
        last,
        record.posts + 1,
        weight,
        bad,
        score_sum,
        tally,
        recent,
        times,
        flags,
    )


def _check_score(score: float) -> None:
    if not 0.0 <= score <= 1.0:  # NaN fails too
        raise ValueError(f"a post's score must be a number from 0 to 1, not {_show(score)}")


def _step(
    record: AuthorRecord | _Live, score: float, hostile: bool, now: float, settings: Toxicity, reasons: Iterable[str]
) -> tuple[float, float, float, float, float, tuple[tuple[str, float], ...]]:
    """What one more post (not counted yet) makes of a record's sums: (first_seen, last_seen, weight, hostile,
    score_sum, reasons)."""
    if record.posts == 0:
        first, last, factor, w = now, now, 0.0, 1.0
    else:
        first, last = min(record.first_seen, now), max(record.last_seen, now)
        # The record, brought to `last`; the new post, by its own age at `last` (no time passed: exactly 1).
        factor = math.exp(-(last - record.last_seen) / settings.window) if last != record.last_seen else 1.0
        w = math.exp(-(last - now) / settings.window) if last != now else 1.0
    weight = record.weight * factor + w
    bad = min(record.hostile * factor + (w if hostile else 0.0), weight)
    labels: list[str] = []
    if hostile:
        for reason in reasons:
            name = _label(reason)
            if name and name not in labels:
                labels.append(name)
                if len(labels) == TOP_REASONS:
                    break
    tally = record.reasons
    if labels:
        tally = _tally(tally, factor, labels, w)
    elif tally and factor != 1.0:
        tally = tuple((name, v * factor) for name, v in tally)
    return first, last, weight, bad, record.score_sum * factor + score * w, tally


def _remember(record: AuthorRecord, fp: bytes, seen: int, hostile: bool) -> tuple[bytes, tuple[int, ...], bytes]:
    """The record's remembered posts with one more, kept sorted by time, the oldest dropped past the cap."""
    times = record.times
    flag = b"\x01" if hostile else b"\x00"
    if not times or seen >= times[-1]:
        if len(times) >= RECENT_IDS:  # the usual case for a known author: one in, the oldest out
            cut = len(times) + 1 - RECENT_IDS
            return record.recent[cut * _FP :] + fp, (*times[cut:], seen), record.flags[cut:] + flag
        return record.recent + fp, (*times, seen), record.flags + flag
    at = bisect_right(times, seen)
    recent = record.recent[: at * _FP] + fp + record.recent[at * _FP :]
    times = (*times[:at], seen, *times[at:])
    flags = record.flags[:at] + flag + record.flags[at:]
    if len(times) > RECENT_IDS:
        cut = len(times) - RECENT_IDS
        recent, times, flags = recent[cut * _FP :], times[cut:], flags[cut:]
    return recent, times, flags


def is_toxic(record: AuthorRecord | _Live, settings: Toxicity, now: float) -> bool:
    """Whether the author is a toxic connection at `now`: among the posts seen in the window that ends at `now`,
    at least `min_posts`, and a hostile share of at least `share`."""
    hostile, posts = window(record, settings, now)
    return _toxic(hostile, posts, settings)


def _toxic(hostile: int, posts: int, settings: Toxicity) -> bool:
    return posts >= settings.min_posts and hostile >= settings.share * posts - _EPS


def _evidence(hostile: int, posts: int) -> str:
    return f"toxic connection: {hostile} of {posts} recent post{'' if posts == 1 else 's'} hostile"


def evidence(record: AuthorRecord | _Live, settings: Toxicity, now: float) -> str:
    """The reason a toxic connection's post carries: "toxic connection: 7 of 12 recent posts hostile"."""
    return _evidence(*window(record, settings, now))


def top_reasons(record: AuthorRecord, n: int = TOP_REASONS) -> tuple[str, ...]:
    """The labels that came up most often in the author's recent hostile posts, most frequent first."""
    return tuple(name for name, _ in record.reasons[:n])


# --- Suggestions ----------------------------------------------------------------------------------------

def dismissal(record: AuthorRecord, settings: Toxicity, now: float) -> AuthorDecision:
    """The decision to store when the user dismisses this author's suggestion at `now`."""
    hostile, posts = window(record, settings, now)
    return AuthorDecision("dismissed", hostile / posts if posts else 0.0, float(hostile))


def worse(record: AuthorRecord, decision: AuthorDecision, settings: Toxicity, now: float) -> bool:
    """Whether the author got worse since they were dismissed: in the window at `now`, their hostile share rose
    by at least 10 points, or their hostile posts at least doubled."""
    hostile, posts = window(record, settings, now)
    if posts and hostile / posts >= decision.share + WORSE_SHARE - _EPS:
        return True
    return hostile >= WORSE_HOSTILE * decision.hostile - _EPS


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A toxic connection the user has not decided on, with its evidence. Never holds post text."""

    platform: str
    author_id: str
    handle: str
    hostile: int  # hostile posts in the window
    posts: int  # posts in the window
    share: float  # hostile / posts
    mean: float  # the decayed mean score
    reasons: tuple[str, ...]
    first_seen: float
    last_seen: float
    evidence: str
    again: bool  # dismissed before, suggested again because they got worse

    @property
    def key(self) -> Key:
        return (self.platform, self.author_id)

    def to_dict(self) -> dict[str, object]:
        return {
            "platform": self.platform,
            "author_id": self.author_id,
            "handle": self.handle,
            "hostile": self.hostile,
            "posts": self.posts,
            "share": self.share,
            "mean": self.mean,
            "reasons": list(self.reasons),
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "evidence": self.evidence,
            "again": self.again,
        }


def suggestions(
    records: Iterable[AuthorRecord], decisions: Mapping[Key, AuthorDecision], settings: Toxicity, now: float
) -> list[Suggestion]:
    """The toxic connections to suggest muting, most hostile first: those not decided on, and dismissed ones
    that got worse. Muted and allowed authors are never suggested."""
    found: list[tuple[int, Suggestion]] = []
    for record in records:
        if not is_toxic(record, settings, now):
            continue
        decision = decisions.get(record.key)
        again = False
        if decision is not None:
            if decision.kind != "dismissed" or not worse(record, decision, settings, now):
                continue
            again = True
        hostile, posts = window(record, settings, now)
        suggestion = Suggestion(
            record.platform,
            record.author_id,
            record.handle,
            hostile,
            posts,
            hostile / posts,
            mean(record),
            top_reasons(record),
            record.first_seen,
            record.last_seen,
            evidence(record, settings, now),
            again,
        )
        found.append((hostile, suggestion))
    found.sort(key=lambda item: (-item[0], -item[1].share, -item[1].last_seen, *item[1].key))
    return [suggestion for _, suggestion in found]


# --- Rows for sqlite --------------------------------------------------------------------------------------

ROW_FIELDS = (
    "platform", "author_id", "handle", "first_seen", "last_seen", "posts",
    "weight", "hostile", "score_sum", "reasons", "recent",
)  # fmt: skip


def to_row(record: AuthorRecord) -> dict[str, Any]:
    """The record as plain JSON-able values: `reasons` a list of [label, weight] pairs; `recent` the remembered
    posts as text, "w1:" and the hex of 13-byte entries (fingerprint, time seen as a 32-bit count of seconds,
    hostile flag)."""
    return {
        "platform": record.platform,
        "author_id": record.author_id,
        "handle": record.handle,
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
        "posts": record.posts,
        "weight": record.weight,
        "hostile": record.hostile,
        "score_sum": record.score_sum,
        "reasons": [[name, weight] for name, weight in record.reasons],
        "recent": _STORED + _packed(record.recent, record.times, record.flags).hex(),
    }


def _packed(recent: bytes, times: tuple[int, ...], flags: bytes) -> bytes:
    """The remembered posts as stored: one `_ENTRY` after another. Laid out a column at a time, byte k of every
    entry in one strided copy, rather than packed an entry at a time: the author records changed in the last two
    seconds are made rows on the event loop, and `to_row` takes 10 µs instead of 18 on a full record (64 entries,
    compiled)."""
    n = len(times)
    if len(recent) != n * _FP or len(flags) != n:
        raise ValueError(f"recent: {len(recent)} bytes of fingerprints and {len(flags)} flags for {n} times")
    size = _ENTRY.size  # "<8sIB": _FP bytes of fingerprint, 4 of time (little-endian), 1 of flag
    out = bytearray(n * size)
    for k in range(_FP):
        out[k::size] = recent[k::_FP]
    seen = struct.pack(f"<{n}I", *times)
    for k in range(4):
        out[_FP + k :: size] = seen[k::4]
    out[size - 1 :: size] = flags
    return bytes(out)


def _entries(where: str, text: Any) -> tuple[bytes, tuple[int, ...], bytes]:
    """The remembered posts from their stored text. Rows written before posts kept their times hold
    fingerprints only: those still count each post once, but as seen at time 0, outside any window."""
    try:
        stored = text.startswith(_STORED)
        raw = bytes.fromhex(text[len(_STORED) :] if stored else text)
    except (AttributeError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: recent must be hex text, not {_show(text)}") from e
    size = _ENTRY.size if stored else _FP
    if len(raw) % size or len(raw) > RECENT_IDS * size:
        raise ValueError(f"{where}: recent must hold at most {RECENT_IDS} entries of {size} bytes")
    if not stored:
        return raw, (0,) * (len(raw) // _FP), bytes(len(raw) // _FP)
    entries = sorted(_ENTRY.iter_unpack(raw), key=lambda entry: entry[1])
    if any(flag > 1 for _, _, flag in entries):
        raise ValueError(f"{where}: recent holds a flag other than 0 or 1")
    return (b"".join(fp for fp, _, _ in entries), tuple(t for _, t, _ in entries),
            bytes(flag for _, _, flag in entries))


def _pair(value: Any) -> bool:
    """A reason row: [label, weight]."""
    return isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str) \
        and _number(value[1])


def _text(where: str, row: Mapping[str, Any], name: str) -> str:
    """A row's text field, which only the handle may leave empty."""
    value = row[name]
    if not isinstance(value, str) or (name != "handle" and not value):
        raise ValueError(f"{where}: {name} must be text, not {_show(value)}")
    return value


def from_row(row: Mapping[str, Any]) -> AuthorRecord:
    """A record back from `to_row`'s shape. Raises ValueError naming the bad field."""
    missing = [name for name in ROW_FIELDS if name not in row]
    where = f"author row {_show(row.get('platform'))}/{_show(row.get('author_id'))}"
    if missing:
        raise ValueError(f"{where}: missing {missing[0]!r}")
    platform, author_id, handle = (_text(where, row, name) for name in ("platform", "author_id", "handle"))
    for name in ("first_seen", "last_seen", "weight", "hostile", "score_sum"):
        if not _number(row[name]) or (name not in ("first_seen", "last_seen") and row[name] < 0):
            raise ValueError(f"{where}: {name} must be a number, not {_show(row[name])}")
    posts = row["posts"]
    if isinstance(posts, bool) or not isinstance(posts, int) or posts < 0:
        raise ValueError(f"{where}: posts must be a whole number from 0, not {_show(posts)}")
    reasons = row["reasons"]
    if not isinstance(reasons, list) or len(reasons) > MAX_REASONS or not all(map(_pair, reasons)):
        raise ValueError(f"{where}: reasons must be at most {MAX_REASONS} [label, weight] pairs")
    recent, times, flags = _entries(where, row["recent"])
    weight = float(row["weight"])
    return AuthorRecord(
        platform,
        author_id,
        handle,
        float(row["first_seen"]),
        float(row["last_seen"]),
        posts,
        weight,
        min(float(row["hostile"]), weight),
        float(row["score_sum"]),
        tuple((name, float(w)) for name, w in reasons),
        recent,
        times,
        flags,
    )


# --- The in-memory book -----------------------------------------------------------------------------------


# The author records held in memory at most. A full book of 8,000 added 8 MB to the process with one post counted
# each, 12 MB with ten, 43 MB with the 64 a record remembers; read back at start, records take more (`sourdine
# run` started on 10,000 authors of ten posts took 121 MB, on none 94 MB; 2026-11-24). With 8,000 authors seen
# once or twice and every other cache full, a 20-minute soak (`scripts/soak --new-authors 0.2`) held at 119 to
# 120.5 MB, at the edge of the 120 MB a working day may take: hence 5,000. Past the bound, the record counted
# longest ago leaves memory (the sqlite file keeps it until its retention ends).
MAX_RECORDS = 5_000
# The posts remembered in all the records held, at most (each record remembers up to 64): past it too, the record
# counted longest ago leaves memory. A book of 5,000 authors seen 64 times each held 19.8 MB when their times were
# a list of ints, 49 bytes a post; as 4-byte times, a post takes 13 bytes (8 of fingerprint, 4 of time, 1 flag)
# and the bound keeps what they take to about 3 MB (2026-11-24; see docs/performance.md).
MAX_REMEMBERED = 200_000


class AuthorBook:
    """The author records, in memory, keyed by (platform, author id): every one seen within the retention window,
    or the `limit` counted last if there are more. `toxic` is the hot-path read: one dict lookup, a binary
    search over at most 64 times and a byte count. Changed records are marked dirty for the store to write in
    batches. Records are kept in a form a new post changes in place (`add`, the engine's call); `get`,
    iteration and `drain_dirty` give `AuthorRecord`s, equal to what the pure `observe` makes.

    Past `limit` records, or `remembered_limit` posts remembered in them all, the one whose last post was counted
    longest ago leaves memory (still written if it changed). Should that author post again, their record starts
    anew, and replaces the stored one: a user who reads more authors within the toxicity window than the book
    holds loses the history of the least recent of them.

    `settings` may be replaced at any time and applies at once: the window is read at each call (a new window
    changes how the stored decayed sums decay from then on; the sums themselves are not recomputed).
    """

    def __init__(self, settings: Toxicity = DEFAULTS, records: Iterable[AuthorRecord] = (),
                 limit: int = MAX_RECORDS, remembered_limit: int = MAX_REMEMBERED) -> None:
        if limit < 1 or remembered_limit < RECENT_IDS:
            raise ValueError(f"an author book holds at least one record and {RECENT_IDS} remembered posts")
        self.settings = settings
        self.limit = limit
        self.remembered_limit = remembered_limit
        # In the order their last post was counted, the oldest first: the most recent `limit` kept. Each record is
        # read into the book's own form as it comes (`records` may be a generator of rows read back at start).
        kept = sorted([_Live(record) for record in records], key=lambda live: live.last_seen)[-limit:]
        # An OrderedDict: a dict's first item, once many were popped from its front, is found past their holes
        # (10 µs a new author on a full book, against 0.7).
        self._records: OrderedDict[Key, _Live] = OrderedDict(((live.platform, live.author_id), live) for live in kept)
        self.remembered = sum(len(live.times) for live in self._records.values())  # posts, in all the records
        self._dirty: set[Key] = set()
        self._evicted: list[AuthorRecord] = []  # changed, then out of memory before the store wrote them
        self.evictions = 0
        while self.remembered > remembered_limit:
            self._evict()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[AuthorRecord]:
        return iter([live.record() for live in self._records.values()])

    def get(self, platform: str, author_id: str) -> AuthorRecord | None:
        live = self._records.get((platform, author_id))
        return live.record() if live is not None else None

    def add(
        self,
        platform: str,
        author_id: str,
        post_id: str,
        score: float,
        hostile: bool,
        now: float,
        *,
        reasons: Iterable[str] = (),
        handle: str = "",
    ) -> bool:
        """Count one scored post (once per post id), as the pure `observe` does, in place: whether the post was
        counted, False when its id already was. `get` builds the record."""
        key = (platform, author_id)
        records = self._records
        live = records.get(key)
        if live is None:
            live = _Live.empty(platform, author_id)
            live.observe(post_id, score, hostile, now, self.settings, reasons, handle)
            records[key] = live
            self.remembered += 1
            if len(records) > self.limit:
                self._evict()
        else:
            before = len(live.times)
            if not live.observe(post_id, score, hostile, now, self.settings, reasons, handle):
                return False
            records.move_to_end(key)  # counted last
            self.remembered += len(live.times) - before
        self._dirty.add(key)
        while self.remembered > self.remembered_limit:
            self._evict()
        return True

    def _evict(self) -> None:
        """The record counted longest ago leaves memory; written later if it changed since last written."""
        key, live = self._records.popitem(last=False)
        self.remembered -= len(live.times)
        self.evictions += 1
        if key in self._dirty:
            self._dirty.discard(key)
            self._evicted.append(live.record())

    def toxic(self, platform: str, author_id: str, now: float) -> bool:
        """Whether this author is a toxic connection at `now`; False for an author never seen."""
        record = self._records.get((platform, author_id))
        return record is not None and is_toxic(record, self.settings, now)

    def evidence(self, platform: str, author_id: str, now: float) -> str:
        record = self._records.get((platform, author_id))
        return evidence(record, self.settings, now) if record is not None else ""

    def toxic_evidence(self, platform: str, author_id: str, now: float) -> str | None:
        """`evidence` when this author is a toxic connection at `now`, else None: the engine's read, with one
        lookup and one count of the window."""
        record = self._records.get((platform, author_id))
        if record is None:
            return None
        hostile, posts = window(record, self.settings, now)
        return _evidence(hostile, posts) if _toxic(hostile, posts, self.settings) else None

    def suggestions(self, decisions: Mapping[Key, AuthorDecision], now: float) -> list[Suggestion]:
        # Only toxic connections are suggested: the others' records are not built.
        settings = self.settings
        return suggestions((live.record() for live in self._records.values() if is_toxic(live, settings, now)),
                           decisions, settings, now)

    def expire(self, now: float) -> list[Key]:
        """Drop the records not seen for the retention window; their keys, for the store to delete (the store
        also deletes those past it that left memory: store.prune_authors)."""
        cutoff = now - self.settings.retention
        gone = [key for key, record in self._records.items() if record.last_seen < cutoff]
        for key in gone:
            self.remembered -= len(self._records.pop(key).times)
            self._dirty.discard(key)
        gone += [record.key for record in self._evicted if record.last_seen < cutoff]
        self._evicted = [record for record in self._evicted if record.last_seen >= cutoff]
        return gone

    def clear(self) -> None:
        """Forget every record (`sourdine purge`), those waiting to be written after leaving memory included."""
        self._records.clear()
        self.remembered = 0
        self._dirty.clear()
        self._evicted.clear()

    def forget(self, platform: str, author_id: str) -> bool:
        """Remove an author's record (`sourdine forget`); whether there was one in memory."""
        key = (platform, author_id)
        self._dirty.discard(key)
        self._evicted = [record for record in self._evicted if record.key != key]
        live = self._records.pop(key, None)
        if live is None:
            return False
        self.remembered -= len(live.times)
        return True

    def dirty(self) -> int:
        """How many records changed since the last `drain_dirty`."""
        return len(self._dirty) + len(self._evicted)

    def drain_dirty(self) -> list[AuthorRecord]:
        """The records changed since the last call, for the store to write (those that left memory since
        included); none are pending afterwards."""
        keys, self._dirty = self._dirty, set()
        evicted, self._evicted = self._evicted, []
        return evicted + [self._records[key].record() for key in keys if key in self._records]


class _Live:
    """An author's record as the book keeps it: `AuthorRecord`'s fields, its remembered posts in sequences that a
    new post changes in place (rather than building new ones of up to 64 entries for each post). The sums are
    those of the pure `observe`, computed by the same code."""

    __slots__ = ("platform", "author_id", "handle", "first_seen", "last_seen", "posts", "weight", "hostile",
                 "score_sum", "reasons", "recent", "times", "flags")

    def __init__(self, record: AuthorRecord) -> None:
        self.platform = record.platform
        self.author_id = record.author_id
        self.handle = record.handle
        self.first_seen = record.first_seen
        self.last_seen = record.last_seen
        self.posts = record.posts
        self.weight = record.weight
        self.hostile = record.hostile
        self.score_sum = record.score_sum
        self.reasons = record.reasons
        self.recent = bytearray(record.recent)
        # Whole seconds in 4 bytes each (the store packs them so too; _MAX_TIME): a list of ints took 40 bytes a post.
        self.times = array("I", record.times)
        self.flags = bytearray(record.flags)

    @classmethod
    def empty(cls, platform: str, author_id: str) -> _Live:
        """`_Live(AuthorRecord(platform, author_id))`: the record a new author starts from. Copied from one empty
        record made once: making a frozen AuthorRecord for every new author cost 1.3 µs, most of a new author's
        first post."""
        live = cls(_EMPTY)
        live.platform = platform
        live.author_id = author_id
        return live

    def record(self) -> AuthorRecord:
        return AuthorRecord(self.platform, self.author_id, self.handle, self.first_seen, self.last_seen,
                            self.posts, self.weight, self.hostile, self.score_sum, self.reasons,
                            bytes(self.recent), tuple(self.times), bytes(self.flags))

    def observe(self, post_id: str, score: float, hostile: bool, now: float, settings: Toxicity,
                reasons: Iterable[str], handle: str) -> bool:
        """The pure `observe`, in place: whether the post was counted."""
        _check_score(score)
        fp = _fingerprint(post_id)
        if _counted(self.recent, fp):
            return False
        self.first_seen, self.last_seen, self.weight, self.hostile, self.score_sum, self.reasons = _step(
            self, score, hostile, now, settings, reasons)
        self.posts += 1
        if handle:
            self.handle = handle
        # `_remember`, in place.
        seen = min(max(int(now), 0), _MAX_TIME)
        times = self.times
        flag = 1 if hostile else 0
        if not times or seen >= times[-1]:
            times.append(seen)
            self.recent += fp
            self.flags.append(flag)
        else:
            at = bisect_right(times, seen)
            times.insert(at, seen)
            self.recent[at * _FP : at * _FP] = fp
            self.flags.insert(at, flag)
        if len(times) > RECENT_IDS:
            cut = len(times) - RECENT_IDS
            del times[:cut], self.recent[: cut * _FP], self.flags[:cut]
        return True
