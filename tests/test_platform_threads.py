"""Tests for sourdine.platforms.threads on HAND-MADE fixtures (tests/data/threads, SOURCES.md): no capture of
Threads' responses could be had, so these follow the documented structure and are minimal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import grows_linearly
from hostile import FRIENDLY_EN, HOSTILE_EN, HOSTILE_FR, SOUR_FR, real_filter
from sourdine.model import Verdict
from sourdine.platforms import threads

DATA = Path(__file__).parent / "data" / "threads"
FEED = "graphql_feed.handmade.json"
PAGE = "profile_page.handmade.html"
T = "360000000000000000"

HIDE = Verdict("hide", "outrage, score 0.91")
FOLD = Verdict("collapse", "negativity, score 0.70")


def load() -> Any:
    return orjson.loads((DATA / FEED).read_bytes())


def thread_ids(doc: Any) -> list[list[str]]:
    return [[i["post"]["pk"] for i in e["node"]["text_post_app_thread"]["thread_items"]]
            for e in doc["data"]["feedData"]["edges"]]


def test_posts_reads_threads_items_and_quotes() -> None:
    """Every thread item's post, and a quoted post inside one, each once, with its author and url."""
    found = threads.posts("graphql", load())
    assert [p.id for p in found] == [T + "1", T + "2", T + "9", T + "3", T + "4"]
    assert found[0].url == "https://www.threads.net/@eva.roux/post/DQaaa1"
    assert (found[2].author, found[2].text) == ("hugo.v", "Quoted post text")


def test_hide_a_thread_item_and_an_emptied_thread() -> None:
    """Hiding a self-reply takes its item only; hiding a thread's only post takes the thread's edge; page_info
    stays."""
    doc = load()
    assert threads.rewrite("graphql", doc, {T + "4": HIDE, T + "1": HIDE})
    assert thread_ids(doc) == [[T + "2"], [T + "3"]]
    assert doc["data"]["feedData"]["page_info"] == load()["data"]["feedData"]["page_info"]


def test_a_hidden_quoted_post_is_replaced_not_removed() -> None:
    """Hiding a quoted post leaves the quoting post: the quote's text says Sourdine hid it."""
    doc = load()
    assert threads.rewrite("graphql", doc, {T + "9": HIDE})
    assert thread_ids(doc) == thread_ids(load())
    quoted = doc["data"]["feedData"]["edges"][1]["node"]["text_post_app_thread"]["thread_items"][0]["post"][
        "text_post_app_info"]["share_info"]["quoted_post"]
    assert quoted["caption"]["text"] == "Sourdine hid this post: outrage, score 0.91"


def test_fold_replaces_the_caption() -> None:
    doc = load()
    assert threads.rewrite("graphql", doc, {T + "3": FOLD})
    post = doc["data"]["feedData"]["edges"][2]["node"]["text_post_app_thread"]["thread_items"][0]["post"]
    assert post["caption"]["text"] == f"Sourdine folded this post: negativity, score 0.70 [sourdine:threads:{T}3]"


def test_profile_page_first_page() -> None:
    """The profile page's embedded threads are read and rewritten; the other JSON script is as sent."""
    raw = (DATA / PAGE).read_bytes()
    page = threads.parse("page", raw)
    assert [p.id for p in threads.posts("page", page)] == ["3600000000000000011", "3600000000000000012"]
    assert threads.rewrite("page", page, {"3600000000000000011": HIDE})
    out = threads.serialize("page", page)
    assert [p.id for p in threads.posts("page", threads.parse("page", out))] == ["3600000000000000012"]
    tail = raw[raw.index(b'</script>\n<script type="application/json" data-sjs>{"require":[["Bootloader"'):]
    assert out.endswith(tail)


def test_endpoints_match_the_rules_file() -> None:
    from sourdine import rules

    platform = rules.platforms()["threads"]
    assert {name for name, _ in platform.feeds} == threads.ENDPOINTS
    for path in ("/", "/@eva.roux", "/@eva.roux/post/DQaaa1"):
        assert platform.endpoint(path) == "page", path
    assert platform.endpoint("/api/graphql") == "graphql"
    with pytest.raises(ValueError, match="unknown Threads endpoint"):
        threads.posts("nope", {})


def test_hostile_posts_en_fr_are_caught() -> None:
    """Through the real engine: hostile en/fr posts leave, a sour fr one is folded and kept, a friendly one
    is as sent."""
    doc = load()
    items = [i for e in doc["data"]["feedData"]["edges"] for i in e["node"]["text_post_app_thread"]["thread_items"]]
    for item, text in zip(items, [HOSTILE_EN, FRIENDLY_EN, SOUR_FR, HOSTILE_FR], strict=True):
        item["post"]["caption"]["text"] = text
    new, engine = real_filter("threads", "graphql", orjson.dumps(doc))
    assert new is not None
    after = orjson.loads(new)
    assert thread_ids(after) == [[T + "2"], [T + "3"]]
    assert engine.originals.get("threads", T + "3") == SOUR_FR


def test_hiding_thousands_of_threads_is_linear() -> None:
    """Hiding every other thread of a long feed removes them in time linear in the feed (a search and a `del` per
    hidden thread was quadratic: a second for a 17 MB feed), and leaves the others in order."""

    def hide_half(n: int) -> None:
        doc = load()
        edges = doc["data"]["feedData"]["edges"]
        doc["data"]["feedData"]["edges"] = [
            {"node": {"text_post_app_thread": {"thread_items": [
                {"post": {**edges[0]["node"]["text_post_app_thread"]["thread_items"][0]["post"], "pk": f"{i}"}}]}}}
            for i in range(n)]
        assert threads.rewrite("graphql", doc, {f"{i}": HIDE for i in range(0, n, 2)})
        assert thread_ids(doc) == [[f"{i}"] for i in range(1, n, 2)]

    grows_linearly(hide_half, 2_000)
