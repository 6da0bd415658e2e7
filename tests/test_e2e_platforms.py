"""End to end for Reddit, YouTube, LinkedIn, Facebook, Instagram and Threads: a real `sourdine run` process, a
stand-in server and a client, all on 127.0.0.1, over plain HTTP (paths to this machine route whatever the platform).

Reddit's bodies are real captures (tests/data/reddit) with HAND-WRITTEN texts in place of a few real ones; the
other platforms' bodies are the hand-made fixtures of tests/data (SOURCES.md), with the same hand-written texts.
"""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from html.parser import HTMLParser

import pytest
from aiohttp import web

from conftest import DATA
from hostile import FRIENDLY_EN, FRIENDLY_FR, HOSTILE_EN, HOSTILE_FR, SOUR_EN, SOUR_FR


def respond(body: bytes, content_type: str, encoding: str | None = "gzip"):
    async def handler(request: web.Request) -> web.Response:
        data = gzip.compress(body) if encoding == "gzip" else body
        headers = {"Content-Type": content_type, "ETag": 'W/"abc"'}
        if encoding:
            headers["Content-Encoding"] = encoding
        return web.Response(body=data, headers=headers)

    return handler


def fetch(sourdine, standin, path: str, data: bytes | None = None) -> tuple[int, dict, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sourdine.proxy}))
    request = urllib.request.Request(
        f"http://localhost:{standin.port}{path}", data=data, method="POST" if data is not None else "GET",
        headers={"Accept-Encoding": "gzip, deflate, br"})
    with opener.open(request, timeout=10) as response:
        raw = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        return response.status, dict(response.headers), raw


# --- Reddit -------------------------------------------------------------------------------------------------

REDDIT_LISTING = "/r/askreddit/comments.json"
REDDIT_FEED = "/svc/shreddit/feeds/home-feed"
REDDIT_TEXTS = [HOSTILE_EN, HOSTILE_FR, SOUR_EN, SOUR_FR, FRIENDLY_EN, FRIENDLY_FR]


def reddit_listing() -> tuple[dict, bytes]:
    doc = json.loads((DATA / "reddit" / "praw_subreddit_comments.body.json").read_bytes())
    for thing, text in zip(doc["data"]["children"], REDDIT_TEXTS, strict=False):
        thing["data"]["body"] = text
    return doc, json.dumps(doc).encode()


def reddit_feed() -> bytes:
    text = (DATA / "reddit" / "shreddit_feed_no_ad.html").read_text()
    titles = ["Roblox sets a limit to how many experiences you can block.",
              "Little Chimpanzee playing alone with some straw", "Central Park, Lake Lanier, Dodger Stadium"]
    for old, new in zip(titles, [HOSTILE_FR, FRIENDLY_EN, HOSTILE_EN], strict=True):
        text = text.replace(old, new.replace("'", "&#39;"))
    loader = ('<faceplate-partial loading="lazy" src="/svc/shreddit/feeds/home-feed?after=t3_1r6j0i5">'
              "</faceplate-partial>")
    return (text + loader + "\n").encode()


def reddit_page(script: str = "if (a < b) { x = '<article>' }") -> bytes:
    """A first page, BUILT from the real captures (no whole first page was captured): a head with a script and a
    style, the real comments fragment with the post the page is about, then the feed above."""
    comments = (DATA / "reddit" / "shreddit_comments_with_tree_ad.html").read_text()
    comments = comments.replace("This is an automated comment from AutoModerator.", SOUR_EN.replace("'", "&#39;"))
    main = ('<shreddit-post id="t3_main" author="op" post-title="About the park">'
            f'<div slot="text-body"><p>{HOSTILE_EN}</p></div></shreddit-post>')
    return (f"<!DOCTYPE html><html><head><title>r/interesting</title><script>{script}</script>"
            "<style>a > b { color: red }</style></head><body><shreddit-app>"
            f"{main}{comments}<main>{REDDIT_FEED_BYTES.decode()}</main></shreddit-app></body></html>").encode()


