"""Author records and toxic connections: the window, decay, counting once, expiry, evidence, suggestions."""

from __future__ import annotations

import math
import struct
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sourdine import authors as au
from sourdine.authors import RECENT_IDS, AuthorBook, AuthorDecision, AuthorRecord, Toxicity

HOUR = 3600.0
DAY = au.DAY
T0 = 1_800_000_000.0  # an instant in 2027
S = au.DEFAULTS  # N = 5, X = 40%, window 14 days, retention 90 days


def cases(names: tuple[str, ...], rows: list[tuple[Any, ...]]) -> pytest.MarkDecorator:
    """Parametrize from rows whose first column is the case's name."""
    return pytest.mark.parametrize(names, [row[1:] for row in rows], ids=[str(row[0]) for row in rows])


def feed(
    pattern: str, every: float = HOUR, start: float = T0, record: AuthorRecord | None = None, tag: str = "p"
) -> tuple[AuthorRecord, float]:
    """Observe one post per letter ("H" hostile, "f" friendly), `every` seconds apart; (record, last time)."""
    record = record or AuthorRecord("mastodon", "42")
    now = start
    for i, letter in enumerate(pattern):
        now = start + i * every
        hostile = letter == "H"
        record = au.observe(record, f"{tag}{i}", 0.9 if hostile else 0.1, hostile, now,
                            reasons=("outrage 0.9",) if hostile else ())
    return record, now


# --- Becoming toxic: label | posts | spacing | toxic right after the last post -----------------------------

BECOMING = [
    ("6 hostile over 5 days", "HHHHHH", DAY, True),
    ("6 hostile in 6 hours", "HHHHHH", HOUR, True),
    ("5 hostile at once: exactly N", "HHHHH", 0.0, True),
    ("4 hostile: below N", "HHHH", HOUR, False),
    ("4 hostile at once: below N", "HHHH", 0.0, False),
    ("2 of 5 at once: exactly 40%", "HHfff", 0.0, True),
    ("2 of 6 at once: 33%", "HHffff", 0.0, False),
    ("4 of 10 at once: exactly 40%", "HfHfHfHfff", 0.0, True),
    ("3 of 10 at once: 30%", "HfHfHfffff", 0.0, False),
    ("5 of 12 hourly: 42%", "HffHffHfHfHf", HOUR, True),
    ("4 of 11 hourly: 36%", "HffHffHfHff", HOUR, False),
    ("12 friendly", "f" * 12, HOUR, False),
    ("6 hostile over 12.5 days: all 6 in the window", "HHHHHH", 2.5 * DAY, True),
    ("6 hostile every 4 days: 4 in the last 14 days", "HHHHHH", 4 * DAY, False),
    ("5 hostile 3 days apart: the first is 12 days old", "HHHHH", 3 * DAY, True),
]


@cases(("pattern", "every", "toxic"), BECOMING)
def test_becoming_toxic(pattern: str, every: float, toxic: bool) -> None:
    """An author is toxic with at least N recent posts of which at least X are hostile, and not otherwise."""
    record, last = feed(pattern, every)
    assert au.is_toxic(record, S, last) is toxic


SETTINGS = [
    ("N=3 makes 4 hostile toxic", {"min_posts": 3}, "HHHH", True),
    ("X=50% rejects 2 of 5", {"share": 0.5}, "HHfff", False),
    ("X=20% accepts 2 of 6", {"share": 0.2}, "HHffff", True),
]


@cases(("data", "pattern", "toxic"), SETTINGS)
def test_settings_move_the_line(data: dict[str, object], pattern: str, toxic: bool) -> None:
    """N and X are settings, and the decision follows them."""
    record, last = feed(pattern, 0.0)
    assert au.is_toxic(record, au.parse_toxicity(data), last) is toxic


# --- An author who turns friendly, or goes quiet, stops being toxic ----------------------------------------


@pytest.mark.parametrize(("friendly", "toxic"), [(0, True), (4, True), (8, True), (10, False), (30, False)])
def test_friendly_posts_end_toxicity(friendly: int, toxic: bool) -> None:
    """After six hostile posts, enough friendly posts (hourly) bring the share under 40%: 6 of 16 is 37.5%."""
    record, last = feed("HHHHHH" + "f" * friendly, HOUR)
    assert au.is_toxic(record, S, last) is toxic


SILENCE = [(0, True), (5, True), (13.99, True), (14.01, False), (30, False)]


@pytest.mark.parametrize(("silent_days", "toxic"), SILENCE)
def test_time_ends_toxicity(silent_days: float, toxic: bool) -> None:
    """A burst of six hostile posts counts in full for the 14 days of the window, then not at all."""
    record, last = feed("HHHHHH", 0.0)
    assert au.is_toxic(record, S, last + silent_days * DAY) is toxic


