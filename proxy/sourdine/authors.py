"""Author records and toxic connections, as pure functions over plain values.

An `AuthorRecord` holds, for one (platform, author id), time-decayed statistics of that author's scored posts:
how many, their mean score, the share that was hostile, and when they were first and last seen. No post text:
only 8-byte fingerprints of recent post ids (to count each post once) and the scorer's short reason labels.

The decay model, and why:

- Exponential decay with a time constant equal to the window (14 days by default): a post weighs
  e^(-age / window), 1 when new, 0.37 one window old, 0.14 two windows old. The record keeps three decayed
  sums (posts, hostile posts, scores) as of `last_seen`; bringing them to any instant is one `exp`.
- The time constant is the window so that "within the window" keeps its meaning on average: someone who posts
  r posts per window, steadily, has a decayed count of r. A burst counts almost fully at once, then fades.
- The alternative, an exact sliding window over stored (time, hostile) pairs, reads more literally ("7 of the
  posts of the last 14 days") but stores up to a cap of pairs per author, makes every read search them, and
  turns the cap into a second, hidden window for prolific authors. Decay costs five floats per author, O(1)
  per read without touching the record, and rows of a few hundred bytes.
- An author stops being toxic in both of the ways a person would expect. Friendly posts dilute the share:
  it is a ratio of decayed sums, so time alone never changes it, but every new post moves it. Silence lowers
  the count: once it falls below N, the record no longer counts as evidence. A burst of 6 hostile posts stops
  being toxic after about 4 days without a post; 6 hostile then 10 friendly posts stop it at once.
- "At least N posts" compares the decayed count rounded to the nearest whole post, the same rounding the
  evidence text uses, so the text never says "4 of 4" for an author it calls toxic with N = 5.

Counting once: the caller hands in the post id; the record keeps fingerprints of its author's last 64 post
ids and ignores a post it has already counted. The natural caller is the engine's first decision on a post
(recorded once per post while its score cache holds it); the fingerprints also cover restarts and cache
evictions, for an author's 64 most recent posts. A post is counted with its first score: edits do not count.

`hostile` must mean "the post's own score reached the collapse threshold", never "the post was folded": a
toxic author's friendly posts are folded too, and counting them as hostile would keep them toxic forever.
Only scored posts belong here (a language Sourdine does not score says nothing about its author).

Time is always a parameter (seconds since the epoch, like `time.time()`). A post older than the record's
`last_seen` (a clock step back, a late row) is weighed by its own age and never makes the record grow.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

DAY = 86_400.0
RECENT_IDS = 64  # post-id fingerprints kept per author
_FP = 8  # bytes per fingerprint
MAX_REASONS = 8  # reason labels counted per author
TOP_REASONS = 3  # shown in a suggestion, and taken from each post
MAX_REASON_LEN = 60
WORSE_SHARE = 0.10  # a dismissed author is suggested again when their hostile share rose by 10 points
WORSE_HOSTILE = 2.0  # ... or their recent hostile posts doubled
_EPS = 1e-9

Key = tuple[str, str]  # (platform, author id)


def _show(value: Any) -> str:
    """A value for an error message, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Toxicity:
    """When an author is a toxic connection: at least `min_posts` recent posts, `share` of them hostile,
    over a `window_days` decay window. Records not seen for `retention_days` are dropped."""

    min_posts: int = 5
    share: float = 0.40
    window_days: float = 14.0
    retention_days: float = 90.0
    window: float = field(init=False, repr=False, compare=False)  # seconds: the decay time constant
    retention: float = field(init=False, repr=False, compare=False)  # seconds

    def __post_init__(self) -> None:
        n = self.min_posts
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
            raise ValueError(f"toxicity min_posts must be a whole number from 1 to 1000, not {_show(n)}")
        if not _number(self.share) or not 0.0 < self.share <= 1.0:
            raise ValueError(f"toxicity share must be a number above 0, at most 1, not {_show(self.share)}")
        w = self.window_days
        if not _number(w) or not 1 / 24 <= w <= 365:
            raise ValueError(f"toxicity window_days must be a number from 1/24 to 365, not {_show(w)}")
        r = self.retention_days
        if not _number(r) or not w <= r <= 3650:
            raise ValueError(
                f"toxicity retention_days must be a number from window_days ({w}) to 3650, not {_show(r)}"
            )
        object.__setattr__(self, "window", float(w) * DAY)
        object.__setattr__(self, "retention", float(r) * DAY)

    def to_dict(self) -> dict[str, object]:
        """The JSON object `parse_toxicity` reads."""
        return {name: getattr(self, name) for name in _FIELDS}


