"""Mutated real captures, run through the addon's hooks in-process: shared by tests/test_fuzz.py and scripts/fuzz.

The inputs are every capture under tests/data/<platform>/ for every adapter in `sourdine.platforms.ADAPTERS`
(a new platform joins with its fixtures), each sent on a path its platform's rules route to an endpoint whose
posts the adapter finds in it. Hypothesis mutates them: values changed, fields dropped, types swapped, truncated
bodies, wrong and mixed content encodings, huge arrays, deep nesting, invalid UTF-8, decompression bombs and
random bytes.

What must hold for every input (`check`):
- no exception escapes a hook;
- the response is the upstream bytes unchanged (with the upstream headers), or a rewrite of the same shape: it
  parses, has the same top-level type (the same keys for an object, no more items for an array), and holds no
  post that the input did not;
- no hook works longer than the time budget, plus the one step that may be running when the budget runs out
  (GRACE_MS). This is measured in the thread's CPU time: the suite shares two cores with other work, and wall
  time then measures the machine's load (the budget itself is wall time: a starved proxy overruns more often,
  and those responses go out unchanged).
"""

from __future__ import annotations

import gzip
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import brotli
import orjson
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.test import tflow
from mitmproxy.websocket import WebSocketData, WebSocketMessage

from sourdine import codec
from sourdine import settings as sourdine_settings
from sourdine.platforms import ADAPTERS

DATA = Path(__file__).parent / "data"
BUDGET_MS = 250
# A budget is checked between steps; a step that started in time may finish after it (the largest is parsing or
# decoding a body at the size limit).
GRACE_MS = 250
# Folds and hides on most scored posts, so that rewrites are fuzzed as often as pass-throughs.
THRESHOLDS = {"collapse": 0.05, "hide": 0.4}
HOSTILE = "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!!"
_SKIP_DIRS = {"lexicons"}
_TYPES = {".json": "application/json; charset=utf-8", ".ndjson": "application/x-ndjson",
          ".html": "text/html; charset=utf-8", ".jsonl": "application/x-ndjson"}


@dataclass(frozen=True)
class Sample:
    """One real capture and where a browser would have fetched it."""

    name: str
    platform: str
    endpoint: str
    scheme: str
    host: str
    path: str
    body: bytes = field(repr=False)
    content_type: str = "application/json"

    @property
    def streaming(self) -> bool:
        return self.endpoint == "streaming"


def example_path(pattern: re.Pattern[str]) -> str:
    """A plain path that `pattern` matches: the first branch, each repeat at least once, 'a' for any class."""

    def walk(items) -> str:
        out = []
        for op, av in items:
            if op is sre.LITERAL:
                out.append(chr(av))
            elif op is sre.SUBPATTERN:
                out.append(walk(av[-1]))
            elif op is sre.BRANCH:
                out.append(walk(av[1][0]))
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
                low, _, sub = av
                out.append(walk(sub) * max(low, 1))
            elif op is sre.IN:
                out.append(_member(av))
            elif op is sre.ANY:
                out.append("a")
        return "".join(out)

    return walk(sre_parse.parse(pattern.pattern))


def _member(items) -> str:
    if items and items[0][0] is sre.NEGATE:
        return "a"
    op, av = items[0]
    if op is sre.LITERAL:
        return chr(av)
    if op is sre.RANGE:
        return chr(av[0])
    return "1" if av is sre.CATEGORY_DIGIT else "a"


def samples() -> list[Sample]:
    """Every capture of every adapter, with a route to an endpoint that finds posts in it (the first one)."""
    snapshot = sourdine_settings.build()
    found = []
    for platform, adapter in sorted(ADAPTERS.items()):
        rules = snapshot.rules.get(platform)
        folder = DATA / platform
        if rules is None or not folder.is_dir():
            continue
        host = next((h for h in rules.hosts if not h.startswith("*.")), None) or rules.hosts[0].replace("*", "a")
        for file in sorted(folder.rglob("*")):
            if not file.is_file() or _SKIP_DIRS & set(file.relative_to(folder).parts):
                continue
            suffix = file.suffix.lower()
            if suffix not in _TYPES:
                continue
            body = file.read_bytes()
            routes = [(endpoint, path) for endpoint, path in ((e, example_path(p)) for e, p in rules.feeds)
                      if rules.endpoint(path) == endpoint]
            chosen = next(((e, path) for e, path in routes if _finds_posts(adapter, e, body)), None)
            if chosen is None and suffix != ".json":
                # A page or a stream this harness cannot read itself: sent to the first feed endpoint, the addon
                # decides.
                chosen = next(((e, path) for e, path in routes if e != "streaming"), None)
            if chosen is not None:
                found.append(Sample(f"{platform}/{file.relative_to(folder)}", platform, chosen[0], "https", host,
                                    chosen[1], body, _TYPES[suffix]))
    return found


