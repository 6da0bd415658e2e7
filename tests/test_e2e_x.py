"""End to end for X: a real `sourdine run` process, a stand-in X server and a client, all on 127.0.0.1.

The timelines are built from real responses (tests/data/x, SOURCES.md). No HomeTimeline capture was found, so
the home timeline is the real SearchTimeline page's instructions (2026 shape: 20 tweets, 5 quotes, 2 cursors)
put in HomeTimeline's envelope, data.home.home_timeline_urt. The tweet detail is the real TweetDetail response
with a promoted reply, unchanged in shape.

HAND-WRITTEN texts replace the real text (full_text, lang, display_text_range) of a few tweets: those named
in HOME_TEXTS and DETAIL_TEXTS below, hostile and friendly, in English and French. The other tweets are as
captured.
"""

from __future__ import annotations

import copy
import gzip
import json
import urllib.request
from typing import Any

import pytest
from aiohttp import web

from conftest import DATA

SEARCH = json.loads((DATA / "x" / "twscrape_raw_search.min.json").read_bytes())
DETAIL = json.loads((DATA / "x" / "twscrape_tweet_detail_promoted.min.json").read_bytes())

# Tweet id -> (lang, HAND-WRITTEN text, hostile?)
HOME_TEXTS = {
    "2074974895750951259": (
        "en",
        "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! Everyone should despise you.",
        True,
    ),
    "2074967301221396711": (
        "fr",
        "Espèce d'ordure, menteur pathétique et minable. Tu es une honte absolue, dégage !!!",
        True,
    ),
    # The tweet quoted by tweet-2074963269429661921: a hostile quote inside a friendly tweet.
    "2072535265533456878": (
        "fr",
        "Quel ramassis de crétins et de menteurs, vous me dégoûtez. Honte à vous !!!",
        True,
    ),
    "2074964027764363573": (
        "en",
        "Thank you all for a lovely afternoon at the library, the kids loved the stories!",
        False,
    ),
    "2074955725571559685": (
        "fr",
        "Merci à toute l'équipe pour ce bel atelier, c'était un vrai plaisir de vous retrouver.",
        False,
    ),
}
QUOTING_ID = "2074963269429661921"
QUOTED_ID = "2072535265533456878"

DETAIL_TEXTS = {
    "1671753569412820992": (  # the focal tweet: folded, never dropped
        "en",
        "You people are vile, spineless frauds. Absolutely disgusting!!!",
        True,
    ),
    "1671842739497889793": (
        "fr",
        "@buitengebieden Ta gueule, espèce d'abruti. Tu mens comme tu respires, pauvre minable !!!",
        True,
    ),
    "1671755692091359234": (
        "fr",
        "@buitengebieden Merci pour ce partage, c'est une très belle initiative. Bravo à toute l'équipe !",
        False,
    ),
}
FOCAL_ID = "1671753569412820992"