DEFAULTS = Toxicity()
_FIELDS = ("min_posts", "share", "window_days", "retention_days")


def parse_toxicity(data: Any) -> Toxicity:
    """Settings from a JSON object, missing keys taking their defaults. A ValueError names the bad value."""
    if not isinstance(data, Mapping):
        raise ValueError(f"toxicity settings must be an object, not {_show(data)}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ValueError(f"toxicity settings: unknown key {unknown[0]!r} (known: {', '.join(_FIELDS)})")
    return Toxicity(**{name: data[name] for name in _FIELDS if name in data})


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
    recent: bytes = b""  # fingerprints of the last RECENT_IDS post ids, oldest first

    @property
    def key(self) -> Key:
        return (self.platform, self.author_id)


def decay(record: AuthorRecord, settings: Toxicity, now: float) -> float:
    """The factor that brings the record's sums from `last_seen` to `now` (1 when now is not later)."""
    dt = now - record.last_seen
    return math.exp(-dt / settings.window) if dt > 0 else 1.0


def count(record: AuthorRecord, settings: Toxicity, now: float) -> float:
    """The decayed number of posts at `now`."""
    return record.weight * decay(record, settings, now)


def share(record: AuthorRecord) -> float:
    """The decayed share of hostile posts, in [0, 1]; time alone does not change it."""
    return min(record.hostile / record.weight, 1.0) if record.weight > 0 else 0.0


def mean(record: AuthorRecord) -> float:
    """The decayed mean score, in [0, 1]."""
    return min(record.score_sum / record.weight, 1.0) if record.weight > 0 else 0.0


def _fingerprint(post_id: str) -> bytes:
    return hashlib.blake2b(post_id.encode("utf-8", "surrogatepass"), digest_size=_FP).digest()


def _counted(recent: bytes, fp: bytes) -> bool:
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


def _tally(
    reasons: tuple[tuple[str, float], ...], factor: float, new: Iterable[str], weight: float
) -> tuple[tuple[str, float], ...]:
    """Decay the counter and add `weight` to each new label. When the counter is full, a new label replaces
    the lightest one and starts from its weight (Space-Saving), so a label that keeps coming back gets in."""
    table = {name: w * factor for name, w in reasons}
    for name in new:
        if name in table:
            table[name] += weight
        elif len(table) < MAX_REASONS:
            table[name] = weight
        else:
            lightest = min(table, key=lambda k: (table[k], k))
            table[name] = table.pop(lightest) + weight
    return tuple(sorted(table.items(), key=lambda item: (-item[1], item[0])))


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
    if not 0.0 <= score <= 1.0:  # NaN fails too
        raise ValueError(f"a post's score must be a number from 0 to 1, not {_show(score)}")
    fp = _fingerprint(post_id)
    if _counted(record.recent, fp):
        return record
    if record.posts == 0:
        first, last, factor, w = now, now, 0.0, 1.0
    else:
        first, last = min(record.first_seen, now), max(record.last_seen, now)
        factor = math.exp(-(last - record.last_seen) / settings.window)  # the record, brought to `last`
        w = math.exp(-(last - now) / settings.window)  # the new post, by its own age at `last`
    weight = record.weight * factor + w
    bad = min(record.hostile * factor + (w if hostile else 0.0), weight)
    labels: list[str] = []
    if hostile:
        for reason in reasons:
            name = label(reason)
            if name and name not in labels:
                labels.append(name)
                if len(labels) == TOP_REASONS:
                    break
    tally = record.reasons
    if labels:
        tally = _tally(tally, factor, labels, w)
    elif tally and factor != 1.0:
        tally = tuple((name, v * factor) for name, v in tally)
    recent = record.recent + fp
    if len(recent) > RECENT_IDS * _FP:
        recent = recent[-RECENT_IDS * _FP :]
    return AuthorRecord(
        record.platform,
        record.author_id,
        handle or record.handle,
        first,
        last,
        record.posts + 1,
        weight,
        bad,
        record.score_sum * factor + score * w,
        tally,
        recent,
    )


def is_toxic(record: AuthorRecord, settings: Toxicity, now: float) -> bool:
    """Whether the author is a toxic connection at `now`: at least `min_posts` recent posts (the decayed
    count, rounded to the nearest post) and a hostile share of at least `share`."""
    if record.hostile < settings.share * record.weight - _EPS:
        return False
    dt = now - record.last_seen
    recent = record.weight * math.exp(-dt / settings.window) if dt > 0 else record.weight
    return recent >= settings.min_posts - 0.5


def _round(x: float) -> int:
    return math.floor(x + 0.5)


def shown(record: AuthorRecord, settings: Toxicity, now: float) -> tuple[int, int]:
    """(hostile, posts): the decayed figures as whole posts a person reads. The total is the decayed count
    rounded to the nearest post; the hostile figure is the share of that total, rounded the same way."""
    posts = _round(count(record, settings, now))
    return _round(share(record) * posts), posts


def evidence(record: AuthorRecord, settings: Toxicity, now: float) -> str:
    """The reason a toxic connection's post carries: "toxic connection: 7 of 12 recent posts hostile"."""
    hostile, posts = shown(record, settings, now)
    return f"toxic connection: {hostile} of {posts} recent post{'' if posts == 1 else 's'} hostile"


def top_reasons(record: AuthorRecord, n: int = TOP_REASONS) -> tuple[str, ...]:
    """The labels that came up most often in the author's recent hostile posts, most frequent first."""
    return tuple(name for name, _ in record.reasons[:n])


# --- Suggestions ----------------------------------------------------------------------------------------

DecisionKind = Literal["muted", "allowed", "dismissed"]
DECISION_KINDS: tuple[DecisionKind, ...] = ("muted", "allowed", "dismissed")


@dataclass(frozen=True, slots=True)
class AuthorDecision:
    """What the user decided on an author. A dismissal keeps the author's hostile share and decayed hostile
    count at that moment (see `dismissal`), to tell later whether they got worse."""

    kind: DecisionKind
    share: float = 0.0
    hostile: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in DECISION_KINDS:
            kinds = ", ".join(DECISION_KINDS)
            raise ValueError(f"a decision on an author is one of {kinds}, not {_show(self.kind)}")
        if not _number(self.share) or not 0.0 <= self.share <= 1.0:
            raise ValueError(f"a dismissal's share must be a number from 0 to 1, not {_show(self.share)}")
        if not _number(self.hostile) or self.hostile < 0:
            raise ValueError(f"a dismissal's hostile count must be 0 or more, not {_show(self.hostile)}")


def dismissal(record: AuthorRecord, settings: Toxicity, now: float) -> AuthorDecision:
    """The decision to store when the user dismisses this author's suggestion at `now`."""
    return AuthorDecision("dismissed", share(record), record.hostile * decay(record, settings, now))


def worse(record: AuthorRecord, decision: AuthorDecision, settings: Toxicity, now: float) -> bool:
    """Whether the author got worse since they were dismissed: their hostile share rose by at least 10 points,
    or their recent hostile posts (decayed, at `now`) at least doubled."""
    if share(record) >= decision.share + WORSE_SHARE - _EPS:
        return True
    return record.hostile * decay(record, settings, now) >= WORSE_HOSTILE * decision.hostile - _EPS


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A toxic connection the user has not decided on, with its evidence. Never holds post text."""

    platform: str
    author_id: str
    handle: str
    hostile: int  # as `shown`
    posts: int
    share: float
    mean: float
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
    found: list[tuple[float, Suggestion]] = []
    for record in records:
        if not is_toxic(record, settings, now):
            continue
        decision = decisions.get(record.key)
        again = False
        if decision is not None:
            if decision.kind != "dismissed" or not worse(record, decision, settings, now):
                continue
            again = True
        hostile, posts = shown(record, settings, now)
        suggestion = Suggestion(
            record.platform,
            record.author_id,
            record.handle,
            hostile,
            posts,
            share(record),
            mean(record),
            top_reasons(record),
            record.first_seen,
            record.last_seen,
            evidence(record, settings, now),
            again,
        )
        found.append((record.hostile * decay(record, settings, now), suggestion))
    found.sort(key=lambda item: (-item[0], -item[1].share, -item[1].last_seen, *item[1].key))
    return [suggestion for _, suggestion in found]


# --- Rows for sqlite --------------------------------------------------------------------------------------

ROW_FIELDS = (
    "platform", "author_id", "handle", "first_seen", "last_seen", "posts",
    "weight", "hostile", "score_sum", "reasons", "recent",
)  # fmt: skip


def to_row(record: AuthorRecord) -> dict[str, Any]:
    """The record as plain JSON-able values: `reasons` a list of [label, weight] pairs, `recent` hex text."""
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
        "recent": record.recent.hex(),
    }


def _pair(value: Any) -> bool:
    """A reason row: [label, weight]."""
    return isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str) \
        and _number(value[1])


def from_row(row: Mapping[str, Any]) -> AuthorRecord:
    """A record back from `to_row`'s shape. Raises ValueError naming the bad field."""
    missing = [name for name in ROW_FIELDS if name not in row]
    where = f"author row {_show(row.get('platform'))}/{_show(row.get('author_id'))}"
    if missing:
        raise ValueError(f"{where}: missing {missing[0]!r}")
    for name in ("platform", "author_id", "handle"):
        if not isinstance(row[name], str) or (name != "handle" and not row[name]):
            raise ValueError(f"{where}: {name} must be text, not {_show(row[name])}")
    for name in ("first_seen", "last_seen", "weight", "hostile", "score_sum"):
        if not _number(row[name]) or (name not in ("first_seen", "last_seen") and row[name] < 0):
            raise ValueError(f"{where}: {name} must be a number, not {_show(row[name])}")
    posts = row["posts"]
    if isinstance(posts, bool) or not isinstance(posts, int) or posts < 0:
        raise ValueError(f"{where}: posts must be a whole number from 0, not {_show(posts)}")
    reasons = row["reasons"]
    if not isinstance(reasons, list) or len(reasons) > MAX_REASONS or not all(map(_pair, reasons)):
        raise ValueError(f"{where}: reasons must be at most {MAX_REASONS} [label, weight] pairs")
    try:
        recent = bytes.fromhex(row["recent"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: recent must be hex text, not {_show(row['recent'])}") from e
    if len(recent) % _FP or len(recent) > RECENT_IDS * _FP:
        raise ValueError(f"{where}: recent must hold at most {RECENT_IDS} fingerprints of {_FP} bytes")
    weight = float(row["weight"])
    return AuthorRecord(
        row["platform"],
        row["author_id"],
        row["handle"],
        float(row["first_seen"]),
        float(row["last_seen"]),
        posts,
        weight,
        min(float(row["hostile"]), weight),
        float(row["score_sum"]),
        tuple((name, float(w)) for name, w in reasons),
        recent,
    )


# --- The in-memory book -----------------------------------------------------------------------------------


class AuthorBook:
    """Every author record, in memory, keyed by (platform, author id). `toxic` is the hot-path read: one dict
    lookup and a few float operations. Changed records are marked dirty for the store to write in batches.

    `settings` may be replaced at any time and applies at once; a new window changes how the stored sums
    decay from then on (the sums themselves are not recomputed).
    """

    def __init__(self, settings: Toxicity = DEFAULTS, records: Iterable[AuthorRecord] = ()) -> None:
        self.settings = settings
        self._records: dict[Key, AuthorRecord] = {record.key: record for record in records}
        self._dirty: set[Key] = set()

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[AuthorRecord]:
        return iter(list(self._records.values()))

    def get(self, platform: str, author_id: str) -> AuthorRecord | None:
        return self._records.get((platform, author_id))

    def observe(
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
    ) -> AuthorRecord:
        """Count one scored post (once per post id) and return the author's record."""
        key = (platform, author_id)
        record = self._records.get(key) or AuthorRecord(platform, author_id)
        new = observe(
            record, post_id, score, hostile, now, settings=self.settings, reasons=reasons, handle=handle
        )
        if new is not record:
            self._records[key] = new
            self._dirty.add(key)
        return new

    def toxic(self, platform: str, author_id: str, now: float) -> bool:
        """Whether this author is a toxic connection at `now`; False for an author never seen."""
        record = self._records.get((platform, author_id))
        return record is not None and is_toxic(record, self.settings, now)

    def evidence(self, platform: str, author_id: str, now: float) -> str:
        record = self._records.get((platform, author_id))
        return evidence(record, self.settings, now) if record is not None else ""

    def suggestions(self, decisions: Mapping[Key, AuthorDecision], now: float) -> list[Suggestion]:
        return suggestions(self._records.values(), decisions, self.settings, now)

    def expire(self, now: float) -> list[Key]:
        """Drop the records not seen for the retention window; their keys, for the store to delete."""
        cutoff = now - self.settings.retention
        gone = [key for key, record in self._records.items() if record.last_seen < cutoff]
        for key in gone:
            del self._records[key]
            self._dirty.discard(key)
        return gone

    def forget(self, platform: str, author_id: str) -> bool:
        """Remove an author's record (`sourdine forget`); whether there was one."""
        key = (platform, author_id)
        self._dirty.discard(key)
        return self._records.pop(key, None) is not None

    def dirty(self) -> int:
        """How many records changed since the last `drain_dirty`."""
        return len(self._dirty)

    def drain_dirty(self) -> list[AuthorRecord]:
        """The records changed since the last call, for the store to write; none are pending afterwards."""
        keys, self._dirty = self._dirty, set()
        return [self._records[key] for key in keys if key in self._records]
