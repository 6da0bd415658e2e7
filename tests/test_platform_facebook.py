"""Tests for sourdine.platforms.facebook on HAND-MADE fixtures (tests/data/facebook, SOURCES.md): no capture
of Facebook's responses could be had, so these follow the documented structure and are minimal."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hostile import FRIENDLY_EN, HOSTILE_EN, HOSTILE_FR, SOUR_FR, real_filter
from sourdine.model import Verdict
from sourdine.platforms import facebook

DATA = Path(__file__).parent / "data" / "facebook"
FEED = "graphql_news_feed.handmade.ndjson"
COMMENTS = "graphql_comments.handmade.json"
S1, S2, S3, S4 = "UzpfSTEwMDAwMTpWSzox", "UzpfSTEwMDAwMjpWSzoy", "UzpfSTEwMDAwMzpWSzoz", "UzpfSTEwMDAwNDpWSzo0"

HIDE = Verdict("hide", "outrage, score 0.91")
FOLD = Verdict("collapse", "negativity, score 0.70")


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def filtered(name: str, verdicts: dict[str, Verdict]) -> tuple[bytes, bytes]:
    body = raw(name)
    doc = facebook.parse("graphql", body)
    facebook.rewrite("graphql", doc, verdicts)
    return body, facebook.serialize("graphql", doc)


def test_posts_reads_stories_from_every_line_and_comments() -> None:
    """Stories come from the first document and the streamed ones, a deferred message joins its story by id,
    authors come from `actors`; comments from `body` and `author`, behind the `for (;;);` guard."""
    found = facebook.posts("graphql", facebook.parse("graphql", raw(FEED)))
    assert [(p.id, p.author_id, p.text) for p in found] == [
        (S1, "100001", "First story text"), (S2, "100002", "Second story text"),
        (S3, "100003", "Third story text"), (S4, "100004", "Fourth story text")]
    comments = facebook.posts("graphql", facebook.parse("graphql", raw(COMMENTS)))
    assert [(p.id, p.author) for p in comments] == [("9001", "Eva Roux"), ("9002", "Farid Benali"),
                                                    ("9003", "Grace Lee")]


def test_untouched_bodies_and_lines_go_out_byte_for_byte() -> None:
    """With no verdict the body is as sent; with one, only the lines holding that post change."""
    body, out = filtered(FEED, {})
    assert out == body
    body, out = filtered(FEED, {S3: FOLD})
    before, after = body.split(b"\n"), out.split(b"\n")
    assert len(before) == len(after)
    # Story 3 arrives on line 1 without its words; its deferred message, on line 2, is the only change.
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [2]
    assert all(line.endswith(b"\r") for line in after[:-1]), "line ends kept"


def test_fold_replaces_every_copy_of_the_text_and_keeps_the_item() -> None:
    """Folding replaces the message in every copy of the story with the placeholder and its marker, and empties
    the ranges; no edge, path or cursor is removed."""
    body, out = filtered(FEED, {S1: FOLD})
    assert b"First story text" not in out
    first = orjson.loads(out.split(b"\n")[0])
    edges = first["data"]["viewer"]["news_feed"]["edges"]
    message = edges[0]["node"]["comet_sections"]["content"]["story"]["message"]
    assert message == {"text": f"Sourdine folded this post: negativity, score 0.70 [sourdine:facebook:{S1}]",
                       "ranges": [], "delight_ranges": []}
    assert [e["cursor"] for e in edges] == ["c1", "c2"]
    assert first["data"]["viewer"]["news_feed"]["page_info"] == {"has_next_page": True, "end_cursor": "c2"}


def test_hide_replaces_the_text_too_and_says_so() -> None:
    """A hidden story is not removed (that can break the page): its text says Sourdine hid it, and being
    replaced it stays revealable (the marker); a hidden comment likewise."""
    _, out = filtered(FEED, {S3: HIDE})
    assert b"Third story text" not in out
    assert f"Sourdine hid this post: outrage, score 0.91 [sourdine:facebook:{S3}]".encode() in out
    assert len(out.split(b"\n")) == len(raw(FEED).split(b"\n"))
    body, out = filtered(COMMENTS, {"9002": HIDE})
    assert out.startswith(b"for (;;);") and b"Second comment text" not in out
    doc = orjson.loads(out[len(b"for (;;);"):])
    edges = doc["data"]["node"]["comment_rendering_instance_for_feed_location"]["comments"]["edges"]
    assert len(edges) == 3
    assert edges[1]["node"]["body"]["text"] == "Sourdine hid this post: outrage, score 0.91 [sourdine:facebook:9002]"


@pytest.mark.parametrize("body", [b"", b"\n\n", b"[]", b'{"data": null}', b'{"__typename": "Story"}',
                                  b'{"__typename": "Story", "id": "a", "message": 3}'])
def test_odd_bodies(body: bytes) -> None:
    doc = facebook.parse("graphql", body)
    assert facebook.posts("graphql", doc) == []
    assert not facebook.rewrite("graphql", doc, {"a": HIDE})


def test_a_broken_line_is_an_error() -> None:
    """A line that is not JSON raises, so the engine lets the whole body through unchanged."""
    with pytest.raises(orjson.JSONDecodeError):
        facebook.parse("graphql", raw(FEED) + b"\n{not json")


def test_endpoints_match_the_rules_file() -> None:
    from sourdine import rules

    platform = rules.platforms()["facebook"]
    assert {name for name, _ in platform.feeds} == facebook.ENDPOINTS
    assert platform.endpoint("/api/graphql/") == "graphql"
    with pytest.raises(ValueError, match="unknown Facebook endpoint"):
        facebook.posts("nope", facebook.parse("graphql", b""))


def test_hostile_stories_en_fr_are_caught_and_the_original_is_kept() -> None:
    """Through the real engine: hostile en/fr stories read as hidden, a sour fr one as folded, each with its
    original kept in memory (replaced, never removed), a friendly one as sent."""
    body = raw(FEED)
    for old, new in (("First story text", HOSTILE_EN), ("Second story text", SOUR_FR),
                     ("Third story text", HOSTILE_FR), ("Fourth story text", FRIENDLY_EN)):
        body = body.replace(old.encode(), orjson.dumps(new)[1:-1])
    new_body, engine = real_filter("facebook", "graphql", body)
    assert new_body is not None
    texts = {p.id: p.text for p in facebook.posts("graphql", facebook.parse("graphql", new_body))}
    assert texts[S1].startswith("Sourdine hid this post") and texts[S3].startswith("Sourdine hid this post")
    assert texts[S2].startswith("Sourdine folded this post") and texts[S4] == FRIENDLY_EN
    assert engine.originals.get("facebook", S2) == SOUR_FR
    assert engine.originals.get("facebook", S1) == HOSTILE_EN


@pytest.mark.parametrize("name", [FEED, COMMENTS])
def test_rewrite_after_posts_reads_what_posts_found(name: str) -> None:
    """`rewrite` reads the stories and comments `posts` found instead of walking the lines again: the same
    body either way, with or without `posts` first."""
    verdicts = {S1: FOLD, S3: HIDE, "9002": HIDE}
    _, alone = filtered(name, verdicts)
    doc = facebook.parse("graphql", raw(name))
    assert facebook.posts("graphql", doc) and doc.found
    facebook.rewrite("graphql", doc, verdicts)
    assert facebook.serialize("graphql", doc) == alone != raw(name)
