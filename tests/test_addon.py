"""The addon's hooks, called directly inside mitmproxy's taddons context on tflow flows, with the real scorer.

The timeline is a real capture; the hostile text put into some of its statuses is hand-written.
"""

from __future__ import annotations

import copy
import gc
import gzip
import json
import logging
import zlib

import brotli
import pytest
import zstandard
from mitmproxy import http
from mitmproxy.test import taddons, tflow
from mitmproxy.websocket import WebSocketData, WebSocketMessage

from conftest import DATA
from sourdine import settings
from sourdine.addon import Sourdine, streaming_host
from sourdine.engine import Engine
from sourdine.platforms import ADAPTERS
from sourdine.runtime import Runtime
from sourdine.scoring import score
from sourdine.store import Writer

REAL = json.loads((DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())
# A real timeline from Mastodon.py's test server whose posts are all calm ("Toot!" and the like).
CALM = (DATA / "mastodon" / "mastodonpy_test_home_tl.body.json").read_bytes()
SECRET = "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! and-a-secret-phrase"


def hostile_timeline(*indices: int) -> list[dict]:
    statuses = copy.deepcopy(REAL)
    for i in indices:
        statuses[i]["content"] = f"<p>{SECRET}</p>"
        statuses[i]["language"] = "en"
    return statuses


def sourdine_filtered(status: dict) -> bool:
    return any(f["filter"]["title"].startswith("Sourdine: ") for f in status.get("filtered") or [])


@pytest.fixture
def runtime(tmp_path):
    decisions: list = []
    engine = Engine(score, ADAPTERS, record=decisions.append)
    rt = Runtime(tmp_path, "token", settings.build(), engine, Writer(tmp_path / "db.sqlite"))
    rt.decisions = decisions  # type: ignore[attr-defined]
    return rt


@pytest.fixture
async def addon(runtime):
    # Inside a running loop, so taddons' Master uses pytest-asyncio's loop instead of leaking a new one.
    a = Sourdine(runtime)
    with taddons.context(a) as tctx:
        # These tests check what filtering does, not its time budget (tests/test_fuzz.py does): a loaded machine
        # must not turn a rewrite into a pass-through.
        tctx.configure(a, sourdine_budget_ms=60_000)
        yield a


def feed_flow(body: bytes, path="/api/v1/timelines/home", host="127.0.0.1", scheme="http", encoding=None,
              content_type="application/json; charset=utf-8") -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    flow.request.scheme = scheme
    flow.request.host = host
    flow.request.port = 443 if scheme == "https" else 80
    flow.request.path = path + "?limit=20"
    flow.request.headers["accept-encoding"] = "gzip, deflate, br, zstd"
    headers = {"content-type": content_type, "link": '<https://x.example/?max_id=1>; rel="next"', "etag": 'W/"1"',
               "last-modified": "Wed, 25 Nov 2026 06:00:00 GMT", "accept-ranges": "bytes"}
    if encoding:
        headers["content-encoding"] = encoding
    flow.response = http.Response.make(200, b"", headers)
    flow.response.raw_content = body
    return flow


def run(addon, flow):
    addon.requestheaders(flow)
    addon.response(flow)
    return flow


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        (None, lambda b: b),
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("br", brotli.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
    ],
)
def test_hostile_posts_are_rewritten_and_sent_uncompressed(addon, encoding, encode):
    """A feed with hostile posts is rewritten, sent as identity with a correct length, Link kept, ETag gone, and
    Last-Modified and Accept-Ranges too (a cache could join a range of the platform's bytes to the rewrite)."""
    statuses = hostile_timeline(3)
    flow = run(addon, feed_flow(encode(json.dumps(statuses).encode()), encoding=encoding))
    assert flow.metadata["sourdine"]["rewritten"]
    assert "content-encoding" not in flow.response.headers
    assert not {"etag", "last-modified", "accept-ranges"} & set(flow.response.headers.keys())
    assert flow.response.headers["link"] == '<https://x.example/?max_id=1>; rel="next"'
    assert int(flow.response.headers["content-length"]) == len(flow.response.raw_content)
    out = json.loads(flow.response.raw_content)
    target = statuses[3]["id"]
    kept = {s["id"]: s for s in out}
    assert target not in kept or sourdine_filtered(kept[target])
    for s in statuses:
        if s["id"] in kept and not sourdine_filtered(kept[s["id"]]):
            assert kept[s["id"]] == s, "a post Sourdine kept was changed"


def test_a_feed_gzipped_in_several_members_goes_out_as_it_came(addon):
    """A feed whose gzip body is two members (RFC 1952) is not filtered from its first member and sent without the
    second (a review found the second dropped): it goes out as the platform sent it."""
    body = json.dumps(hostile_timeline(3)).encode()
    half = len(body) // 2
    raw = gzip.compress(body[:half]) + gzip.compress(body[half:])
    flow = run(addon, feed_flow(raw, encoding="gzip"))
    assert "rewritten" not in flow.metadata["sourdine"]
    assert flow.response.raw_content == raw and flow.response.headers["content-encoding"] == "gzip"


