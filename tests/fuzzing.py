"""Mutated real captures, run through the addon's hooks in-process: shared by tests/test_fuzz.py and scripts/fuzz.

The inputs are every capture under tests/data/<platform>/ for every adapter in `sourdine.platforms.ADAPTERS`
(a new platform joins with its fixtures), each sent on a path its platform's rules route to an endpoint whose
posts the adapter finds in it, read as the engine reads it (the adapter's own `parse` when it has one, orjson
otherwise). Hypothesis mutates them: in a JSON document (or one line of an NDJSON body) values changed, fields
dropped, types swapped, huge arrays, deep nesting; in HTML, text replaced, tags dropped, tag and attribute noise,
a span repeated, deeply nested tags; in any body, truncation, wrong and mixed content encodings, invalid UTF-8,
decompression bombs and random bytes.

What must hold for every input (`check`):
- no exception escapes a hook;
- the response is the upstream bytes unchanged (with the upstream headers), or a rewrite of the same shape: the
  adapter reads it, and it holds no post that the input did not; a JSON body keeps its lines, each of the same
  top-level type (the same keys for an object, no more items for an array), and any guard before them;
- no hook works longer than the time budget, plus a little (GRACE_MS): the budget is read between steps, inside
  the long ones every 1,024 items, and before each step that cannot stop half way whose worst cost for the body's
  size would pass it (sourdine.budget), so an overrun is up to 1,024 items of a step late, or a step that took
  more than twice its worst measured rate. This is measured in the thread's CPU time: the suite shares two cores
  with other work, and wall time then measures the machine's load (the budget itself is wall time: a starved
  proxy overruns more often, and those responses go out unchanged).
"""

from __future__ import annotations

import asyncio
import gzip
import html
import re
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
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
# How far past the budget a hook may end (see the module's documentation). It was 250 ms while the budget was read
# between steps only: a step that started in time could run long past it (html.parser on a page of tags: seconds).
GRACE_MS = 100
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
    # Sent to its own host, over plain HTTP, rather than to a stand-in's address: a test's run must resolve that
    # host to 127.0.0.1 (routed, RESOLVED).
    by_host: bool = False

    @property
    def streaming(self) -> bool:
        return self.endpoint == "streaming"

    @property
    def form(self) -> str:
        return form(self.content_type)


def example_path(pattern: re.Pattern[str]) -> str:
    """A plain path that `pattern` matches: the first branch, each repeat at least once, for a class its first
    member among a few plain characters (or one outside it, for a negated class); assertions and anchors add
    nothing. Raises ValueError on a construct it cannot write, or when the path it wrote does not match."""

    def walk(items) -> str:
        out = []
        for op, av in items:
            if op is sre.LITERAL:
                out.append(chr(av))
            elif op is sre.NOT_LITERAL:
                out.append(_first(c for c in _PLAIN if ord(c) != av))
            elif op is sre.SUBPATTERN:
                out.append(walk(av[-1]))
            elif op is sre.BRANCH:
                out.append(walk(av[1][0]))
            elif op in _REPEATS:
                low, _, sub = av
                out.append(walk(sub) * max(low, 1))
            elif op is sre.IN:
                out.append(_member(av))
            elif op is sre.ANY:
                out.append("a")
            elif op is sre.CATEGORY:
                out.append(_first(c for c in _PLAIN if _in_category(c, av)))
            elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
                continue  # anchors and lookarounds match no character of their own
            else:
                raise ValueError(f"example_path cannot write {op} in {pattern.pattern!r}")
        return "".join(out)

    path = walk(sre_parse.parse(pattern.pattern))
    if not pattern.match(path):
        raise ValueError(f"example_path wrote {path!r}, which {pattern.pattern!r} does not match")
    return path


_PLAIN = "a1_b-.Z "
_REPEATS = tuple(op for op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)) if op)


def _in_category(c: str, category) -> bool:
    name = str(category).removeprefix("CATEGORY_").removeprefix("UNI_").lower()
    negated = name.startswith("not_")
    test = {"digit": str.isdigit, "word": lambda ch: ch.isalnum() or ch == "_", "space": str.isspace,
            "linebreak": lambda ch: ch in "\n\r"}[name.removeprefix("not_").removeprefix("uni_")]
    return test(c) != negated


def _member(items) -> str:
    """A character in the class `items` (its first literal or range when it has one), or one outside it when the
    class is negated, among a few plain ones."""
    negate = bool(items) and items[0][0] is sre.NEGATE
    if not negate:
        for op, av in items:
            if op is sre.LITERAL:
                return chr(av)
            if op is sre.RANGE:
                return chr(av[0])

    def inside(c: str) -> bool:
        for op, av in items:
            if op is sre.LITERAL and ord(c) == av:
                return True
            if op is sre.RANGE and av[0] <= ord(c) <= av[1]:
                return True
            if op is sre.CATEGORY and _in_category(c, av):
                return True
        return False

    return _first(c for c in _PLAIN if inside(c) != negate)


