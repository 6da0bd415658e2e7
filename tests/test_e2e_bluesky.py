"""End to end for Bluesky: a real `sourdine run`, a stand-in AppView and a client, all on 127.0.0.1.

The timeline is a real capture (tests/data/bluesky/bskyr_f_timeline.body.json: getTimeline on bsky.social, 49
items), served gzip-encoded as bsky.social does. Four posts get HAND-WRITTEN texts, two hostile and two
friendly, in English and French; every other post is left as captured. The hostile English post is also the
reply root of two other items, and the hostile French one is only ever seen quoted inside a repost, so the
test shows both cleaned everywhere they appear.
"""

from __future__ import annotations

import copy
import gzip
import json
import urllib.request
from typing import Any

import brotli
import pytest
from aiohttp import web

from conftest import DATA, start_sourdine
from lexicon_check import Lexicons

TIMELINE_PATH = "/xrpc/app.bsky.feed.getTimeline"
UNCHANGED_PATH = "/xrpc/app.bsky.feed.getListFeed"
LEXICONS = Lexicons(DATA / "bluesky" / "lexicons")
REAL_BYTES = (DATA / "bluesky" / "bskyr_f_timeline.body.json").read_bytes()
LABELERS = "did:plc:ar7c4by46qjdydhdevvrndac;redact"  # the real response's header

POST = "at://did:plc:{}/app.bsky.feed.post/{}"
BSKY_ROOT = POST.format("z72i7hdynmk6r22z27h6tvur", "3lpk2lf7k6k2t")  # item 15, root of items 13 and 14
QUOTED = POST.format("5c2r73erhng4bszmxlfdtscf", "3lktj6pstuy2n")  # quoted by item 39, a repost
FRIENDLY_EN = POST.format("5c2r73erhng4bszmxlfdtscf", "3lpemtiogea2q")  # item 44, with an image
FRIENDLY_FR = POST.format("5c2r73erhng4bszmxlfdtscf", "3lpem3br3qn2z")  # item 46

# Hand-written texts, not from the capture.
HOSTILE = {
    BSKY_ROOT: (
        "en",
        "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! Everyone should despise you.",
    ),
    QUOTED: ("fr", "Espèce d'ordure, menteur pathétique et minable. Tu es une honte absolue, dégage !!!"),
}
FRIENDLY = {
    FRIENDLY_EN: ("en", "Thank you all for a lovely afternoon at the library, the kids loved the stories!"),
    FRIENDLY_FR: (
        "fr", "Merci à toute l'équipe pour ce bel atelier, c'était un vrai plaisir de vous retrouver."
    ),
}


def views(doc: Any) -> list[dict[str, Any]]:
    """Every view of a post in the document (PostViews and quoted viewRecords), in order."""
    found = []
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            has_record = "record" in node or "value" in node
            if isinstance(node.get("uri"), str) and "author" in node and has_record:
                found.append(node)
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))
    return found


def timeline() -> dict[str, Any]:
    """The real timeline with the hand-written texts put in every view of their four posts."""
    doc = json.loads(REAL_BYTES)
    for view in views(doc):
        if view["uri"] in HOSTILE or view["uri"] in FRIENDLY:
            lang, text = {**HOSTILE, **FRIENDLY}[view["uri"]]
            key = "record" if "record" in view else "value"
            record = {k: v for k, v in view[key].items() if k != "facets"}  # facets index the captured text
            view[key] = {**record, "text": text, "langs": [lang]}
    return doc


TIMELINE = timeline()
TIMELINE_BYTES = json.dumps(TIMELINE, ensure_ascii=False).encode()


def gzipped(body: bytes):
    def handler(request: web.Request) -> web.Response:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Content-Encoding": "gzip",
            "atproto-content-labelers": LABELERS,
        }
        return web.Response(body=gzip.compress(body), headers=headers)

    return handler