def tweets(node: Any) -> list[dict[str, Any]]:
    """Every tweet object in the document (a dict with a rest_id and a legacy holding a full_text)."""
    found = []
    if isinstance(node, dict):
        legacy = node.get("legacy")
        if "rest_id" in node and isinstance(legacy, dict) and "full_text" in legacy:
            found.append(node)
        for value in node.values():
            found.extend(tweets(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(tweets(value))
    return found


def write(doc: Any, texts: dict[str, tuple[str, str, bool]]) -> Any:
    """The document with the hand-written texts put in place of the real ones."""
    doc = copy.deepcopy(doc)
    for tweet in tweets(doc):
        if tweet["rest_id"] in texts:
            lang, text, _ = texts[tweet["rest_id"]]
            tweet["legacy"].update(full_text=text, lang=lang, display_text_range=[0, len(text)])
            tweet.pop("note_tweet", None)
    return doc


def home_timeline() -> Any:
    timeline = SEARCH["data"]["search_by_raw_query"]["search_timeline"]["timeline"]
    return write({"data": {"home": {"home_timeline_urt": copy.deepcopy(timeline)}}}, HOME_TEXTS)


HOME = home_timeline()
HOME_BYTES = json.dumps(HOME).encode()
DETAIL_DOC = write(DETAIL, DETAIL_TEXTS)
DETAIL_BYTES = json.dumps(DETAIL_DOC).encode()
# What the web app POSTs for HomeLatestTimeline (hand-written, trimmed): the operation's variables, features.
POST_BODY = json.dumps(
    {
        "variables": {"count": 20, "includePromotedContent": True, "latestControlAvailable": True},
        "features": {"responsive_web_graphql_timeline_navigation_enabled": True},
        "queryId": "abc123",
    }
).encode()

HOME_LATEST = "/i/api/graphql/abc123/HomeLatestTimeline"
HOME_PATH = "/i/api/graphql/def456/HomeTimeline"
DETAIL_PATH = "/i/api/graphql/ghi789/TweetDetail"


def respond(body: bytes, encoding: str | None = None, seen: list | None = None):
    async def handler(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append((request.method, await request.read()))
        data = gzip.compress(body) if encoding == "gzip" else body
        headers = {"Content-Type": "application/json; charset=utf-8", "x-rate-limit-remaining": "499"}
        if encoding:
            headers["Content-Encoding"] = encoding
        return web.Response(body=data, headers=headers)

    return handler


SEEN: list = []


@pytest.fixture(scope="module", autouse=True)
def routes(standin):
    standin.routes.update(
        {
            HOME_LATEST: respond(HOME_BYTES, None, SEEN),
            HOME_PATH: respond(HOME_BYTES, "gzip"),
            DETAIL_PATH: respond(DETAIL_BYTES, "gzip"),
        }
    )


def fetch(sourdine, standin, path: str, data: bytes | None = None):
    """Through the proxy, by plain HTTP. The host is "localhost": the `sourdine` fixture names 127.0.0.1 as a
    Mastodon instance, so requests to 127.0.0.1 are matched against Mastodon's endpoints only."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sourdine.proxy}))
    request = urllib.request.Request(
        f"http://localhost:{standin.port}{path}",
        data=data,
        method="POST" if data is not None else "GET",
        headers={"Accept-Encoding": "gzip, deflate, br", "Content-Type": "application/json"},
    )
    with opener.open(request, timeout=10) as response:
        raw = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        else:
            assert response.headers.get("Content-Encoding") is None
        return response.status, response.headers, json.loads(raw)


def entries(doc: Any, *path: str) -> list[dict[str, Any]]:
    node = doc
    for key in path:
        node = node[key]
    return [e for i in node["instructions"] for e in i.get("entries", [])]


def folded_by_sourdine(result: dict[str, Any]) -> bool:
    notice = (
        result.get("tweetInterstitial") if result.get("__typename") == "TweetWithVisibilityResults" else None
    )
    return bool(notice) and notice["text"]["text"].startswith("Sourdine folded this post: ")


def check_entries(before: list[dict[str, Any]], after: list[dict[str, Any]], texts: dict) -> None:
    """Order kept, cursors kept, hostile tweets gone or folded, friendly ones and the others as sent."""
    by_id = {e["entryId"]: e for e in after}
    assert [e["entryId"] for e in after] == [e["entryId"] for e in before if e["entryId"] in by_id], (
        "order kept"
    )
    for e in before:
        if e["entryId"].startswith("cursor-") or "cursor-" in json.dumps(e["content"].get("items", [])):
            assert e["entryId"] in by_id, "a cursor entry was dropped"
    hostile = {tid for tid, (_, _, bad) in texts.items() if bad}
    friendly = {tid for tid, (_, _, bad) in texts.items() if not bad}
    for e in before:
        ids = {t["rest_id"] for t in tweets(e)}
        got = by_id.get(e["entryId"])
        if ids & friendly and not ids & hostile:
            assert got == e, "a friendly post changed"
        elif ids & hostile and got is not None:
            assert got != e, "a hostile post went through unchanged"
        elif got is not None and got != e:
            assert "Sourdine" in json.dumps(got), "a post changed, and not by a Sourdine fold"
    assert any(e["entryId"] not in by_id for e in before) or any(by_id[e["entryId"]] != e for e in before)


@pytest.mark.parametrize(("path", "data"), [(HOME_LATEST, POST_BODY), (HOME_PATH, None)])
def test_home_timeline_hostile_posts_hidden_or_folded(sourdine, standin, path, data):
    """HomeLatestTimeline (a POST) and HomeTimeline (gzip): hostile en/fr posts caught, friendly ones kept."""
    status, headers, doc = fetch(sourdine, standin, path, data)
    assert status == 200
    assert headers["x-rate-limit-remaining"] == "499"
    path_keys = ("data", "home", "home_timeline_urt")
    before, after = entries(HOME, *path_keys), entries(doc, *path_keys)
    check_entries(before, after, HOME_TEXTS)
    by_id = {e["entryId"]: e for e in after}
    for tid in ("2074974895750951259", "2074967301221396711"):
        got = by_id.get(f"tweet-{tid}")
        assert got is None or folded_by_sourdine(got["content"]["itemContent"]["tweet_results"]["result"])
    # The quoting tweet is friendly and stays; the hostile tweet it quotes is tombstoned or folded in there.
    quoting = by_id[f"tweet-{QUOTING_ID}"]["content"]["itemContent"]["tweet_results"]["result"]
    quoted = quoting["quoted_status_result"]["result"]
    if quoted["__typename"] == "TweetTombstone":
        assert quoted["tombstone"]["text"]["text"].startswith("Sourdine hid this quoted post: ")
        assert QUOTED_ID not in json.dumps(doc)
    else:
        assert folded_by_sourdine(quoted)
    if data is not None:
        assert SEEN and SEEN[-1] == ("POST", POST_BODY), "the POST reached the platform as the client sent it"


def test_tweet_detail_folds_the_hostile_focal_tweet(sourdine, standin):
    """TweetDetail: the hostile focal tweet is folded with Sourdine's notice, never dropped; cursors kept."""
    status, headers, doc = fetch(sourdine, standin, DETAIL_PATH)
    assert status == 200
    path_keys = ("data", "threaded_conversation_with_injections_v2")
    before, after = entries(DETAIL_DOC, *path_keys), entries(doc, *path_keys)
    check_entries(before, after, DETAIL_TEXTS)
    focal = after[0]
    assert focal["entryId"] == f"tweet-{FOCAL_ID}"
    result = focal["content"]["itemContent"]["tweet_results"]["result"]
    assert folded_by_sourdine(result)
    assert result["tweet"] == before[0]["content"]["itemContent"]["tweet_results"]["result"]
    instructions = doc["data"]["threaded_conversation_with_injections_v2"]["instructions"]
    assert [i["type"] for i in instructions] == ["TimelineAddEntries", "TimelineTerminateTimeline"]