def test_only_the_responses_sourdine_reads_are_held_until_their_end(addon):
    """A feed is read whole; any other response, and an event stream even on a feed's host, is streamed as it
    comes (mitmproxy would hold a stream of unknown length until it ends); a WebSocket's upgrade is left alone."""
    feed = feed_flow(json.dumps(hostile_timeline(1)).encode())
    other = feed_flow(b"{}", path="/api/v1/accounts/relationships")
    events = feed_flow(b"", content_type="text/event-stream")
    upgrade = feed_flow(b"", path="/api/v1/streaming")
    upgrade.response.status_code = 101
    page = feed_flow(b"", path="/home", host="mastodon.social", scheme="https", content_type="text/html")
    script = feed_flow(b"", path="/packs/app.js", host="mastodon.social", scheme="https",
                       content_type="text/javascript")
    for flow in (feed, other, events, upgrade, page, script):
        addon.requestheaders(flow)
        addon.responseheaders(flow)
    assert [f.response.stream for f in (feed, other, events, upgrade, page, script)] == [
        False, True, True, False, False, True]
    addon.response(feed)
    assert feed.metadata["sourdine"]["rewritten"]


def test_loaded_into_ones_own_mitmproxy_sourdine_streams_nothing(runtime):
    """With `mitmdump -s`, holding or streaming bodies is left to the user's mitmproxy and its other addons."""
    standalone = Sourdine()
    standalone.runtime = runtime  # as its `configure` would have made it
    flow = feed_flow(b"{}", path="/api/v1/accounts/relationships")
    standalone.requestheaders(flow)
    standalone.responseheaders(flow)
    assert flow.response.stream is False


def test_calm_feed_goes_out_as_the_original_bytes(addon):
    """A feed where nothing is filtered keeps its exact bytes and headers."""
    raw = gzip.compress(CALM)
    flow = run(addon, feed_flow(raw, encoding="gzip"))
    assert flow.response.raw_content is raw
    assert flow.response.headers["content-encoding"] == "gzip"
    assert flow.response.headers["etag"] == 'W/"1"'
    assert flow.response.headers["last-modified"] == "Wed, 25 Nov 2026 06:00:00 GMT"
    assert flow.response.headers["accept-ranges"] == "bytes"
    assert "rewritten" not in flow.metadata["sourdine"]


@pytest.mark.parametrize(
    ("body", "encoding"),
    [
        (b'[{"id": "1", "content": "You are a disgusting idiot', None),
        (gzip.compress(b"[1, 2, 3")[:-5], "gzip"),
        (b"\xff\xfe\x00garbage", None),
        (b"not brotli", "br"),
        (json.dumps({"unexpected": SECRET}).encode(), None),
        (b"", None),
    ],
)
def test_bad_bodies_pass_through_byte_for_byte(addon, runtime, body, encoding, caplog):
    """Malformed, truncated or oddly encoded feed bodies go out exactly as received."""
    flow = feed_flow(body, encoding=encoding)
    headers = flow.response.headers.copy()
    run(addon, flow)
    assert flow.response.raw_content == body
    assert flow.response.headers == headers


def test_a_failing_adapter_fails_open_and_logs_no_text_or_path(addon, runtime, monkeypatch, caplog):
    """An exception inside the adapter leaves the response as sent; the log names platform and endpoint only."""

    def boom(endpoint, doc, verdicts):
        raise RuntimeError(SECRET)

    monkeypatch.setattr(ADAPTERS["mastodon"], "rewrite", boom)
    raw = json.dumps(hostile_timeline(0)).encode()
    flow = feed_flow(raw, path="/api/v1/accounts/someone/statuses")
    with caplog.at_level(logging.DEBUG, logger="sourdine"):
        run(addon, flow)
    assert flow.response.raw_content is raw
    assert runtime.engine.health["mastodon"].failures == 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and "mastodon account_statuses" in warnings[0].getMessage()
    assert "RuntimeError" in caplog.text  # the DEBUG traceback is there...
    for leak in ("secret", "disgusting", "someone", "limit=20"):
        assert leak not in caplog.text  # ...but no message, text or path, formatted as a handler would


@pytest.mark.parametrize(
    ("scheme", "host", "path", "routed"),
    [
        ("http", "127.0.0.1", "/api/v1/timelines/home", True),
        ("https", "mastodon.social", "/api/v1/timelines/home", True),
        ("https", "example.com", "/api/v1/timelines/home", False),
        ("http", "127.0.0.1", "/api/v1/statuses/1", False),
        ("http", "example.com", "/", False),  # a site's root page over plain HTTP: not Reddit's first page
        ("http", "example.com", "/api/v1/timelines/home", False),
        ("http", "192.168.1.10", "/watch", False),
    ],
)
def test_only_feed_requests_are_marked_and_asked_for_gzip(addon, scheme, host, path, routed):
    """Feed requests are marked and ask upstream for gzip only; everything else is left alone."""
    flow = feed_flow(b"[]", path=path, host=host, scheme=scheme)
    addon.requestheaders(flow)
    assert ("sourdine" in flow.metadata) == routed
    assert flow.request.headers["accept-encoding"] == ("gzip" if routed else "gzip, deflate, br, zstd")


