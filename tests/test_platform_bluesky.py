"""Tests for sourdine.platforms.bluesky on real AppView responses (tests/data/bluesky; tests/data/SOURCES.md
says where each comes from).

Every rewritten response is checked against the AT Protocol lexicons in tests/data/bluesky/lexicons twice:
by tests/lexicon_check.py, written for these tests, and by the validator of the lexrpc package.

Shapes without a recorded sample are built from real posts, and say so: a getPostThread with parents and
nested replies, the same thread as getPostThreadV2 and its replies as getPostThreadOtherV2 (from a real reply
thread in the author feed), a getQuotes page (from the real quote of a post in the author feed). getListFeed
has getTimeline's shape and is tested on the real timeline.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from lexrpc.base import Base as Lexrpc
from lexrpc.base import ValidationError

from conftest import adapter_speed
from lexicon_check import Lexicons, graphemes
from sourdine.model import KEEP, Verdict
from sourdine.platforms import bluesky

DATA = Path(__file__).parent / "data" / "bluesky"
LEXICON_DIR = DATA / "lexicons"
LEXICONS = Lexicons(LEXICON_DIR)
LEXRPC = Lexrpc(lexicons=[orjson.loads(p.read_bytes()) for p in sorted(LEXICON_DIR.glob("*.json"))])

TIMELINE = "bskyr_f_timeline.body.json"
AUTHOR = "bskyr_f_autfeed.body.json"
FEED = "bskyr_f_feedfeed.body.json"
SEARCH = "bskyr_f_search.body.json"
THREAD = "bskyr_f_postthread.body.json"
THREAD_QUOTE = "marshalx_thread_view_post_with_embed_media.json"

NSIDS = {
    "getTimeline": "app.bsky.feed.getTimeline",
    "getFeed": "app.bsky.feed.getFeed",
    "getAuthorFeed": "app.bsky.feed.getAuthorFeed",
    "getListFeed": "app.bsky.feed.getListFeed",
    "searchPosts": "app.bsky.feed.searchPosts",
    "getQuotes": "app.bsky.feed.getQuotes",
    "getPostThread": "app.bsky.feed.getPostThread",
    "getPostThreadV2": "app.bsky.unspecced.getPostThreadV2",
    "getPostThreadOtherV2": "app.bsky.unspecced.getPostThreadOtherV2",
}


def uri(did: str, rkey: str) -> str:
    return f"at://did:plc:{did}/app.bsky.feed.post/{rkey}"


# Real posts named in the tests.
CRAN_FIRST = uri("qnzaaisqa3lafzmtjxt5nt52", "3lpk3nnns5u2b")  # timeline[0]
BSKY_ROOT = uri("z72i7hdynmk6r22z27h6tvur", "3lpk2lf7k6k2t")  # timeline[15]; root of timeline[13] and [14]
BSKY_MIDDLE = uri("z72i7hdynmk6r22z27h6tvur", "3lpk2ljkgjc2t")  # timeline[14]; parent of timeline[13]
BSKY_LAST = uri("z72i7hdynmk6r22z27h6tvur", "3lpk2ljkgjd2t")  # timeline[13]
REPOSTED_QUOTE = uri("wpe35pganb6d4pg4ekmfy6u5", "3lktjjvxvdk2g")  # timeline[39]: a repost of a quote post
QUOTED_BY_REPOST = uri("5c2r73erhng4bszmxlfdtscf", "3lktj6pstuy2n")  # quoted by timeline[39], record#view
QUOTED_WITH_MEDIA = uri("wpe35pganb6d4pg4ekmfy6u5", "3kyw6fpeehk2z")  # author feed[43], quoted by [42]
QUOTING_WITH_MEDIA = uri("wpe35pganb6d4pg4ekmfy6u5", "3kz2mjf5rjs2q")  # author feed[42]
SDK_ANCHOR = uri("kvwvcn5iqfooopmyzvb4qzba", "3kaheyt6vpc22")  # the marshalx anchor, quoting with media
SDK_QUOTED = uri("kvwvcn5iqfooopmyzvb4qzba", "3kahesw26il2z")
# A real reply thread in the author feed: ROOT <- PARENT <- (TYPST <- DINO <- LAST, TYPIST)
T_ROOT = uri("wpe35pganb6d4pg4ekmfy6u5", "3ll2lahbl7c22")
T_PARENT = uri("bbvwih4x3leppgzbwclat57t", "3ll2nk33dwk2l")
T_TYPST = uri("wpe35pganb6d4pg4ekmfy6u5", "3ll2qwaexys2u")
T_DINO = uri("bbvwih4x3leppgzbwclat57t", "3ll2r4pesvc2l")
T_LAST = uri("wpe35pganb6d4pg4ekmfy6u5", "3ll2rqh5jhk22")
T_TYPIST = uri("wpe35pganb6d4pg4ekmfy6u5", "3ll2quy7ib22u")

FOLD = Verdict("collapse", "outrage, score 0.82")
HIDE = Verdict("hide", "outrage, score 0.97")
FOLD_NOTICE = "Folded by Sourdine: outrage, score 0.82. Open the post to read it."


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


# --- documents built from real posts ------------------------------------------------------------------------


def _thread_views() -> dict[str, dict[str, Any]]:
    """The real PostViews of one reply thread, as the author feed carries them (posts, parents and roots)."""
    feed = load(AUTHOR)["feed"]
    views: dict[str, dict[str, Any]] = {}
    for item in feed[13:17]:
        for view in (item["post"], item.get("reply", {}).get("parent"), item.get("reply", {}).get("root")):
            if view is not None:
                view = {k: v for k, v in view.items() if k != "$type"}
                views.setdefault(view["uri"], view)
    assert set(views) == {T_ROOT, T_PARENT, T_TYPST, T_DINO, T_LAST, T_TYPIST}
    return views


def _node(view: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"$type": "app.bsky.feed.defs#threadViewPost", "post": view, **more}


def thread_doc() -> dict[str, Any]:
    """getPostThread anchored on T_PARENT, built from real posts: its parent, and replies two levels deep."""
    v = _thread_views()
    last = _node(v[T_LAST], replies=[])
    dino = _node(v[T_DINO], replies=[last])
    typst = _node(v[T_TYPST], replies=[dino])
    typist = _node(v[T_TYPIST], replies=[])
    anchor = _node(v[T_PARENT], parent=_node(v[T_ROOT]), replies=[typst, typist])
    return {"thread": anchor}


def _item(view: dict[str, Any], depth: int) -> dict[str, Any]:
    value = {
        "$type": "app.bsky.unspecced.defs#threadItemPost",
        "post": view,
        "moreParents": False,
        "moreReplies": 0,
        "opThread": view["author"]["handle"] == "chriskenny.bsky.social",
        "hiddenByThreadgate": False,
        "mutedByViewer": False,
    }
    return {"uri": view["uri"], "depth": depth, "value": value}


V2_ORDER = [(T_ROOT, -1), (T_PARENT, 0), (T_TYPST, 1), (T_DINO, 2), (T_LAST, 3), (T_TYPIST, 1)]


def thread_v2_doc() -> dict[str, Any]:
    """The same real thread as getPostThreadV2 returns it: flat, parents first, a reply before its subtree."""
    v = _thread_views()
    return {"thread": [_item(v[u], depth) for u, depth in V2_ORDER], "hasOtherReplies": False}


def thread_other_doc() -> dict[str, Any]:
    """getPostThreadOtherV2 under T_PARENT, built from the same real replies: no anchor, no parents."""
    return {"thread": [item for item in thread_v2_doc()["thread"] if item["depth"] > 0]}


def quotes_doc() -> dict[str, Any]:
    """getQuotes for QUOTED_WITH_MEDIA, built from the real post in the author feed that quotes it."""
    feed = load(AUTHOR)["feed"]
    quoted = feed[43]["post"]
    assert quoted["uri"] == QUOTED_WITH_MEDIA
    return {"uri": quoted["uri"], "cid": quoted["cid"], "posts": [feed[42]["post"]]}


def document(source: str) -> Any:
    built = {"thread": thread_doc, "thread_v2": thread_v2_doc, "thread_other": thread_other_doc,
             "quotes": quotes_doc}
    return built[source]() if source in built else load(source)


# --- what the tests look with: an independent walk of the JSON ----------------------------------------------


def walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value of a JSON document with its path, in serialisation order."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, i))


def views_in(doc: Any) -> list[dict[str, Any]]:
    """Every view of a post (a PostView, or a quoted viewRecord) anywhere in the document, in order."""
    return [
        node
        for _, node in walk(doc)
        if isinstance(node, dict)
        and isinstance(node.get("uri"), str)
        and "/app.bsky.feed.post/" in node["uri"]
        and isinstance(node.get("author"), dict)
        and ("record" in node or "value" in node)
    ]


def uris_in(doc: Any) -> list[str]:
    return list(dict.fromkeys(view["uri"] for view in views_in(doc)))


# Where another post's own record names a post: a reply's parent and root, a quote's strong ref.
_REFERENCE_TAILS = (
    ("reply", "parent", "uri"),
    ("reply", "root", "uri"),
    ("embed", "record", "uri"),
    ("embed", "record", "record", "uri"),
)


def shown_at(doc: Any, target: str, endpoint: str = "") -> list[tuple[Any, ...]]:
    """The paths where `target` still appears, leaving out references inside other posts' records."""
    found = []
    for path, value in walk(doc):
        if not (isinstance(value, str) and target in value):
            continue
        if endpoint == "getQuotes" and path == ("uri",):
            continue
        if any(
            path[-len(t):] == t and len(path) > len(t) and path[-len(t) - 1] in ("record", "value")
            for t in _REFERENCE_TAILS
        ):
            continue
        found.append(path)
    return found