REDDIT_DOC, REDDIT_BYTES = reddit_listing()
REDDIT_FEED_BYTES = reddit_feed()
REDDIT_PAGE = "/r/interesting/"
REDDIT_PAGE_BYTES = reddit_page()
# The same page under other URLs: served as JSON; with markup only a browser's tree settles (a style in SVG).
REDDIT_PAGE_AS_JSON = "/r/json/"
REDDIT_PAGE_REFUSED = "/r/refused/comments/1r6aomv/about_the_park/"
REDDIT_PAGE_REFUSED_BYTES = reddit_page("</script><svg><style>a<b</style></svg><script>")


# --- YouTube ------------------------------------------------------------------------------------------------

YOUTUBE_NEXT = "/youtubei/v1/next"
YOUTUBE_WATCH = "/watch"
YOUTUBE_TEXTS = {"UgxA1": HOSTILE_FR, "UgxB2": SOUR_EN, "UgxC3": FRIENDLY_EN, "UgxD4": HOSTILE_EN,
                 "UgzW1": FRIENDLY_FR, "UgzW2": HOSTILE_EN}


def youtube_texts(doc: dict) -> dict:
    for m in doc["frameworkUpdates"]["entityBatchUpdate"]["mutations"]:
        entity = m["payload"].get("commentEntityPayload")
        if entity and entity["properties"]["commentId"] in YOUTUBE_TEXTS:
            entity["properties"]["content"]["content"] = YOUTUBE_TEXTS[entity["properties"]["commentId"]]
    return doc


YOUTUBE_NEXT_BYTES = json.dumps(youtube_texts(json.loads(
    (DATA / "youtube" / "innertube_next_comments.handmade.json").read_bytes()))).encode()


def youtube_watch() -> bytes:
    page = (DATA / "youtube" / "watch_page.handmade.html").read_text()
    head, rest = page.split("var ytInitialData = ", 1)
    data, tail = rest.split(";</script>", 1)
    return (head + "var ytInitialData = " + json.dumps(youtube_texts(json.loads(data))).replace("</", "<\\/")
            + ";</script>" + tail).encode()


YOUTUBE_WATCH_BYTES = youtube_watch()


# --- LinkedIn -----------------------------------------------------------------------------------------------

LINKEDIN_GRAPHQL = "/voyager/api/graphql"


def linkedin_feed() -> tuple[dict, bytes]:
    doc = json.loads((DATA / "linkedin" / "voyager_graphql_main_feed.handmade.json").read_bytes())
    for entity, text in zip(doc["included"], [FRIENDLY_FR, HOSTILE_EN, SOUR_EN, HOSTILE_FR], strict=False):
        entity["commentary"]["text"]["text"] = text
    return doc, json.dumps(doc).encode()


LINKEDIN_DOC, LINKEDIN_BYTES = linkedin_feed()


# --- Facebook -----------------------------------------------------------------------------------------------

FACEBOOK_GRAPHQL = "/api/graphql/"
FACEBOOK_IDS = ["UzpfSTEwMDAwMTpWSzox", "UzpfSTEwMDAwMjpWSzoy", "UzpfSTEwMDAwMzpWSzoz", "UzpfSTEwMDAwNDpWSzo0"]


def facebook_feed() -> bytes:
    body = (DATA / "facebook" / "graphql_news_feed.handmade.ndjson").read_bytes()
    for old, new in (("First story text", SOUR_FR), ("Second story text", FRIENDLY_EN),
                     ("Third story text", HOSTILE_EN), ("Fourth story text", HOSTILE_FR)):
        body = body.replace(old.encode(), json.dumps(new, ensure_ascii=False).encode()[1:-1])
    return body


FACEBOOK_BYTES = facebook_feed()


# --- Instagram and Threads ----------------------------------------------------------------------------------

INSTAGRAM_GRAPHQL = "/graphql/query"
THREADS_PAGE = "/@eva.roux"
M = "330000000000000000"


def instagram_feed() -> tuple[dict, bytes]:
    doc = json.loads((DATA / "instagram" / "graphql_home_feed.handmade.json").read_bytes())
    edges = doc["data"]["xdt_api__v1__feed__timeline__connection"]["edges"]
    for edge, text in zip(edges, [FRIENDLY_EN, HOSTILE_FR, SOUR_FR, HOSTILE_EN], strict=False):
        edge["node"]["media"]["caption"]["text"] = text
    return doc, json.dumps(doc).encode()