def test_posts_leave_the_window_one_by_one() -> None:
    """Daily posts H H H f H H H: as each leaves the window the figures follow, toxic while 5 or more remain."""
    record, last = feed("HHHfHHH", DAY)
    seen = []
    for days in (7.5, 8.5, 9.5, 10.5, 11.5):  # the first post is 14 days old at 8 days after the last
        now = last + days * DAY
        seen.append((au.window(record, S, now), au.is_toxic(record, S, now)))
    assert seen == [((6, 7), True), ((5, 6), True), ((4, 5), True), ((3, 4), False), ((3, 3), False)]


def test_a_hostile_post_leaving_can_end_toxicity_and_a_friendly_one_leaving_can_start_it() -> None:
    """The share is of the posts in the window, so it moves as old posts leave it, both ways."""
    record, last = feed("ffffffHHHf", DAY)  # daily: 3 of 10, then 3 of 7 once the first three left
    assert (au.window(record, S, last), au.is_toxic(record, S, last)) == ((3, 10), False)
    assert (au.window(record, S, last + 7.5 * DAY), au.is_toxic(record, S, last + 7.5 * DAY)) == ((3, 7), True)
    record, last = feed("HHHHffffffHH", DAY)  # daily: 4 of 10 once two hostile left, then 2 of 8
    assert (au.window(record, S, last + 4.5 * DAY), au.is_toxic(record, S, last + 4.5 * DAY)) == ((4, 10), True)
    assert (au.window(record, S, last + 6.5 * DAY), au.is_toxic(record, S, last + 6.5 * DAY)) == ((2, 8), False)


def test_time_alone_keeps_the_share_but_new_posts_move_it() -> None:
    """Decay lowers the count, never the share; a friendly post a month later outweighs the old burst."""
    record, last = feed("HHHHHH", 0.0)
    later = last + 30 * DAY
    assert au.share(record) == 1.0
    assert au.count(record, S, later) == pytest.approx(6 * math.exp(-30 / 14))
    record = au.observe(record, "new", 0.1, False, later)
    assert au.share(record) == pytest.approx(6 * math.exp(-30 / 14) / (6 * math.exp(-30 / 14) + 1))
    assert au.share(record) < 0.6


def test_window_setting_sets_the_window_and_the_decay() -> None:
    """A 7-day window lets a burst go after 7 days, and halves the decay time constant."""
    week = au.parse_toxicity({"window_days": 7})
    record, last = feed("HHHHHH", 0.0)
    assert au.is_toxic(record, S, last + 8 * DAY)
    assert not au.is_toxic(record, week, last + 8 * DAY)
    assert au.count(record, week, last + 7 * DAY) == pytest.approx(6 * math.exp(-1))


def test_an_older_post_never_makes_the_record_grow() -> None:
    """A post dated before last_seen is weighed by its age, and the record's times stay in order."""
    record, last = feed("HH", HOUR)
    older = au.observe(record, "late", 0.9, True, T0 - 14 * DAY)
    assert older.weight == pytest.approx(record.weight + math.exp(-(last - T0 + 14 * DAY) / S.window))
    assert (older.first_seen, older.last_seen) == (T0 - 14 * DAY, last)


# --- Counting once -----------------------------------------------------------------------------------------


def test_the_same_post_counts_once() -> None:
    """A post id seen again (a refresh, a restart) leaves the record exactly as it was."""
    record = au.observe(AuthorRecord("mastodon", "42"), "p1", 0.9, True, T0)
    assert au.observe(record, "p1", 0.9, True, T0 + HOUR) is record
    again = au.observe(record, "p2", 0.9, True, T0 + HOUR)
    assert (again.posts, au.observe(again, "p1", 0.1, False, T0 + 2 * HOUR).posts) == (2, 2)


def test_five_refreshes_of_four_posts_stay_below_n() -> None:
    """Four hostile posts seen on five refreshes are four posts, not twenty: still below N."""
    record = AuthorRecord("mastodon", "42")
    for refresh in range(5):
        for i in range(4):
            record = au.observe(record, f"p{i}", 0.9, True, T0 + refresh * HOUR)
    assert record.posts == 4
    assert not au.is_toxic(record, S, T0 + 5 * HOUR)


def test_fingerprints_are_bounded() -> None:
    """Only the last 64 posts are remembered: memory per author is bounded, the oldest id counts again."""
    record, _ = feed("f" * 100, 60.0)
    assert len(record.recent) == au.RECENT_IDS * 8 == len(record.times) * 8 == len(record.flags) * 8
    assert au.observe(record, "p99", 0.1, False, T0 + DAY) is record
    assert au.observe(record, "p0", 0.1, False, T0 + DAY).posts == 101