def assert_valid(endpoint: str, doc: Any) -> None:
    """The document is a valid response of the endpoint for both validators."""
    assert LEXICONS.errors(NSIDS[endpoint], doc) == []
    LEXRPC.validate(NSIDS[endpoint], "output", doc)


def view_of(doc: Any, target: str) -> dict[str, Any]:
    (view,) = [view for view in views_in(doc) if view["uri"] == target][:1]
    return view


# --- the samples and the lexicons ---------------------------------------------------------------------------

ALL_SHAPES = [
    ("getTimeline", TIMELINE),
    ("getListFeed", TIMELINE),
    ("getAuthorFeed", AUTHOR),
    ("getFeed", FEED),
    ("searchPosts", SEARCH),
    ("getQuotes", "quotes"),
    ("getPostThread", THREAD),
    ("getPostThread", THREAD_QUOTE),
    ("getPostThread", "thread"),
    ("getPostThreadV2", "thread_v2"),
    ("getPostThreadOtherV2", "thread_other"),
]


@pytest.mark.parametrize(("endpoint", "source"), ALL_SHAPES)
def test_samples_are_valid_as_received(endpoint: str, source: str) -> None:
    """Every real sample, and every document built from real posts, validates before any rewrite."""
    assert_valid(endpoint, document(source))


