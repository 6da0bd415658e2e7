"""The filter itself, over bytes and plain values: parse a feed body, score its posts, rewrite it.

No mitmproxy here: the addon hands in a body as it came (content encoding and all) and gets back either new
bytes or None ("send the original"). Scores are cached per post, so a feed seen again (scrolling back, a refresh)
is not scored twice; the verdict is recomputed from the cached score each time, so a threshold change applies at
once. A response whose bytes were filtered lately is not decoded, parsed nor rewritten again while its verdicts
stay the same (`filter_encoded`).
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import orjson

from sourdine import budget, codec, policy
from sourdine.authors import AuthorBook
from sourdine.budget import Overrun
from sourdine.lists import Lists, url_host
from sourdine.model import Post, Score, Verdict
from sourdine.settings import Snapshot

Scorer = Callable[[str, str | None], Score]

# Posts judged between two looks at the clock: small enough that a budget is overrun by little, large enough that
# a feed pays for few extra calls.
_BUDGET_STEP = 16


@dataclass(slots=True, unsafe_hash=True)
class Decision:
    """A post's verdict, recorded when first made and again only when it changes. It holds no post text, unless
    the user opted in to keeping short excerpts of what was folded and hidden. A value, never changed once made,
    but not a frozen dataclass: one is made for every new post (1.2 µs to make a frozen one, through
    `object.__setattr__`), and its `__init__` is written out so that mypyc compiles it (see `sourdine.model`)."""

    time: float
    platform: str
    endpoint: str
    post_id: str
    author_id: str
    author: str
    lang: str
    negativity: float
    outrage: float
    score: float
    action: str
    reason: str
    excerpt: str | None = None

    def __init__(self, time: float, platform: str, endpoint: str, post_id: str, author_id: str, author: str,
                 lang: str, negativity: float, outrage: float, score: float, action: str, reason: str,
                 excerpt: str | None = None) -> None:
        self.time = time
        self.platform = platform
        self.endpoint = endpoint
        self.post_id = post_id
        self.author_id = author_id
        self.author = author
        self.lang = lang
        self.negativity = negativity
        self.outrage = outrage
        self.score = score
        self.action = action
        self.reason = reason
        self.excerpt = excerpt


# The store's columns of a decision, in the order `decision_row` gives them.
DECISION_COLUMNS = ("first_seen", "platform", "endpoint", "post_id", "author_id", "author", "lang", "negativity",
                    "outrage", "score", "action", "reason", "last_changed", "excerpt")


def decision_row(d: Decision) -> tuple[object, ...]:
    """The store's row values of a decision (DECISION_COLUMNS); its time is both its first_seen and its
    last_changed. Made here so that it is compiled with Decision: interpreted code reads a compiled object's fields
    at twice the cost.

    The store's writer keeps a decision as this row until it writes it (up to a quarter of a second's decisions,
    thousands under load). A tuple of strings, numbers and None is one the cycle collector stops tracking at its
    first pass; a Decision would be walked again by each collection of the middle generation, which were about a
    third Decisions (2,200 of 7,200 objects over 300 cold Mastodon pages, 2026-11-24)."""
    t: object = d.time  # boxed once: compiled, a Decision's float is kept unboxed, and each use would box it anew
    return (t, d.platform, d.endpoint, d.post_id, d.author_id, d.author, d.lang, d.negativity, d.outrage, d.score,
            d.action, d.reason, t, d.excerpt)


EXCERPT_LENGTH = 140


@dataclass(slots=True)
class _Entry:
    text_hash: int
    score: Score
    recorded: str  # the action last recorded for this post
    lists: Lists | None = None  # the lists `hits` was matched against
    hits: tuple = ()  # what those lists matched in this post, expiry and scope not yet applied

    def __init__(self, text_hash: int, score: Score, recorded: str, lists: Lists | None = None,
                 hits: tuple = ()) -> None:
        self.text_hash = text_hash
        self.score = score
        self.recorded = recorded
        self.lists = lists
        self.hits = hits


# The decisions of a response, waiting for it to go out (Engine._commit): the post's entry, what to record,
# the action, the decision.
Pending = list[tuple[_Entry, str, str, Decision]]


# What a remembered page's post holds besides its text (its object, id, author, url...): 30 to 670 bytes on the
# captures in tests/data (tracemalloc), about 200 on a page of 50 posts or more.
POST_BYTES = 256


@dataclass(slots=True)
class _Page:
    """A response body seen lately, by its bytes as they came: the posts found in it, the verdicts its rewrite
    applied and the bytes that rewrite gave (None: the body went out as it came)."""

    posts: list[Post]
    verdicts: dict[str, Verdict]
    new: bytes | None
    size: int  # about the bytes held: the body as it came, the rewritten one and the posts' texts


@dataclass(slots=True)
class Counts:
    seen: int = 0
    collapsed: int = 0
    hidden: int = 0


@dataclass(slots=True)
class Health:
    """How one platform's adapter is doing since start. A platform that changed its format fails open, which
    looks exactly like a calm feed: these numbers are how the user can tell the two apart."""

    responses: int = 0  # responses parsed
    posts: int = 0  # posts found in them
    last_ok: float | None = None  # when a response was last parsed
    failures: int = 0  # responses left unchanged because something went wrong
    last_failure: float | None = None
    overruns: int = 0  # responses left unchanged because filtering them passed the time budget

    def to_dict(self) -> dict[str, object]:
        return {"responses": self.responses, "posts": self.posts, "last_ok": self.last_ok,
                "failures": self.failures, "last_failure": self.last_failure, "overruns": self.overruns}


def _handle(platform: str, post: Post) -> str:
    """The author's handle as a mute list takes it: a local Mastodon acct gets its instance, from the post's url."""
    if platform == "mastodon" and "@" not in post.author and post.url:
        try:
            host = url_host(post.url)
        except ValueError:
            host = None
        if host:
            return f"{post.author}@{host}"
    return post.author


class Originals:
    """The original text of posts folded by replacing their text, in memory only and bounded, so that the
    extension can reveal them. Never written to disk: the excerpts the user may opt in to are a separate record."""

    def __init__(self, size: int = 2000, max_chars: int = 5000) -> None:
        self.size = size
        self.max_chars = max_chars
        self._texts: OrderedDict[tuple[str, str], str] = OrderedDict()

    def put(self, platform: str, post_id: str, text: str) -> None:
        key = (platform, post_id)
        self._texts[key] = text[: self.max_chars]
        self._texts.move_to_end(key)
        while len(self._texts) > self.size:
            self._texts.popitem(last=False)

    def get(self, platform: str, post_id: str) -> str | None:
        return self._texts.get((platform, post_id))

    def __len__(self) -> int:
        return len(self._texts)


class Engine:
    def __init__(
        self,
        scorer: Scorer,
        adapters: dict[str, ModuleType],
        record: Callable[[Decision], None] = lambda d: None,
        cache_size: int = 8_000,
        authors: AuthorBook | None = None,
        lists: Lists | None = None,
        clock: Callable[[], float] = time.time,
        page_cache_size: int = 8,
        page_cache_bytes: int = 2 * 1024 * 1024,
    ) -> None:
        self.scorer = scorer
        self.authors = authors
        self.lists = lists  # swapped whole when an entry changes
        self.clock = clock
        self.own: dict[str, set[str]] = {}  # the user's own account ids, per platform, learnt from the traffic
        self.adapters = adapters
        self.record = record
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        # The last responses filtered, by their bytes as they came (see filter_encoded), bounded by count and by
        # the bytes they hold.
        self.page_cache_size = page_cache_size
        self.page_cache_bytes = page_cache_bytes
        self._pages: OrderedDict[tuple[str, str, str | None, bytes], _Page] = OrderedDict()
        self._page_bytes = 0
        self.counts = Counts()
        self.health: dict[str, Health] = {name: Health() for name in adapters}
        self.originals = Originals()

    def failed(self, platform: str) -> None:
        """Note a response of this platform that was left unchanged because filtering failed."""
        health = self.health.setdefault(platform, Health())
        health.failures += 1
        health.last_failure = time.time()

    def overran(self, platform: str) -> None:
        """Note a response of this platform that was left unchanged because filtering it passed the budget."""
        self.health.setdefault(platform, Health()).overruns += 1

    def caches(self) -> dict[str, dict[str, int | None]]:
        """Each cache on the hot path, with its size and its bound (None: bounded by retention, not by count):
        the engine's own, the scorer's, and every functools cache of the adapters, the lists and the author
        records."""
        found: dict[str, dict[str, int | None]] = {
            "scores": {"size": len(self._cache), "bound": self.cache_size},
            "authors": {"size": len(self.authors) if self.authors is not None else 0,
                        "bound": self.authors.limit if self.authors is not None else None},
            "authors.remembered": {"size": self.authors.remembered if self.authors is not None else 0,
                                   "bound": self.authors.remembered_limit if self.authors is not None else None},
            "pages": {"size": len(self._pages), "bound": self.page_cache_size},
        }
        scorer = sys.modules.get("sourdine.scoring.core")
        if scorer is not None:
            found.update(scorer.caches())
        modules = [*self.adapters.values(),
                   *(sys.modules[name] for name in ("sourdine.lists", "sourdine.authors") if name in sys.modules)]
        for module in modules:
            short = module.__name__.rsplit(".", 1)[-1]
            for name, value in sorted(vars(module).items()):
                info = getattr(value, "cache_info", None)
                if callable(info):
                    stats = info()
                    found[f"{short}.{name.lstrip('_')}"] = {"size": stats.currsize, "bound": stats.maxsize}
        return found

    def _commit(self, pending: Pending) -> None:
        """Record the decisions of a response that went out as they say: not those of a response left unchanged
        because filtering failed or overran, which the user saw as sent (they are judged again next time)."""
        for entry, mark, action, decision in pending:
            if mark != entry.recorded:
                self._count(entry.recorded, action)
                entry.recorded = mark
                self.record(decision)

    def _parsed(self, platform: str, posts: int) -> None:
        health = self.health.setdefault(platform, Health())
        health.responses += 1
        health.posts += posts
        health.last_ok = time.time()

    def judge(self, snapshot: Snapshot, platform: str, endpoint: str, posts: list[Post],
              pending: Pending | None = None, deadline: float | None = None) -> dict[str, Verdict]:
        """The verdict on each post whose action is not keep, by post id. Changed decisions are recorded at once,
        or added to `pending` for `_commit`. With a `deadline` (`time.perf_counter()`), the clock is read every
        few posts, and Overrun raised once it has passed."""
        settings = snapshot.platforms[platform]
        thresholds = settings.thresholds
        collapse_at = thresholds.collapse
        toxic_action = settings.toxic_action
        authors = self.authors
        lists = self.lists
        # The user's inbox is only looked for when they did not ask to filter it too. Their own posts never count
        # towards a connection's record, nor make them a toxic connection of their own (a review's finding).
        mine = self.own.get(platform)
        own = None if settings.inbox else mine
        flag_allowed = bool(snapshot.user.get("flag_allowed"))
        keep_excerpts = snapshot.user.get("keep_excerpts")
        verdicts: dict[str, Verdict] = {}
        now = self.clock()
        when = datetime.fromtimestamp(now, UTC)
        cache = self._cache
        cache_size = self.cache_size
        scorer = self.scorer
        observe = authors.add if authors is not None else None
        toxic_evidence = authors.toxic_evidence if authors is not None else None
        decide = policy.decide
        by_score = policy.by_score
        record = self.record
        for i, post in enumerate(posts):
            if deadline is not None and not i % _BUDGET_STEP:
                _check(deadline)
            post_id = post.id
            author_id = post.author_id
            key = (platform, post_id)
            text_hash = hash(post.text)
            entry = cache.get(key)
            if entry is None or entry.text_hash != text_hash:
                # An edited post is scored again; what was recorded for it before still stands.
                score = scorer(post.text, post.lang)
                entry = _Entry(text_hash, score, entry.recorded if entry else "")
                cache[key] = entry
                if len(cache) > cache_size:
                    cache.popitem(last=False)
                if observe is not None and author_id and score.scored and not (mine and author_id in mine):
                    # The author's record counts the post by its own score (never by a verdict that their
                    # record caused), at once, so the next post already sees it. Each post id counts once.
                    observe(platform, author_id, post_id, score.score, score.score >= collapse_at, now,
                            reasons=score.reasons[:3], handle=_handle(platform, post))
            else:
                cache.move_to_end(key)
                score = entry.score
            inbox = None
            if own:
                if author_id in own:
                    inbox = "your own post"
                elif post.replies_to in own:
                    inbox = "a reply to you"
                elif any(m in own for m in post.mentions):
                    inbox = "mentions you"
            allowed = muted = None
            if lists is not None:
                # The lists object is replaced whole when an entry changes: what it matched in this text stays
                # true while both stay, so scrolling back over a post costs no second scan.
                if entry.lists is not lists:
                    entry.lists, entry.hits = lists, lists.matches(post, platform)
                allowed, muted = lists.check(post, platform, when, entry.hits)
            toxic = None
            # An allowed author's toxicity only matters when the user asked to flag what allowing kept.
            if (muted is None and (allowed is None or flag_allowed) and toxic_evidence is not None and author_id
                    and not (mine and author_id in mine)):
                toxic = toxic_evidence(platform, author_id, now)
            if inbox is None and allowed is None and muted is None and toxic is None:
                verdict = by_score(score, thresholds)  # what `decide` comes to with nothing else to weigh
            else:
                verdict = decide(score, thresholds, inbox=inbox, allowed=allowed, muted=muted, toxic=toxic,
                                 toxic_action=toxic_action, flag_allowed=flag_allowed)
            action = verdict.action
            if action != "keep":
                verdicts[post_id] = verdict
            # What is recorded: the action, or "flagged" for an allowed post that would have been filtered, so
            # that a post seen before it was allowed (or before flagging was turned on) is recorded again.
            mark = "flagged" if allowed is not None and flag_allowed and policy.FLAGGED in verdict.reason \
                else action
            if mark != entry.recorded:
                excerpt = post.text[:EXCERPT_LENGTH] if action != "keep" and keep_excerpts else None
                decision = Decision(now, platform, endpoint, post_id, author_id, post.author, score.lang,
                                    score.negativity, score.outrage, score.score, action, verdict.reason, excerpt)
                if pending is not None:
                    pending.append((entry, mark, action, decision))
                else:
                    self._count(entry.recorded, action)
                    entry.recorded = mark
                    record(decision)
        return verdicts

    def _count(self, before: str, after: str) -> None:
        counts = self.counts
        if not before:
            counts.seen += 1
        if before == "collapse":
            counts.collapsed -= 1
        elif before == "hide":
            counts.hidden -= 1
        if after == "collapse":
            counts.collapsed += 1
        elif after == "hide":
            counts.hidden += 1

    def filter_body(self, snapshot: Snapshot, platform: str, endpoint: str, body: bytes,
                    deadline: float | None = None, keep: list | None = None) -> bytes | None:
        """The rewritten body, or None when nothing changed. Raises on anything it cannot parse, and Overrun
        when `time.perf_counter()` passes `deadline` before the rewrite is done. The parsed document is appended to
        `keep`, when given, so that the caller chooses when to free it.

        A JSON body is read with orjson. An adapter whose bodies are something else (HTML, several JSON
        documents a line) has its own `parse(endpoint, body)` and `serialize(endpoint, doc)`.

        The deadline is read between steps, inside the long ones (budget.check), and before orjson's calls, which
        cannot stop half way: one that cannot end in time at its worst rate for the body's size is not started.
        """
        with budget.until(deadline):
            return self._filter(snapshot, platform, endpoint, body, deadline, keep, None, None)

    def filter_encoded(self, snapshot: Snapshot, platform: str, endpoint: str, raw: bytes, encoding: str | None,
                       limit: int = codec.DEFAULT_LIMIT, deadline: float | None = None,
                       keep: list | None = None) -> bytes | None:
        """`filter_body` for a body as it came, content encoding and all (decoded here, within `limit` bytes).

        A body whose exact bytes were filtered lately (a feed fetched again, scrolling back) is not decoded nor
        parsed again: its posts are judged again, and when the verdicts are those its rewrite applied, the
        bytes that rewrite gave go out again. What judging records (decisions, counts, health, originals) is
        the same either way; only a change of verdict (a threshold, a list, a toxic author) parses it again.
        """
        with budget.until(deadline):
            key = (platform, endpoint, encoding, raw)
            page = self._pages.get(key)
            if page is None:
                body = codec.decode(raw, encoding, limit)
                _check(deadline)
                return self._filter(snapshot, platform, endpoint, body, deadline, keep, key, None)
            self._pages.move_to_end(key)
            self._parsed(platform, len(page.posts))
            if not page.posts:
                return None
            pending: Pending = []
            verdicts = self.judge(snapshot, platform, endpoint, page.posts, pending, deadline)
            _check(deadline)
            if verdicts != page.verdicts:
                body = codec.decode(raw, encoding, limit)
                _check(deadline)
                return self._filter(snapshot, platform, endpoint, body, deadline, keep, key, (verdicts, pending))
            if verdicts:
                self._keep_originals(platform, page.posts, verdicts)
            self._commit(pending)
            return page.new

    def _filter(self, snapshot: Snapshot, platform: str, endpoint: str, body: bytes, deadline: float | None,
                keep: list | None, key: tuple | None, judged: tuple[dict[str, Verdict], list] | None) -> bytes | None:
        """Parse, judge (unless `judged` brings the verdicts and pending decisions of these very posts), rewrite;
        and remember the page under `key`, when given."""
        adapter = self.adapters[platform]
        parse = getattr(adapter, "parse", None)
        mb = len(body) / 1e6  # each step's worst cost grows with the body's size: see sourdine.budget
        _check(deadline, mb * budget.PARSE_MS_PER_MB)
        doc: Any = orjson.loads(body) if parse is None else parse(endpoint, body)
        if keep is not None:
            keep.append(doc)
        _check(deadline, mb * budget.FIND_MS_PER_MB)
        posts: list[Post] = adapter.posts(endpoint, doc)  # any: an adapter's `posts` gives a list of Post
        if judged is None:
            self._parsed(platform, len(posts))
        if not posts:
            if key is not None:
                self._remember(key, _Page(posts, {}, None, len(key[3])))
            return None
        if judged is None:
            pending: Pending = []
            verdicts = self.judge(snapshot, platform, endpoint, posts, pending, deadline)
            _check(deadline)
        else:
            verdicts, pending = judged
        new: bytes | None = None
        if verdicts:
            _check(deadline, mb * budget.REWRITE_MS_PER_MB)
            if adapter.rewrite(endpoint, doc, verdicts):
                # A rewrite that ended past the budget goes out as sent without being written out first (10 to 30
                # ms on the fuzz's 10 MB pages), and so does one that could not be written out in time.
                _check(deadline, mb * budget.WRITE_MS_PER_MB)
                new = orjson.dumps(doc) if parse is None else adapter.serialize(endpoint, doc)  # any: bytes
            # Written out past the budget (or a late rewrite that changed nothing): as sent too, like any other
            # overrun (and counted so).
            _check(deadline)
            self._keep_originals(platform, posts, verdicts)
        self._commit(pending)
        if key is not None:
            size = len(key[3]) + len(new or b"") + sum(len(post.text) + POST_BYTES for post in posts)
            self._remember(key, _Page(posts, verdicts, new, size))
        return new

    def _remember(self, key: tuple, page: _Page) -> None:
        old = self._pages.pop(key, None)
        if old is not None:
            self._page_bytes -= old.size
        if page.size > self.page_cache_bytes or self.page_cache_size <= 0:
            return
        self._pages[key] = page
        self._page_bytes += page.size
        while len(self._pages) > self.page_cache_size or self._page_bytes > self.page_cache_bytes:
            self._page_bytes -= self._pages.popitem(last=False)[1].size

    def _keep_originals(self, platform: str, posts: list[Post], verdicts: dict[str, Verdict]) -> None:
        """Where an adapter folds a post by replacing its text, keep the text in memory so it can be revealed."""
        adapter = self.adapters[platform]
        if not getattr(adapter, "REPLACES_TEXT", False):
            return
        hidden_too = getattr(adapter, "HIDE_REPLACES_TEXT", False)
        for post in posts:
            verdict = verdicts.get(post.id)
            if verdict is not None and (verdict.action == "collapse" or hidden_too and verdict.action == "hide"):
                self.originals.put(platform, post.id, post.text)

    def filter_event(self, snapshot: Snapshot, platform: str, endpoint: str, message: str,
                     deadline: float | None = None) -> str | None:
        """For one streaming message: the new text, "" to drop the message, or None when nothing changed.
        Overrun, as filter_body, past the deadline."""
        with budget.until(deadline):
            adapter = self.adapters[platform]
            mb = len(message) / 1e6  # each step is read against the budget as in _filter
            _check(deadline, mb * budget.PARSE_MS_PER_MB)
            event = orjson.loads(message)
            if not isinstance(event, dict):
                return None
            # Mastodon's events carry the status as a string of JSON, which its adapter parses again to find the
            # posts, and again to rewrite them: each of those steps is gated with a parse.
            _check(deadline, mb * (budget.PARSE_MS_PER_MB + budget.FIND_MS_PER_MB))
            posts: list[Post] = adapter.posts(endpoint, event)  # any: an adapter's `posts` gives a list of Post
            self._parsed(platform, len(posts))
            if not posts:
                return None
            pending: Pending = []
            verdicts = self.judge(snapshot, platform, endpoint, posts, pending, deadline)
            _check(deadline)
            new = None
            if verdicts:
                _check(deadline, mb * (budget.PARSE_MS_PER_MB + budget.REWRITE_MS_PER_MB + budget.WRITE_MS_PER_MB))
                outcome = adapter.rewrite_event(event, verdicts)
                new = "" if outcome == "drop" else orjson.dumps(event).decode() if outcome == "changed" else None
                _check(deadline)  # rewritten past the budget: the message goes as sent, as any overrun
            self._commit(pending)
            return new


def _check(deadline: float | None, ms: float = 0.0) -> None:
    """Overrun once `deadline` has passed, or when `ms` milliseconds of work starting now would pass it. The
    engine is given its deadline, and passes it on to `judge`, which is also called outside `budget.until`."""
    if budget.over(deadline, ms):
        raise Overrun