def _first(chars) -> str:
    found = next(chars, None)
    if found is None:
        raise ValueError("example_path found no plain character for a class")
    return found


def samples() -> list[Sample]:
    """Every capture of every adapter, each on the first route to an endpoint that finds posts in it (read with
    the adapter's own `parse` when it has one) and whose content types the addon reads for it. A capture no
    endpoint finds posts in is left out: test_every_adapter_has_fuzz_samples checks that each adapter keeps a
    sample of each form of capture it has."""
    snapshot = sourdine_settings.build()
    found = []
    for platform, adapter in sorted(ADAPTERS.items()):
        rules = snapshot.rules.get(platform)
        folder = DATA / platform
        if rules is None or not folder.is_dir():
            continue
        host = next((h for h in rules.hosts if not h.startswith("*.")), None) or rules.hosts[0].replace("*", "a")
        routes = [(endpoint, example_path(pattern)) for endpoint, pattern in rules.feeds]
        for file in captures(folder):
            body, content_type = file.read_bytes(), _TYPES[file.suffix.lower()]
            chosen = next(((e, path) for e, path in routes if reads(adapter, e, content_type)
                           and finds_posts(adapter, e, body)), None)
            if chosen is not None:
                body = soured(adapter, chosen[0], body)
                found.append(Sample(f"{platform}/{file.relative_to(folder)}", platform, chosen[0], "https", host,
                                    chosen[1], body, content_type))
    return found


# Over plain HTTP to this machine (the stand-in), paths are matched whatever the platform, the first platform's
# rules first: a capture whose own path an earlier platform claims (Instagram's and Threads' /api/graphql/ go to
# Facebook, their "/" to Reddit) is fetched from another path its own platform's rules give the same endpoint,
# where there is one. Threads' GraphQL (its other path is Instagram's too) and Instagram's home page (its only
# path is "/") have none: they are sent to their own host (by_host).
_PLAIN_PATHS = {("instagram", "graphql"): "/graphql/query", ("threads", "page"): "/@sourdine.fuzz"}
# The platforms' hosts that the processes a test starts resolve to 127.0.0.1, as a line of /etc/hosts would
# (tests/audit, SOURDINE_TEST_HOSTS): env(), with start_sourdine.
RESOLVED = ("www.instagram.com", "www.threads.net")


def env() -> dict[str, str]:
    """What start_sourdine adds to the environment for `sourdine run` to reach the by_host samples."""
    return {"SOURDINE_TEST_HOSTS": ",".join(RESOLVED)}


def routed(pool: list[Sample], snapshot=None) -> list[Sample]:
    """The samples of `pool` that a real `sourdine run` filters with their own adapter when they come from a
    stand-in over plain HTTP, streams left out, each with a path that routes it there (its own, or the one in
    _PLAIN_PATHS), or else sent to its own host (by_host, one of RESOLVED). The in-process fuzz reads every
    capture, at its own path, with its own adapter."""
    snapshot = snapshot or sourdine_settings.build()
    found = []
    for sample in pool:
        if sample.streaming:
            continue
        for path in (sample.path, _PLAIN_PATHS.get((sample.platform, sample.endpoint))):
            if path is not None and snapshot.route("http", "127.0.0.1", path) == (sample.platform, sample.endpoint):
                found.append(sample if path == sample.path else replace(sample, path=path))
                break
        else:
            if sample.host in RESOLVED and snapshot.route("http", sample.host, sample.path) == (
                    sample.platform, sample.endpoint):
                found.append(replace(sample, by_host=True))
    return found


def url(sample: Sample, port: int, host: str = "127.0.0.1") -> str:
    """The plain-HTTP address of a routed sample on a stand-in listening on `port` at `host`."""
    return f"http://{sample.host if sample.by_host else host}:{port}{sample.path}"


def captures(folder: Path) -> list[Path]:
    """The captures of one platform's folder that the fuzzer reads (JSON, NDJSON, HTML)."""
    return [file for file in sorted(folder.rglob("*")) if file.is_file() and file.suffix.lower() in _TYPES
            and not _SKIP_DIRS & set(file.relative_to(folder).parts)]


def form(content_type: str) -> str:
    """"html", "ndjson" or "json": how a capture is mutated and how its rewrites are checked."""
    return "html" if "html" in content_type else "ndjson" if "ndjson" in content_type else "json"