# --- Settings ----------------------------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"min_posts": 0}, "min_posts"),
    ({"min_posts": 65}, "min_posts must be a whole number from 1 to 64"),
    ({"min_posts": 2.5}, "min_posts"),
    ({"min_posts": True}, "min_posts"),
    ({"share": 0}, "share"),
    ({"share": 1.5}, "share"),
    ({"share": "40%"}, "share"),
    ({"share": float("nan")}, "share"),
    ({"window_days": 0}, "window_days"),
    ({"window_days": 400}, "window_days"),
    ({"retention_days": 7}, "retention_days"),
    ({"window": 14}, "unknown key 'window'"),
    ([5], "must be an object"),
]


@pytest.mark.parametrize(("data", "message"), BAD_SETTINGS)
def test_bad_settings_are_refused_by_name(data: object, message: str) -> None:
    """Each bad setting is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        au.parse_toxicity(data)


def test_settings_defaults() -> None:
    """The defaults are N = 5, X = 40%, a 14-day window and 90 days of retention."""
    assert au.parse_toxicity({}) == Toxicity(5, 0.40, 14, 90)
    assert (S.window, S.retention) == (14 * DAY, 90 * DAY)
    assert au.parse_toxicity(S.to_dict()) == S


# --- Evidence ----------------------------------------------------------------------------------------------

EVIDENCE = [
    ("7 of 12 at once", "HfHfHfHfHfHH", 0.0, 0.0, "toxic connection: 7 of 12 recent posts hostile"),
    ("6 hostile over 5 days", "HHHHHH", DAY, 0.0, "toxic connection: 6 of 6 recent posts hostile"),
    ("a week later", "HHHHHHHHHHHH", 0.0, 7 * DAY, "toxic connection: 12 of 12 recent posts hostile"),
    ("one post", "H", 0.0, 0.0, "toxic connection: 1 of 1 recent post hostile"),
    ("3 of 7 daily, 10 days on", "HHHffff", DAY, 10 * DAY, "toxic connection: 1 of 5 recent posts hostile"),
]


@cases(("pattern", "every", "later", "text"), EVIDENCE)
def test_evidence_text(pattern: str, every: float, later: float, text: str) -> None:
    """The reason shows the posts of the window: how many were hostile, of how many."""
    record, last = feed(pattern, every)
    assert au.evidence(record, S, last + later) == text


def test_evidence_agrees_with_the_rule() -> None:
    """Along a mixed history, the evidence text always shows figures that meet the rule exactly when toxic."""
    record, last = feed("HHfHHfHfffHHHfH", 0.7 * DAY)
    for hours in range(0, 24 * 20, 6):
        now = last + hours * HOUR
        hostile, posts = au.window(record, S, now)
        assert au.is_toxic(record, S, now) is (posts >= S.min_posts and hostile >= 0.4 * posts)
        assert au.evidence(record, S, now) == f"toxic connection: {hostile} of {posts} recent post" \
            f"{'' if posts == 1 else 's'} hostile"


def test_top_reasons_are_labels_without_figures() -> None:
    """Reasons are counted by label, only for hostile posts; the three most frequent are kept in order."""
    record = AuthorRecord("mastodon", "42")
    posts = [
        (("outrage 0.91", "insult: idiots"), True),
        (("outrage 0.85", "blame: honte"), True),
        (("negativity 0.70", "insult: idiots", "outrage 0.80"), True),
        (("outrage 0.88", "insult: idiots", "blame: honte"), True),
        (("friendly 0.10", "cheer"), False),
    ]
    for i, (reasons, hostile) in enumerate(posts):
        record = au.observe(record, f"p{i}", 0.9 if hostile else 0.1, hostile, T0 + i, reasons=reasons)
    assert au.top_reasons(record) == ("outrage", "insult: idiots", "blame: honte")
    assert "cheer" not in dict(record.reasons)


def test_reasons_fade_with_time() -> None:
    """Reasons decay like posts, through friendly posts too: a month-old pair weighs less than today's one."""
    record = AuthorRecord("mastodon", "42")
    record = au.observe(record, "a1", 0.9, True, T0, reasons=("blame: old",))
    record = au.observe(record, "a2", 0.9, True, T0, reasons=("blame: old",))
    record = au.observe(record, "f1", 0.1, False, T0 + 30 * DAY)
    record = au.observe(record, "b1", 0.9, True, T0 + 30 * DAY + HOUR, reasons=("insult: new",))
    assert au.top_reasons(record) == ("insult: new", "blame: old")


def test_reason_counter_is_bounded_and_lets_frequent_labels_in() -> None:
    """At most 8 labels are kept; a label that keeps coming once the counter is full still reaches the top."""
    record = AuthorRecord("mastodon", "42")
    for i in range(20):
        record = au.observe(record, f"a{i}", 0.9, True, T0 + i, reasons=(f"term {chr(97 + i)}",))
    for i in range(6):
        record = au.observe(record, f"b{i}", 0.9, True, T0 + 100 + i, reasons=("late: term",))
    assert len(record.reasons) == au.MAX_REASONS
    assert au.top_reasons(record)[0] == "late: term"


