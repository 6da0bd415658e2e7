"""100-post pages of the platforms added after Mastodon and X, for scripts/bench.

Each builder returns `count` gzipped bodies of 100 posts, every post with a new id (so "cold" pages are never
seen twice) and one of the bench's hand-written texts. Reddit's pages are built from the real captures in
tests/data/reddit (the hot listing's posts; the shreddit feed's article markup); the others from the hand-made
fixtures in tests/data, as no real capture of them exists here.
"""

from __future__ import annotations

import copy
import gzip
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SIZE = 100


def _plain(text: str) -> str:
    return re.sub(r"</?p>", "", text)


def _pack(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=1)


def reddit_json(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    doc = orjson.loads((DATA / "reddit" / "praw_subreddit_hot.body.json").read_bytes())
    template = doc["data"]["children"][:SIZE]
    pages = []
    for page in range(count):
        children = []
        for i, thing in enumerate(template):
            n = (first + page) * SIZE + i
            thing = copy.deepcopy(thing)
            thing["data"]["name"] = f"t3_b{n}"
            thing["data"]["id"] = f"b{n}"
            thing["data"]["title"] = _plain(texts[(n * 7) % len(texts)][1]) + f" #{n}"
            thing["data"]["selftext"] = ""
            children.append(thing)
        pages.append(_pack(orjson.dumps({**doc, "data": {**doc["data"], "children": children}})))
    return pages


def reddit_html(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    text = (DATA / "reddit" / "shreddit_feed_no_ad.html").read_text()
    start = text.index("<article")
    article = text[start:text.index("</article>", start) + len("</article>")]
    title = "Roblox sets a limit to how many experiences you can block."
    pages = []
    for page in range(count):
        parts = []
        for i in range(SIZE):
            n = (first + page) * SIZE + i
            words = html.escape(_plain(texts[(n * 7) % len(texts)][1]) + f" #{n}")
            parts.append(article.replace("t3_1r6dmmy", f"t3_h{n}").replace(title, words))
        loader = (f'<faceplate-partial loading="lazy" src="/svc/shreddit/feeds/home-feed?after=t3_h{n}">'
                  "</faceplate-partial>")
        pages.append(_pack(("\n<hr>\n".join(parts) + loader).encode()))
    return pages


def reddit_page(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    """New Reddit's server-rendered first page, BUILT: no capture of a whole page exists here, only trimmed
    fragments. It is made of real things to the size and tag count of a real one (about 800 KB, 4,700 tags):
    three copies of the real hot listing (tests/data/reddit) as JSON data scripts in the head, the 100 real feed
    articles of `reddit_html` with a loader, and 40 copies of the real comments fragment (its template and ad
    included), every post and comment with its own id."""
    data = (DATA / "reddit" / "praw_subreddit_hot.body.json").read_text().replace("</", "<\\/")
    comments = (DATA / "reddit" / "shreddit_comments_with_tree_ad.html").read_text()
    head = ('<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>Reddit - Dive into anything'
            '</title>' + "".join(f'<script type="application/json" id="data-{k}">{data}</script>' for k in range(3))
            + "<style>a > b { color: red }</style></head><body><shreddit-app><main>")
    pages = []
    # Ids of their own: the posts of reddit_html's pages are never those of these.
    first += 10**6
    for page, feed in enumerate(reddit_html(count, first, texts)):
        n = (first + page) * SIZE
        tail = "".join(comments.replace('thingId="t1_o5oox0v"', f'thingId="t1_p{n}x{k}"')
                       .replace('thingId="t1_o5ot9xz"', f'thingId="t1_q{n}x{k}"') for k in range(40))
        body = head + gzip.decompress(feed).decode() + "</main>" + tail + "</shreddit-app></body></html>"
        pages.append(_pack(body.encode()))
    return pages


def _youtube_page(n0: int, texts: list[tuple[str, str]]) -> dict[str, Any]:
    doc = orjson.loads((DATA / "youtube" / "innertube_next_comments.handmade.json").read_bytes())
    command = doc["onResponseReceivedEndpoints"][1]["reloadContinuationItemsCommand"]
    thread = command["continuationItems"][1]
    mutation = doc["frameworkUpdates"]["entityBatchUpdate"]["mutations"][2]
    items, mutations = [], []
    for i in range(SIZE):
        n = n0 + i
        t = copy.deepcopy(thread)
        t["commentThreadRenderer"]["commentViewModel"]["commentViewModel"].update(commentKey=f"K{n}", commentId=f"C{n}")
        m = copy.deepcopy(mutation)
        m["entityKey"] = f"K{n}"
        entity = m["payload"]["commentEntityPayload"]
        entity["key"] = f"K{n}"
        entity["properties"].update(commentId=f"C{n}", content={"content": _plain(texts[(n * 7) % len(texts)][1])})
        entity["author"]["channelId"] = f"UC{n % 50}"
        items.append(t)
        mutations.append(m)
    command["continuationItems"] = items + [command["continuationItems"][-1]]
    doc["frameworkUpdates"]["entityBatchUpdate"]["mutations"] = mutations
    return doc


def youtube(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    return [_pack(orjson.dumps(_youtube_page((first + p) * SIZE, texts))) for p in range(count)]


def linkedin(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    doc = orjson.loads((DATA / "linkedin" / "voyager_graphql_main_feed.handmade.json").read_bytes())
    entity = doc["included"][0]
    pages = []
    for page in range(count):
        urns, included = [], []
        for i in range(SIZE):
            n = (first + page) * SIZE + i
            urn = f"urn:li:fsd_update:(urn:li:activity:{8 * 10**18 + n},MAIN_FEED,EMPTY,DEFAULT,false)"
            e = copy.deepcopy(entity)
            e["entityUrn"] = urn
            e["commentary"]["text"]["text"] = _plain(texts[(n * 7) % len(texts)][1])
            e["actor"]["backendUrn"] = f"urn:li:member:{n % 50}"
            urns.append(urn)
            included.append(e)
        d = copy.deepcopy(doc)
        d["data"]["data"]["feedDashMainFeedByMainFeed"]["*elements"] = urns
        d["included"] = included
        pages.append(_pack(orjson.dumps(d)))
    return pages


def facebook(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    lines = (DATA / "facebook" / "graphql_news_feed.handmade.ndjson").read_bytes().split(b"\n")
    head, streamed, final = orjson.loads(lines[0]), orjson.loads(lines[3]), lines[-1]
    story = head["data"]["viewer"]["news_feed"]["edges"][0]["node"]

    def node(n: int) -> dict[str, Any]:
        s = json.dumps(story).replace("UzpfSTEwMDAwMTpWSzox", f"S{n}")
        out = json.loads(s)
        out["comet_sections"]["content"]["story"]["message"]["text"] = _plain(texts[(n * 7) % len(texts)][1])
        out["actors"][0]["id"] = str(n % 50)
        return out

    pages = []
    for page in range(count):
        n0 = (first + page) * SIZE
        h = copy.deepcopy(head)
        h["data"]["viewer"]["news_feed"]["edges"] = [{"node": node(n0 + i), "cursor": f"c{i}"} for i in range(10)]
        body = [orjson.dumps(h)]
        for i in range(10, SIZE):
            part = copy.deepcopy(streamed)
            part["path"][-1] = i
            part["data"]["node"] = node(n0 + i)
            body.append(orjson.dumps(part))
        pages.append(_pack(b"\r\n".join(body + [final])))
    return pages


def _media_page(template: dict[str, Any], n0: int, texts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    out = []
    for i in range(SIZE):
        n = n0 + i
        m = copy.deepcopy(template)
        m["pk"] = str(9 * 10**17 + n)
        m["code"] = f"B{n}"
        m["caption"]["text"] = _plain(texts[(n * 7) % len(texts)][1])
        m["user"]["pk"] = str(n % 50)
        out.append(m)
    return out


def instagram(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    doc = orjson.loads((DATA / "instagram" / "graphql_home_feed.handmade.json").read_bytes())
    connection = doc["data"]["xdt_api__v1__feed__timeline__connection"]
    template = connection["edges"][0]["node"]["media"]
    pages = []
    for page in range(count):
        media = _media_page(template, (first + page) * SIZE, texts)
        d = copy.deepcopy(doc)
        d["data"]["xdt_api__v1__feed__timeline__connection"]["edges"] = [
            {"node": {"media": m, "__typename": "XDTFeedItem"}, "cursor": f"c{i}"} for i, m in enumerate(media)]
        pages.append(_pack(orjson.dumps(d)))
    return pages


def threads_page(count: int, first: int, texts: list[tuple[str, str]]) -> list[bytes]:
    """Threads' profile page with 100 threads in its embedded data: over plain HTTP (as the bench runs) Threads'
    GraphQL path routes to Facebook or Instagram, which share it, so the page is what reaches Threads."""
    raw = (DATA / "threads" / "profile_page.handmade.html").read_text()
    start = raw.index('data-sjs>') + len("data-sjs>")
    end = raw.index("</script>", start)
    data = json.loads(raw[start:end])
    feed = orjson.loads((DATA / "threads" / "graphql_feed.handmade.json").read_bytes())
    template = feed["data"]["feedData"]["edges"][0]["node"]["text_post_app_thread"]["thread_items"][0]["post"]
    result = data["require"][0][3][0]["__bbox"]["require"][0][3][1]["__bbox"]["result"]
    pages = []
    for page in range(count):
        posts = _media_page(template, (first + page) * SIZE, texts)
        result["data"]["mediaData"]["edges"] = [{"node": {"thread_items": [{"post": p}]}} for p in posts]
        body = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
        pages.append(_pack((raw[:start] + body + raw[end:]).encode()))
    return pages


# name: (path, content type, builder)
WORKLOADS: dict[str, tuple[str, str, Callable[[int, int, list[tuple[str, str]]], list[bytes]]]] = {
    "reddit-json": ("/r/bench/hot.json", "application/json; charset=UTF-8", reddit_json),
    "reddit-html": ("/svc/shreddit/feeds/home-feed", "text/html; charset=utf-8", reddit_html),
    "reddit-page": ("/r/bench/", "text/html; charset=utf-8", reddit_page),
    "youtube": ("/youtubei/v1/next", "application/json; charset=UTF-8", youtube),
    "linkedin": ("/voyager/api/graphql", "application/vnd.linkedin.normalized+json+2.1", linkedin),
    "facebook": ("/api/graphql/", "text/html; charset=utf-8", facebook),
    "instagram": ("/graphql/query", "text/javascript; charset=utf-8", instagram),
    "threads-page": ("/@bench", "text/html; charset=utf-8", threads_page),
}