def test_lexicons_are_complete_and_as_published() -> None:
    """Every ref in the copied lexicons resolves, and each copy is byte for byte the one lexrpc ships."""
    import lexrpc

    shipped = Path(lexrpc.__file__).parent / "lexicons"
    for path in sorted(LEXICON_DIR.glob("*.json")):
        nsid = path.stem
        if nsid == "app.bsky.feed.defs":  # the supplied copy, from MarshalX/atproto: see SOURCES.md
            continue
        assert path.read_bytes() == shipped.joinpath(*nsid.split(".")).with_suffix(".json").read_bytes(), nsid
    for lexicon in (orjson.loads(p.read_bytes()) for p in LEXICON_DIR.glob("*.json")):
        for _, node in walk(lexicon["defs"]):
            if isinstance(node, dict) and node.get("type") in ("ref", "union"):
                for ref in node.get("refs", [node.get("ref")]):
                    full = f"{lexicon['id']}{ref}" if ref.startswith("#") else ref
                    assert full in LEXICONS.defs, (lexicon["id"], ref)


def _broken(change: Any) -> dict[str, Any]:
    doc = load(TIMELINE)
    change(doc)
    return doc


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def change(doc: Any) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


NOT_FOUND = {"$type": "app.bsky.feed.defs#notFoundPost", "uri": BSKY_MIDDLE, "notFound": True}
PARENT = ("feed", 13, "reply", "parent")

# fmt: off
BROKEN = [
    # what is broken, how, whether lexrpc's validator sees it too
    ("a FeedViewPost without its post", lambda d: d["feed"][0].pop("post"), True),
    ("the feed is not an array", _set(("feed",), {}), True),
    ("a union member without $type", lambda d: d["feed"][13]["reply"]["root"].pop("$type"), True),
    ("notFoundPost without notFound", _set(PARENT, {**NOT_FOUND, "notFound": None}), True),
    ("notFound is not const true", _set(PARENT, {**NOT_FOUND, "notFound": False}), True),
    ("a DID that is not one", _set(("feed", 0, "post", "author", "did"), "nope"), True),
    ("a count that is a string", _set(("feed", 0, "post", "likeCount"), "3"), True),
    ("a datetime that is not one", _set(("feed", 0, "post", "indexedAt"), "yesterday"), True),
    ("an at-uri without authority", _set(PARENT, {**NOT_FOUND, "uri": "at://x"}), True),
    ("a post text of 301 graphemes", _set(("feed", 0, "post", "record", "text"), "a" * 301), True),
    ("a reply parent of an embed's type",
     _set(PARENT, {**NOT_FOUND, "$type": "app.bsky.embed.record#viewNotFound"}), False),
    ("a post embed that is a bare notFoundPost", _set(("feed", 39, "post", "embed"), NOT_FOUND), False),
    ("a record that is not an object", _set(("feed", 0, "post", "record"), "text"), False),
]
# fmt: on


@pytest.mark.parametrize(("what", "change", "lexrpc_sees_it"), BROKEN, ids=[case[0] for case in BROKEN])
def test_validator_rejects_broken_documents(what: str, change: Any, lexrpc_sees_it: bool) -> None:
    """The lexicon check fails on a real timeline broken in one way (and so does lexrpc's, where it looks)."""
    doc = _broken(change)
    assert LEXICONS.errors("app.bsky.feed.getTimeline", doc), what
    if lexrpc_sees_it:
        with pytest.raises(ValidationError):
            LEXRPC.validate("app.bsky.feed.getTimeline", "output", doc)


@pytest.mark.parametrize(
    ("text", "count"),
    [("abc", 3), ("é", 1), ("e\u0301", 1), ("👍🏽", 1), ("👩‍👩‍👧", 1), ("🇫🇷🇨🇦", 2), ("❤️", 1), ("", 0)],
)
def test_grapheme_count(text: str, count: int) -> None:
    """The checker counts what a reader sees as one character as one, for the 300-grapheme post limit."""
    assert graphemes(text) == count


# --- posts() ------------------------------------------------------------------------------------------------