INSTAGRAM_DOC, INSTAGRAM_BYTES = instagram_feed()


def threads_page() -> bytes:
    page = (DATA / "threads" / "profile_page.handmade.html").read_text()
    for old, new in (("Profile first", HOSTILE_FR), ("Profile second", FRIENDLY_EN)):
        page = page.replace(old, new.replace("'", "\\u0027"))
    return page.encode()


THREADS_BYTES = threads_page()


@pytest.fixture(scope="module", autouse=True)
def routes(standin):
    standin.routes.update({
        INSTAGRAM_GRAPHQL: respond(INSTAGRAM_BYTES, "text/javascript; charset=utf-8"),
        THREADS_PAGE: respond(THREADS_BYTES, "text/html; charset=utf-8"),
        FACEBOOK_GRAPHQL: respond(FACEBOOK_BYTES, "text/html; charset=utf-8"),
        LINKEDIN_GRAPHQL: respond(LINKEDIN_BYTES, "application/vnd.linkedin.normalized+json+2.1"),
        REDDIT_LISTING: respond(REDDIT_BYTES, "application/json; charset=UTF-8"),
        REDDIT_FEED: respond(REDDIT_FEED_BYTES, "text/html; charset=utf-8"),
        REDDIT_PAGE: respond(REDDIT_PAGE_BYTES, "text/html; charset=utf-8"),
        REDDIT_PAGE_AS_JSON: respond(REDDIT_PAGE_BYTES, "application/json"),
        REDDIT_PAGE_REFUSED: respond(REDDIT_PAGE_REFUSED_BYTES, "text/html; charset=utf-8"),
        YOUTUBE_NEXT: respond(YOUTUBE_NEXT_BYTES, "application/json; charset=UTF-8"),
        YOUTUBE_WATCH: respond(YOUTUBE_WATCH_BYTES, "text/html; charset=utf-8"),
    })


def reveal(sourdine, platform: str, post_id: str, token: bool = True) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {sourdine.token()}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{sourdine.api_port}/api/v1/originals/{platform}/{post_id}",
                                     headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