def _finds_posts(adapter, endpoint: str, body: bytes) -> bool:
    try:
        return bool(adapter.posts(endpoint, orjson.loads(body)))
    except Exception:
        return False


# -- mutations ------------------------------------------------------------------------------------------------

KINDS = ("clean", "values", "drop", "swap", "truncate", "encoding", "huge", "deep", "utf8", "bomb", "random")
_TEXTS = st.sampled_from(["", HOSTILE, "Bande de menteurs et d'incapables, c'est une honte absolue !!!",
                          "<p>" + "a" * 5000 + "</p>", "\x00\ud7ff\u202e", "12345678901234567890"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40), _TEXTS)
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                       max_leaves=8)


def _nodes(doc: Any, limit: int = 4000) -> list[tuple[Any, Any]]:
    """(container, key) for the nodes of `doc`, breadth first, at most `limit`."""
    out: list[tuple[Any, Any]] = []
    queue = [doc]
    while queue and len(out) < limit:
        node = queue.pop(0)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            out.append((node, key))
            if isinstance(value, dict | list):
                queue.append(value)
    return out


def _swap(value: Any, draw) -> Any:
    choices = [None, 0, 1.5, True, "", "x", [], {}, [value], {"v": value}]
    if isinstance(value, str):
        choices += [len(value), value.encode()[:10].hex()]
    return draw(st.sampled_from(choices))


