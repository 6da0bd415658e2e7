"""Tests for sourdine.platforms.x on real X web GraphQL responses (tests/data/x, SOURCES.md)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from conftest import adapter_speed
from sourdine.model import KEEP, Verdict
from sourdine.platforms import x

DATA = Path(__file__).parent / "data" / "x"

SEARCH = "twscrape_raw_search.min.json"
USER = "twscrape_raw_user_tweets.min.json"
DETAIL = "twscrape_raw_tweet_details.min.json"
PROMOTED = "twscrape_tweet_detail_promoted.min.json"
SHOWMORE = "twscrape_tweet_detail_showmore.min.json"
COMMUNITY = "twscrape_raw_community_tweets.min.json"

# Each sample, the operation it answers, and where its instructions are (spelled out here, not found).
SAMPLES = {
    SEARCH: ("SearchTimeline", ("data", "search_by_raw_query", "search_timeline", "timeline")),
    USER: ("UserTweets", ("data", "user", "result", "timeline", "timeline")),
    DETAIL: ("TweetDetail", ("data", "threaded_conversation_with_injections_v2")),
    PROMOTED: ("TweetDetail", ("data", "threaded_conversation_with_injections_v2")),
    SHOWMORE: ("TweetDetail", ("data", "threaded_conversation_with_injections_v2")),
    COMMUNITY: (
        "CommunityTweetsTimeline",
        ("data", "communityResults", "result", "ranked_community_timeline", "timeline"),
    ),
}
FOCAL = {DETAIL: "1649191520250245121", PROMOTED: "1671753569412820992", SHOWMORE: "1696922210588410217"}

RETWEET_WRAPPER_ID = "2083305234688803178"  # UserTweets: a retweet of RETWEETED_ID
RETWEETED_ID = "2083289084567724316"
QUOTING_ID = "2074963269429661921"  # SearchTimeline: quotes QUOTED_ID
QUOTED_ID = "2072535265533456878"
MULTI_QUOTED_ID = "2082640274845811115"  # UserTweets: quoted by 4 retweeted tweets, and a module item
PINNED_ID = "2019881223666233717"
PROMOTED_ID = "1667220696295178240"  # a promoted reply, in X's own TweetWithVisibilityResults
NOTE_ID = "2074976613713031490"  # a note tweet (long text)
REF_QUOTED_ID = (
    "2085068919036133646"  # CommunityTweetsTimeline: quoted, and quoted by a quote (quotedRefResult)
)

FOLD = Verdict("collapse", "outrage, score 0.82")
HIDE = Verdict("hide", "outrage, score 0.97")

# Fields that may still hold a hidden tweet's id: they point at it and carry nothing of it. A reply's
# in_reply_to_status_id_str and conversation_id_str (replies to it are other people's posts, scored on their
# own), the author's pinned_items.tweet_ids_str (a profile field in every tweet by that author), and the
# entryId X gave a conversation module after its first tweet, when the module still holds other tweets or a
# cursor.
REFERENCE_KEYS = frozenset({"in_reply_to_status_id_str", "conversation_id_str", "tweet_ids_str", "entryId"})


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def endpoint_of(name: str) -> str:
    return SAMPLES[name][0]


def instructions(name: str, doc: Any) -> list[dict[str, Any]]:
    node = doc
    for key in SAMPLES[name][1]:
        node = node[key]
    return node["instructions"]


def entries(name: str, doc: Any) -> list[dict[str, Any]]:
    """Every entry in document order: those of TimelineAddEntries and of TimelinePinEntry."""
    found: list[dict[str, Any]] = []
    for instruction in instructions(name, doc):
        found.extend(instruction.get("entries", []))
        if "entry" in instruction:
            found.append(instruction["entry"])
    return found


def entry(name: str, doc: Any, entry_id: str) -> dict[str, Any]:
    (found,) = [e for e in entries(name, doc) if e["entryId"] == entry_id]
    return found


def item_contents(name: str, doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(entryId, itemContent) of every item, top-level or in a module, in document order."""
    for e in entries(name, doc):
        content = e["content"]
        if "itemContent" in content:
            yield e["entryId"], content["itemContent"]
        for module_item in content.get("items", []):
            yield module_item["entryId"], module_item["item"]["itemContent"]


def tweet_of(result: dict[str, Any]) -> dict[str, Any]:
    return result["tweet"] if result["__typename"] == "TweetWithVisibilityResults" else result


def top_ids(name: str, doc: Any) -> list[str]:
    """The tweet each item shows, in order: the retweeted tweet for a retweet, else the tweet itself."""
    ids = []
    for _, content in item_contents(name, doc):
        if content["itemType"] == "TimelineTweet":
            tweet = tweet_of(content["tweet_results"]["result"])
            retweeted = tweet["legacy"].get("retweeted_status_result")
            ids.append(tweet_of(retweeted["result"])["rest_id"] if retweeted else tweet["rest_id"])
    return ids