@pytest.mark.parametrize(
    ("accept", "sent"),
    [
        ("gzip, deflate, br, zstd", "gzip"),
        ("br;q=1.0, GZIP;q=0.5", "gzip"),
        ("gzip;q=0, identity", "gzip;q=0, identity"),
        ("gzip ; q=0.0", "gzip ; q=0.0"),
        ("x-gzip-ish, br", "x-gzip-ish, br"),
        ("br, X-GZIP", "gzip"),
        ("x-gzip;q=0, br", "x-gzip;q=0, br"),
        ("identity", "identity"),
    ],
)
def test_a_feed_asks_for_gzip_only_where_the_browser_takes_it(addon, accept, sent):
    """A browser that refuses gzip (a quality of 0) is not sent gzip because of Sourdine (a review found
    "gzip;q=0" narrowed to "gzip", and a calm feed then reached it gzipped)."""
    flow = feed_flow(b"[]")
    flow.request.headers["accept-encoding"] = accept
    addon.requestheaders(flow)
    assert "sourdine" in flow.metadata and flow.request.headers["accept-encoding"] == sent


@pytest.mark.parametrize(
    ("content_type", "rewritten"),
    [
        ('application/json; charset="UTF-8"', True),
        ("application/json;charset=utf8", True),
        ("application/json; charset=iso-8859-1", False),
        ("application/json; charset=windows-1252; profile=x", False),
        ("application/json; charset=iso-8859-1; charset=utf-8", False),  # the first one counts
        ('application/json; p="x;charset=iso-8859-1"', True),  # inside another parameter's quoted value
        ("Application/JSON; Charset=UTF-8", True),  # media types are case-insensitive (a review found it missed)
        ("APPLICATION/JSON", True),
    ],
)
def test_a_body_in_another_charset_than_utf8_goes_out_as_it_came(addon, content_type, rewritten):
    """Sourdine writes UTF-8: a body said to be in another charset is not rewritten (a review showed a rewrite
    sent as UTF-8 under an ISO-8859-1 label, which a reader honouring it garbles)."""
    body = json.dumps(hostile_timeline(3)).encode()
    flow = run(addon, feed_flow(body, content_type=content_type))
    assert bool(flow.metadata["sourdine"].get("rewritten")) is rewritten
    assert (flow.response.raw_content == body) is not rewritten
    assert flow.response.headers["content-type"] == content_type


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        ("application/json; charset=us-ascii", "application/json; charset=utf-8"),
        ('application/json;Charset="US-ASCII"; profile=x', "application/json;Charset=utf-8; profile=x"),
        # The first charset counts, as in browsers; a quoted value of another parameter is left as it is.
        ("application/json; charset=us-ascii; charset=utf-8", "application/json; charset=utf-8; charset=utf-8"),
        ('application/json; foo="a;charset=us-ascii"; charset=us-ascii',
         'application/json; foo="a;charset=us-ascii"; charset=utf-8'),
    ],
)
def test_a_rewrite_that_is_not_ascii_is_labelled_utf8(addon, content_type, said):
    """A body labelled US-ASCII, its accents escaped (\\u00e9), is written out as UTF-8 once rewritten: the label
    says UTF-8 then, or a reader honouring it (XHR's responseText) garbles every accent."""
    statuses = hostile_timeline(3)
    statuses[0]["content"] = "<p>Un caf\u00e9 en terrasse.</p>"
    body = json.dumps(statuses).encode()
    assert body.isascii()
    flow = run(addon, feed_flow(body, content_type=content_type))
    assert flow.metadata["sourdine"].get("rewritten")
    assert flow.response.headers["content-type"] == said
    assert "café" in flow.response.raw_content.decode("utf-8")


def test_non_json_and_errors_are_left_alone(addon):
    """An HTML error page on a feed path and a non-200 answer are not touched."""
    page = f"<html>{SECRET}</html>".encode()
    flow = run(addon, feed_flow(page, content_type="text/html"))
    assert flow.response.raw_content == page
    flow = feed_flow(json.dumps(hostile_timeline(0)).encode())
    flow.response.status_code = 500
    raw = flow.response.raw_content
    run(addon, flow)
    assert flow.response.raw_content is raw


def test_an_adapter_that_reads_html_gets_html_and_fails_open_on_it(addon, runtime):
    """Reddit declares HTML among its content types: its shreddit fragment (real capture, a HAND-WRITTEN
    hostile title) is filtered; a Reddit JSON path answered with an HTML page fails open, unchanged, and counts
    as a failure; Mastodon still ignores HTML."""
    page = (DATA / "reddit" / "shreddit_feed_no_ad.html").read_bytes().replace(
        b"Little Chimpanzee playing alone with some straw", SECRET.encode())
    flow = run(addon, feed_flow(page, path="/svc/shreddit/feeds/home-feed", content_type="text/html; charset=utf-8"))
    assert flow.metadata["sourdine"]["rewritten"] and SECRET.encode() not in flow.response.raw_content
    assert flow.response.raw_content.count(b"<article") == 2
    login = b"<html><body>Log in to Reddit</body></html>"
    flow = run(addon, feed_flow(login, path="/r/askreddit/hot.json", content_type="text/html"))
    assert flow.response.raw_content == login and runtime.engine.health["reddit"].failures == 1