def _mutate_doc(draw, doc: Any, kind: str) -> Any:
    if kind == "deep":
        # Written as text later (orjson writes no deeper than 255 levels): a marker stands in for it.
        nodes = _nodes(doc)
        if not nodes:
            return _DEEP
        parent, key = nodes[draw(st.integers(0, len(nodes) - 1))]
        parent[key] = _DEEP
        return doc
    if kind == "huge":
        size = draw(st.sampled_from([1_000, 10_000, 50_000]))
        lists = [(p, k) for p, k in _nodes(doc) if isinstance(p[k], list) and p[k]]
        if isinstance(doc, list) and doc:
            lists.append((None, None))
        if not lists:
            return [doc] * size
        parent, key = lists[draw(st.integers(0, len(lists) - 1))]
        target = doc if parent is None else parent[key]
        grown = (target * (size // len(target) + 1))[:size]
        if parent is None:
            return grown
        parent[key] = grown
        return doc
    for _ in range(draw(st.integers(1, 6))):
        nodes = _nodes(doc)
        if not nodes:
            break
        parent, key = nodes[draw(st.integers(0, len(nodes) - 1))]
        if kind == "values":
            parent[key] = draw(_VALUES)
        elif kind == "drop":
            if isinstance(parent, dict):
                del parent[key]
            else:
                parent.pop(key)
        elif kind == "swap":
            parent[key] = _swap(parent[key], draw)
    return doc


_DEEP = "\x00sourdine-fuzz-deep\x00"


def _deep(depth: int, leaf: bytes) -> bytes:
    return b'{"a":[' * (depth // 2) + leaf + b"]}" * (depth // 2)


_BOMBS: dict[str, bytes] = {}


def bomb(coding: str, size: int = 1 << 30) -> bytes:
    """A small body that decodes to `size` bytes (1 GiB) of zeros; built once per process."""
    key = f"{coding}:{size}"
    if key not in _BOMBS:
        chunk, rounds = bytes(8 << 20), max(1, size // (8 << 20))
        if coding == "gzip":
            c = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            _BOMBS[key] = b"".join([*(c.compress(chunk) for _ in range(rounds)), c.flush()])
        elif coding == "br":
            b = brotli.Compressor(quality=1)
            _BOMBS[key] = b"".join([*(b.process(chunk) for _ in range(rounds)), b.finish()])
        else:
            z = zstandard.ZstdCompressor(level=1).compressobj()
            _BOMBS[key] = b"".join([*(z.compress(chunk) for _ in range(rounds)), z.flush()])
    return _BOMBS[key]


def _encode(body: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(body, compresslevel=1)
    if coding == "deflate":
        return zlib.compress(body, 1)
    if coding == "br":
        return brotli.compress(body, quality=1)
    if coding == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(body)
    return body


_CODINGS = ["gzip", "deflate", "br", "zstd", "identity", "x-gzip"]


@dataclass
class Input:
    sample: Sample
    kind: str
    raw: bytes = field(repr=False)  # as the platform sends it, encoded
    encoding: str | None  # the Content-Encoding header

    def describe(self) -> str:
        return f"{self.kind} on {self.sample.name} ({self.sample.endpoint}), {len(self.raw)} bytes, " \
               f"content-encoding {self.encoding!r}"


@st.composite
def inputs(draw, pool: list[Sample], kinds: tuple[str, ...] = KINDS) -> Input:
    sample = draw(st.sampled_from(pool))
    kind = draw(st.sampled_from(kinds))
    if kind == "bomb":
        coding = draw(st.sampled_from(["gzip", "br", "zstd"]))
        return Input(sample, kind, bomb(coding), coding)
    if kind == "random":
        return Input(sample, kind, draw(st.binary(max_size=4096)),
                     draw(st.one_of(st.none(), st.sampled_from(_CODINGS))))
    if kind in ("values", "drop", "swap", "huge", "deep") and "json" in sample.content_type:
        doc = _mutate_doc(draw, orjson.loads(sample.body), kind)
        if sample.streaming and isinstance(doc, dict) and isinstance(doc.get("payload"), str) and draw(st.booleans()):
            # Mastodon's events carry the status as a JSON string: mutate inside it too.
            try:
                inner = orjson.loads(doc["payload"])
                doc["payload"] = orjson.dumps(_mutate_doc(draw, inner, kind)).decode()
            except orjson.JSONDecodeError:
                pass
        body = orjson.dumps(doc)
        if kind == "deep":
            body = body.replace(orjson.dumps(_DEEP), _deep(draw(st.integers(10, 5000)), orjson.dumps(draw(_SCALARS))))
    else:
        body = sample.body
    if kind == "truncate":
        body = body[: draw(st.integers(0, max(0, len(body) - 1)))]
    elif kind == "utf8":
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(body)))
            body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                                     b"\xc0\xaf", b"\x80"])) + body[at:]
    encoding: str | None = None
    if kind == "encoding" or draw(st.integers(0, 3)) == 0:
        chain = draw(st.lists(st.sampled_from(_CODINGS), min_size=1, max_size=3))
        encoded = body
        for coding in chain:
            encoded = _encode(encoded, coding)
        encoding = ", ".join(chain)
        lie = draw(st.sampled_from(["none", "none", "header", "body", "unknown", "case"])) if kind == "encoding" \
            else "none"
        if lie == "header":  # the header names another coding than the body's
            encoding = draw(st.sampled_from(["gzip", "br", "zstd", "deflate", "gzip, br"]))
        elif lie == "body":  # the header says compressed, the body is not
            encoded = body
        elif lie == "unknown":
            encoding = draw(st.sampled_from(["compress", "x-bogus", ",", "gzip;q=1", "br, br, br, br"]))
        elif lie == "case":
            encoding = encoding.upper()
        body = encoded
    return Input(sample, kind, body, encoding)


# -- running one input through the hooks ----------------------------------------------------------------------


def body_flow(inp: Input) -> http.HTTPFlow:
    s = inp.sample
    flow = tflow.tflow(resp=True)
    flow.request.scheme, flow.request.host, flow.request.port = s.scheme, s.host, 443
    flow.request.path = s.path + "?limit=40"
    flow.request.headers["accept-encoding"] = "gzip, deflate, br, zstd"
    flow.response = http.Response.make(200, b"", {"content-type": s.content_type, "etag": 'W/"fuzz"'})
    flow.response.raw_content = inp.raw
    if inp.encoding is not None:  # after the body: make() drops a content-encoding it cannot apply itself
        flow.response.headers["content-encoding"] = inp.encoding
    return flow


def event_flow(inp: Input) -> http.HTTPFlow:
    s = inp.sample
    flow = tflow.tflow(resp=True)
    flow.request.scheme, flow.request.host, flow.request.port = s.scheme, s.host, 443
    flow.request.path = s.path + "?stream=user"
    flow.websocket = WebSocketData()
    flow.websocket.messages.append(WebSocketMessage(1, False, inp.raw))  # 1 = a text frame
    return flow