# --- Suggestions -------------------------------------------------------------------------------------------


def book_of(*patterns: tuple[str, str]) -> AuthorBook:
    """A book with one author per (author id, pattern), posting hourly from T0."""
    book = AuthorBook()
    for author, pattern in patterns:
        for i, letter in enumerate(pattern):
            hostile = letter == "H"
            book.add("mastodon", author, f"{author}-{i}", 0.9 if hostile else 0.1, hostile, T0 + i * HOUR,
                         reasons=("outrage 0.9",) if hostile else (), handle=f"{author}@example.social")
    return book


def keys(found: list[au.Suggestion]) -> list[str]:
    return [s.author_id for s in found]


NOW = T0 + 24 * HOUR
DECIDED = [
    ("undecided toxic authors are listed, most hostile first", {}, ["worst", "bad"]),
    ("a muted author is not listed", {"bad": AuthorDecision("muted")}, ["worst"]),
    ("an allowed author is not listed", {"worst": AuthorDecision("allowed")}, ["bad"]),
    ("a dismissed author who did not get worse is not listed", {"bad": "dismissed now"}, ["worst"]),
    ("a dismissed author whose share rose by 10 points is listed again",
     {"bad": AuthorDecision("dismissed", share=0.5, hostile=6.0)}, ["worst", "bad"]),
    ("a dismissed author whose share rose by less than 10 points is not",
     {"bad": AuthorDecision("dismissed", share=0.51, hostile=6.0)}, ["worst"]),
    ("a dismissed author whose hostile posts doubled is listed again",
     {"bad": AuthorDecision("dismissed", share=0.6, hostile=3.0)}, ["worst", "bad"]),
]


@cases(("decided", "listed"), DECIDED)
def test_suggestions(decided: dict[str, object], listed: list[str]) -> None:
    """Only toxic authors the user has not decided on are suggested, and dismissed ones only once worse."""
    book = book_of(("worst", "HHHHHHHH"), ("bad", "HHHHHHffff"), ("calm", "ffffffff"), ("few", "HHH"))
    decisions = {}
    for author, decision in decided.items():
        if decision == "dismissed now":
            decision = au.dismissal(book.get("mastodon", author), S, NOW)
        decisions[("mastodon", author)] = decision
    found = book.suggestions(decisions, NOW)
    assert keys(found) == listed
    for s in found:
        assert s.again is (("mastodon", s.author_id) in decisions)


def test_a_suggestion_carries_its_evidence_and_no_text() -> None:
    """A suggestion has the window's counts, the decayed mean, typical reasons, first and last seen, the handle
    and the evidence text."""
    book = book_of(("bad", "HHHHHHffff"))
    (s,) = book.suggestions({}, T0 + 9 * HOUR)
    assert s.to_dict() == {
        "platform": "mastodon",
        "author_id": "bad",
        "handle": "bad@example.social",
        "hostile": 6,
        "posts": 10,
        "share": 0.6,
        "mean": pytest.approx(0.58, abs=0.01),
        "reasons": ["outrage"],
        "first_seen": T0,
        "last_seen": T0 + 9 * HOUR,
        "evidence": "toxic connection: 6 of 10 recent posts hostile",
        "again": False,
    }


def test_dismissed_then_worse_then_dismissed_again() -> None:
    """Dismissing again sets a new baseline: the author comes back only if they get worse once more."""
    book = book_of(("bad", "HHHHHfffff"))
    now = T0 + 10 * HOUR
    decisions = {("mastodon", "bad"): au.dismissal(book.get("mastodon", "bad"), S, now)}
    assert book.suggestions(decisions, now) == []
    for i in range(6):
        book.add("mastodon", "bad", f"more-{i}", 0.9, True, now + i * HOUR)
    now += 6 * HOUR
    assert keys(book.suggestions(decisions, now)) == ["bad"]
    decisions[("mastodon", "bad")] = au.dismissal(book.get("mastodon", "bad"), S, now)
    assert book.suggestions(decisions, now) == []


BAD_DECISIONS = [("blocked", 0.0, 0.0), ("dismissed", 1.2, 0.0), ("dismissed", 0.5, -1.0)]


@pytest.mark.parametrize(("kind", "share", "hostile"), BAD_DECISIONS)
def test_bad_decisions_are_refused(kind: str, share: float, hostile: float) -> None:
    """An unknown kind, a share outside [0, 1] or a negative count is a ValueError."""
    with pytest.raises(ValueError):
        AuthorDecision(kind, share, hostile)  # type: ignore[arg-type]


# --- The book: dirty records, expiry, forgetting ------------------------------------------------------------