# fmt: off
POST_CASES = [
    # endpoint, source, posts found, uri, did, handle, display name, lang, start of the text
    ("getTimeline", TIMELINE, 50, CRAN_FIRST, "did:plc:qnzaaisqa3lafzmtjxt5nt52", "cranupdates.bsky.social",
     "CRAN Updates", None, "New on CRAN: sfclust (1.0.1). View at https://CRAN.R-project.org/package=sfclust"),
    ("getTimeline", TIMELINE, 50, BSKY_ROOT, "did:plc:z72i7hdynmk6r22z27h6tvur", "bsky.app", "Bluesky", "en",
     "We’re testing a new feature! Starting this week, select accounts can add a livestream link to sites "
     "like YouTube or Twitch, and their Bluesky profile will show they’re live now.\n"
     "Bluesky profile with “live now” indicator"),
    ("getTimeline", TIMELINE, 50, QUOTED_BY_REPOST, "did:plc:5c2r73erhng4bszmxlfdtscf", "bskyr.bsky.social",
     "bskyr R package", None,
     "bskyr now supports link cards! https://github.com/christopherkenny/bskyr/pull/18 is finally closed!"),
    ("getListFeed", TIMELINE, 50, BSKY_MIDDLE, "did:plc:z72i7hdynmk6r22z27h6tvur", "bsky.app", "Bluesky",
     "en", "This is an early test, so only a handful of accounts can go live on Bluesky right now."),
    ("getAuthorFeed", AUTHOR, 80, QUOTED_WITH_MEDIA, "did:plc:wpe35pganb6d4pg4ekmfy6u5",
     "chriskenny.bsky.social", "Chris Kenny", "en",
     "I added a gallery to my website to display some of my #Quarto templates and filters: "
     "christophertkenny.com/quarto.html"),
    ("getAuthorFeed", AUTHOR, 80, T_DINO, "did:plc:bbvwih4x3leppgzbwclat57t", "ryanenos.bsky.social",
     "Ryan Enos", "en", "Am I revealing myself as a dinosaur that that this is the fi"),
    ("getFeed", FEED, 7, "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lndjyecwcs2a",
     "did:plc:z72i7hdynmk6r22z27h6tvur", "bsky.app", "Bluesky", "en",
     "We’re introducing a new layer of verification on Bluesky — a user-friendly, easily recognizable blue "
     "check."),
    ("searchPosts", SEARCH, 26, "at://did:plc:pjiafkey2cokiupsxpswqlk7/app.bsky.feed.post/3lpjgwfr3gs27",
     "did:plc:pjiafkey2cokiupsxpswqlk7", "marcelias.bsky.social", "Marc Elias", "en",
     "NEW: To start the week, I lay out what to watch in the courts this week"),
    ("getQuotes", "quotes", 2, QUOTED_WITH_MEDIA, "did:plc:wpe35pganb6d4pg4ekmfy6u5",
     "chriskenny.bsky.social", "Chris Kenny", "en", "I added a gallery to my website"),
    ("getPostThread", THREAD, 1, "at://did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/app.bsky.feed.post/3k7qmjev5lr2s",
     "did:plc:ic6zqvuw5ulmfpjiwnhsr2ns", "soubhikbarari.bsky.social", "Soubhik Barari", "en",
     "Excited to be a speaker for the \n@rstatsai conf on Oct 19 @Georgetown!"),
    ("getPostThread", THREAD_QUOTE, 2, SDK_QUOTED, "did:plc:kvwvcn5iqfooopmyzvb4qzba", "test.marshal.dev",
     "Python SDK", "en", "test"),
    ("getPostThread", "thread", 6, T_LAST, "did:plc:wpe35pganb6d4pg4ekmfy6u5", "chriskenny.bsky.social",
     "Chris Kenny", "en", "Definitely not. It's only about 5 years old and is gaining s"),
    ("getPostThreadV2", "thread_v2", 6, T_ROOT, "did:plc:wpe35pganb6d4pg4ekmfy6u5", "chriskenny.bsky.social",
     "Chris Kenny", "en", "I've been playing with Quarto shortcodes, so here's a simple"),
    ("getPostThreadOtherV2", "thread_other", 4, T_TYPIST, "did:plc:wpe35pganb6d4pg4ekmfy6u5",
     "chriskenny.bsky.social", "Chris Kenny", "en", "Typist’s online editor (typst.app) has a tex to typ"),
]
# fmt: on


@pytest.mark.parametrize(
    ("endpoint", "source", "count", "target", "did", "handle", "name", "lang", "text"), POST_CASES
)
def test_posts_reads_real_posts(
    endpoint: str, source: str, count: int, target: str, did: str, handle: str, name: str, lang: str | None,
    text: str,
) -> None:
    """posts() finds every post view in document order, each uri once, with author, language, text and URL."""
    doc = document(source)
    found = bluesky.posts(endpoint, doc)
    assert [post.id for post in found] == uris_in(doc)
    assert len(found) == count
    post = next(post for post in found if post.id == target)
    view = view_of(doc, target)
    record = view.get("record", view.get("value"))
    assert (post.author_id, post.author, post.author_name, post.lang) == (did, handle, name, lang)
    assert post.text.startswith(text)
    assert post.text.startswith(record["text"])
    assert post.url == f"https://bsky.app/profile/{handle}/post/{target.rsplit('/', 1)[1]}"


def test_posts_of_a_feed_item_come_in_document_order() -> None:
    """A reply in a feed gives its own post, then its root, then its parent, as the JSON has them."""
    found = [post.id for post in bluesky.posts("getTimeline", load(TIMELINE))]
    assert found[13:16] == [BSKY_LAST, BSKY_ROOT, BSKY_MIDDLE]  # timeline[14] and [15] were already met


def test_posts_reads_image_alt_text() -> None:
    """An image's alt text is the author's words too, and joins the text after the body."""
    (post,) = [p for p in bluesky.posts("getTimeline", load(TIMELINE)) if p.id.endswith("/3lpemtiogea2q")]
    assert post.text.endswith('\nA hexagon logo for bskyr with the letters "bskyr" on a cloud')


def test_posts_reads_alt_text_of_quote_with_media_and_video() -> None:
    """Alt texts in recordWithMedia and video embeds count; a starter pack embed is not a post."""
    doc = load(FEED)
    record = doc["feed"][1]["post"]["record"]
    record["embed"] = {
        "$type": "app.bsky.embed.recordWithMedia",
        "record": {"$type": "app.bsky.embed.record", "record": {"uri": CRAN_FIRST, "cid": "bafyrei"}},
        "media": {"$type": "app.bsky.embed.video", "alt": "a video", "video": {}},
    }
    found = {post.id: post for post in bluesky.posts("getFeed", doc)}
    assert found[doc["feed"][1]["post"]["uri"]].text == record["text"] + "\na video"
    assert not any("starterpack" in post_id for post_id in found)


def test_url_of_an_invalid_handle_uses_the_did() -> None:
    """A handle the AppView marks invalid cannot be in a URL: bsky.app takes the DID there too."""
    doc = load(THREAD)
    doc["thread"]["post"]["author"]["handle"] = "handle.invalid"
    (post,) = bluesky.posts("getPostThread", doc)
    assert post.url == "https://bsky.app/profile/did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/post/3k7qmjev5lr2s"


# --- hide ---------------------------------------------------------------------------------------------------