@dataclass
class Tally:
    """What the inputs did: outcomes by kind, the slowest hook, how long the whole run took."""

    outcomes: Counter = field(default_factory=Counter)
    slowest_ms: float = 0.0  # CPU time
    slowest: str = ""
    slowest_wall_ms: float = 0.0
    inputs: int = 0

    def add(self, inp: Input, outcome: str, ms: float, wall_ms: float) -> None:
        self.inputs += 1
        self.outcomes[(inp.kind, outcome)] += 1
        self.slowest_wall_ms = max(self.slowest_wall_ms, wall_ms)
        if ms > self.slowest_ms:
            self.slowest_ms, self.slowest = ms, inp.describe()


def run_one(addon, inp: Input, tally: Tally | None = None) -> str:
    """Send one input through the hooks and check every property; the outcome ("unchanged", "rewritten",
    "dropped", "overrun")."""
    if inp.sample.streaming:
        flow = event_flow(inp)
        started, cpu = time.perf_counter(), time.thread_time()
        addon.requestheaders(flow)
        addon.websocket_message(flow)
        wall_ms, ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        message = flow.websocket.messages[-1]
        if message.dropped:
            outcome = "dropped"
        elif message.content == inp.raw:
            outcome = "unchanged"
        else:
            check_rewrite(inp, inp.raw, message.content)
            outcome = "rewritten"
    else:
        flow = body_flow(inp)
        headers = flow.response.headers.copy()
        started, cpu = time.perf_counter(), time.thread_time()
        addon.requestheaders(flow)
        addon.response(flow)
        wall_ms, ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000
        meta = flow.metadata.get("sourdine") or {}
        if not meta.get("rewritten"):
            assert flow.response.raw_content == inp.raw, f"changed but not marked rewritten: {inp.describe()}"
            assert flow.response.headers == headers, f"headers changed on an unchanged body: {inp.describe()}"
            outcome = "unchanged"
        else:
            assert "content-encoding" not in flow.response.headers
            assert int(flow.response.headers["content-length"]) == len(flow.response.raw_content)
            upstream = codec.decode(inp.raw, inp.encoding)  # a rewritten body was decoded, so this must work
            check_rewrite(inp, upstream, flow.response.raw_content)
            outcome = "rewritten"
        if meta.get("overrun"):
            outcome = "overrun"
    assert ms <= BUDGET_MS + GRACE_MS, f"{ms:.0f} ms of CPU, over the {BUDGET_MS} ms budget: {inp.describe()}"
    if tally is not None:
        tally.add(inp, outcome, ms, wall_ms)
    return outcome


def check_rewrite(inp: Input, before: bytes, after: bytes) -> None:
    """A rewrite keeps the input's shape and brings no post of its own (JSON; other bodies must not be empty)."""
    if "json" not in inp.sample.content_type:
        assert after, f"a rewrite emptied the body: {inp.describe()}"
        return
    old, new = orjson.loads(before), orjson.loads(after)
    assert type(new) is type(old), f"top-level type changed: {inp.describe()}"
    if isinstance(old, dict):
        assert set(new) == set(old), f"top-level keys changed: {inp.describe()}"
    elif isinstance(old, list):
        assert len(new) <= len(old), f"a rewrite added items: {inp.describe()}"
    adapter = ADAPTERS[inp.sample.platform]
    ids_before = {p.id for p in adapter.posts(inp.sample.endpoint, old)}
    ids_after = {p.id for p in adapter.posts(inp.sample.endpoint, new)}
    assert ids_after <= ids_before, f"a rewrite holds posts the input did not: {inp.describe()}"


def fuzz(addon, count: int, pool: list[Sample] | None = None, tally: Tally | None = None,
         kinds: tuple[str, ...] = KINDS) -> Tally:
    """Run `count` hypothesis-generated inputs through the addon's hooks; raises on the first failing one
    (shrunk)."""
    pool = pool or samples()
    tally = tally or Tally()

    @settings(max_examples=count, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(inputs(pool, kinds))
    def one(inp: Input) -> None:
        run_one(addon, inp, tally)

    one()
    return tally


def fuzz_user_settings() -> dict[str, Any]:
    return {"platforms": {name: dict(THRESHOLDS) for name in ADAPTERS}}