def expected_order(name: str, doc: Any) -> list[str]:
    """Item by item: the tweet shown (the retweeted one for a retweet), then down its quotes; each id once."""
    order: list[str] = []
    for _, content in item_contents(name, doc):
        if content["itemType"] != "TimelineTweet":
            continue
        top = tweet_of(content["tweet_results"]["result"])
        retweeted = top["legacy"].get("retweeted_status_result")
        chains = [tweet_of(retweeted["result"]), top] if retweeted else [top]
        for tweet in chains:
            if tweet is not top or not retweeted:
                order.append(tweet["rest_id"])
            while "quoted_status_result" in tweet:
                tweet = tweet_of(tweet["quoted_status_result"]["result"])
                order.append(tweet["rest_id"])
    return list(dict.fromkeys(order))


def walk(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair under node, lists' elements under their list's key."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield key, v
            yield from walk(v, key)


def tweet_objects(doc: Any) -> list[dict[str, Any]]:
    """Every tweet object in the document (a dict with a rest_id and a legacy holding a full_text)."""
    return [
        v
        for _, v in walk(doc)
        if isinstance(v, dict)
        and "rest_id" in v
        and isinstance(v.get("legacy"), dict)
        and "full_text" in v["legacy"]
    ]


def retweet_wrapper_ids(doc: Any) -> set[str]:
    return {t["rest_id"] for t in tweet_objects(doc) if "retweeted_status_result" in t["legacy"]}


def keys_holding(doc: Any, tid: str) -> set[str]:
    """The keys under which the string `tid` occurs in the serialised document, in a key or in a value."""
    keys = {k for k, v in walk(doc) if isinstance(v, str) and tid in v}
    keys |= {k + " (as a key)" for k, _ in walk(doc) if tid in k}
    return keys


def cursor_ids(name: str, doc: Any) -> list[str]:
    """The entryIds of every cursor: top-level cursor entries, cursor items, cursors in modules."""
    ids = [
        e["entryId"] for e in entries(name, doc) if e["content"].get("entryType") == "TimelineTimelineCursor"
    ]
    ids += [
        eid
        for eid, content in item_contents(name, doc)
        if content.get("itemType") == "TimelineTimelineCursor"
    ]
    return ids


def instruction_types(name: str, doc: Any) -> list[str]:
    return [instruction["type"] for instruction in instructions(name, doc)]


def wrapped(result: dict[str, Any], verdict: Verdict) -> dict[str, Any]:
    """The fold spelled out by hand, as X's API shapes a TweetWithVisibilityResults with an interstitial."""
    return {
        "__typename": "TweetWithVisibilityResults",
        "tweet": result,
        "tweetInterstitial": {
            "__typename": "ContextualTweetInterstitial",
            "displayType": "EntireTweet",
            "text": {"rtl": False, "text": f"Sourdine folded this post: {verdict.reason}", "entities": []},
            "revealText": {"rtl": False, "text": "View", "entities": []},
        },
    }


def check_invariants(name: str, before: Any, after: Any) -> None:
    """What no rewrite may break: cursors, TimelineTerminateTimeline, the focal tweet of TweetDetail."""
    assert cursor_ids(name, after) == cursor_ids(name, before)
    assert instruction_types(name, after).count("TimelineTerminateTimeline") == instruction_types(
        name, before
    ).count("TimelineTerminateTimeline")
    if name in FOCAL:
        assert entries(name, after)[0]["entryId"] == f"tweet-{FOCAL[name]}"


# --- posts() ------------------------------------------------------------------------------------------------

# fmt: off
POST_CASES = [
    # file, post count, id, author_id, author, author_name, lang, text
    (SEARCH, 25, NOTE_ID, "20472409", "piloly", "Roland Pircher", "en", None),  # text: the note, below
    (SEARCH, 25, QUOTED_ID, "1115375020782436353", "teslascope", "Teslascope", "en",
     "We noticed a new Tesla software update 2026.20.6.1 on Model X AWD (2022) in Oklahoma, United States. "
     "View the rollout of this update here:"),
    (USER, 25, PINNED_ID, "2244994945", "XDevelopers", "Developers", "en",
     "Officially launching X API Pay-Per-Use\n\nThe core of X developers are indie builders, early stage "
     "products, startups, and hobbyists\n\nIt’s time to open up our X API ecosystem and instill a new "
     "wave of next generation X apps\n\nWe’re so back."),
    (USER, 25, RETWEETED_ID, "2606432720", "benjitaylor", "Benji Taylor", "en",
     "Overhauled the 𝕏 Developer Console with a fresh coat of paint. More improvements to come as we "
     "continue investing in our DX!"),
    (USER, 25, "2082640276389249363", "2244994945", "XDevelopers", "Developers", "en",
     "Get started with the Chat XDK"),
    (USER, 25, "2079756440722665849", "1818311005698678784", "XFreeze", "X Freeze", None, ""),  # zxx: media
    (DETAIL, 37, "1649191520250245121", "2244994945", "XDevelopers", "Developers", "en",
     "Today, we are deprecating our Premium v1.1 API, including Premium Search and Account Activity API."),
    (DETAIL, 37, "1649327387509760000", "154173269", "kmcoulson", "Kevin Coulson", "sv",
     "@TwitterDev Absolute morons"),
    (DETAIL, 37, "1649205557440512001", "860871247", "star95011", "Cassandra", None, "@TwitterDev 💓"),  # qme
    (PROMOTED, 12, PROMOTED_ID, "1647055955388170241", "tordosweet_co", "Tordo Sweet", "en",
     "😲17 Years Old Autistic College Student Builds a Device To Prevent Mosquito Bites\n🛒Get Yours👉"),
    (SHOWMORE, 5, "1700484666006847827", "1456728519912919051", "tonyilpensante", "tony", "it",
     "@FortniteGame Che gioco di mmmmerda"),
    (SHOWMORE, 5, "1779861744510189910", "425871040", "FortniteGame", "Fortnite", "en",
     "I've got a good feeling about this...\n\n5.3.2024"),
    (COMMUNITY, 24, "2085185422573867492", "1092822165936848898", "James_Schiano", "James Schiano", "en",
     "Game 115 Notes\n\n- Daniel Duarte is nails\n- Those 300 swings did wonders for Polanco\n- Need more "
     "Jefry Yan\n- Lindor's body came to the park, head didn't\n- Christian Scott is sooooo close to "
     "greatness\n- Jared Young is actually a piece\n- Bo Bichette is shockingly slow"),
]
# fmt: on


@pytest.mark.parametrize(
    ("name", "count", "post_id", "author_id", "author", "author_name", "lang", "text"), POST_CASES
)
def test_posts_reads_real_tweets(
    name: str,
    count: int,
    post_id: str,
    author_id: str,
    author: str,
    author_name: str,
    lang: str | None,
    text: str | None,
) -> None:
    """posts() finds every tweet of a real response once, in order, with id, author, language and text."""
    doc = load(name)
    found = x.posts(endpoint_of(name), doc)
    ids = [post.id for post in found]
    assert len(found) == count
    assert len(set(ids)) == len(ids)
    assert {t["rest_id"] for t in tweet_objects(doc)} - retweet_wrapper_ids(doc) == set(ids)
    assert ids == expected_order(name, doc)
    post = next(post for post in found if post.id == post_id)
    assert (post.author_id, post.author, post.author_name, post.lang) == (
        author_id,
        author,
        author_name,
        lang,
    )
    if text is not None:
        assert post.text == text
    assert post.url == f"https://x.com/{author}/status/{post_id}"


def test_posts_long_tweet_reads_the_note() -> None:
    """A note tweet's text is the whole note_tweet text, not legacy.full_text, which X cuts short."""
    doc = load(SEARCH)
    (tweet,) = [t for t in tweet_objects(doc) if t["rest_id"] == NOTE_ID]
    note = tweet["note_tweet"]["note_tweet_results"]["result"]["text"]
    (post,) = [p for p in x.posts("SearchTimeline", doc) if p.id == NOTE_ID]
    assert post.text == note
    assert len(note) > len(tweet["legacy"]["full_text"])


def test_posts_text_drops_the_link_tail_and_html_escapes() -> None:
    """full_text's trailing t.co links go, and X's &amp; escapes are read back as the characters typed."""
    doc = load(USER)
    tweet = next(t for t in tweet_objects(doc) if t["rest_id"] == MULTI_QUOTED_ID)
    assert "&amp;" in tweet["legacy"]["full_text"] and "https://t.co/" in tweet["legacy"]["full_text"]
    (post,) = [p for p in x.posts("UserTweets", doc) if p.id == MULTI_QUOTED_ID]
    assert post.text.startswith("X Chat API & Chat XDK are live!")
    assert "&amp;" not in post.text and "t.co" not in post.text


def test_posts_retweet_is_the_retweeted_tweet() -> None:
    """A retweet yields the retweeted tweet (its id, author, text), never the "RT @name:" wrapper."""
    found = {p.id: p for p in x.posts("UserTweets", load(USER))}
    assert RETWEET_WRAPPER_ID not in found
    assert found[RETWEETED_ID].author == "benjitaylor"


@pytest.mark.parametrize(
    ("name", "quoting", "quoted"),
    [(SEARCH, QUOTING_ID, QUOTED_ID), (USER, "2082642493892628916", MULTI_QUOTED_ID)],
)
def test_posts_quote_follows_the_quoting_tweet(name: str, quoting: str, quoted: str) -> None:
    """A quoted tweet comes right after the tweet quoting it (here also inside a retweet), the first time."""
    ids = [p.id for p in x.posts(endpoint_of(name), load(name))]
    assert ids[ids.index(quoting) + 1] == quoted


def test_posts_reads_pin_and_add_to_module() -> None:
    """TimelinePinEntry's tweet comes first; TimelineAddToModule items (built from real items) are read."""
    doc = load(USER)
    assert x.posts("UserTweets", doc)[0].id == PINNED_ID
    detail = load(DETAIL)
    module = entry(DETAIL, detail, "conversationthread-1649191521323995138")
    # Built: the "show more" answer X sends for a thread, from the real module's three items.
    add = {
        "type": "TimelineAddToModule",
        "moduleItems": module["content"]["items"],
        "moduleEntryId": module["entryId"],
        "prepend": False,
    }
    doc = {"data": {"threaded_conversation_with_injections_v2": {"instructions": [add]}}}
    assert [p.id for p in x.posts("TweetDetail", doc)] == [
        "1649191521323995138",
        "1649191522485817345",
        "1649191523697979392",
    ]


def test_posts_skips_tombstones() -> None:
    """A TweetTombstone has no text and yields no post; the tweets around it are still found."""
    doc = load(SEARCH)
    content = entries(SEARCH, doc)[1]["content"]["itemContent"]
    gone = content["tweet_results"]["result"]["rest_id"]
    # Built: X's tombstone shape in place of one real tweet.
    content["tweet_results"]["result"] = x.tombstone(HIDE)
    ids = [p.id for p in x.posts("SearchTimeline", doc)]
    assert gone not in ids
    assert len(ids) == 24


# --- hide ---------------------------------------------------------------------------------------------------

# file, target tweet, what leaves: ("entry", entryId), ("item", module entryId, item entryId) or ("pin",)
HIDE_CASES = [
    (SEARCH, "2074974895750951259", ("entry", "tweet-2074974895750951259")),
    (SEARCH, NOTE_ID, ("entry", f"tweet-{NOTE_ID}")),
    (COMMUNITY, "2085185422573867492", ("entry", "tweet-2085185422573867492")),
    (USER, PINNED_ID, ("pin",)),
    (USER, RETWEETED_ID, ("entry", f"tweet-{RETWEET_WRAPPER_ID}")),
    (
        USER,
        "2082640276389249363",
        (
            "item",
            "profile-conversation-2085474396218064903",
            "profile-conversation-2085474396218064903-tweet-2082640276389249363",
        ),
    ),
    (
        DETAIL,
        "1649191522485817345",
        (
            "item",
            "conversationthread-1649191521323995138",
            "conversationthread-1649191521323995138-tweet-1649191522485817345",
        ),
    ),
    (DETAIL, "1649327387509760000", ("entry", "conversationthread-1649327387509760000")),
    (PROMOTED, PROMOTED_ID, ("entry", "conversationthread-1667220696295178240")),
    (
        PROMOTED,
        "1671754452045549572",
        (
            "item",
            "conversationthread-1671754452045549572",
            "conversationthread-1671754452045549572-tweet-1671754452045549572",
        ),
    ),
    (SHOWMORE, "1700484666006847827", ("entry", "conversationthread-1700484666006847827")),
    (SHOWMORE, "1779861744510189910", ("entry", "module-7526449826266355559")),  # "You might also like"
]


def expected_after_hide(name: str, target: str, leaves: tuple[str, ...]) -> Any:
    """The sample with the target's entry, module item or pin removed by hand."""
    doc = load(name)
    if leaves[0] == "pin":
        instructions(name, doc)[:] = [i for i in instructions(name, doc) if i["type"] != "TimelinePinEntry"]
    elif leaves[0] == "entry":
        for instruction in instructions(name, doc):
            if "entries" in instruction:
                instruction["entries"] = [e for e in instruction["entries"] if e["entryId"] != leaves[1]]
    else:
        module = entry(name, doc, leaves[1])["content"]
        module["items"] = [i for i in module["items"] if i["entryId"] != leaves[2]]
        conversation = module.get("metadata", {}).get("conversationMetadata", {})
        if target in conversation.get("allTweetIds", []):
            conversation["allTweetIds"].remove(target)
    return doc


@pytest.mark.parametrize(("name", "target", "leaves"), HIDE_CASES)
def test_hide_drops_exactly_the_target(name: str, target: str, leaves: tuple[str, ...]) -> None:
    """Hide removes the target's entry, module item or pin and nothing else; the rest are the same objects."""
    doc = load(name)
    before_entries = entries(name, doc)
    assert x.rewrite(endpoint_of(name), doc, {target: HIDE}) is True
    assert doc == expected_after_hide(name, target, leaves)
    check_invariants(name, load(name), doc)
    kept = {id(e) for e in before_entries}
    assert all(id(e) in kept for e in entries(name, doc))
    assert all(t["rest_id"] != target for t in tweet_objects(doc))
    assert keys_holding(doc, target) <= REFERENCE_KEYS


def test_hide_retweeted_tweet_drops_the_retweet() -> None:
    """A retweet whose retweeted tweet is hidden leaves the timeline whole, and no other entry moves."""
    doc = load(USER)
    assert x.rewrite("UserTweets", doc, {RETWEETED_ID: HIDE}) is True
    ids = [e["entryId"] for e in entries(USER, doc)]
    assert f"tweet-{RETWEET_WRAPPER_ID}" not in ids
    assert ids == [
        e["entryId"] for e in entries(USER, load(USER)) if e["entryId"] != f"tweet-{RETWEET_WRAPPER_ID}"
    ]
    assert keys_holding(doc, RETWEETED_ID) == set()


def test_hide_quoted_tweet_leaves_a_tombstone_in_the_quote() -> None:
    """The quoting tweet stays; its quote becomes a tombstone naming Sourdine; nothing points at it."""
    doc = load(SEARCH)
    assert x.rewrite("SearchTimeline", doc, {QUOTED_ID: HIDE}) is True
    quoting = entry(SEARCH, doc, f"tweet-{QUOTING_ID}")["content"]["itemContent"]["tweet_results"]["result"]
    assert quoting["quoted_status_result"] == {
        "result": {
            "__typename": "TweetTombstone",
            "tombstone": {
                "__typename": "TextTombstone",
                "text": {"rtl": False, "text": "Sourdine hid this quoted post: outrage, score 0.97", "entities": []},
            },
        }
    }
    assert quoting["legacy"]["is_quote_status"] is True
    assert (
        "quoted_status_id_str" not in quoting["legacy"] and "quoted_status_permalink" not in quoting["legacy"]
    )
    assert keys_holding(doc, QUOTED_ID) == set()
    expected = load(SEARCH)
    original = entry(SEARCH, expected, f"tweet-{QUOTING_ID}")["content"]["itemContent"]["tweet_results"][
        "result"
    ]
    original["quoted_status_result"] = quoting["quoted_status_result"]
    del original["legacy"]["quoted_status_id_str"], original["legacy"]["quoted_status_permalink"]
    assert doc == expected  # nothing else changed
    assert [p.id for p in x.posts("SearchTimeline", doc)] == [
        i for i in (p.id for p in x.posts("SearchTimeline", load(SEARCH))) if i != QUOTED_ID
    ]


@pytest.mark.parametrize(("name", "target"), [(USER, MULTI_QUOTED_ID), (COMMUNITY, REF_QUOTED_ID)])
def test_hide_reaches_quotes_in_retweets_and_quotes_of_quotes(name: str, target: str) -> None:
    """A tweet quoted inside retweets, or by a quote (a bare quotedRefResult), is gone from all of them."""
    doc = load(name)
    assert x.rewrite(endpoint_of(name), doc, {target: HIDE}) is True
    assert all(t["rest_id"] != target for t in tweet_objects(doc))
    assert keys_holding(doc, target) <= REFERENCE_KEYS
    assert target not in [p.id for p in x.posts(endpoint_of(name), doc)]
    check_invariants(name, load(name), doc)


@pytest.mark.parametrize("name", [DETAIL, PROMOTED, SHOWMORE])
def test_hide_focal_tweet_folds_it(name: str) -> None:
    """In TweetDetail the focal tweet is never dropped: a hide verdict folds it, and the rest is unchanged."""
    doc = load(name)
    assert x.rewrite("TweetDetail", doc, {FOCAL[name]: HIDE}) is True
    expected = load(name)
    holder = entries(name, expected)[0]["content"]["itemContent"]["tweet_results"]
    holder["result"] = wrapped(holder["result"], HIDE)  # "Sourdine folded this post: outrage, score 0.97"
    assert doc == expected
    check_invariants(name, load(name), doc)


def test_hide_module_keeps_its_cursor() -> None:
    """A conversation whose only tweet is hidden keeps its "show more" cursor, so the module stays."""
    doc = load(PROMOTED)
    assert x.rewrite("TweetDetail", doc, {"1671754566898171904": HIDE}) is True
    module = entry(PROMOTED, doc, "conversationthread-1671754566898171904")["content"]
    assert [i["item"]["itemContent"]["itemType"] for i in module["items"]] == ["TimelineTimelineCursor"]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_hide_everything_keeps_cursors_terminate_and_focal(name: str) -> None:
    """Hiding every tweet leaves every cursor, TimelineTerminateTimeline and the focal tweet, and no other."""
    doc = load(name)
    verdicts = {p.id: HIDE for p in x.posts(endpoint_of(name), doc)}
    assert x.rewrite(endpoint_of(name), doc, verdicts) is True
    check_invariants(name, load(name), doc)
    survivors = {t["rest_id"] for t in tweet_objects(doc)} - retweet_wrapper_ids(load(name))
    if name in FOCAL:
        assert survivors == {FOCAL[name]}  # folded, never dropped
        (focal,) = [e for e in entries(name, doc) if e["entryId"] == f"tweet-{FOCAL[name]}"]
        assert "tweetInterstitial" in focal["content"]["itemContent"]["tweet_results"]["result"]
    else:
        assert survivors == set()
    assert "TimelinePinEntry" not in instruction_types(name, doc)
    if name == USER:  # who-to-follow holds users, not tweets: it stays
        assert any(e["entryId"].startswith("who-to-follow-") for e in entries(name, doc))
    assert x.rewrite(endpoint_of(name), doc, verdicts) is False  # nothing left to do


def test_hide_add_to_module_items() -> None:
    """TimelineAddToModule (built from real items) loses hidden items, and goes when none is left."""
    detail = load(DETAIL)
    module = entry(DETAIL, detail, "conversationthread-1649191521323995138")
    items = module["content"]["items"]
    # Built: the "show more" answer X sends for a thread, from the real module's three items.
    add = {"type": "TimelineAddToModule", "moduleItems": list(items), "moduleEntryId": module["entryId"]}
    terminate = {"type": "TimelineTerminateTimeline", "direction": "Top"}
    doc = {"data": {"threaded_conversation_with_injections_v2": {"instructions": [add, terminate]}}}
    assert x.rewrite("TweetDetail", doc, {"1649191522485817345": HIDE}) is True
    assert add["moduleItems"] == [items[0], items[2]]
    assert x.rewrite("TweetDetail", doc, {"1649191521323995138": HIDE, "1649191523697979392": HIDE}) is True
    assert doc["data"]["threaded_conversation_with_injections_v2"]["instructions"] == [terminate]


@pytest.mark.parametrize(("verdict", "left"), [(HIDE, 0), (FOLD, 1), (KEEP, 1)])
def test_replace_entry(verdict: Verdict, left: int) -> None:
    """TimelineReplaceEntry (built around a real entry) is read; hide drops it, fold wraps its tweet."""
    real = entry(SEARCH, load(SEARCH), f"tweet-{NOTE_ID}")
    replace = {"type": "TimelineReplaceEntry", "entry_id_to_replace": real["entryId"], "entry": real}
    doc = {"data": {"home": {"home_timeline_urt": {"instructions": [replace]}}}}
    assert [p.id for p in x.posts("HomeTimeline", doc)] == [NOTE_ID]
    assert x.rewrite("HomeTimeline", doc, {NOTE_ID: verdict}) is (verdict.action != "keep")
    assert len(doc["data"]["home"]["home_timeline_urt"]["instructions"]) == left
    if verdict is FOLD:
        assert real["content"]["itemContent"]["tweet_results"]["result"]["__typename"] == (
            "TweetWithVisibilityResults"
        )


# --- fold ---------------------------------------------------------------------------------------------------

FOLD_CASES = [
    (SEARCH, "2074974895750951259", f"tweet-{'2074974895750951259'}"),
    (SEARCH, NOTE_ID, f"tweet-{NOTE_ID}"),
    (COMMUNITY, "2085185422573867492", "tweet-2085185422573867492"),
    (USER, PINNED_ID, f"tweet-{PINNED_ID}"),
    (USER, RETWEETED_ID, f"tweet-{RETWEET_WRAPPER_ID}"),  # the retweet's own result is folded
    (USER, "2082640276389249363", "profile-conversation-2085474396218064903-tweet-2082640276389249363"),
    (DETAIL, FOCAL[DETAIL], f"tweet-{FOCAL[DETAIL]}"),
    (DETAIL, "1649327387509760000", "conversationthread-1649327387509760000-tweet-1649327387509760000"),
    (SHOWMORE, "1700484666006847827", "conversationthread-1700484666006847827-tweet-1700484666006847827"),
    (SHOWMORE, "1779861744510189910", "YouMightAlsoLike:1779861744510189910"),
]


def holder_at(name: str, doc: Any, item_id: str) -> dict[str, Any]:
    for eid, content in item_contents(name, doc):
        if eid == item_id:
            return content["tweet_results"]
    raise AssertionError(item_id)


def load_result(name: str, item_id: str) -> dict[str, Any]:
    return holder_at(name, load(name), item_id)["result"]


def holder_container(name: str, doc: Any, item_id: str) -> dict[str, Any]:
    return next(content for eid, content in item_contents(name, doc) if eid == item_id)


@pytest.mark.parametrize(("name", "target", "item_id"), FOLD_CASES)
def test_fold_wraps_the_tweet_with_an_interstitial(name: str, target: str, item_id: str) -> None:
    """Fold puts the item's result, the same object, in a TweetWithVisibilityResults with Sourdine's note."""
    doc = load(name)
    original = holder_at(name, doc, item_id)["result"]
    assert x.rewrite(endpoint_of(name), doc, {target: FOLD}) is True
    assert holder_at(name, doc, item_id)["result"]["tweet"] is original
    expected = load(name)
    holder = holder_at(name, expected, item_id)
    holder["result"] = wrapped(holder["result"], FOLD)
    assert doc == expected
    check_invariants(name, load(name), doc)
    assert x.rewrite(endpoint_of(name), doc, {target: FOLD}) is False  # already folded


def test_fold_adds_the_notice_to_xs_own_wrapper() -> None:
    """The promoted reply X wraps in TweetWithVisibilityResults keeps its wrapper and gains the notice."""
    doc = load(PROMOTED)
    item_id = "conversationthread-1667220696295178240-tweet-1667220696295178240-31c0bea61e034a00"
    result = holder_at(PROMOTED, doc, item_id)["result"]
    assert list(result) == ["__typename", "tweet"]
    assert x.rewrite("TweetDetail", doc, {PROMOTED_ID: FOLD}) is True
    assert holder_at(PROMOTED, doc, item_id)["result"] is result
    assert result == wrapped(load_result(PROMOTED, item_id)["tweet"], FOLD)
    assert "promotedMetadata" in holder_container(PROMOTED, doc, item_id)


def test_fold_leaves_xs_own_interstitial() -> None:
    """A tweet X itself already puts behind a notice keeps X's notice: it is folded already."""
    doc = load(SEARCH)
    holder = entry(SEARCH, doc, f"tweet-{NOTE_ID}")["content"]["itemContent"]["tweet_results"]
    # Built: X's own interstitial wrapper (shape of fa0311/twitter-openapi) around a real tweet.
    holder["result"] = {
        "__typename": "TweetWithVisibilityResults",
        "tweet": holder["result"],
        "tweetInterstitial": {
            "__typename": "ContextualTweetInterstitial",
            "displayType": "NonCompliant",
            "text": {"rtl": False, "text": "This Post violated the X Rules.", "entities": []},
            "revealText": {"rtl": False, "text": "View", "entities": []},
        },
    }
    before = copy.deepcopy(doc)
    assert x.rewrite("SearchTimeline", doc, {NOTE_ID: FOLD}) is False
    assert doc == before


def test_fold_quoted_tweet_inside_the_quote() -> None:
    """A folded quoted tweet is wrapped inside the quoting tweet, which is otherwise untouched."""
    doc = load(SEARCH)
    assert x.rewrite("SearchTimeline", doc, {QUOTED_ID: FOLD}) is True
    expected = load(SEARCH)
    quoting = entry(SEARCH, expected, f"tweet-{QUOTING_ID}")["content"]["itemContent"]["tweet_results"][
        "result"
    ]
    quoting["quoted_status_result"]["result"] = wrapped(quoting["quoted_status_result"]["result"], FOLD)
    assert doc == expected


def test_interstitial_and_tombstone_shapes() -> None:
    """The notice has the fields of X's ContextualTweetInterstitial; with no reason it names Sourdine."""
    notice = x.interstitial(Verdict("collapse"))
    assert list(notice) == ["__typename", "displayType", "text", "revealText"]
    assert notice["text"] == {"rtl": False, "text": "Sourdine folded this post", "entities": []}
    assert x.tombstone(Verdict("hide"))["tombstone"]["text"]["text"] == "Sourdine hid this quoted post"


# --- keep, odd shapes, wrong use ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_all_keep_changes_nothing(name: str) -> None:
    """With every verdict keep (or none, or only unknown ids), rewrite returns False, the doc unchanged."""
    doc = load(name)
    verdicts = {p.id: KEEP for p in x.posts(endpoint_of(name), doc)}
    assert verdicts
    assert x.rewrite(endpoint_of(name), doc, verdicts) is False
    assert x.rewrite(endpoint_of(name), doc, {}) is False
    assert x.rewrite(endpoint_of(name), doc, {"1": HIDE, "2": FOLD}) is False
    assert doc == load(name)
    assert orjson.dumps(doc) == orjson.dumps(load(name))  # same keys in the same order


def _odd_doc() -> Any:
    """Real search entries bent out of shape, one oddity each, around intact ones."""
    doc = load(SEARCH)
    es = entries(SEARCH, doc)

    def result(i: int) -> dict[str, Any]:
        return es[i]["content"]["itemContent"]["tweet_results"]["result"]

    del result(0)["core"]
    result(1)["legacy"]["full_text"] = ["not", "text"]
    result(2)["rest_id"] = 2074968793441591473
    result(3)["note_tweet"] = {"note_tweet_results": None}
    result(4)["quoted_status_result"] = {"result": None}
    result(5)["legacy"]["retweeted_status_result"] = "nope"
    result(6)["core"] = {"user_results": {"result": {"__typename": "UserUnavailable"}}}
    result(7)["legacy"]["lang"] = 5
    es[8]["content"]["itemContent"]["tweet_results"] = {
        "result": {"__typename": "TweetWithVisibilityResults"}
    }
    es[9]["content"]["itemContent"]["tweet_results"] = None
    es[10]["content"]["itemContent"] = "text"
    es[11]["content"] = {"entryType": "TimelineTimelineModule", "items": [None, {"item": None}, {"item": {}}]}
    result(12)["legacy"] = None
    result(13)["quotedRefResult"] = {"result": "x"}
    instructions(SEARCH, doc)[0]["entries"].extend([None, 3, {"content": None}, {}])
    instructions(SEARCH, doc).extend(
        [None, {"type": "TimelinePinEntry", "entry": None}, {"moduleItems": "x"}]
    )
    return doc


def test_odd_shapes_are_read_as_far_as_they_go() -> None:
    """Odd tweets are read as far as they can be, or skipped; none raises and the intact ones are found."""
    found = {p.id: p for p in x.posts("SearchTimeline", _odd_doc())}
    ids = top_ids(SEARCH, load(SEARCH))
    assert (found[ids[0]].author, found[ids[0]].author_id) == ("", "20472409")  # no core: user_id_str
    assert found[ids[1]].text == ""
    assert ids[2] in found  # a rest_id that is not a string: legacy.id_str is used
    assert found[ids[6]].author == "" and found[ids[6]].url == f"https://x.com/i/status/{ids[6]}"
    assert found[ids[7]].lang is None
    assert {ids[8], ids[9], ids[10], ids[11], ids[12]}.isdisjoint(found)
    assert set(ids[13:20]) <= set(found)


@pytest.mark.parametrize("verdict", [HIDE, FOLD])
def test_odd_shapes_rewrite_without_raising(verdict: Verdict) -> None:
    """Rewrite with a verdict on every readable tweet walks odd shapes without raising, and stays JSON."""
    doc = _odd_doc()
    verdicts = {p.id: verdict for p in x.posts("SearchTimeline", doc)}
    verdicts["x"] = verdict
    assert x.rewrite("SearchTimeline", doc, verdicts) is True
    assert orjson.loads(orjson.dumps(doc)) == doc
    assert cursor_ids(SEARCH, load(SEARCH)) == [
        e["entryId"]
        for e in instructions(SEARCH, doc)[0]["entries"]
        if isinstance(e, dict) and isinstance(e.get("content"), dict) and "cursorType" in e["content"]
    ]


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        "text",
        {},
        {"data": None},
        {"data": {"home": {"home_timeline_urt": {"instructions": "none"}}}},
        {"data": {"home": {"home_timeline_urt": {"instructions": []}}}},
        {"errors": [{"message": "Rate limit exceeded", "code": 88}]},
        {"data": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"instructions": [{"entries": []}]}}}}}}}}},
    ],
)
def test_unexpected_documents_yield_nothing(doc: Any) -> None:
    """A well-formed document of an unexpected shape (an error, an empty page) yields nothing, unchanged."""
    before = copy.deepcopy(doc)
    assert x.posts("HomeTimeline", doc) == []
    assert x.rewrite("HomeTimeline", doc, {"1": HIDE}) is False
    assert doc == before


def test_unknown_endpoint_is_an_error() -> None:
    """An endpoint name outside rules/platforms.toml is a programming error, named in a ValueError."""
    with pytest.raises(ValueError, match="'Bookmarks'"):
        x.posts("Bookmarks", load(SEARCH))
    with pytest.raises(ValueError, match="'Bookmarks'"):
        x.rewrite("Bookmarks", load(SEARCH), {"1": HIDE})


def test_endpoints_match_the_rules_file() -> None:
    """The adapter takes exactly the endpoint names rules/platforms.toml routes to X."""
    from sourdine import rules

    assert {name for name, _ in rules.platforms()["x"].feeds} == x.ENDPOINTS


# --- speed --------------------------------------------------------------------------------------------------


def test_speed_of_posts_on_search() -> None:
    """posts() on the real 20-entry search page costs microseconds per tweet (printed; loose bound)."""
    per_tweet, per_rewrite, count = adapter_speed(
        x, "SearchTimeline", lambda: load(SEARCH), lambda found: {p.id: FOLD for p in found[::4]})
    print(f"\nx.posts: {per_tweet:.2f} µs per tweet ({count} tweets, search page); "
          f"rewrite folding every 4th: {per_rewrite:.1f} µs per page")
    assert per_tweet < 200