def test_oversized_body_passes_through(addon):
    """A body larger than sourdine_max_body is not read at all."""
    from mitmproxy import ctx

    ctx.options.update(sourdine_max_body=1000)
    raw = json.dumps(hostile_timeline(0)).encode()
    flow = run(addon, feed_flow(raw))
    assert flow.response.raw_content is raw


def test_decisions_are_recorded_once_per_post(addon, runtime):
    """Each post's decision is recorded when first made, not again when the same feed comes back."""
    raw = json.dumps(hostile_timeline(2)).encode()
    run(addon, feed_flow(raw))
    counts = copy.copy(runtime.engine.counts)
    run(addon, feed_flow(raw))
    assert len(runtime.decisions) == len(REAL)
    assert runtime.engine.counts == counts
    assert counts.seen == len(REAL)
    acted = [d for d in runtime.decisions if d.action != "keep"]
    assert counts.collapsed + counts.hidden == len(acted) >= 1
    assert REAL[2]["id"] in {d.post_id for d in acted}


def ws_flow(payload: dict, event="update") -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    flow.request.scheme = "http"
    flow.request.host = "127.0.0.1"
    flow.request.path = "/api/v1/streaming?stream=user"
    flow.websocket = WebSocketData()
    text = json.dumps({"stream": ["user"], "event": event, "payload": json.dumps(payload)})
    flow.websocket.messages.append(WebSocketMessage(1, False, text.encode()))  # 1 = text frame
    return flow


def test_streaming_hostile_update_is_dropped_or_folded(addon):
    """A hostile status pushed on the streaming API is dropped or folded; a calm one passes unchanged."""
    hostile = hostile_timeline(1)[1]
    flow = ws_flow(hostile)
    addon.requestheaders(flow)
    addon.websocket_message(flow)
    message = flow.websocket.messages[-1]
    if not message.dropped:
        payload = json.loads(json.loads(message.text)["payload"])
        assert sourdine_filtered(payload)

    calm = ws_flow(json.loads(CALM)[0])
    before = calm.websocket.messages[-1].content
    addon.requestheaders(calm)
    addon.websocket_message(calm)
    assert calm.websocket.messages[-1].content == before
    assert not calm.websocket.messages[-1].dropped


def test_a_websocket_keeps_only_the_message_at_hand(addon):
    """mitmproxy appends each message to its flow for as long as the socket is open; the hook lets go of the
    earlier ones, on a stream Sourdine filters and on any other socket alike, and still filters each message."""
    stream = ws_flow(json.loads(CALM)[0])
    other = ws_flow(json.loads(CALM)[0])
    other.request.path = "/some/socket"
    addon.requestheaders(stream)
    addon.requestheaders(other)
    hostile = hostile_timeline(1)[1]
    for i in range(300):
        for flow in (stream, other):
            text = json.dumps({"stream": ["user"], "event": "update", "payload": json.dumps(hostile)})
            flow.websocket.messages.append(WebSocketMessage(1, False, text.encode()))  # as mitmproxy's layer does
            addon.websocket_message(flow)
            assert len(flow.websocket.messages) == 1, i
        message = stream.websocket.messages[-1]
        assert message.dropped or sourdine_filtered(json.loads(json.loads(message.text)["payload"]))
    assert not other.websocket.messages[-1].dropped and "sourdine" not in other.metadata


def test_raw_tcp_and_udp_keep_only_the_message_at_hand(addon):
    """A connection to a platform's host that mitmproxy relays as raw TCP (or UDP) keeps its messages in its
    flow as a WebSocket does: the hooks let go of the earlier ones and leave the one at hand as it is."""
    from mitmproxy.tcp import TCPMessage
    from mitmproxy.udp import UDPMessage

    for flow, message, hook in ((tflow.ttcpflow(), TCPMessage, addon.tcp_message),
                                (tflow.tudpflow(), UDPMessage, addon.udp_message)):
        for i in range(100):
            flow.messages.append(message(i % 2 == 0, b"\x00\x01 %d" % i))
            hook(flow)
            assert [m.content for m in flow.messages] == [b"\x00\x01 %d" % i]


def test_the_cycle_collector_stays_out_of_a_streaming_message(addon, runtime, monkeypatch):
    """As for a response: a collection that falls due while a message is filtered runs once it has gone on (the
    fuzz's slowest hook was once a 1 KB streaming message, the collector not kept out)."""
    seen = []
    mastodon = runtime.engine.adapters["mastodon"]

    class Noting:  # Mastodon's adapter, noting whether the collector is on when a message's posts are read
        def __getattr__(self, name):
            return getattr(mastodon, name)

        def posts(self, *args, **kwargs):
            seen.append(gc.isenabled())
            return mastodon.posts(*args, **kwargs)

    monkeypatch.setitem(runtime.engine.adapters, "mastodon", Noting())
    flow = ws_flow(hostile_timeline(1)[1])
    addon.requestheaders(flow)
    assert gc.isenabled()
    addon.websocket_message(flow)
    assert seen == [False] and gc.isenabled()  # no event loop here: it is back on at once


