"""Tests for sourdine.platforms.instagram (and meta.py, which it shares with Threads) on HAND-MADE fixtures
(tests/data/instagram, SOURCES.md): no capture of Instagram's responses could be had, so these follow the
documented structure and are minimal."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from hostile import FRIENDLY_FR, HOSTILE_EN, HOSTILE_FR, SOUR_EN, real_filter
from sourdine.model import Verdict
from sourdine.platforms import instagram, meta

DATA = Path(__file__).parent / "data" / "instagram"
GRAPHQL = "graphql_home_feed.handmade.json"
TIMELINE = "feed_timeline.handmade.json"
COMMENTS = "media_comments.handmade.json"
PAGE = "home_page.handmade.html"
M = "330000000000000000"

HIDE = Verdict("hide", "outrage, score 0.91")
FOLD = Verdict("collapse", "negativity, score 0.70")


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def edges(doc: Any) -> list[dict[str, Any]]:
    return doc["data"]["xdt_api__v1__feed__timeline__connection"]["edges"]


@pytest.mark.parametrize(("name", "endpoint", "ids"), [
    (GRAPHQL, "graphql", [M + "1", M + "2", M + "3", M + "4"]),
    (TIMELINE, "timeline", [M + "1", M + "2", M + "3"]),
    (COMMENTS, "comments", ["17900000000000001", "17900000000000002", "17900000000000003"]),
])
def test_posts_reads_media_and_comments(name: str, endpoint: str, ids: list[str]) -> None:
    """Media by caption and user, comments by text and user, each once; captions alone are not posts."""
    found = instagram.posts(endpoint, load(name))
    assert [p.id for p in found] == ids
    assert all(p.author and p.author_id and p.text for p in found)
    first = instagram.posts("graphql", load(GRAPHQL))[0]
    assert (first.author, first.author_name, first.text) == ("alice.m", "Alice Martin", "First caption text")
    assert first.url == "https://www.instagram.com/p/DAaaa1/"


def test_hide_removes_the_edge_and_keeps_paging() -> None:
    """A hidden post's edge leaves the feed; the end-of-feed item and page_info stay."""
    doc = load(GRAPHQL)
    before = copy.deepcopy(doc)
    assert instagram.rewrite("graphql", doc, {M + "2": HIDE})
    assert [e["cursor"] for e in edges(doc)] == ["cur0", "cur2", "cur3", "cur-end"]
    connection = doc["data"]["xdt_api__v1__feed__timeline__connection"]
    assert connection["page_info"] == before["data"]["xdt_api__v1__feed__timeline__connection"]["page_info"]
    timeline = load(TIMELINE)
    assert instagram.rewrite("timeline", timeline, {M + "1": HIDE, M + "3": HIDE})
    assert len(timeline["feed_items"]) == 2 and "end_of_feed_demarcator" in timeline["feed_items"][1]
    assert timeline["next_max_id"] == "QVFEVGhp" and timeline["more_available"] is True
    comments = load(COMMENTS)
    assert instagram.rewrite("comments", comments, {"17900000000000002": HIDE})
    assert [c["pk"] for c in comments["comments"]] == ["17900000000000001", "17900000000000003"]
    assert comments["next_min_id"] == load(COMMENTS)["next_min_id"]


def test_fold_replaces_the_caption() -> None:
    """A folded post's caption reads as the placeholder; the rest of the document is as sent."""
    doc = load(GRAPHQL)
    assert instagram.rewrite("graphql", doc, {M + "3": FOLD})
    media = edges(doc)[2]["node"]["media"]
    assert media["caption"]["text"] == f"Sourdine folded this post: negativity, score 0.70 [sourdine:instagram:{M}3]"
    media["caption"]["text"] = "Third caption text"
    assert doc == load(GRAPHQL)


def test_home_page_first_page() -> None:
    """The home page's embedded feed is read and rewritten; the other scripts and the markup are as sent."""
    raw = (DATA / PAGE).read_bytes()
    page = instagram.parse("page", raw)
    assert [p.id for p in instagram.posts("page", page)] == [M + "1", M + "2"]
    assert instagram.rewrite("page", page, {M + "1": HIDE})
    out = instagram.serialize("page", page)
    head = raw[:raw.index(b'<script type="application/json" data-content-len="900"')]
    assert out.startswith(head) and out.endswith(raw[raw.index(b"</script>\n<script>requireLazy"):])
    assert [p.id for p in instagram.posts("page", instagram.parse("page", out))] == [M + "2"]
    login = instagram.parse("page", b"<html><body>login</body></html>")
    assert instagram.posts("page", login) == [] and not instagram.rewrite("page", login, {M + "1": HIDE})


@pytest.mark.parametrize("doc", [None, [], {}, {"user": {"username": "a"}, "pk": True, "caption": None},
                                 {"items": [{"pk": 5, "user": {"username": 3}, "caption": {}}]}])
def test_odd_documents(doc: Any) -> None:
    assert instagram.posts("graphql", doc) == []
    assert not instagram.rewrite("graphql", doc, {"5": HIDE})


def test_a_hidden_top_level_document_is_folded_not_dropped() -> None:
    """A post that is the document itself (no list holds it) cannot leave: its caption says it was hidden."""
    doc = {"pk": "1", "user": {"username": "a", "pk": "9"}, "caption": {"text": "x"}}
    assert meta.rewrite("instagram", doc, {"1": HIDE})
    assert doc["caption"]["text"] == "Sourdine hid this post: outrage, score 0.91"


def test_endpoints_match_the_rules_file() -> None:
    from sourdine import rules

    platform = rules.platforms()["instagram"]
    assert {name for name, _ in platform.feeds} == instagram.ENDPOINTS
    assert platform.endpoint("/graphql/query") == "graphql"
    assert platform.endpoint("/api/v1/feed/timeline/") == "timeline"
    assert platform.endpoint("/api/v1/media/3300000000000000001/comments/") == "comments"
    with pytest.raises(ValueError, match="unknown Instagram endpoint"):
        instagram.posts("nope", {})


def test_hostile_posts_en_fr_are_caught() -> None:
    """Through the real engine: hostile en/fr posts leave the feed, a sour one is folded and kept in memory."""
    doc = load(GRAPHQL)
    for edge, text in zip(edges(doc), [HOSTILE_FR, SOUR_EN, FRIENDLY_FR, HOSTILE_EN], strict=False):
        edge["node"]["media"]["caption"]["text"] = text
    new, engine = real_filter("instagram", "graphql", orjson.dumps(doc))
    assert new is not None
    left = {p.id: p.text for p in instagram.posts("graphql", orjson.loads(new))}
    assert set(left) == {M + "2", M + "3"} and left[M + "3"] == FRIENDLY_FR
    assert engine.originals.get("instagram", M + "2") == SOUR_EN