# fmt: off
HIDE_CASES = [
    # endpoint, source, hidden post: a feed item, a reply parent or root, a quote, a thread node
    ("getTimeline", TIMELINE, CRAN_FIRST),
    ("getTimeline", TIMELINE, BSKY_MIDDLE),        # a feed item and the parent of another
    ("getTimeline", TIMELINE, BSKY_ROOT),          # a feed item and the root of two others
    ("getTimeline", TIMELINE, QUOTED_BY_REPOST),   # quoted (record#view) by a repost
    ("getTimeline", TIMELINE, REPOSTED_QUOTE),     # a repost
    ("getListFeed", TIMELINE, BSKY_ROOT),
    ("getAuthorFeed", AUTHOR, QUOTED_WITH_MEDIA),  # a feed item quoted with media by another
    ("getAuthorFeed", AUTHOR, T_PARENT),           # the parent of two feed items, the root of none
    ("getAuthorFeed", AUTHOR, uri("qnzaaisqa3lafzmtjxt5nt52", "3loacnvvpgn22")),  # quoted with media only
    ("getFeed", FEED, "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lpd3zz5gy222"),
    ("searchPosts", SEARCH, "at://did:plc:pjiafkey2cokiupsxpswqlk7/app.bsky.feed.post/3lpjgwfr3gs27"),
    ("searchPosts", SEARCH, "at://did:plc:s7savtl25cqhm3ddqc7jeljx/app.bsky.feed.post/3lpk2r5h5ec2j"),
    ("getQuotes", "quotes", QUOTING_WITH_MEDIA),
    ("getQuotes", "quotes", QUOTED_WITH_MEDIA),
    ("getPostThread", THREAD_QUOTE, SDK_QUOTED),
    ("getPostThread", "thread", T_ROOT),
    ("getPostThread", "thread", T_TYPST),
    ("getPostThread", "thread", T_LAST),
    ("getPostThreadV2", "thread_v2", T_ROOT),
    ("getPostThreadV2", "thread_v2", T_TYPST),
    ("getPostThreadV2", "thread_v2", T_TYPIST),
    ("getPostThreadOtherV2", "thread_other", T_TYPST),
    ("getPostThreadOtherV2", "thread_other", T_LAST),
]
# fmt: on


@pytest.mark.parametrize(("endpoint", "source", "target"), HIDE_CASES)
def test_hidden_post_shows_nowhere_and_the_response_validates(
    endpoint: str, source: str, target: str
) -> None:
    """A hidden post's uri is left only in other posts' own records; the response still validates."""
    doc = document(source)
    assert shown_at(doc, target, endpoint), "the case must show the post before the rewrite"
    assert bluesky.rewrite(endpoint, doc, {target: HIDE}) is True
    serialized = orjson.dumps(doc)
    assert shown_at(orjson.loads(serialized), target, endpoint) == []
    references = [path for path, value in walk(doc) if isinstance(value, str) and target in value]
    assert serialized.decode().count(target) == len(references)  # every occurrence is a reference kept
    assert target not in [post.id for post in bluesky.posts(endpoint, doc)]
    assert_valid(endpoint, doc)


def test_hide_drops_the_feed_item_and_keeps_the_others_in_order() -> None:
    """Hiding a timeline post drops its FeedViewPost; the other 48 stay in order, as the same objects."""
    doc = load(TIMELINE)
    items = list(doc["feed"])
    assert bluesky.rewrite("getTimeline", doc, {CRAN_FIRST: HIDE}) is True
    assert len(doc["feed"]) == 48
    assert all(a is b for a, b in zip(doc["feed"], items[1:], strict=True))
    assert doc == {**load(TIMELINE), "feed": load(TIMELINE)["feed"][1:]}


def test_hidden_parent_drops_the_reply_context_only() -> None:
    """A reply whose parent is hidden stays, without its `reply` view; its own record still names it."""
    doc = load(TIMELINE)
    assert bluesky.rewrite("getTimeline", doc, {BSKY_MIDDLE: HIDE}) is True
    expected = load(TIMELINE)
    del expected["feed"][14]
    del expected["feed"][13]["reply"]
    assert doc == expected
    assert doc["feed"][13]["post"]["record"]["reply"]["parent"]["uri"] == BSKY_MIDDLE


@pytest.mark.parametrize(
    ("endpoint", "source", "quoting", "target", "media"),
    [
        ("getTimeline", TIMELINE, REPOSTED_QUOTE, QUOTED_BY_REPOST, None),
        ("getAuthorFeed", AUTHOR, QUOTING_WITH_MEDIA, QUOTED_WITH_MEDIA, "app.bsky.embed.external#view"),
        ("getPostThread", THREAD_QUOTE, SDK_ANCHOR, SDK_QUOTED, "app.bsky.embed.images#view"),
    ],
)
def test_hidden_quote_leaves_the_quoting_post_and_its_media(
    endpoint: str, source: str, quoting: str, target: str, media: str | None
) -> None:
    """A hidden quoted post: a record#view embed goes, a recordWithMedia#view keeps its media, no more."""
    doc = document(source)
    expected = copy.deepcopy(doc)
    assert bluesky.rewrite(endpoint, doc, {target: HIDE}) is True
    if endpoint == "getAuthorFeed":
        expected["feed"] = [item for item in expected["feed"] if item["post"]["uri"] != target]
    view = view_of(expected, quoting)
    if media is None:
        del view["embed"]
    else:
        view["embed"] = view["embed"]["media"]
        assert view["embed"]["$type"] == media
    assert doc == expected