def test_book_marks_changes_dirty_once_per_drain() -> None:
    """Observed records are dirty until drained; a post seen again dirties nothing."""
    book = book_of(("a", "HH"), ("b", "f"))
    assert book.dirty() == 2
    assert sorted(r.author_id for r in book.drain_dirty()) == ["a", "b"]
    assert (book.dirty(), book.drain_dirty()) == (0, [])
    book.add("mastodon", "a", "a-0", 0.9, True, T0 + DAY)
    assert book.dirty() == 0
    book.add("mastodon", "a", "a-new", 0.9, True, T0 + DAY)
    assert [r.posts for r in book.drain_dirty()] == [3]


EXPIRY = [(89, ["old", "new"]), (90.5, ["new"]), (200, [])]


@pytest.mark.parametrize(("days", "left"), EXPIRY)
def test_expiry_after_retention(days: float, left: list[str]) -> None:
    """Records not seen for 90 days are dropped, and their keys returned for the store to delete."""
    book = book_of(("old", "HH"))
    book.add("mastodon", "new", "n1", 0.1, False, T0 + 30 * DAY)
    gone = book.expire(T0 + HOUR + days * DAY)
    assert sorted(r.author_id for r in book) == sorted(left)
    assert sorted(k[1] for k in gone) == sorted({"old", "new"} - set(left))
    assert {r.author_id for r in book.drain_dirty()} == set(left)


def test_forget() -> None:
    """Forgetting an author drops their record and any pending write."""
    book = book_of(("a", "HHHHHH"))
    assert book.toxic("mastodon", "a", T0 + 6 * HOUR)
    assert book.forget("mastodon", "a") and not book.forget("mastodon", "a")
    assert (book.toxic("mastodon", "a", T0 + 6 * HOUR), book.dirty(), len(book)) == (False, 0, 0)


def test_the_book_holds_at_most_its_limit_the_least_recent_leaving_first() -> None:
    """Past its limit the book lets go of the record counted longest ago, not of one counted again since; a record
    that leaves memory with a change not yet written is still written, once; one that comes back starts anew."""
    book = AuthorBook(limit=3)
    for i, name in enumerate(["a", "b", "c"]):
        book.add("mastodon", name, f"{name}-1", 0.9, True, T0 + i)
    book.drain_dirty()
    book.add("mastodon", "a", "a-2", 0.9, True, T0 + 10)  # "a" counted again: "b" is now the least recent
    book.add("mastodon", "d", "d-1", 0.1, False, T0 + 11)
    assert sorted(r.author_id for r in book) == ["a", "c", "d"] and book.evictions == 1
    assert sorted(r.author_id for r in book.drain_dirty()) == ["a", "d"]  # "b" was written before it left
    book.add("mastodon", "c", "c-2", 0.9, True, T0 + 12)  # order: a, d, c; "c" changed, not written
    book.add("mastodon", "a", "a-3", 0.9, True, T0 + 13)  # d, c, a
    book.add("mastodon", "d", "d-2", 0.9, True, T0 + 14)  # c, a, d
    book.add("mastodon", "e", "e-1", 0.1, False, T0 + 15)  # "c" leaves with its change not yet written
    assert book.dirty() == 4 and sorted(r.author_id for r in book) == ["a", "d", "e"]
    written = {r.author_id: r.posts for r in book.drain_dirty()}
    assert written == {"a": 3, "c": 2, "d": 2, "e": 1} and book.drain_dirty() == []
    book.add("mastodon", "b", "b-2", 0.9, True, T0 + 16)
    assert book.get("mastodon", "b").posts == 1


def test_the_book_holds_at_most_its_remembered_posts_the_least_recent_leaving_first() -> None:
    """Past the posts it may remember in all its records, the book lets go of the records counted longest ago,
    never of the one just counted; its count of remembered posts follows every change (a post in, the 64th's
    oldest out, a record evicted, expired, forgotten, cleared) and matches the records."""
    book = AuthorBook(limit=100, remembered_limit=RECENT_IDS + 10)
    for k in range(RECENT_IDS + 5):  # "a" remembers at most 64
        book.add("mastodon", "a", f"a-{k}", 0.9, True, T0 + k)
    assert book.remembered == RECENT_IDS and book.evictions == 0
    for name in "bcdefghij":
        book.add("mastodon", name, f"{name}-1", 0.1, False, T0 + 100)
    assert book.remembered == RECENT_IDS + 9 and book.evictions == 0
    book.add("mastodon", "b", "b-2", 0.1, False, T0 + 101)
    book.add("mastodon", "k", "k-1", 0.1, False, T0 + 102)  # 75 > 74: "a", the least recent, leaves with its 64
    assert book.get("mastodon", "a") is None and book.evictions == 1
    assert book.remembered == sum(len(r.times) for r in book) == 11
    assert "a" in {r.author_id for r in book.drain_dirty()}  # written once out of memory
    book.forget("mastodon", "b")
    assert book.remembered == sum(len(r.times) for r in book) == 9
    assert book.expire(T0 + 101.5 + 90 * DAY) == [("mastodon", name) for name in "cdefghij"]
    assert book.remembered == sum(len(r.times) for r in book) == 1
    book.clear()
    assert book.remembered == 0
    # One author alone never leaves for the bound: it remembers at most 64, the bound is at least that.
    single = AuthorBook(remembered_limit=RECENT_IDS)
    for k in range(RECENT_IDS * 2):
        single.add("mastodon", "z", f"z-{k}", 0.9, True, T0 + k)
    assert (len(single), single.remembered, single.evictions) == (1, RECENT_IDS, 0)
    with pytest.raises(ValueError):
        AuthorBook(remembered_limit=RECENT_IDS - 1)