@pytest.fixture(scope="module")
def sourdine(tmp_path_factory):
    """`sourdine run` as a user starts it. conftest's own makes 127.0.0.1 a Mastodon instance, and a host that
    belongs to a platform is routed to that platform only: the stand-in's Bluesky paths would never match."""
    running = start_sourdine(tmp_path_factory.mktemp("home"))
    yield running
    code = running.stop()
    assert code == 0, running.stderr[-2000:]


@pytest.fixture(scope="module", autouse=True)
def routes(standin):
    standin.routes.update({TIMELINE_PATH: gzipped(TIMELINE_BYTES), UNCHANGED_PATH: gzipped(REAL_BYTES)})


def fetch(sourdine, standin, path: str) -> tuple[Any, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sourdine.proxy}))
    request = urllib.request.Request(
        f"http://127.0.0.1:{standin.port}{path}", headers={"Accept-Encoding": "gzip, deflate, br, zstd"}
    )
    with opener.open(request, timeout=10) as response:
        assert response.status == 200
        raw = response.read()
        encoding = response.headers.get("Content-Encoding")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "br":
            raw = brotli.decompress(raw)
        else:
            assert encoding is None
        return response.headers, raw


def test_hostile_posts_are_caught_everywhere_and_friendly_ones_untouched(sourdine, standin):
    """Hostile English and French posts come back hidden or folded wherever they show; the rest is as sent."""
    headers, body = fetch(sourdine, standin, TIMELINE_PATH)
    assert headers["atproto-content-labelers"] == LABELERS
    doc = json.loads(body)
    assert LEXICONS.errors("app.bsky.feed.getTimeline", doc) == []
    text = body.decode()
    for hostile_text in (t for _, t in HOSTILE.values()):
        assert hostile_text not in text, "a hostile text went through"
    for target in HOSTILE:
        shown = [view for view in views(doc) if view["uri"] == target]
        for view in shown:  # folded where it shows, if not hidden
            record = view.get("record", view.get("value"))
            assert record["text"].startswith("Folded by Sourdine: "), target
    sent = {view["uri"]: view for view in views(TIMELINE)}
    for target in FRIENDLY:
        (view,) = [view for view in views(doc) if view["uri"] == target]
        assert view == sent[target], "a friendly post changed"
    touched = set(HOSTILE)
    items = [item for item in TIMELINE["feed"] if not {view["uri"] for view in views(item)} & touched]
    assert [item for item in doc["feed"] if item in items] == items, "an untouched item changed or moved"
    assert doc["cursor"] == TIMELINE["cursor"]
    assert doc != TIMELINE


def test_an_unchanged_bluesky_feed_goes_out_as_the_original_bytes(sourdine, standin):
    """A feed with nothing to fold or hide (the real timeline as captured) reaches the client as sent."""
    headers, body = fetch(sourdine, standin, UNCHANGED_PATH)
    assert body == REAL_BYTES


def test_status_names_bluesky(sourdine, standin):
    """The running instance routes Bluesky: the status lists it among its platforms."""
    fetch(sourdine, standin, TIMELINE_PATH)
    request = urllib.request.Request(
        f"http://127.0.0.1:{sourdine.api_port}/api/v1/status",
        headers={"Authorization": f"Bearer {sourdine.token()}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        status = json.load(response)
    assert "bluesky" in status["platforms"]
    assert status["counts"]["collapsed"] + status["counts"]["hidden"] >= len(HOSTILE)


def test_hand_written_texts_changed_only_their_posts():
    """The served timeline differs from the capture only in the texts and languages of the four posts."""
    real = json.loads(REAL_BYTES)
    served = copy.deepcopy(TIMELINE)
    for view in views(served):
        if view["uri"] in HOSTILE or view["uri"] in FRIENDLY:
            (original,) = [v for v in views(real) if v is not None and v["uri"] == view["uri"]][:1]
            key = "record" if "record" in view else "value"
            view[key] = original[key]
    assert served == real