def test_hidden_thread_reply_takes_its_subtree() -> None:
    """A hidden reply leaves the thread with the replies under it; its sibling stays."""
    doc = thread_doc()
    assert bluesky.rewrite("getPostThread", doc, {T_TYPST: HIDE}) is True
    assert [r["post"]["uri"] for r in doc["thread"]["replies"]] == [T_TYPIST]
    assert uris_in(doc) == [T_PARENT, T_ROOT, T_TYPIST]


def test_hidden_thread_parent_cuts_the_chain() -> None:
    """A hidden parent is cut from the anchor: `parent` is optional, and nothing false stands in for it."""
    doc = thread_doc()
    assert bluesky.rewrite("getPostThread", doc, {T_ROOT: HIDE}) is True
    expected = thread_doc()
    del expected["thread"]["parent"]
    assert doc == expected


@pytest.mark.parametrize(
    ("target", "left"),
    [
        (T_ROOT, [(T_PARENT, 0), (T_TYPST, 1), (T_DINO, 2), (T_LAST, 3), (T_TYPIST, 1)]),
        (T_TYPST, [(T_ROOT, -1), (T_PARENT, 0), (T_TYPIST, 1)]),
        (T_DINO, [(T_ROOT, -1), (T_PARENT, 0), (T_TYPST, 1), (T_TYPIST, 1)]),
        (T_TYPIST, [(T_ROOT, -1), (T_PARENT, 0), (T_TYPST, 1), (T_DINO, 2), (T_LAST, 3)]),
    ],
)
def test_hidden_v2_items_take_their_subtree(target: str, left: list[tuple[str, int]]) -> None:
    """getPostThreadV2: a hidden reply goes with the items under it, a hidden parent with those above it."""
    doc = thread_v2_doc()
    items = {item["uri"]: item for item in doc["thread"]}
    assert bluesky.rewrite("getPostThreadV2", doc, {target: HIDE}) is True
    assert [(item["uri"], item["depth"]) for item in doc["thread"]] == left
    assert all(item is items[item["uri"]] for item in doc["thread"])


THREADS = [("getPostThread", "thread"), ("getPostThreadV2", "thread_v2")]


@pytest.mark.parametrize(("endpoint", "source"), THREADS)
def test_hidden_anchor_keeps_only_sourdines_notice(endpoint: str, source: str) -> None:
    """A thread must have its anchor: a hidden one says "Hidden by Sourdine: <reason>." and nothing else."""
    doc = document(source)
    original = copy.deepcopy(view_of(doc, T_PARENT))
    assert bluesky.rewrite(endpoint, doc, {T_PARENT: HIDE}) is True
    anchor = view_of(doc, T_PARENT)
    assert anchor["record"] == {"$type": "app.bsky.feed.post", "createdAt": original["record"]["createdAt"],
                                "langs": ["en"], "reply": original["record"]["reply"],
                                "text": "Hidden by Sourdine: outrage, score 0.97."}
    assert {k: v for k, v in anchor.items() if k != "record"} == {
        k: v for k, v in original.items() if k not in ("record", "embed")
    }
    assert original["record"]["text"] not in orjson.dumps(doc).decode()
    assert_valid(endpoint, doc)


# --- fold ---------------------------------------------------------------------------------------------------

# fmt: off
FOLD_CASES = [
    ("getTimeline", TIMELINE, CRAN_FIRST),          # text with facets and a link card
    ("getTimeline", TIMELINE, BSKY_ROOT),           # a feed item and the root of two: folded in all three
    ("getTimeline", TIMELINE, QUOTED_BY_REPOST),    # a quoted viewRecord
    ("getTimeline", TIMELINE, REPOSTED_QUOTE),      # a repost of a quote post: the quote folds with it
    ("getListFeed", TIMELINE, BSKY_MIDDLE),
    ("getAuthorFeed", AUTHOR, QUOTED_WITH_MEDIA),
    ("getAuthorFeed", AUTHOR, T_PARENT),            # only ever a reply parent here
    ("getFeed", FEED, "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3lnl5wneet225"),
    ("searchPosts", SEARCH, "at://did:plc:pjiafkey2cokiupsxpswqlk7/app.bsky.feed.post/3lpjgwfr3gs27"),
    ("getQuotes", "quotes", QUOTED_WITH_MEDIA),
    ("getPostThread", THREAD_QUOTE, SDK_QUOTED),
    ("getPostThread", "thread", T_ROOT),
    ("getPostThread", "thread", T_DINO),
    ("getPostThreadV2", "thread_v2", T_ROOT),
    ("getPostThreadV2", "thread_v2", T_LAST),
    ("getPostThreadOtherV2", "thread_other", T_DINO),
]
# fmt: on


def folded_record(record: dict[str, Any], text: str) -> dict[str, Any]:
    """What a fold leaves of a record, spelled out: everything but the author's words and attachments."""
    kept = {k: v for k, v in record.items() if k not in ("text", "facets", "entities", "tags", "embed")}
    return {**kept, "text": text}


@pytest.mark.parametrize(("endpoint", "source", "target"), FOLD_CASES)
def test_fold_puts_sourdines_notice_everywhere_the_post_shows(
    endpoint: str, source: str, target: str
) -> None:
    """Each view of a folded post reads Sourdine's notice, keeps uri, cid and author; the rest is as sent."""
    doc = document(source)
    expected = copy.deepcopy(doc)
    assert bluesky.rewrite(endpoint, doc, {target: FOLD}) is True
    notice = FOLD_NOTICE
    for view in views_in(expected):
        if view["uri"] == target:
            key = "record" if "record" in view else "value"
            view[key] = folded_record(view[key], notice)
            view.pop("embed" if key == "record" else "embeds", None)
    assert doc == expected
    assert [post.text for post in bluesky.posts(endpoint, doc) if post.id == target] == [notice]
    assert_valid(endpoint, doc)