def reads(adapter, endpoint: str, content_type: str) -> bool:
    """Whether the addon filters a response of this content type on this endpoint (as addon.response decides)."""
    kinds = getattr(adapter, "ENDPOINT_CONTENT_TYPES", {}).get(endpoint)
    return any(kind in content_type for kind in kinds or getattr(adapter, "CONTENT_TYPES", ("json",)))


def parse(adapter, endpoint: str, body: bytes) -> Any:
    """`body` read as the engine reads it: with the adapter's `parse`, or orjson."""
    own = getattr(adapter, "parse", None)
    return orjson.loads(body) if own is None else own(endpoint, body)


def soured(adapter, endpoint: str, body: bytes) -> bytes:
    """The capture with every other post's words (where they appear as written, JSON-escaped or HTML-escaped)
    replaced by HOSTILE, so that rewrites are fuzzed as well as pass-throughs (many captures are friendly); the
    capture as it came when that changes which posts the adapter finds."""
    doc = orjson.loads(body) if endpoint == "streaming" else parse(adapter, endpoint, body)
    found = adapter.posts(endpoint, doc)
    out = body
    for post in found[::2]:
        for words in {w.strip() for w in post.text.split("\n") if len(w.strip()) >= 8}:
            for written in {words.encode(), orjson.dumps(words)[1:-1], html.escape(words, quote=False).encode(),
                            html.escape(words).encode()}:
                out = out.replace(written, HOSTILE.encode())
    if out == body:
        return body
    try:
        doc = orjson.loads(out) if endpoint == "streaming" else parse(adapter, endpoint, out)
        same = [p.id for p in adapter.posts(endpoint, doc)] == [p.id for p in found]
    except Exception:
        same = False
    return out if same else body


def finds_posts(adapter, endpoint: str, body: bytes) -> bool:
    try:
        return bool(adapter.posts(endpoint, parse(adapter, endpoint, body)))
    except Exception:
        return False


# -- mutations ------------------------------------------------------------------------------------------------

KINDS = ("clean", "values", "drop", "swap", "truncate", "encoding", "huge", "deep", "utf8", "bomb", "random")
# On a JSON document (one line of NDJSON); on HTML, their markup counterparts (_mutate_markup).
TREE_KINDS = ("values", "drop", "swap", "huge", "deep")
_TEXTS = st.sampled_from(["", HOSTILE, "Bande de menteurs et d'incapables, c'est une honte absolue !!!",
                          "<p>" + "a" * 5000 + "</p>", "\x00\ud7ff\u202e", "12345678901234567890"])
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40), _TEXTS)


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    # A named function: hypothesis 6.170 reads a lambda's source to see that it uses its argument, and misreads
    # one over several lines.
    return st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4))