class Elements(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: dict[str, dict] = {}
        self.partials = 0
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag in ("shreddit-post", "shreddit-comment"):
            self.found[values.get("id") or values.get("thingid")] = values
        self.partials += tag == "faceplate-partial"


def test_reddit(sourdine, standin):
    """Reddit through `sourdine run`: a gzipped JSON listing of comments and a shreddit HTML feed page. Hostile
    en/fr comments and posts are hidden, sour comments folded with Reddit's own fields, the rest as sent; the
    page's loader stays."""
    status, headers, raw = fetch(sourdine, standin, REDDIT_LISTING)
    assert status == 200 and "ETag" not in headers
    after = {t["data"]["name"]: t["data"] for t in json.loads(raw)["data"]["children"]}
    before = {t["data"]["name"]: t["data"] for t in REDDIT_DOC["data"]["children"]}
    names = [t["data"]["name"] for t in REDDIT_DOC["data"]["children"]]
    assert names[0] not in after and names[1] not in after
    assert after[names[2]]["collapsed"] is True and after[names[3]]["collapsed_reason"].startswith("Sourdine")
    assert after[names[4]] == before[names[4]] and after[names[5]] == before[names[5]]
    for name in names[6:]:  # real comments: as sent, or caught by Sourdine
        assert name not in after or after[name] == before[name] or after[name]["collapsed_reason_code"] == "SOURDINE"
    assert json.loads(raw)["data"]["after"] == REDDIT_DOC["data"]["after"]

    status, headers, raw = fetch(sourdine, standin, REDDIT_FEED)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = Elements(raw.decode())
    assert set(page.found) == {"t3_1r6aomv"} and page.partials == 1
    assert raw.count(b"<article") == 1


def test_reddit_first_page(sourdine, standin):
    """Reddit's server-rendered first page through `sourdine run`: hostile en/fr feed posts' articles go, the
    post the page is about is folded (never cut), a sour comment folded, the rest byte for byte; the same page
    served as JSON, or holding a script a browser reads by its tree, comes back exactly as sent."""
    status, headers, raw = fetch(sourdine, standin, REDDIT_PAGE)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    page = Elements(raw.decode())
    assert set(page.found) == {"t3_main", "t3_1r6aomv", "t1_o5oox0v", "t1_o5ot9xz"} and page.partials == 1
    assert "spoiler" in page.found["t3_main"] and "collapsed" in page.found["t1_o5oox0v"]
    assert "collapsed" not in page.found["t1_o5ot9xz"] and "spoiler" not in page.found["t3_1r6aomv"]
    assert raw.count(b"<article class") == 1 and b"x = '<article>'" in raw
    # Every byte not cut is as sent: the page with the edits undone is the page sent minus the two articles.
    undone = raw.decode()
    for edit in (' spoiler sourdine-reason="', ' collapsed sourdine-reason="'):
        at = undone.index(edit)
        undone = undone[:at] + undone[undone.index('"', at + len(edit)) + 1:]
    sent = REDDIT_PAGE_BYTES.decode()
    for post in ("t3_1r6dmmy", "t3_1r6j0i5"):
        start = sent.rindex("<article", 0, sent.index(f'data-post-id="{post}"'))
        sent = sent[:start] + sent[sent.index("</article>", start) + len("</article>"):]
    assert undone == sent

    for path, body in ((REDDIT_PAGE_AS_JSON, REDDIT_PAGE_BYTES), (REDDIT_PAGE_REFUSED, REDDIT_PAGE_REFUSED_BYTES)):
        status, _, raw = fetch(sourdine, standin, path)
        assert status == 200 and raw == body, path


def test_youtube(sourdine, standin):
    """YouTube through `sourdine run`: a comments page (InnerTube `next`, gzipped JSON) and the watch page's
    ytInitialData. Hostile en/fr comments are dropped, a sour one reads as Sourdine's placeholder and its
    original comes back from the API; continuations stay."""
    from sourdine.platforms import youtube

    status, _, raw = fetch(sourdine, standin, YOUTUBE_NEXT, b'{"continuation": "abc"}')
    assert status == 200
    doc = json.loads(raw)
    left = {p.id: p.text for p in youtube.posts("next", doc)}
    assert set(left) == {"UgxB2", "UgxC3"} and left["UgxC3"] == FRIENDLY_EN
    assert left["UgxB2"] == "Sourdine folded this post: " + left["UgxB2"].split(": ", 1)[1]
    assert left["UgxB2"].endswith("[sourdine:youtube:UgxB2]")
    items = doc["onResponseReceivedEndpoints"][1]["reloadContinuationItemsCommand"]["continuationItems"]
    assert "continuationItemRenderer" in items[-1]
    assert reveal(sourdine, "youtube", "UgxB2") == (200, {"platform": "youtube", "id": "UgxB2", "text": SOUR_EN})
    assert reveal(sourdine, "youtube", "UgxA1")[0] == 404
    assert reveal(sourdine, "youtube", "UgxB2", token=False)[0] == 401, "the API's guard holds for this route too"

    status, headers, raw = fetch(sourdine, standin, YOUTUBE_WATCH)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert raw.split(b"var ytInitialData", 1)[0] == YOUTUBE_WATCH_BYTES.split(b"var ytInitialData", 1)[0]
    data = json.loads(raw.split(b"var ytInitialData = ", 1)[1].split(b";</script>", 1)[0])
    assert [p.id for p in youtube.posts("watch", type("Page", (), {"data": data})())] == ["UgzW1"]


def test_linkedin(sourdine, standin):
    """LinkedIn through `sourdine run`: the GraphQL main feed (normalized JSON). Hostile en/fr updates leave
    `*elements`, a sour one is folded and revealable, paging stays."""
    from sourdine.platforms import linkedin

    query = "?variables=(start:0)&queryId=voyagerFeedDashMainFeed.abc"
    status, headers, raw = fetch(sourdine, standin, LINKEDIN_GRAPHQL + query)
    assert status == 200 and headers["Content-Type"].startswith("application/vnd.linkedin.normalized+json")
    doc = json.loads(raw)
    feed, before = (d["data"]["data"]["feedDashMainFeedByMainFeed"] for d in (doc, LINKEDIN_DOC))
    assert feed["*elements"] == [before["*elements"][0], before["*elements"][2]]
    assert feed["paging"] == before["paging"] and feed["metadata"] == before["metadata"]
    folded = linkedin.post_id(before["*elements"][2])
    assert doc["included"][2]["commentary"]["text"]["text"].endswith(f"[sourdine:linkedin:{folded}]")
    assert doc["included"][0] == LINKEDIN_DOC["included"][0]
    assert reveal(sourdine, "linkedin", folded)[1]["text"] == SOUR_EN


def test_facebook(sourdine, standin):
    """Facebook through `sourdine run`: a streamed GraphQL news feed, one JSON document a line, served as
    text/html as Facebook does. Nothing is removed; hostile en/fr stories read as hidden, a sour one as folded
    and revealable through the API; untouched lines are as sent."""
    from sourdine.platforms import facebook

    form = b"fb_api_req_friendly_name=CometNewsFeedPaginationQuery"
    status, _, raw = fetch(sourdine, standin, FACEBOOK_GRAPHQL, form)
    assert status == 200
    lines, sent = raw.split(b"\n"), FACEBOOK_BYTES.split(b"\n")
    assert len(lines) == len(sent) and lines[1] == sent[1] and lines[-1] == sent[-1]
    texts = {p.id: p.text for p in facebook.posts("graphql", facebook.parse("graphql", raw))}
    s1, s2, s3, s4 = FACEBOOK_IDS
    assert texts[s1].endswith(f"[sourdine:facebook:{s1}]") and texts[s2] == FRIENDLY_EN
    assert texts[s3].startswith("Sourdine hid this post") and texts[s4].startswith("Sourdine hid this post")
    assert reveal(sourdine, "facebook", s1)[1]["text"] == SOUR_FR
    assert reveal(sourdine, "facebook", s3)[1]["text"] == HOSTILE_EN, "replaced, not removed: revealable"
    assert reveal(sourdine, "facebook", s2)[0] == 404, "a post kept as sent has nothing kept"


def test_instagram(sourdine, standin):
    """Instagram through `sourdine run`: the GraphQL home feed. Hostile en/fr posts' edges leave, a sour one is
    folded and revealable, the end of feed and page_info stay."""
    from sourdine.platforms import instagram

    status, _, raw = fetch(sourdine, standin, INSTAGRAM_GRAPHQL, b"doc_id=1&variables=%7B%7D")
    assert status == 200
    doc = json.loads(raw)
    connection = doc["data"]["xdt_api__v1__feed__timeline__connection"]
    assert [e["cursor"] for e in connection["edges"]] == ["cur0", "cur2", "cur-end"]
    assert connection["page_info"] == INSTAGRAM_DOC["data"]["xdt_api__v1__feed__timeline__connection"]["page_info"]
    texts = {p.id: p.text for p in instagram.posts("graphql", doc)}
    assert texts[M + "1"] == FRIENDLY_EN and texts[M + "3"].endswith(f"[sourdine:instagram:{M}3]")
    assert reveal(sourdine, "instagram", M + "3")[1]["text"] == SOUR_FR


def test_threads(sourdine, standin):
    """Threads through `sourdine run`: a profile page whose HTML holds the first page of threads. The hostile
    thread leaves, the friendly one and the rest of the page are as sent."""
    from sourdine.platforms import threads

    status, headers, raw = fetch(sourdine, standin, THREADS_PAGE)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    found = threads.posts("page", threads.parse("page", raw))
    assert [(p.id, p.text) for p in found] == [("3600000000000000012", FRIENDLY_EN)]
    cut = THREADS_BYTES.index(b'<script type="application/json" data-content-len="700"')
    assert raw[:cut] == THREADS_BYTES[:cut]