@pytest.mark.parametrize(("endpoint", "source"), THREADS)
def test_fold_never_touches_the_anchor(endpoint: str, source: str) -> None:
    """Opening a folded post is how it is revealed: the thread's anchor is left as the platform sent it."""
    doc = document(source)
    assert bluesky.rewrite(endpoint, doc, {T_PARENT: FOLD}) is False
    assert doc == document(source)


@pytest.mark.parametrize(
    ("verdict", "text"),
    [
        (FOLD, FOLD_NOTICE),
        (Verdict("collapse"), "Folded by Sourdine. Open the post to read it."),
        (Verdict("collapse", "outrage,\nscore 0.82 "), FOLD_NOTICE),
        (HIDE, "Hidden by Sourdine: outrage, score 0.97."),
        (Verdict("hide"), "Hidden by Sourdine."),
    ],
)
def test_notice_names_sourdine_and_the_reason(verdict: Verdict, text: str) -> None:
    """The notice says who folded or hid the post, and why, on one line."""
    assert bluesky.notice(verdict) == text


def test_notice_fits_a_post_whatever_the_reason() -> None:
    """A long reason is cut so that the notice stays a valid post text (at most 300 graphemes)."""
    text = bluesky.notice(Verdict("collapse", "é" * 1000))
    assert graphemes(text) <= 300 and len(text.encode()) <= 3000


def test_fold_twice_changes_nothing_more() -> None:
    """Rewriting an already rewritten document with the same verdicts changes nothing more."""
    doc = load(TIMELINE)
    verdicts = {BSKY_ROOT: FOLD, QUOTED_BY_REPOST: FOLD, CRAN_FIRST: HIDE}
    assert bluesky.rewrite("getTimeline", doc, verdicts) is True
    once = copy.deepcopy(doc)
    assert bluesky.rewrite("getTimeline", doc, verdicts) is False
    assert doc == once


# --- every rewrite keeps the response valid -----------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "source"), ALL_SHAPES)
@pytest.mark.parametrize("start", [0, 1, 2])
def test_mixed_verdicts_keep_every_response_valid(endpoint: str, source: str, start: int) -> None:
    """A third of the posts hidden and a third folded, in three phases: the response validates every time."""
    doc = document(source)
    found = [post.id for post in bluesky.posts(endpoint, doc)]
    verdicts = {uri: HIDE for uri in found[start::3]} | {uri: FOLD for uri in found[start + 1 :: 3]}
    anchor = {"getPostThread": found[0], "getPostThreadV2": T_PARENT}.get(endpoint)
    bluesky.rewrite(endpoint, doc, verdicts)
    assert_valid(endpoint, doc)
    for target, verdict in verdicts.items():
        if verdict is HIDE and target != anchor:
            assert shown_at(orjson.loads(orjson.dumps(doc)), target, endpoint) == [], target


@pytest.mark.parametrize(("endpoint", "source"), ALL_SHAPES)
def test_all_keep_changes_nothing(endpoint: str, source: str) -> None:
    """With every verdict keep (or none, or only unknown posts), rewrite returns False and changes nothing."""
    doc = document(source)
    verdicts = {post.id: KEEP for post in bluesky.posts(endpoint, doc)}
    assert verdicts
    assert bluesky.rewrite(endpoint, doc, verdicts) is False
    assert bluesky.rewrite(endpoint, doc, {}) is False
    assert bluesky.rewrite(endpoint, doc, {uri("a", "1"): HIDE, uri("a", "2"): FOLD}) is False
    assert orjson.dumps(doc) == orjson.dumps(document(source))


@pytest.mark.parametrize(
    ("endpoint", "source", "key"),
    [
        ("getTimeline", TIMELINE, "feed"),
        ("getAuthorFeed", AUTHOR, "feed"),
        ("searchPosts", SEARCH, "posts"),
        ("getPostThreadV2", "thread_v2", "thread"),
    ],
)
def test_untouched_posts_are_the_same_objects(endpoint: str, source: str, key: str) -> None:
    """Items holding no judged post are the very objects they were, unchanged; only judged ones differ."""
    doc = document(source)
    items = list(doc[key])
    originals = copy.deepcopy(items)
    found = [post.id for post in bluesky.posts(endpoint, doc)]
    verdicts = {uri: HIDE for uri in found[1::5]} | {uri: FOLD for uri in found[3::5]}
    assert bluesky.rewrite(endpoint, doc, verdicts) is True
    untouched = 0
    for item, original in zip(items, originals, strict=True):
        if set(uris_in(original)) & set(verdicts):
            continue
        untouched += 1
        assert any(kept is item for kept in doc[key])
        assert item == original
    assert untouched


# --- odd shapes and wrong use -------------------------------------------------------------------------------


def _odd_feed() -> dict[str, Any]:
    """Real feed items bent out of shape, one oddity each, around intact ones."""
    feed = load(TIMELINE)["feed"]
    no_record = feed[1]
    no_record["post"]["record"] = "text"
    no_author = feed[2]
    del no_author["post"]["author"]
    numeric_uri = feed[3]
    numeric_uri["post"]["uri"] = 3
    odd_reply = feed[4]
    odd_reply["reply"] = {"parent": None, "root": {"$type": "app.bsky.feed.defs#notFoundPost"}}
    odd_reply_str = feed[5]
    odd_reply_str["reply"] = "x"
    null_quote = feed[6]
    null_quote["post"]["embed"] = {"$type": "app.bsky.embed.record#view", "record": None}
    odd_media = feed[7]
    odd_media["post"]["embed"] = {"$type": "app.bsky.embed.recordWithMedia#view", "record": {"record": "x"}}
    odd_embeds = feed[39]
    odd_embeds["post"]["embed"]["record"]["embeds"] = "x"
    odd_langs = feed[8]
    odd_langs["post"]["record"]["langs"] = [3]
    odd_images = feed[9]
    odd_images["post"]["record"]["embed"] = {"$type": "app.bsky.embed.images", "images": [None, {"alt": 3}]}
    other_type = feed[10]
    other_type["post"]["$type"] = "app.bsky.feed.defs#notFoundPost"
    oddities = [no_record, no_author, numeric_uri, odd_reply, odd_reply_str, null_quote, odd_media,
                odd_embeds, odd_langs, odd_images, other_type]
    return {"feed": [None, 1, "x", [], {}, {"post": None}, *oddities, feed[0], feed[13]]}