def test_streaming_host_is_learned_from_the_instance_document(addon, runtime):
    """A Mastodon instance's streaming host, named in /api/v2/instance, joins the decrypted hosts."""
    changes = []
    runtime.on_change.append(changes.append)
    doc = {"domain": "mastodon.online", "configuration": {"urls": {"streaming": "wss://streaming.mastodon.online"}}}
    flow = run(addon, feed_flow(json.dumps(doc).encode(), path="/api/v2/instance", host="mastodon.online",
                                scheme="https"))
    assert runtime.snapshot.hosts["streaming.mastodon.online"] == "mastodon"
    assert changes and "streaming.mastodon.online" in changes[-1].hosts
    assert flow.response.raw_content == json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("scheme", "host", "streaming"),
    [
        ("https", "mastodon.online", "wss://www.mybank.example"),  # not the instance's own name space
        ("https", "mastodon.online", "wss://accounts.google.com"),
        ("https", "mastodon.online", "wss://evilmastodon.social"),
        ("http", "mastodon.online", "wss://streaming.mastodon.online"),  # plain HTTP can be forged on the path
        ("https", "example.com", "wss://streaming.example.com"),  # not a Mastodon instance
    ],
)
def test_instance_documents_cannot_add_foreign_hosts(addon, runtime, scheme, host, streaming):
    """Only an instance's own subdomain, learnt over HTTPS, joins the decrypted hosts; nothing else does."""
    before = runtime.snapshot
    doc = {"urls": {"streaming_api": streaming}}
    run(addon, feed_flow(json.dumps(doc).encode(), path="/api/v1/instance", host=host, scheme=scheme))
    assert runtime.snapshot is before


def test_learned_streaming_hosts_do_not_teach_further_hosts(addon, runtime):
    """A learnt streaming host is not itself trusted to name more hosts."""
    doc = {"urls": {"streaming_api": "wss://streaming.mastodon.online"}}
    run(addon, feed_flow(json.dumps(doc).encode(), path="/api/v1/instance", host="mastodon.online", scheme="https"))
    learned = runtime.snapshot
    doc = {"urls": {"streaming_api": "wss://x.streaming.mastodon.online"}}
    run(addon, feed_flow(json.dumps(doc).encode(), path="/api/v1/instance", host="streaming.mastodon.online",
                         scheme="https"))
    assert runtime.snapshot is learned


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True), ("127.1", True), ("2130706433", True), ("0x7f.0.0.1", True), ("0.0.0.0", True),
        ("localhost", True), ("LOCALHOST.", True), ("api.localhost", True), ("::1", True), ("[::1]", True),
        ("::ffff:127.0.0.1", True), ("::", True), ("10.0.0.1", False), ("mastodon.social", False),
        ("127.0.0.1.nip.io", False), ("", False), ("127.0.0.1\0", False), ("a\udcff", False),
    ],
)
def test_is_loopback_sees_every_spelling(host, loopback):
    """Every spelling of this machine's address counts as loopback; other hosts do not, and a name no resolver
    takes (a NUL, a lone surrogate) is not an error."""
    from sourdine.addon import is_loopback

    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "0.0.0.0", "localhost", "[::1]"])
async def test_requests_to_sourdine_own_ports_are_refused(addon, runtime, host):
    """A proxied request, a CONNECT or an upstream connection to Sourdine's own API or sync port is refused."""
    from types import SimpleNamespace

    from sourdine.runtime import Listen

    runtime.listen = Listen(proxy=("127.0.0.1", 8080), api=("127.0.0.1", 8787), sync=("127.0.0.1", 8790))
    for port in (8787, 8790):
        flow = feed_flow(b"[]", path="/api/v1/status", host=host.strip("[]"))
        flow.request.port = port
        flow.response = None
        addon.requestheaders(flow)
        assert flow.response.status_code == 403
        flow.response = None
        addon.http_connect(flow)
        assert flow.response.status_code == 403
        data = SimpleNamespace(server=SimpleNamespace(address=(host.strip("[]"), port), error=None))
        await addon.server_connect(data)
        assert data.server.error
    data = SimpleNamespace(server=SimpleNamespace(address=(host.strip("[]"), 9999), error=None))
    await addon.server_connect(data)
    assert data.server.error is None