def test_the_book_starts_within_its_remembered_posts() -> None:
    """Records read back at start that remember more posts than the bound: the least recent stay out."""
    full = [AuthorRecord("mastodon", name, last_seen=T0 + i, recent=bytes(8 * 3), times=(1, 2, 3), flags=bytes(3))
            for i, name in enumerate("xyz")]
    book = AuthorBook(records=full, remembered_limit=RECENT_IDS)
    assert len(book) == 3 and book.remembered == 9
    tight = AuthorBook(records=[*full, AuthorRecord("mastodon", "big", last_seen=T0 + 9, recent=bytes(8 * 64),
                                                   times=tuple(range(64)), flags=bytes(64))],
                       remembered_limit=RECENT_IDS + 3)
    assert sorted(r.author_id for r in tight) == ["big", "z"] and tight.remembered == 67 and tight.dirty() == 0


def test_the_book_starts_from_the_records_seen_last() -> None:
    records = [AuthorRecord("mastodon", name, last_seen=T0 + seen) for name, seen in [("x", 5), ("y", 1), ("z", 9)]]
    assert sorted(r.author_id for r in AuthorBook(records=records, limit=2)) == ["x", "z"]
    with pytest.raises(ValueError):
        AuthorBook(limit=0)


def test_a_record_out_of_memory_is_forgotten_and_expires_too() -> None:
    """A record waiting to be written after leaving memory is not written once forgotten, nor once past its
    retention: expire() names it for the store to delete."""
    book = AuthorBook(limit=1)
    book.add("mastodon", "a", "a-1", 0.9, True, T0)
    book.add("mastodon", "b", "b-1", 0.9, True, T0 + 1)
    book.add("mastodon", "c", "c-1", 0.9, True, T0 + 2)
    book.forget("mastodon", "a")
    assert book.expire(T0 + 1.5 + 90 * DAY) == [("mastodon", "b")]
    assert [r.author_id for r in book.drain_dirty()] == ["c"]


def test_clearing_the_book_drops_the_writes_still_pending() -> None:
    """`sourdine purge` clears the book: a record that left memory with a change not yet written is not written
    back after the table was emptied (a review found it was, within the two seconds before the next save)."""
    book = AuthorBook(limit=1)
    book.add("mastodon", "a", "a-1", 0.9, True, T0)
    book.add("mastodon", "b", "b-1", 0.9, True, T0 + 1)
    assert book.dirty() == 2
    book.clear()
    assert (len(book), book.dirty(), book.drain_dirty()) == (0, 0, [])


def test_book_toxic_and_evidence_for_strangers() -> None:
    """An author never seen is not toxic and has no evidence; platforms keep authors apart."""
    book = book_of(("a", "HHHHHH"))
    assert book.toxic("mastodon", "a", NOW)
    assert not book.toxic("bluesky", "a", NOW)
    assert book.evidence("x", "nobody", NOW) == ""


# --- Rows ------------------------------------------------------------------------------------------------


def test_row_round_trip() -> None:
    """A record survives to_row / from_row exactly, through JSON too, and goes on counting once."""
    import json

    record, last = feed("HfHHfHHH", HOUR)
    record = au.observe(record, "x", 0.5, False, last, handle="me@example.social")
    row = json.loads(json.dumps(au.to_row(record)))
    back = au.from_row(row)
    assert back == record
    assert au.observe(back, "p3", 0.9, True, last + HOUR) is back


@given(st.lists(st.tuples(st.binary(min_size=8, max_size=8), st.integers(0, 2**32 - 1), st.integers(0, 1)),
                max_size=au.RECENT_IDS))
def test_stored_entries_are_the_struct_packed_entries(entries: list[tuple[bytes, int, int]]) -> None:
    """The stored form of the remembered posts, laid out a column at a time, is byte for byte the entries packed
    one by one with `_ENTRY` (fingerprint, time, flag), as rows have always been written; and it reads back."""
    recent = b"".join(fp for fp, _, _ in entries)
    times = tuple(t for _, t, _ in entries)
    flags = bytes(f for _, _, f in entries)
    packed = au._packed(recent, times, flags)
    assert packed == b"".join(struct.pack("<8sIB", *entry) for entry in entries)
    by_time = sorted(entries, key=lambda entry: entry[1])  # reading back orders them by time, as they are kept
    assert au._entries("recent", "w1:" + packed.hex()) == (
        b"".join(fp for fp, _, _ in by_time), tuple(t for _, t, _ in by_time), bytes(f for _, _, f in by_time))


