"""Tests for sourdine.platforms.youtube on HAND-MADE fixtures (tests/data/youtube, SOURCES.md): no licensed
capture of YouTube's responses exists here, so these follow the documented structure and are minimal."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from hostile import FRIENDLY_EN, FRIENDLY_FR, HOSTILE_EN, HOSTILE_FR, SOUR_EN, real_filter
from sourdine.model import Verdict
from sourdine.platforms import embedded, youtube

DATA = Path(__file__).parent / "data" / "youtube"
NEXT = "innertube_next_comments.handmade.json"
REPLIES = "innertube_next_replies.handmade.json"
LEGACY = "innertube_browse_legacy.handmade.json"
WATCH = "watch_page.handmade.html"

HIDE = Verdict("hide", "outrage, score 0.91")
FOLD = Verdict("collapse", "negativity, score 0.70")


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def items(doc: Any, index: int = -1) -> list[dict[str, Any]]:
    endpoint = doc["onResponseReceivedEndpoints"][index]
    command = endpoint.get("reloadContinuationItemsCommand") or endpoint["appendContinuationItemsAction"]
    return command["continuationItems"]


def entity_keys(doc: Any) -> list[str]:
    return [m["entityKey"] for m in doc["frameworkUpdates"]["entityBatchUpdate"]["mutations"]]


@pytest.mark.parametrize(("name", "endpoint", "ids"), [
    (NEXT, "next", ["UgxA1", "UgxB2", "UgxC3", "UgxD4"]),
    (REPLIES, "next", ["UgxA1.R1", "UgxA1.R2"]),
    (LEGACY, "browse", ["UgyL1", "UgyL2", "UgyL3"]),
])
def test_posts_reads_threads_replies_and_the_older_shape(name: str, endpoint: str, ids: list[str]) -> None:
    """Comments are joined to their text and author through the mutations by commentKey (or read from the
    older commentRenderer)."""
    found = youtube.posts(endpoint, load(name))
    assert [p.id for p in found] == ids
    assert all(p.text and p.author.startswith("@") and p.author_id.startswith("UC") for p in found)
    assert found[0].text in ("First comment text", "First reply text", "Legacy first")


def test_hide_drops_the_thread_and_its_entity_and_keeps_continuations() -> None:
    """A hidden thread leaves its list and its commentEntityPayload leaves the mutations; the header, the
    next-page continuation and the other threads stay as sent."""
    doc = load(NEXT)
    before = copy.deepcopy(doc)
    assert youtube.rewrite("next", doc, {"UgxB2": HIDE})
    assert len(items(doc)) == len(items(before)) - 1
    assert items(doc)[-1] == items(before)[-1] and "continuationItemRenderer" in items(doc)[-1]
    assert items(doc, 0) == items(before, 0)
    assert "Ek0BBB2" not in entity_keys(doc) and "toolbar-UgxB2" in entity_keys(doc)
    assert [youtube.posts("next", doc)[i].id for i in range(3)] == ["UgxA1", "UgxC3", "UgxD4"]


def test_hide_every_comment_keeps_every_continuation() -> None:
    """All comments hidden: only continuation items are left, in order, in each list."""
    for name, endpoint in ((NEXT, "next"), (REPLIES, "next"), (LEGACY, "browse")):
        doc = load(name)
        ids = [p.id for p in youtube.posts(endpoint, doc)]
        youtube.rewrite(endpoint, doc, dict.fromkeys(ids, HIDE))
        assert youtube.posts(endpoint, doc) == []
        assert all("continuationItemRenderer" in i for i in items(doc))
        assert [i for i in items(load(name)) if "continuationItemRenderer" in i] == items(doc)


def test_fold_replaces_the_text_with_the_placeholder() -> None:
    """A folded comment's text becomes Sourdine's placeholder (the style runs of the old text go); the rest of
    the entity and every other comment are as sent."""
    doc = load(NEXT)
    assert youtube.rewrite("next", doc, {"UgxC3": FOLD})
    after = copy.deepcopy({m["entityKey"]: m for m in doc["frameworkUpdates"]["entityBatchUpdate"]["mutations"]})
    before = {m["entityKey"]: m for m in load(NEXT)["frameworkUpdates"]["entityBatchUpdate"]["mutations"]}
    props = after["Ek0CCC3"]["payload"]["commentEntityPayload"]["properties"]
    assert props.pop("content") == {
        "content": "Sourdine folded this post: negativity, score 0.70 [sourdine:youtube:UgxC3]"}
    before["Ek0CCC3"]["payload"]["commentEntityPayload"]["properties"].pop("content")
    assert after == before
    assert items(doc) == items(load(NEXT))
    assert not youtube.rewrite("next", doc, {"UgxC3": FOLD}), "folding twice changes nothing"


def test_fold_the_older_shape_and_a_reply_inside_a_thread() -> None:
    """An older commentRenderer gets the placeholder as its contentText."""
    doc = load(LEGACY)
    assert youtube.rewrite("browse", doc, {"UgyL2": FOLD})
    renderer = items(doc)[1]["commentThreadRenderer"]["comment"]["commentRenderer"]
    assert renderer["contentText"]["runs"][0]["text"].startswith("Sourdine folded this post: negativity, score 0.70")


def test_watch_page_only_the_embedded_data_changes() -> None:
    """On the watch page, only ytInitialData's text changes: the page before and after it is byte for byte as
    sent, and a `</script>` inside the data stays escaped."""
    raw = (DATA / WATCH).read_bytes()
    page = youtube.parse("watch", raw)
    assert [p.id for p in youtube.posts("watch", page)] == ["UgzW1", "UgzW2"]
    assert youtube.rewrite("watch", page, {"UgzW1": HIDE, "UgzW2": FOLD})
    out = youtube.serialize("watch", page)
    head, tail = raw.split(b"var ytInitialData = ", 1)
    assert out.startswith(head + b"var ytInitialData = ")
    assert out.endswith(tail[tail.index(b";</script>"):])
    assert out.count(b"</script>") == raw.count(b"</script>")
    again = embedded.find(out, ("ytInitialData",))
    assert again is not None
    assert [p.id for p in youtube.posts("watch", again)] == ["UgzW2"]
    assert "A video </script> title" in json.dumps(again.data)


def test_watch_page_without_data_is_an_error() -> None:
    """A page with no ytInitialData raises, so the engine lets it through unchanged."""
    with pytest.raises(ValueError):
        youtube.parse("watch", b"<html><script>var other = {};</script></html>")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "123456789012345678901234567890"])
def test_a_watch_page_with_values_orjson_cannot_write_back_is_left_as_it_came(value: str) -> None:
    """When ytInitialData is followed by more code in its script, the standard decoder reads it, and that decoder
    takes what JavaScript takes and orjson cannot write back (NaN, Infinity, numbers past a double's range; a
    review found them rewritten as null) or at all (integers past 64 bits): parse refuses the page, and the
    engine sends it unchanged. Values orjson writes back as the same number still go through."""
    raw = (DATA / WATCH).read_bytes()
    head, tail = raw.split(b"var ytInitialData = {", 1)
    odd = head + b'var ytInitialData = {"zz": ' + value.encode() + b", " + tail.replace(b";</script>",
                                                                                        b"; var more = 1;</script>", 1)
    with pytest.raises(ValueError):
        youtube.parse("watch", odd)
    fine = odd.replace(b'"zz": ' + value.encode(), b'"zz": 18446744073709551615')
    page = youtube.parse("watch", fine)
    assert [p.id for p in youtube.posts("watch", page)] == ["UgzW1", "UgzW2"]
    assert b'"zz":18446744073709551615' in youtube.serialize("watch", page)


@pytest.mark.parametrize("doc", [None, [], {}, {"contents": [{"commentThreadRenderer": None}]},
                                 {"continuationItems": [{"commentViewModel": {"commentKey": 5}}, 3]}])
def test_odd_documents(doc: Any) -> None:
    """Odd shapes are read as far as they go, and rewriting them never raises."""
    assert youtube.posts("next", doc) == []
    assert not youtube.rewrite("next", doc, {"x": HIDE})


def test_endpoints_match_the_rules_file() -> None:
    from sourdine import rules

    platform = rules.platforms()["youtube"]
    assert {name for name, _ in platform.feeds} == youtube.ENDPOINTS
    assert platform.endpoint("/youtubei/v1/next") == "next" and platform.endpoint("/watch") == "watch"
    with pytest.raises(ValueError, match="unknown YouTube endpoint"):
        youtube.posts("nope", {})


def with_texts(name: str, texts: dict[str, str]) -> bytes:
    doc = load(name)
    for m in doc["frameworkUpdates"]["entityBatchUpdate"]["mutations"]:
        entity = m["payload"].get("commentEntityPayload")
        if entity and entity["properties"]["commentId"] in texts:
            entity["properties"]["content"]["content"] = texts[entity["properties"]["commentId"]]
    return orjson.dumps(doc)


def test_hostile_comments_en_fr_are_caught_and_the_original_is_kept() -> None:
    """Through the real engine: hostile en/fr comments hidden, a sour one folded with its original kept in
    memory for the extension, friendly ones as sent."""
    texts = {"UgxA1": HOSTILE_EN, "UgxB2": SOUR_EN, "UgxC3": HOSTILE_FR, "UgxD4": FRIENDLY_FR}
    new, engine = real_filter("youtube", "next", with_texts(NEXT, texts))
    assert new is not None
    left = {p.id: p.text for p in youtube.posts("next", orjson.loads(new))}
    assert set(left) == {"UgxB2", "UgxD4"}
    assert left["UgxD4"] == FRIENDLY_FR
    assert left["UgxB2"].startswith("Sourdine folded this post: ")
    assert engine.originals.get("youtube", "UgxB2") == SOUR_EN
    assert engine.originals.get("youtube", "UgxA1") is None, "a hidden comment's text is not kept"
    replies = with_texts(REPLIES, {"UgxA1.R1": FRIENDLY_EN, "UgxA1.R2": HOSTILE_FR})
    new, _ = real_filter("youtube", "next", replies)
    assert new is not None and [p.id for p in youtube.posts("next", orjson.loads(new))] == ["UgxA1.R1"]