_VALUES = st.recursive(_SCALARS, _containers, max_leaves=8)


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
        # Half the time at most 4 MB, which can be filtered within the budget, so that rewrites of large documents
        # are checked too: a larger body is refused before it is parsed (over about 5.5 MB, sourdine.budget).
        limit = draw(st.sampled_from([HUGE_BYTES // 3, HUGE_BYTES]))
        lists = [(p, k) for p, k in _nodes(doc) if isinstance(p[k], list) and p[k]]
        if isinstance(doc, list) and doc:
            lists.append((None, None))
        if not lists:
            return [doc] * min(size, max(1, limit // len(orjson.dumps(doc))))
        parent, key = lists[draw(st.integers(0, len(lists) - 1))]
        target = doc if parent is None else parent[key]
        # At most about HUGE_BYTES: mitmproxy streams a larger body past the addon (and each one would hold
        # gigabytes here, parsed twice).
        size = min(size, max(1, limit * len(target) // len(orjson.dumps(target))))
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
HUGE_BYTES = 12 << 20


def _deep(depth: int, leaf: bytes) -> bytes:
    return b'{"a":[' * (depth // 2) + leaf + b"]}" * (depth // 2)


# HTML is mutated as text: the tree kinds change its text, tags and nesting instead of a JSON tree.
_TAG = re.compile(rb"<[^<>]{0,300}>")
_NOISE = [b"<", b">", b"</", b"/>", b"<div>", b"</div>", b"</p>", b"<p", b'="', b'"', b"'", b"=", b"&", b"&#xD800;",
          b"&amp", b"&#99999999;", b"<!--", b"-->", b"<![CDATA[", b"]]>", b"<script>", b"</script>",
          b'<script type="application/json">', b"</template>", b'<template shadowrootmode="open">', b"</slot>",
          b'<slot name="comment">', b"var ytInitialData = {", b"};", b"</body></html>", b"\x00", b"<!DOCTYPE html>",
          b' id="t1_fuzz"', b' thingid="t1_fuzz"', b' depth="-1"', b' author=""']


def _mutate_markup(draw, body: bytes, kind: str) -> bytes:
    """values: a text run replaced; drop: tags or spans removed; swap: tags and attributes of the page, and
    noise, inserted anywhere; huge: one span repeated; deep: thousands of nested tags."""

    def at() -> int:
        return draw(st.integers(0, len(body)))

    tags = [m.span() for m in _TAG.finditer(body, 0, 200_000)]
    if kind == "huge":
        start = at()
        span = body[start:start + draw(st.integers(1, 4000))] or b"<div>"
        times = draw(st.sampled_from([1_000, 10_000, 50_000])) if len(span) < 40 else \
            draw(st.sampled_from([10, 100, 1_000]))
        return body[:start] + span * times + body[start:]
    if kind == "deep":
        depth, start = draw(st.integers(10, 5000)), at()
        tag = body[slice(*tags[draw(st.integers(0, len(tags) - 1))])] if tags and draw(st.booleans()) else b"<div>"
        name = re.match(rb"</?([^\s/>]*)", tag)
        close = b"</" + (name.group(1) if name else b"div") + b">"
        return body[:start] + tag * depth + (close * depth if draw(st.booleans()) else b"") + body[start:]
    for _ in range(draw(st.integers(1, 6))):
        if kind == "values":
            runs = [m.span(1) for m in re.finditer(rb">([^<]{2,})<", body[:200_000])]
            start, end = runs[draw(st.integers(0, len(runs) - 1))] if runs else (at(), at())
            start, end = min(start, end), max(start, end)
            body = body[:start] + draw(_TEXTS).encode("utf-8", "surrogatepass") + body[end:]
        elif kind == "drop":
            if tags and draw(st.booleans()):
                start, end = tags[draw(st.integers(0, len(tags) - 1))]
            else:
                start = at()
                end = start + draw(st.integers(1, 2000))
            body = body[:start] + body[end:]
        elif kind == "swap":
            if tags and draw(st.booleans()):
                piece = body[slice(*tags[draw(st.integers(0, len(tags) - 1))])]
                if draw(st.booleans()):  # only its attributes
                    piece = piece.strip(b"<>/").partition(b" ")[2]
            else:
                piece = draw(st.sampled_from(_NOISE))
            start = at()
            body = body[:start] + piece + body[start:]
        tags = [m.span() for m in _TAG.finditer(body, 0, 200_000)]
    return body


def json_parts(body: bytes) -> tuple[bytes, list[bytes], list[Any]]:
    """A JSON-like body as (what comes before its first document, such as Facebook's `for (;;);`, its lines,
    each line's document or None when blank); a single document, even over several lines, is one line. Raises
    when the body is neither one JSON document nor JSON documents one a line."""
    starts = [i for i in (body.find(b"{"), body.find(b"[")) if i >= 0]
    at = min(starts) if starts and body[:1] not in b"{[ \t\r\n" else 0
    prefix, rest = body[:at], body[at:]
    try:
        return prefix, [rest], [orjson.loads(rest)]
    except orjson.JSONDecodeError:
        lines = rest.split(b"\n")
        if len(lines) < 2:
            raise
        return prefix, lines, [orjson.loads(line) if line.strip() else None for line in lines]


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
            # Quality 5, not 1: 1,617 bytes instead of 195 KB, whose every kilobyte expands to hundreds of MB
            # (at quality 1, to 6 MB at most: Brotli 1.1's decoder, unbounded, passed it within the budget).
            b = brotli.Compressor(quality=5)
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
        return f"{self.kind} on {self.sample.name} ({self.sample.endpoint}, {self.sample.form}), " \
               f"{len(self.raw)} bytes, content-encoding {self.encoding!r}"


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
    if kind in TREE_KINDS and sample.form == "html":
        body = _mutate_markup(draw, sample.body, kind)
    elif kind in TREE_KINDS:
        # One document mutated: the body's only one, or one line of an NDJSON body; the rest as sent.
        prefix, lines, docs = json_parts(sample.body)
        line = draw(st.sampled_from([i for i, d in enumerate(docs) if d is not None]))
        doc = _mutate_doc(draw, docs[line], kind)
        if sample.streaming and isinstance(doc, dict) and isinstance(doc.get("payload"), str) and draw(st.booleans()):
            # Mastodon's events carry the status as a JSON string: mutate inside it too.
            try:
                inner = orjson.loads(doc["payload"])
                doc["payload"] = orjson.dumps(_mutate_doc(draw, inner, kind)).decode()
            except orjson.JSONDecodeError:
                pass
        text = orjson.dumps(doc)
        if kind == "deep":
            text = text.replace(orjson.dumps(_DEEP), _deep(draw(st.integers(10, 5000)), orjson.dumps(draw(_SCALARS))))
        lines[line] = text + b"\r" if lines[line].endswith(b"\r") else text
        body = prefix + b"\n".join(lines)
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
    streams: int = 0  # of the inputs, streaming messages

    def add(self, inp: Input, outcome: str, ms: float, wall_ms: float) -> None:
        self.inputs += 1
        self.streams += inp.sample.streaming
        self.outcomes[(inp.kind, outcome)] += 1
        self.slowest_wall_ms = max(self.slowest_wall_ms, wall_ms)
        if ms > self.slowest_ms:
            self.slowest_ms, self.slowest = ms, inp.describe()


def run_one(addon, inp: Input, tally: Tally | None = None, budget_ms: float = BUDGET_MS) -> str:
    """Send one input through the hooks and check every property; the outcome ("unchanged", "rewritten",
    "dropped", "overrun")."""
    return sent(addon, inp, tally, budget_ms)[0]


_THREAD = threading.local()  # the event loop of a thread that runs hooks with none running (see _timed)


def _timed(*calls: Callable[[], None]) -> tuple[float, float]:
    """Run the hooks `calls` in turn: (wall ms, CPU ms). On an event loop, as `sourdine run` runs them, so that
    what the addon leaves until the response has gone (freeing the parsed feed, letting the cycle collector back
    in: addon._free_later, with call_soon) runs after the timing, not inside it: called with no loop running, it
    would run inside, and one collection of this process's heap (hundreds of MB in a long fuzz) can take hundreds
    of ms. A thread with no loop running (scripts/fuzz runs the fuzz in one) uses one of its own, which `fuzz`
    closes at its end."""
    def run() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.thread_time()
        for call in calls:
            call()
        return (time.perf_counter() - started) * 1000, (time.thread_time() - cpu) * 1000

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return run()  # the loop runs what the hooks left for later once its caller awaits

    async def on_loop() -> tuple[float, float]:
        return run()

    loop = getattr(_THREAD, "loop", None)
    if loop is None:
        loop = _THREAD.loop = asyncio.new_event_loop()
    # The loop stops once the callbacks queued before the hooks returned have run.
    return loop.run_until_complete(on_loop())


def _close_thread_loop() -> None:
    loop = getattr(_THREAD, "loop", None)
    if loop is not None:
        loop.close()
        _THREAD.loop = None


def sent(addon, inp: Input, tally: Tally | None = None, budget_ms: float = BUDGET_MS) -> tuple[str, bytes | None]:
    """run_one's outcome, and the bytes that went out (None for a dropped message)."""
    if inp.sample.streaming:
        flow = event_flow(inp)
        wall_ms, ms = _timed(lambda: addon.requestheaders(flow), lambda: addon.websocket_message(flow))
        message = flow.websocket.messages[-1]
        out = None if message.dropped else message.content
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
        wall_ms, ms = _timed(lambda: addon.requestheaders(flow), lambda: addon.response(flow))
        meta = flow.metadata.get("sourdine") or {}
        out = flow.response.raw_content
        if not meta.get("rewritten"):
            assert flow.response.raw_content == inp.raw, f"changed but not marked rewritten: {inp.describe()}"
            assert flow.response.headers == headers, f"headers changed on an unchanged body: {inp.describe()}"
            outcome = "unchanged"
        else:
            assert "content-encoding" not in flow.response.headers
            assert int(flow.response.headers["content-length"]) == len(flow.response.raw_content)
            upstream = codec.decode(inp.raw, inp.encoding)  # a rewritten body was decoded, so this must work
            check_rewrite(inp, upstream, flow.response.raw_content, _verdicts(addon, inp))
            outcome = "rewritten"
    if (flow.metadata.get("sourdine") or {}).get("overrun"):  # a response's, or a streaming message's
        outcome = "overrun"
    assert ms <= budget_ms + GRACE_MS, f"{ms:.0f} ms of CPU, over the {budget_ms} ms budget: {inp.describe()}"
    if tally is not None:
        tally.add(inp, outcome, ms, wall_ms)
    return outcome, out


def _verdicts(addon, inp: Input) -> dict | None:
    """The verdicts the rewrite of `inp` applied, by post id, as the engine remembers the page (judging again
    could differ: a toxic connection's record counts the page's own posts); None when it does not (a page over
    the bytes it remembers)."""
    page = addon.runtime.engine._pages.get((inp.sample.platform, inp.sample.endpoint, inp.encoding, inp.raw))
    return None if page is None else page.verdicts


def check_rewrite(inp: Input, before: bytes, after: bytes, verdicts: dict | None = None) -> None:
    """A rewrite reads as the input does (with the adapter's `parse`, or orjson), keeps its shape and brings no
    post of its own. Shape: for JSON, the same text before the first document and the same lines, each of the
    same top-level type (the same keys for an object, no more items for an array); for HTML, a body that
    parses. With the `verdicts` it applied (by post id), the posts it kept are there as they came (the same text,
    author and language), and those it folded are there too, unless another post it hid or folded carried them
    away."""
    sample, adapter = inp.sample, ADAPTERS[inp.sample.platform]
    assert after, f"a rewrite emptied the body: {inp.describe()}"
    if sample.form != "html":
        try:
            old_parts = json_parts(before)
        except ValueError:
            old_parts = None  # the adapter read it (it was rewritten), only not as JSON lines: its posts are checked
        if old_parts is not None:
            prefix, lines, docs = json_parts(after)
            assert prefix == old_parts[0], f"the text before the JSON changed: {inp.describe()}"
            assert len(lines) == len(old_parts[1]), f"a rewrite changed the number of lines: {inp.describe()}"
            for old, new in zip(old_parts[2], docs, strict=True):
                assert type(new) is type(old), f"top-level type changed: {inp.describe()}"
                if isinstance(old, dict):
                    assert set(new) == set(old), f"top-level keys changed: {inp.describe()}"
                elif isinstance(old, list):
                    assert len(new) <= len(old), f"a rewrite added items: {inp.describe()}"

    def read(body: bytes) -> Any:  # events are one JSON document each (engine.filter_event)
        return orjson.loads(body) if sample.streaming else parse(adapter, sample.endpoint, body)

    posts_before = {p.id: p for p in adapter.posts(sample.endpoint, read(before))}
    posts_after = {p.id: p for p in adapter.posts(sample.endpoint, read(after))}
    assert posts_after.keys() <= posts_before.keys(), f"a rewrite holds posts the input did not: {inp.describe()}"
    if verdicts is None:
        return
    # A post it hid is gone; or, where the page must keep it (a thread's anchor, a post no article holds), it
    # stands there with another text, or folded: the same adapter, without that one verdict, writes another page.
    shown = {i for i, v in verdicts.items() if v.action == "hide" and i in posts_after
             and posts_after[i].text == posts_before[i].text}
    if shown and not sample.streaming:
        assert _rewrite(sample, before, verdicts) == after, f"the rewrite is not the adapter's: {inp.describe()}"
        shown = {i for i in shown if _rewrite(sample, before, {k: v for k, v in verdicts.items() if k != i}) == after}
    assert not shown, f"hidden posts are still there as they came: {sorted(shown)[:3]}: {inp.describe()}"
    gone: dict[str, str] = {}
    for post_id, post in posts_before.items():
        verdict = verdicts.get(post_id)
        if verdict is not None and verdict.action == "hide":
            continue
        kept = posts_after.get(post_id)
        if kept is None:  # a folded post is there too, its text (on some platforms) replaced
            gone[post_id] = post.text
            continue
        if verdict is not None:
            continue
        if (kept.text, kept.author_id, kept.author, kept.lang) != (post.text, post.author_id, post.author, post.lang):
            # A post the page holds twice (a post and a quote of it) is read once, where it first comes: the
            # rewrite may have taken that place away (with a hidden post that quoted it), leaving the other.
            doc = _json_of(read(before))
            assert doc and kept.text and any(_holds(node, kept.text) for node in _naming(doc, {post_id}).get(
                post_id, [])), f"a kept post changed: {post_id!r}: {inp.describe()}"
    if gone:
        doc = _json_of(read(before))
        judged = {i: (posts_before[i].text, v.action) for i, v in verdicts.items() if i in posts_before}
        if doc:  # JSON, or the JSON an HTML page holds
            carried = _carried(doc, gone, judged, set(posts_after))
            # Or still there as it came, where the adapter no longer finds it: a mutation can leave a post in a
            # part of the page that the adapter recognises only by the post the rewrite took away.
            found = _json_of(read(after))
            if sample.form == "html":  # the scripts the adapter no longer recognises too
                found = [*found, *_scripts_json(after)]
            carried |= _untouched(doc, found, gone)
        else:  # what an HTML reader gives (Reddit's tags): only a hidden post may take others with it
            carried = set(gone) if any(a == "hide" for i, (_, a) in judged.items() if i not in gone) else set()
        assert set(gone) <= carried, \
            f"kept or folded posts are gone: {sorted(set(gone) - carried)[:3]}: {inp.describe()}"


def _rewrite(sample: Sample, body: bytes, verdicts: dict) -> bytes:
    """What the engine writes out for `body` with these verdicts (engine.Engine._filter's steps): the adapter's
    rewrite, written out as the engine does; the body itself when the rewrite changes nothing."""
    adapter = ADAPTERS[sample.platform]
    read = getattr(adapter, "parse", None)
    doc = orjson.loads(body) if read is None else read(sample.endpoint, body)
    if not adapter.rewrite(sample.endpoint, doc, verdicts):
        return body
    return orjson.dumps(doc) if read is None else adapter.serialize(sample.endpoint, doc)


def _scripts_json(body: bytes) -> list[Any]:
    """The JSON documents of an HTML page's scripts, whichever the adapter reads."""
    found = []
    for match in re.finditer(rb"<script\b[^>]*>(.*?)</script", body, re.DOTALL | re.IGNORECASE):
        try:
            found.append(orjson.loads(match.group(1)))
        except orjson.JSONDecodeError:
            continue
    return found


def _naming(doc: Any, ids: set[str] | dict[str, str], limit: int = 200_000) -> dict[str, list[dict]]:
    """The dicts of `doc` that name each of `ids` among their values (its own node, and any that refers to it)."""
    found: dict[str, list[dict]] = {}
    stack, seen = [doc], 0
    while stack and seen < limit:
        node, seen = stack.pop(), seen + 1
        values = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for value in values:
            if isinstance(node, dict) and isinstance(value, str) and value in ids:
                found.setdefault(value, []).append(node)
            elif isinstance(value, dict | list):
                stack.append(value)
    return found


def _holds(node: Any, text: str, limit: int = 200_000) -> bool:
    """Whether one of the strings in `node` holds the start of `text`."""
    stack, seen = [node], 0
    while stack and seen < limit:
        value, seen = stack.pop(), seen + 1
        if isinstance(value, str) and text[:40] in value:
            return True
        if isinstance(value, dict | list):
            stack.extend(value.values() if isinstance(value, dict) else value)
    return False


def _untouched(before: Any, after: Any, texts: dict[str, str]) -> set[str]:
    """Those posts of `texts` (id: text) whose own node is in `after` as it is in `before`: a dict that names the
    id among its values and holds the text, equal in both."""
    olds, news = _naming(before, texts), _naming(after, texts)
    found = set()
    for post_id, text in texts.items():
        try:
            if any(old == new and _holds(new, text) for old in olds.get(post_id, []) for new in news.get(post_id, [])):
                found.add(post_id)
        except RecursionError:  # nodes nested deeper than Python compares: not shown to be there
            pass
    return found


def _floor(path: tuple, post: str, own: dict[str, list[tuple]], lowest: int) -> int:
    """The shortest prefix of `path` (at least `lowest` long) that lies inside the node around each other post's
    own node that holds this post too (a tweet result whose `legacy` is that post's, and which quotes this one)."""
    around = [len(p) - 1 for other, paths in own.items() if other != post for p in paths
              if 0 < len(p) <= len(path) and path[:len(p) - 1] == p[:-1] and path[:len(p)] != p]
    return max(lowest, max(around, default=-1) + 1)


def _json_of(parsed: Any) -> Any:
    """The JSON of what an adapter read: the document itself, or the documents an HTML page holds (its reader's
    `data`, or the dicts of its `scripts`), as a list; [] for a page read as tags alone (Reddit's)."""
    if isinstance(parsed, dict | list):
        return parsed
    found: list = []
    for value in (getattr(parsed, name, None) for name in ("data", "scripts")):
        if isinstance(value, dict):
            found.append(value)
        elif isinstance(value, list):
            found += [part for entry in value for part in (entry if isinstance(entry, tuple) else (entry,))
                      if isinstance(part, dict)]
    return found


def _carried(doc: Any, gone: dict[str, str], judged: dict[str, tuple[str, str]], present: set[str]) -> set[str]:
    """Those of `gone` (id: text) that a post of `judged` (id: (text, action)) took away with it: the others of
    the innermost list item that holds that post (its timeline entry, its feed item with the reply's parent, its
    comment with the replies, its quote), but not a post it is itself inside (the post quoting it). A folded post
    stays, so it carries others only if it is still there (`present`): a folded Bluesky reply loses its quote and
    its parent's view, not its place.
    A node holds a post when its strings name the id (whole, or within a URI or a prefixed name) and hold the start
    of its text (unless no string of `doc` does: a text the adapter made up), not only a reference to it (a
    conversation's or a reply's id, a link); a post's own node is the innermost one that holds it, unless a node
    around it names the id and holds the text in values of its own (a Reddit reply names its parent in
    `parent_id`, and its body may start as its parent's does)."""
    strings: list[str] = []

    def gather(node: Any) -> None:
        if isinstance(node, str):
            strings.append(node)
        elif isinstance(node, dict | list):
            for child in node.values() if isinstance(node, dict) else node:
                gather(child)

    gather(doc)
    texts = {**{i: t for i, (t, _) in judged.items()}, **gone}
    needles: dict[str, str | None] = {}
    for post_id, text in texts.items():
        start = text.strip()[:16]
        needles[post_id] = start if len(start) >= 8 and any(start in v for v in strings) else None
    own: dict[str, list[tuple]] = {}  # each post's own nodes (it may be in several places), by their paths
    itself: dict[tuple, set[str]] = {}  # the posts each node names and holds the text of, in values of its own

    def mark(node: Any, path: tuple) -> None:
        if isinstance(node, dict):
            values = [v for v in node.values() if isinstance(v, str)]
            found = {i for i, n in needles.items() if n and any(i in v for v in values) and any(n in v for v in values)}
            if found:
                itself[path] = found
        for key, child in node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) \
                else ():
            mark(child, (*path, key))

    mark(doc, ())

    def walk(node: Any, path: tuple) -> tuple[set[str], set[str], set[str]]:
        """The ids named under `node`, the texts held there, and the posts whose own node is there."""
        if isinstance(node, str):
            return {i for i in needles if i in node}, {i for i, n in needles.items() if n and n in node}, set()
        named: set[str] = set()
        held: set[str] = set()
        claimed: set[str] = set()
        pairs = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        direct: set[str] = set()
        for key, child in pairs:
            child_named, child_held, child_claimed = walk(child, (*path, key))
            if isinstance(child, str):
                direct |= child_named
            named |= child_named
            held |= child_held
            claimed |= child_claimed
        if isinstance(node, dict):
            if direct:
                naming[path] = direct
            # The innermost node holding the post's id and text; with no text to go by, each node that names
            # it in a value of its own.
            for i in named - claimed if node else ():
                if i in held if needles[i] is not None else i in direct:
                    if needles[i] is not None and any(i in itself.get(path[:k], ()) for k in range(len(path))):
                        continue  # a node around this one is the post's own: here, a reference to it
                    own.setdefault(i, []).append(path)
                    claimed.add(i)
        return named, held, claimed

    naming: dict[tuple, set[str]] = {}  # the ids each node names in values of its own
    walk(doc, ())

    def item(path: tuple) -> tuple:  # the innermost list item holding the node at `path` (list indices are ints)
        last = max((k for k, step in enumerate(path) if isinstance(step, int)), default=-1)
        return path[:last + 1]

    # A post's node is the outermost one within its list item that names its id in a value of its own, above the
    # node that holds its text: X's tweet result (rest_id) or timeline entry (entryId) over its `legacy`, so that
    # the tweet it quotes is inside it.
    # Not past another post's own node around it, though: the tweet a retweet holds is the one that quotes this
    # one, and the retweet names the quoted tweet too (`quoted_status_id_str`).
    found = {i: list(paths) for i, paths in own.items()}
    for i, paths in own.items():
        if needles[i] is not None:
            paths[:] = [next((path[:k] for k in range(_floor(path, i, found, len(item(path))), len(path))
                              if i in naming.get(path[:k], ())), path) for path in paths]

    def inside(a: tuple, b: tuple) -> bool:
        return a[:len(b)] == b

    carried: set[str] = set()
    for g in gone:
        for j, (_, action) in judged.items():
            if j == g or action != "hide" and j not in present:
                continue
            if any(inside(og, item(oj)) and not inside(oj, og) for og in own.get(g, ()) for oj in own.get(j, ())):
                carried.add(g)
                break
    return carried


def fuzz(addon, count: int, pool: list[Sample] | None = None, tally: Tally | None = None,
         kinds: tuple[str, ...] = KINDS, derandomize: bool = False) -> Tally:
    """Run `count` hypothesis-generated inputs through the addon's hooks; raises on the first failing one
    (shrunk). With `derandomize`, the same inputs every run."""
    pool = pool or samples()
    tally = tally or Tally()

    @settings(max_examples=count, deadline=None, database=None, derandomize=derandomize, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(inputs(pool, kinds))
    def one(inp: Input) -> None:
        run_one(addon, inp, tally)

    try:
        one()
    finally:
        _close_thread_loop()
    return tally


@contextmanager
def fuzz_addon(folder: Path, engine, writer) -> Iterator:
    """A Sourdine addon over `engine` and the store `writer`, with the fuzz's settings and time budget, inside
    mitmproxy's test context (the caller starts the writer if it is to write)."""
    from mitmproxy.test import taddons

    from sourdine.addon import Sourdine
    from sourdine.runtime import Runtime

    addon = Sourdine(Runtime(folder, "token", sourdine_settings.build(fuzz_user_settings()), engine, writer))
    with taddons.context(addon) as tctx:
        tctx.configure(addon, sourdine_budget_ms=BUDGET_MS)
        try:
            yield addon
        finally:
            loop = tctx.master.event_loop
            if not loop.is_running():  # made by the context, outside any loop (a test that is not async): close it
                loop.close()


def fuzz_user_settings() -> dict[str, Any]:
    return {"platforms": {name: dict(THRESHOLDS) for name in ADAPTERS}}