def test_stored_entries_refuse_columns_of_different_lengths() -> None:
    """Fingerprints, times and flags that do not line up are an error, not a row that reads back shifted."""
    with pytest.raises(ValueError, match="recent"):
        au._packed(b"12345678" * 2, (1,), b"\x00")
    with pytest.raises(ValueError, match="recent"):
        au._packed(b"12345678", (1,), b"")


BAD_ROWS = [
    ({"platform": ""}, "platform"),
    ({"weight": "many"}, "weight"),
    ({"hostile": -1.0}, "hostile"),
    ({"posts": 1.5}, "posts"),
    ({"reasons": [["a"]]}, "reasons"),
    ({"recent": "zz"}, "recent"),
    ({"recent": "abcd"}, "recent"),
    ({"first_seen": None}, "first_seen"),
]


@pytest.mark.parametrize(("change", "field"), BAD_ROWS)
def test_bad_rows_are_refused_by_field(change: dict[str, object], field: str) -> None:
    """A malformed row is a ValueError naming the field."""
    row = {**au.to_row(feed("HH")[0]), **change}
    with pytest.raises(ValueError, match=field):
        au.from_row(row)


def test_missing_field_is_refused() -> None:
    """A row without one of its fields is a ValueError naming it."""
    row = au.to_row(feed("HH")[0])
    del row["score_sum"]
    with pytest.raises(ValueError, match="score_sum"):
        au.from_row(row)


def test_bad_score_is_refused() -> None:
    """A score outside [0, 1], or NaN, is a ValueError."""
    for score in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="score"):
            au.observe(AuthorRecord("mastodon", "42"), "p", score, True, T0)


# --- Properties --------------------------------------------------------------------------------------------

OBSERVATIONS = st.lists(
    st.tuples(
        st.floats(0.0, 1.0),  # score
        st.booleans(),  # hostile
        st.floats(-30 * DAY, 400 * DAY),  # offset from T0, in any order
        st.integers(0, 40),  # post id: repeats are the same post
    ),
    max_size=60,
)


@given(OBSERVATIONS, st.floats(0.0, 1.0), st.floats(0.0, 30 * DAY))
def test_figures_stay_in_range_and_hostile_posts_never_lower_the_share(
    observations: list[tuple[float, bool, float, int]], score: float, after: float
) -> None:
    """For any observations, share and mean stay in [0, 1] and count >= 0; a new hostile post never lowers
    the share, and a new friendly one never raises it."""
    record = AuthorRecord("bluesky", "did:plc:x")
    for value, hostile, offset, post in observations:
        record = au.observe(record, str(post), value, hostile, T0 + offset, reasons=("outrage 0.5",))
        assert 0.0 <= au.share(record) <= 1.0
        assert 0.0 <= au.mean(record) <= 1.0
        assert au.count(record, S, T0 + offset) >= 0.0
        assert 0.0 <= record.hostile <= record.weight
    now = record.last_seen + after
    hostile = au.observe(record, "fresh", score, True, now)
    friendly = au.observe(record, "fresh", score, False, now)
    assert au.share(hostile) >= au.share(record) - 1e-12
    assert au.share(friendly) <= au.share(record) + 1e-12
    h, n = au.window(record, S, now)
    assert 0 <= h <= n <= min(record.posts, au.RECENT_IDS)
    assert list(record.times) == sorted(record.times)


@given(OBSERVATIONS, st.floats(-30 * DAY, 30 * DAY))
def test_window_counts_the_posts_seen_since_its_start(
    observations: list[tuple[float, bool, float, int]], after: float
) -> None:
    """`window` is the plain count of the remembered posts seen at or after `now` less the window, whether the
    record is kept as a value or in place."""
    record = AuthorRecord("bluesky", "did:plc:x")
    for value, hostile, offset, post in observations:
        record = au.observe(record, str(post), value, hostile, T0 + offset)
    moments = [T0 + after]
    if record.times:
        moments.append(record.times[0] + S.window)  # the oldest post exactly at the window's start: it still counts
    for now in moments:
        inside = [flag for seen, flag in zip(record.times, record.flags, strict=True) if seen >= now - S.window]
        assert au.window(record, S, now) == (sum(inside), len(inside))
        assert au.window(au._Live(record), S, now) == (sum(inside), len(inside))