async def test_names_resolving_to_this_machine_cannot_reach_sourdine(addon, runtime, monkeypatch):
    """A host name that resolves to 127.0.0.1 (hosts file, *.nip.io) is refused on Sourdine's ports; another
    name is pinned to the address that was checked, so DNS cannot change between check and connect."""
    import asyncio
    import socket
    from types import SimpleNamespace

    from sourdine.runtime import Listen

    runtime.listen = Listen(proxy=("127.0.0.1", 8080), api=("127.0.0.1", 8787))
    answers = {"rebind.example": "127.0.0.1", "v6.example": "::1", "elsewhere.example": "192.0.2.7"}

    async def fake_getaddrinfo(host, port, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    for name in ("rebind.example", "v6.example"):
        data = SimpleNamespace(server=SimpleNamespace(address=(name, 8787), error=None))
        await addon.server_connect(data)
        assert data.server.error, name
    data = SimpleNamespace(server=SimpleNamespace(address=("elsewhere.example", 8080), error=None))
    await addon.server_connect(data)
    assert data.server.error is None and data.server.address == ("192.0.2.7", 8080)


@pytest.mark.parametrize(
    ("doc", "host"),
    [
        ({"urls": {"streaming_api": "wss://streaming.example.org"}}, "streaming.example.org"),
        ({"configuration": {"urls": {"streaming": "wss://Stream.Example.org/"}}}, "stream.example.org"),
        ({"urls": {"streaming_api": "not a url"}}, None),
        ({"urls": "oops"}, None),
        ([], None),
    ],
)
def test_streaming_host(doc, host):
    """The streaming host is read from v1 and v2 instance documents, and nonsense gives None."""
    assert streaming_host(doc) == host


def test_outside_work_hours_feeds_pass_untouched(addon, runtime):
    """With no work-hours window open now, a hostile feed is not even routed, and goes out as it came."""
    runtime.snapshot = settings.with_user(runtime.snapshot, schedule={"timezone": "UTC", "windows": []})
    raw = json.dumps(hostile_timeline(1)).encode()
    flow = run(addon, feed_flow(raw))
    assert "sourdine" not in flow.metadata
    assert flow.response.raw_content is raw
    runtime.snapshot = settings.with_user(runtime.snapshot, schedule={
        "timezone": "UTC", "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                        "start": "00:00", "end": "00:00"}]})
    flow = run(addon, feed_flow(raw))
    assert flow.metadata["sourdine"]["rewritten"]


def test_a_mute_with_an_expiry_stops_applying_after_it(runtime):
    """With an injected clock: a muted keyword hides a calm post, and no longer once its expiry has passed."""
    from datetime import UTC, datetime

    from sourdine import lists
    from sourdine.platforms import mastodon

    start = datetime(2026, 11, 22, 9, 0, tzinfo=UTC).timestamp()
    clock = {"now": start}
    engine = Engine(score, ADAPTERS, clock=lambda: clock["now"])
    entry = lists.parse_mute({"kind": "keyword", "text": "honte", "action": "hide", "expires": "2h"},
                             datetime.fromtimestamp(start, UTC))
    engine.lists = lists.compile_lists([entry], [], datetime.fromtimestamp(start, UTC))
    statuses = json.loads(CALM)[:1]
    statuses[0]["content"] = "<p>C'est une honte, mais je souris quand même.</p>"
    statuses[0]["language"] = "fr"
    [post] = mastodon.posts("timeline", statuses)
    verdicts = engine.judge(runtime.snapshot, "mastodon", "timeline", [post])
    assert verdicts[post.id].action == "hide" and verdicts[post.id].reason == "muted: keyword:honte"
    clock["now"] = start + 3 * 3600
    assert post.id not in engine.judge(runtime.snapshot, "mastodon", "timeline", [post])


def test_an_allowed_account_is_never_filtered_even_at_maximum_outrage(runtime):
    """An allowed brand account's hostile post is kept, with the allow entry as its reason."""
    from datetime import UTC, datetime

    from sourdine import lists
    from sourdine.platforms import mastodon

    statuses = hostile_timeline(1)[1:2]
    [post] = mastodon.posts("timeline", statuses)
    engine = Engine(score, ADAPTERS)
    assert engine.judge(runtime.snapshot, "mastodon", "timeline", [post])[post.id].action == "hide"
    acct = post.author if "@" in post.author else f"{post.author}@mastodon.social"
    entry = lists.parse_allow({"kind": "account", "platform": "mastodon", "handle": acct}, datetime.now(UTC))
    engine = Engine(score, ADAPTERS)
    engine.lists = lists.compile_lists([], [entry], datetime.now(UTC))
    assert engine.judge(runtime.snapshot, "mastodon", "timeline", [post]) == {}


@pytest.mark.parametrize(
    ("platform", "host", "path", "doc", "own"),
    [
        ("mastodon", "mastodon.social", "/api/v1/accounts/verify_credentials", {"id": "4242", "acct": "me"}, "4242"),
        ("bluesky", "bsky.social", "/xrpc/com.atproto.server.getSession",
         {"did": "did:plc:me", "handle": "me.bsky.social"}, "did:plc:me"),
    ],
)
def test_the_users_own_account_is_learnt(addon, runtime, platform, host, path, doc, own):
    """Who is signed in is read from the app's own "who am I" call, and remembered."""
    flow = run(addon, feed_flow(json.dumps(doc).encode(), path=path, host=host, scheme="https"))
    assert runtime.engine.own[platform] == {own}
    assert flow.response.raw_content == json.dumps(doc).encode()


def test_x_own_account_comes_from_the_twid_cookie(addon, runtime):
    """On X, the signed-in account is named by the twid cookie of any feed request."""
    flow = feed_flow(b"{}", path="/i/api/graphql/abc/HomeTimeline", host="x.com", scheme="https")
    flow.request.headers["cookie"] = "ct0=abc; twid=u%3D1234567; lang=en"
    addon.requestheaders(flow)
    assert runtime.engine.own["x"] == {"1234567"}


def test_learning_the_users_own_account_deletes_its_record(addon, runtime, tmp_path):
    """A record of the user's own X account, counted before its twid cookie said it was theirs, goes from the
    book and the database once it does, a change not written yet included; another author's record stays."""
    import sqlite3
    import time

    from sourdine import authors
    from sourdine.authors import AuthorBook

    book = runtime.engine.authors = AuthorBook()
    for author in ("1234567", "42"):
        for i in range(6):
            book.add("x", author, f"{author}-{i}", 0.95, True, time.time(), handle=f"user{author}")
    runtime.writer.start()
    try:
        runtime.writer.authors([authors.to_row(r) for r in book.drain_dirty()])
        book.add("x", "1234567", "1234567-6", 0.95, True, time.time())  # changed since, not written yet
        flow = feed_flow(b"{}", path="/i/api/graphql/abc/HomeTimeline", host="x.com", scheme="https")
        flow.request.headers["cookie"] = "ct0=abc; twid=u%3D1234567; lang=en"
        addon.requestheaders(flow)
        assert runtime.engine.own["x"] == {"1234567"}
        assert book.get("x", "1234567") is None and book.get("x", "42") is not None
        runtime.save_authors(time.time())
        assert runtime.writer.flush()
        rows = sqlite3.connect(tmp_path / "db.sqlite").execute("SELECT author_id FROM authors").fetchall()
        assert rows == [("42",)]
    finally:
        runtime.writer.close()


@pytest.mark.parametrize(("platform", "host", "path", "cookie"), [
    ("facebook", "www.facebook.com", "/api/graphql/", "datr=abc; c_user=100001; xs=secret"),
    ("instagram", "www.instagram.com", "/graphql/query", "csrftoken=abc; ds_user_id=101; sessionid=secret"),
])
def test_facebook_and_instagram_own_account_comes_from_a_cookie(addon, runtime, platform, host, path, cookie):
    """Facebook's c_user and Instagram's ds_user_id cookies name the signed-in account; a cookie that is not a
    number is ignored."""
    flow = feed_flow(b"{}", path=path, host=host, scheme="https")
    flow.request.headers["cookie"] = cookie
    addon.requestheaders(flow)
    assert runtime.engine.own[platform] == {cookie.split("=")[2].split(";")[0]}
    flow = feed_flow(b"{}", path=path, host=host, scheme="https")
    flow.request.headers["cookie"] = cookie.replace("=10", "=x10")
    addon.requestheaders(flow)
    assert len(runtime.engine.own[platform]) == 1


def test_the_users_inbox_is_left_alone_unless_they_opt_in(runtime):
    """A hostile reply to the user, a hostile post mentioning them and their own post are kept by default, and
    filtered once the platform's inbox setting is on."""
    from sourdine.model import Post

    engine = Engine(score, ADAPTERS)
    engine.own["mastodon"] = {"me"}
    text = "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!!"
    posts = [Post("1", "a", "a@x.org", "A", text, "en", replies_to="me"),
             Post("2", "b", "b@x.org", "B", text, "en", mentions=("me",)),
             Post("3", "me", "me@x.org", "Me", text, "en"),
             Post("4", "c", "c@x.org", "C", text, "en")]
    assert set(engine.judge(runtime.snapshot, "mastodon", "timeline", posts)) == {"4"}
    snapshot = settings.with_user(runtime.snapshot, platforms={"mastodon": {"inbox": True}})
    assert set(engine.judge(snapshot, "mastodon", "timeline", posts)) == {"1", "2", "3", "4"}


def test_the_users_own_account_is_never_a_toxic_connection(runtime):
    """The user's own hostile posts counted towards a record of their own account: it was offered to them as a
    toxic connection to mute, and with their inbox filtered, their next calm post was collapsed as from a toxic
    connection (a review's finding). Their posts are not counted, nor judged as a connection's."""
    import time

    from sourdine.authors import AuthorBook
    from sourdine.model import Post

    engine = Engine(score, ADAPTERS, authors=AuthorBook())
    engine.own["mastodon"] = {"me"}
    snapshot = settings.with_user(runtime.snapshot, platforms={"mastodon": {"inbox": True}})
    text = "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!!"
    for n in range(6):
        engine.judge(snapshot, "mastodon", "timeline", [Post(f"h{n}", "me", "me@x.org", "Me", text, "en"),
                                                        Post(f"o{n}", "o", "o@x.org", "O", text, "en")])
    assert [s.author_id for s in engine.authors.suggestions({}, time.time())] == ["o"]
    calm = [Post("calm", "me", "me@x.org", "Me", "Lovely weather for a walk today.", "en"),
            Post("calm2", "o", "o@x.org", "O", "Lovely weather for a walk today.", "en")]
    verdicts = engine.judge(snapshot, "mastodon", "timeline", calm)
    assert "calm" not in verdicts and "toxic" in verdicts["calm2"].reason


def test_mastodon_own_account_is_read_from_its_web_page(addon, runtime):
    """Mastodon's web app gets the signed-in account from its page's initial state: Sourdine reads it there."""
    page = (b'<!DOCTYPE html><html><head><script id="initial-state" type="application/json">'
            b'{"meta":{"me":"109302436954721982","locale":"fr"},"accounts":{}}</script></head><body></body></html>')
    flow = feed_flow(gzip.compress(page), path="/home", host="mastodon.social", scheme="https", encoding="gzip",
                     content_type="text/html; charset=utf-8")
    raw = flow.response.raw_content
    run(addon, flow)
    assert runtime.engine.own["mastodon"] == {"109302436954721982"}
    assert flow.response.raw_content is raw, "the page itself goes out untouched"


def test_a_mastodon_page_of_unclosed_scripts_is_passed_over_at_once(addon, runtime):
    """A page of initial-state scripts left open (a review's page of 108 KB held the event loop 2.5 s): read in
    linear time, nothing learnt, the page untouched; a page where another script comes first is still read."""
    import time

    for page in (b'<html><head>' + b'<script id="initial-state" type="application/json">{"meta":' * 60_000,
                 b"<script " * 500_000, b'<script id="initial-state"' + b"<script " * 500_000,
                 b'<script>' + b' id="initial-state"' * 200_000):
        flow = feed_flow(page, path="/home", host="mastodon.social", scheme="https", content_type="text/html")
        started = time.process_time()
        run(addon, flow)
        assert time.process_time() - started < 0.5, len(page)
        assert "mastodon" not in runtime.engine.own and flow.response.raw_content == page
    page = (b'<html><head><script src="/packs/app.js"></script><script nonce="x" id="initial-state" '
            b'type="application/json">{"meta":{"me":"42"}}</script></head></html>')
    run(addon, feed_flow(page, path="/home", host="mastodon.social", scheme="https", content_type="text/html"))
    assert runtime.engine.own["mastodon"] == {"42"}


def test_a_post_seen_before_a_mute_is_muted_once_the_lists_change(runtime):
    """What the lists matched in a post is remembered only for those lists: a mute added later applies to the
    posts already seen, and removing it lets them through again."""
    from datetime import UTC, datetime

    from sourdine import lists
    from sourdine.platforms import mastodon

    statuses = hostile_timeline(1)[2:3]
    statuses[0]["content"] = "<p>Le marché de Noël ouvre samedi, quelle honte de le rater</p>"
    statuses[0]["language"] = "fr"
    [post] = mastodon.posts("timeline", statuses)
    engine = Engine(score, ADAPTERS)
    now = datetime.now(UTC)
    def reason() -> str:
        verdict = engine.judge(runtime.snapshot, "mastodon", "timeline", [post]).get(post.id)
        return verdict.reason if verdict else "kept"

    engine.lists = lists.compile_lists([], [], now)
    before = reason()
    assert not before.startswith("muted")
    engine.lists = lists.compile_lists([lists.parse_mute({"kind": "keyword", "text": "honte"}, now)], [], now)
    assert reason() == "muted: keyword:honte"
    engine.lists = lists.compile_lists([], [], now)
    assert reason() == before


@pytest.mark.parametrize("failure", ["overrun", "rewrite error"])
def test_a_response_left_unchanged_records_nothing(runtime, failure):
    """A response that goes out as sent, because filtering overran its budget or failed, leaves no decision and
    no count behind (the user saw those posts): they are judged and recorded when they next come back."""
    import time
    import types

    from sourdine.engine import Overrun

    recorded = []
    body = json.dumps(hostile_timeline(1, 3)).encode()
    if failure == "overrun":
        def slow(text, lang=None):
            time.sleep(0.002)
            return score(text, lang)
        engine = Engine(slow, ADAPTERS, record=recorded.append)
        with pytest.raises(Overrun):
            engine.filter_body(runtime.snapshot, "mastodon", "timeline", body, time.perf_counter() + 0.01)
    else:
        def broken(endpoint, doc, verdicts):
            raise KeyError("a platform changed its format")
        adapters = {**ADAPTERS, "mastodon": types.SimpleNamespace(posts=ADAPTERS["mastodon"].posts, rewrite=broken)}
        engine = Engine(score, adapters, record=recorded.append)
        with pytest.raises(KeyError):
            engine.filter_body(runtime.snapshot, "mastodon", "timeline", body)
        engine.adapters = ADAPTERS
    assert recorded == [] and (engine.counts.seen, engine.counts.hidden, engine.counts.collapsed) == (0, 0, 0)
    assert engine.filter_body(runtime.snapshot, "mastodon", "timeline", body) is not None
    assert {d.action for d in recorded} >= {"hide"} and engine.counts.seen == len(REAL)


def test_a_feed_fetched_again_goes_out_as_rewritten_the_first_time(addon, runtime):
    """The same body again (a refresh, scrolling back) gives the same rewritten bytes, from the page cache."""
    raw = gzip.compress(json.dumps(hostile_timeline(3)).encode())
    first = run(addon, feed_flow(raw, encoding="gzip"))
    again = run(addon, feed_flow(bytes(raw), encoding="gzip"))
    assert first.metadata["sourdine"]["rewritten"] and again.metadata["sourdine"]["rewritten"]
    assert again.response.raw_content == first.response.raw_content
    assert not {"content-encoding", "etag", "last-modified", "accept-ranges"} & set(again.response.headers.keys())
    assert runtime.engine.caches()["pages"]["size"] == 1
    assert runtime.engine.health["mastodon"].responses == 2
