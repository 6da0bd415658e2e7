"""The engine's page cache: a response body seen again (the same bytes) is judged again but not decoded, parsed
nor rewritten again while its verdicts stay the same.

The timeline is a real capture (tests/data/mastodon); the hostile text put into some of its statuses is
hand-written.
"""

from __future__ import annotations

import copy
import gzip
import json
import time
import types
from datetime import UTC, datetime

import pytest

from conftest import DATA
from sourdine import codec, lists, settings
from sourdine.engine import POST_BYTES, Engine, Overrun
from sourdine.platforms import ADAPTERS
from sourdine.scoring import score

REAL = json.loads((DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())
# A real timeline from Mastodon.py's test server whose posts are all calm ("Toot!" and the like).
CALM = (DATA / "mastodon" / "mastodonpy_test_home_tl.body.json").read_bytes()
HOSTILE = "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! Resign now!"


def timeline(*hostile: int, first_id: int = 0) -> bytes:
    statuses = copy.deepcopy(REAL)
    for i, status in enumerate(statuses):
        if first_id:
            status["id"] = str(first_id + i)
        if i in hostile:
            status["content"] = f"<p>{HOSTILE}</p>"
            status["language"] = "en"
    return gzip.compress(json.dumps(statuses).encode())


class Counting:
    """The Mastodon adapter, counting how often a body is read."""

    __name__ = "counting"

    def __init__(self) -> None:
        self.reads = 0
        real = ADAPTERS["mastodon"]
        self.rewrite = real.rewrite

        def posts(endpoint, doc):
            self.reads += 1
            return real.posts(endpoint, doc)

        self.posts = posts


def engine_with(adapter: object, **kwargs) -> tuple[Engine, list]:
    recorded: list = []
    engine = Engine(score, {**ADAPTERS, "mastodon": adapter}, record=recorded.append, **kwargs)
    return engine, recorded


def test_a_body_seen_again_goes_out_the_same_without_being_read_again():
    adapter = Counting()
    engine, recorded = engine_with(adapter)
    snapshot = settings.build()
    raw = timeline(1, 3)
    first = engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip")
    assert first is not None and adapter.reads == 1
    decided = len(recorded)
    again = engine.filter_encoded(snapshot, "mastodon", "timeline", bytes(raw), "gzip")  # equal, not the same
    assert again is first and adapter.reads == 1
    # Judged all the same: the response and its posts are counted, and nothing is recorded twice.
    assert engine.health["mastodon"].responses == 2 and engine.health["mastodon"].posts == 2 * len(REAL)
    assert len(recorded) == decided and engine.counts.seen == len(REAL)
    assert engine.caches()["pages"] == {"size": 1, "bound": engine.page_cache_size}
    # The same bytes under another encoding, or for another endpoint, are another page.
    assert engine.filter_encoded(snapshot, "mastodon", "timeline", gzip.decompress(raw), None) == first
    assert adapter.reads == 2


def test_a_calm_page_seen_again_still_goes_out_as_it_came():
    adapter = Counting()
    engine, _ = engine_with(adapter)
    raw = gzip.compress(CALM)
    snapshot = settings.build()
    assert engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip") is None
    assert engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip") is None
    assert adapter.reads == 1


def test_a_changed_verdict_reads_the_page_again():
    """Thresholds, lists: whatever changes a verdict changes what goes out, at once."""
    adapter = Counting()
    engine, recorded = engine_with(adapter)
    raw = timeline(1, 3)
    lenient = settings.build({"platforms": {"mastodon": {"collapse": 1.0, "hide": 1.0}}})
    strict = settings.build()
    assert engine.filter_encoded(lenient, "mastodon", "timeline", raw, "gzip") is None
    hidden = engine.filter_encoded(strict, "mastodon", "timeline", raw, "gzip")
    assert hidden is not None and adapter.reads == 2
    kept_ids = {s["id"] for s in json.loads(hidden)}
    assert REAL[1]["id"] not in kept_ids and REAL[3]["id"] not in kept_ids
    assert {d.post_id for d in recorded if d.action == "hide"} >= {REAL[1]["id"], REAL[3]["id"]}
    # A keyword mute on a calm post: the page is read again, and the muted post goes too.
    now = datetime.now(UTC)
    assert "Germany" in REAL[0]["content"]
    mute = lists.parse_mute({"kind": "keyword", "text": "Germany", "action": "hide"}, now)
    engine.lists = lists.compile_lists([mute], [], now)
    muted = engine.filter_encoded(strict, "mastodon", "timeline", raw, "gzip")
    assert adapter.reads == 3 and REAL[0]["id"] not in {s["id"] for s in json.loads(muted)}
    # And back: the same verdicts as before, the same bytes as before.
    engine.lists = lists.compile_lists([], [], now)
    assert engine.filter_encoded(strict, "mastodon", "timeline", raw, "gzip") == hidden


def test_a_page_left_unchanged_is_not_remembered():
    """A page whose filtering overran its budget went out as sent: it is read in full when it comes back."""
    adapter = Counting()

    def slow(text, lang=None):
        time.sleep(0.002)
        return score(text, lang)

    engine, recorded = engine_with(adapter)
    engine.scorer = slow
    raw = timeline(1)
    with pytest.raises(Overrun):
        engine.filter_encoded(settings.build(), "mastodon", "timeline", raw, "gzip",
                              deadline=time.perf_counter() + 0.01)
    assert engine.caches()["pages"]["size"] == 0 and recorded == []
    engine.scorer = score
    assert engine.filter_encoded(settings.build(), "mastodon", "timeline", raw, "gzip") is not None
    assert adapter.reads == 2


def _until_past(deadline: float) -> None:
    """Sleep until just past `deadline`: a step of the filter that ends late."""
    time.sleep(max(0.0, deadline + 0.005 - time.perf_counter()))


class _Late:
    """Mastodon's adapter with a parse and a write-out of its own, one of its steps ending just past a deadline
    set 0.25 s ahead (long enough for the steps before it even on a loaded machine); what ran is noted."""

    def __init__(self, late_step: str) -> None:
        self.__name__ = "late"
        self.late_step = late_step
        self.deadline = 0.0
        self.ran: list[str] = []
        self.posts = ADAPTERS["mastodon"].posts

    def _late(self, step: str) -> None:
        self.ran.append(step)
        if step == self.late_step and self.deadline:
            _until_past(self.deadline)

    def parse(self, endpoint, body):
        return json.loads(body)

    def rewrite(self, endpoint, doc, verdicts):
        self._late("rewrite")
        return ADAPTERS["mastodon"].rewrite(endpoint, doc, verdicts)

    def serialize(self, endpoint, doc):
        self._late("serialize")
        return json.dumps(doc).encode()

    def overrun(self, engine) -> None:
        """Filter a page with hostile posts against the deadline: it must overrun."""
        score("the lexicons load before the clock starts", "en")
        self.deadline = time.perf_counter() + 0.25
        with pytest.raises(Overrun):
            engine.filter_encoded(settings.build(), "mastodon", "timeline", timeline(1, 3), "gzip",
                                  deadline=self.deadline)
        self.deadline = 0.0


def test_a_rewrite_that_ends_past_the_budget_is_not_written_out():
    """Writing a page out takes 10 to 30 ms on a large one: once the rewrite has ended past the budget, the page
    goes out as sent without being written out first, leaving no decision and no remembered page behind."""
    adapter = _Late("rewrite")
    engine, recorded = engine_with(adapter)
    adapter.overrun(engine)
    assert adapter.ran == ["rewrite"] and recorded == [] and engine.caches()["pages"]["size"] == 0
    assert engine.filter_encoded(settings.build(), "mastodon", "timeline", timeline(1, 3), "gzip") is not None
    assert adapter.ran[1:] == ["rewrite", "serialize"] and recorded


def test_a_page_written_out_past_the_budget_is_an_overrun():
    """The budget is read once more when the page has been written out: one that started in time but ended late
    goes out as sent, as any overrun, leaving no decision and no remembered page behind."""
    adapter = _Late("serialize")
    engine, recorded = engine_with(adapter)
    adapter.overrun(engine)
    assert adapter.ran == ["rewrite", "serialize"] and recorded == [] and engine.caches()["pages"]["size"] == 0
    assert engine.filter_encoded(settings.build(), "mastodon", "timeline", timeline(1, 3), "gzip") is not None
    assert recorded


def test_a_page_seen_again_and_decoded_past_the_budget_is_not_parsed(monkeypatch):
    """A page that comes back with other verdicts is decoded and parsed again: when decoding it ends past the
    budget, it goes out as sent without being parsed (X's 912 KB page takes 3 ms to parse), leaving no decision."""
    adapter = Counting()
    parses = []

    def parse(endpoint, body):
        parses.append(len(body))
        return json.loads(body)

    adapter.parse = parse
    adapter.serialize = lambda endpoint, doc: json.dumps(doc).encode()
    engine, recorded = engine_with(adapter)
    raw = timeline(1, 3)
    assert engine.filter_encoded(settings.build(), "mastodon", "timeline", raw, "gzip") is not None
    assert len(parses) == 1
    decided = len(recorded)
    lenient = settings.build({"platforms": {"mastodon": {"collapse": 1.0, "hide": 1.0}}})
    decode = codec.decode
    decoded = []

    def late(*args):
        body = decode(*args)
        decoded.append(len(body))
        _until_past(deadline)
        return body

    monkeypatch.setattr(codec, "decode", late)
    deadline = time.perf_counter() + 0.25
    with pytest.raises(Overrun):
        engine.filter_encoded(lenient, "mastodon", "timeline", raw, "gzip", deadline=deadline)
    assert decoded, "judged past the budget already: the machine stalled, and the check was not reached"
    assert len(parses) == 1 and len(recorded) == decided
    monkeypatch.setattr(codec, "decode", decode)
    assert engine.filter_encoded(lenient, "mastodon", "timeline", raw, "gzip") is None  # in time: all kept
    assert len(parses) == 2 and len(recorded) > decided


def test_an_overrun_on_a_page_seen_again_leaves_it_as_sent():
    engine, recorded = engine_with(Counting())
    raw = timeline(1)
    snapshot = settings.build()
    assert engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip") is not None
    decided, counts = len(recorded), (engine.counts.seen, engine.counts.hidden, engine.counts.collapsed)
    # A changed threshold: the page's verdicts change, and the overrun leaves no decision of them behind.
    lenient = settings.build({"platforms": {"mastodon": {"collapse": 1.0, "hide": 1.0}}})
    with pytest.raises(Overrun):
        engine.filter_encoded(lenient, "mastodon", "timeline", raw, "gzip", deadline=time.perf_counter() - 1)
    assert len(recorded) == decided
    assert (engine.counts.seen, engine.counts.hidden, engine.counts.collapsed) == counts


def test_a_body_that_cannot_be_decoded_fails_as_before():
    engine, _ = engine_with(Counting())
    with pytest.raises(ValueError):
        engine.filter_encoded(settings.build(), "mastodon", "timeline", b"not gzip", "gzip")
    with pytest.raises(ValueError):
        engine.filter_encoded(settings.build(), "mastodon", "timeline", timeline(1), "gzip", limit=1000)
    assert engine.caches()["pages"]["size"] == 0


def test_pages_are_bounded_by_count_and_by_bytes():
    engine, _ = engine_with(Counting(), page_cache_size=3)
    snapshot = settings.build()
    pages = [timeline(1, first_id=10_000 * (k + 1)) for k in range(5)]
    for raw in pages:
        engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip")
    assert engine.caches()["pages"]["size"] == 3
    assert engine._page_bytes == sum(p.size for p in engine._pages.values())
    # The oldest went first: the last three are remembered.
    assert [key[3] for key in engine._pages] == pages[2:]
    # A page holds its body as it came, the rewritten body and its posts (their texts, and their objects).
    body = gzip.decompress(pages[0])
    texts = sum(len(post.text) + POST_BYTES for post in ADAPTERS["mastodon"].posts("timeline", json.loads(body)))
    one = len(pages[0]) + len(engine.filter_body(snapshot, "mastodon", "timeline", body)) + texts
    small, _ = engine_with(Counting(), page_cache_bytes=one * 2 + 10)
    for raw in pages:
        small.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip")
    assert len(small._pages) == 2 and small._page_bytes <= one * 2 + 10
    none, _ = engine_with(Counting(), page_cache_size=0)
    none.filter_encoded(snapshot, "mastodon", "timeline", pages[0], "gzip")
    assert none.caches()["pages"]["size"] == 0


def test_originals_are_kept_for_a_page_seen_again():
    """An adapter that folds by replacing text keeps the original text, on a page read or remembered."""
    rewrites = []

    def rewrite(endpoint, doc, verdicts):
        rewrites.append(dict(verdicts))
        return ADAPTERS["mastodon"].rewrite(endpoint, doc, verdicts)

    adapter = types.SimpleNamespace(posts=ADAPTERS["mastodon"].posts, rewrite=rewrite, REPLACES_TEXT=True,
                                    HIDE_REPLACES_TEXT=True)
    engine, _ = engine_with(adapter)
    raw = timeline(1)
    snapshot = settings.build()
    engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip")
    assert engine.originals.get("mastodon", REAL[1]["id"]) is not None
    engine.originals = type(engine.originals)()
    engine.filter_encoded(snapshot, "mastodon", "timeline", raw, "gzip")
    assert len(rewrites) == 1 and engine.originals.get("mastodon", REAL[1]["id"]) is not None


def test_the_author_records_caches_are_listed_with_their_bounds():
    """`caches()` lists the author records and the functools cache of their reason labels, bounded."""
    from sourdine.authors import AuthorBook

    engine, _ = engine_with(ADAPTERS["mastodon"], authors=AuthorBook())
    assert engine.filter_encoded(settings.build(), "mastodon", "timeline", timeline(1, 3), "gzip") is not None
    caches = engine.caches()
    assert caches["authors"]["size"] >= 1 and caches["authors"]["bound"] == 5_000
    assert caches["authors.label"]["bound"] == 1024 and 1 <= caches["authors.label"]["size"] <= 1024


def test_a_streaming_message_rewritten_past_the_budget_goes_as_sent():
    """A streaming message is judged and rewritten like a page: one whose rewrite ends past the budget goes as
    sent, leaving no decision behind; in time, a hidden status drops its message."""
    real = ADAPTERS["mastodon"]
    status = copy.deepcopy(REAL[1])
    status["content"] = f"<p>{HOSTILE}</p>"
    status["language"] = "en"
    message = json.dumps({"event": "update", "payload": json.dumps(status)})
    deadline = 0.0
    rewritten = []

    def rewrite_event(event, verdicts):
        outcome = real.rewrite_event(event, verdicts)
        rewritten.append(outcome)
        if deadline:
            _until_past(deadline)
        return outcome

    adapter = types.SimpleNamespace(__name__="late", posts=real.posts, rewrite_event=rewrite_event)
    engine, recorded = engine_with(adapter)
    score("the lexicons load before the clock starts", "en")
    deadline = time.perf_counter() + 0.25
    with pytest.raises(Overrun):
        engine.filter_event(settings.build(), "mastodon", "streaming", message, deadline)
    assert rewritten == ["drop"], "judged past the budget already: the machine stalled, and the check was not reached"
    assert recorded == []
    deadline = 0.0
    assert engine.filter_event(settings.build(), "mastodon", "streaming", message) == ""
    assert [d.action for d in recorded] == ["hide"]