@given(
    OBSERVATIONS,
    st.sampled_from(["", "HfHHfHHH", "H" * 70, "fH" * 40]),  # the record the author starts from (in the store)
    st.lists(st.sampled_from(["outrage 0.9", "insult: idiot", "blame: shame on", "  ", "a 1", "b 2", "c 3", "d",
                              "e", "f", "g", "h", "i", "j"]), max_size=5),
    st.booleans(),  # the stored record is a legacy row: fingerprints only
)
def test_the_book_counts_in_place_exactly_as_the_pure_observe(
    observations: list[tuple[float, bool, float, int]], start: str, reasons: list[str], legacy: bool
) -> None:
    """The book updates its records in place (the engine's `add`); each record it gives back is the one the pure
    `observe` folds, field for field: over posts in any order, repeated ids, more than 64 posts, reason labels
    past the tally's 8, from a stored record (a legacy one too)."""
    base = AuthorRecord("bluesky", "did:plc:x")
    if start:
        base = feed(start, HOUR, T0 - 20 * DAY, AuthorRecord("bluesky", "did:plc:x"), tag="s")[0]
        if legacy:
            row = au.to_row(base)
            row["recent"] = base.recent.hex()
            base = au.from_row(row)
    book = AuthorBook(records=[base] if start else [])
    record = base
    for n, (value, hostile, offset, post) in enumerate(observations):
        tags = reasons[n % 3 :] if hostile else ()
        before = record
        record = au.observe(record, str(post), value, hostile, T0 + offset, reasons=tags, handle=f"h{post % 3}")
        counted = book.add("bluesky", "did:plc:x", str(post), value, hostile, T0 + offset, reasons=tags,
                           handle=f"h{post % 3}")
        assert book.get("bluesky", "did:plc:x") == record
        assert counted == (record is not before)
        now = T0 + offset + HOUR
        assert book.toxic("bluesky", "did:plc:x", now) == au.is_toxic(record, S, now)
        expected = au.evidence(record, S, now) if au.is_toxic(record, S, now) else None
        assert book.toxic_evidence("bluesky", "did:plc:x", now) == expected
    assert list(book) == ([record] if start or observations else [])


def test_a_new_author_starts_from_the_empty_record() -> None:
    """The book's starting point for an author never seen is the empty `AuthorRecord`, field for field."""
    assert au._Live.empty("bluesky", "did:plc:x").record() == AuthorRecord("bluesky", "did:plc:x")
    assert au._Live(AuthorRecord("bluesky", "did:plc:x")).record() == AuthorRecord("bluesky", "did:plc:x")


# --- Speed -------------------------------------------------------------------------------------------------


def test_speed() -> None:
    """toxic() is a dict lookup, a binary search and a byte count; observe() a few microseconds (figures
    printed)."""
    book = AuthorBook()
    authors = [f"author{i}" for i in range(5000)]
    for i, author in enumerate(authors):
        for j in range(8):
            book.add("mastodon", author, f"{author}-{j}", 0.9, (i + j) % 3 == 0, T0 + j * HOUR,
                         reasons=("outrage 0.9", "insult: idiots"))
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for author in authors:
            book.toxic("mastodon", author, T0 + DAY)
    per_toxic = (time.perf_counter() - start) / rounds / len(authors) * 1e6
    start = time.perf_counter()
    for author in authors:
        book.add("mastodon", author, f"{author}-new", 0.9, True, T0 + DAY, reasons=("outrage 0.9",))
    per_observe = (time.perf_counter() - start) / len(authors) * 1e6
    print(f"\nauthors: toxic() {per_toxic:.2f} µs per call, observe() {per_observe:.2f} µs per new post "
          f"({len(authors)} authors)")
    assert per_toxic < 10
    assert per_observe < 100


STORED = [
    ("valid settings load as they are", {"min_posts": 7, "share": 0.5}, Toxicity(7, 0.5), []),
    ("an older version's min_posts of 100 is clamped to 64", {"min_posts": 100}, Toxicity(64), ["min_posts"]),
    ("a value refused outright goes back to its default", {"share": "lots", "min_posts": 3}, Toxicity(3), ["share"]),
    ("not an object: the defaults", [1, 2], au.DEFAULTS, []),
]


@cases(("data", "expected", "changed"), STORED)
def test_stored_settings_never_stop_start_up(data: object, expected: Toxicity, changed: list[str]) -> None:
    """Settings saved by an earlier version load clamped into this version's ranges, saying what changed."""
    assert au.stored_toxicity(data) == (expected, changed)


@given(st.dictionaries(st.sampled_from(["insult", "outrage", "threat", "a", "b", "insult: x", ""]),
                       st.sampled_from([0.0, 0.25, 0.5, 1.0, 1e-300, 3.0]), min_size=1))
def test_the_lightest_label_is_mins(table: dict[str, float]) -> None:
    """The tally's eviction picks the lightest label, the first by name among equals, as min() with the key
    (weight, name) does: ties come up often, since most labels start from the same weight."""
    assert au._lightest(table) == min(table, key=lambda k: (table[k], k))