def test_odd_feed_items_do_not_stop_the_others() -> None:
    """Odd items are read as far as they can be, or skipped; none raises, and the intact ones are found."""
    found = {post.id: post for post in bluesky.posts("getTimeline", _odd_feed())}
    assert {CRAN_FIRST, BSKY_LAST, BSKY_ROOT, BSKY_MIDDLE} <= set(found)
    assert found[uri("qnzaaisqa3lafzmtjxt5nt52", "3lpk3njaovr2v")].text == ""
    assert found[uri("qnzaaisqa3lafzmtjxt5nt52", "3lpk3netdss2a")].author == ""
    assert found[uri("qnzaaisqa3lafzmtjxt5nt52", "3lpk3mifo3q2v")].lang is None
    assert "3" not in found
    assert not any(post_id.endswith("/3lpk3m6zvai22") for post_id in found)  # not a PostView by its $type


@pytest.mark.parametrize("action", ["hide", "collapse"])
def test_odd_feed_items_rewrite_without_raising(action: str) -> None:
    """Rewrite with a verdict on every readable post walks the odd shapes without raising."""
    doc = _odd_feed()
    verdicts = {post.id: Verdict(action, "outrage, score 0.9") for post in bluesky.posts("getTimeline", doc)}
    assert bluesky.rewrite("getTimeline", doc, verdicts) is True
    assert orjson.loads(orjson.dumps(doc)) == doc


# fmt: off
ODD_DOCS = [
    ("getTimeline", None), ("getTimeline", []), ("getTimeline", {"feed": None}),
    ("getTimeline", {"feed": "x"}),
    ("getFeed", {"posts": []}), ("searchPosts", {"posts": {}}), ("searchPosts", {"feed": []}),
    ("getQuotes", "x"), ("getPostThread", {"thread": None}),
    ("getPostThread", {"thread": {**NOT_FOUND, "uri": CRAN_FIRST}}),
    ("getPostThread", {"thread": {"post": None, "parent": 3, "replies": "x"}}),
    ("getPostThread", {"thread": {"post": {"uri": CRAN_FIRST}, "replies": [None, {"$type": "x"}]}}),
    ("getPostThreadV2", {"thread": [None, {"depth": "x", "value": None}, {"depth": 0, "value": {"x": 1}}]}),
    ("getPostThreadV2", {"thread": {}}),
]
# fmt: on


@pytest.mark.parametrize(("endpoint", "doc"), ODD_DOCS)
def test_unexpected_documents_pass_unchanged(endpoint: str, doc: Any) -> None:
    """A document of an unexpected shape raises nothing, and a verdict on what it holds changes nothing."""
    before = copy.deepcopy(doc)
    verdicts = {post.id: HIDE for post in bluesky.posts(endpoint, doc)} | {CRAN_FIRST: HIDE}
    bluesky.rewrite(endpoint, doc, verdicts)
    bluesky.rewrite(endpoint, doc, {CRAN_FIRST: FOLD})
    assert doc == before


def test_odd_thread_anchor_hidden_is_still_read() -> None:
    """A thread anchor without a record still takes a hidden verdict without raising."""
    doc = {"thread": {"post": {"uri": CRAN_FIRST, "author": {}}, "replies": [None]}}
    assert [post.id for post in bluesky.posts("getPostThread", doc)] == [CRAN_FIRST]
    assert bluesky.rewrite("getPostThread", doc, {CRAN_FIRST: HIDE}) is False


def test_unknown_endpoint_is_an_error() -> None:
    """An endpoint name outside rules/platforms.toml is a programming error, named in a ValueError."""
    with pytest.raises(ValueError, match="'getLikes'"):
        bluesky.posts("getLikes", {})
    with pytest.raises(ValueError, match="'getLikes'"):
        bluesky.rewrite("getLikes", {}, {CRAN_FIRST: HIDE})


def test_endpoints_are_those_of_the_rules() -> None:
    """The adapter knows every Bluesky endpoint rules/platforms.toml routes (and getPostThreadOtherV2)."""
    from sourdine import rules

    routed = {name for name, _ in rules.platforms()["bluesky"].feeds}
    assert routed <= bluesky.ENDPOINTS
    assert bluesky.ENDPOINTS - routed <= {"getPostThreadOtherV2"}


# --- speed --------------------------------------------------------------------------------------------------


def test_speed_of_posts_on_the_timeline() -> None:
    """posts() on the real 49-item timeline costs microseconds per post (printed; loose bound)."""
    per_post, per_rewrite, count = adapter_speed(
        bluesky, "getTimeline", lambda: load(TIMELINE),
        lambda found: {p.id: FOLD for p in found[::4]} | {p.id: HIDE for p in found[2::8]}, rounds=300)
    print(f"\nbluesky.posts: {per_post:.2f} µs per post ({count} posts, 49-item timeline); "
          f"rewrite folding every 4th and hiding every 8th: {per_rewrite:.1f} µs per page")
    assert per_post < 200
