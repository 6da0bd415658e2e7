"""Facebook adapter: stories and comments in the web app's GraphQL answers, streamed as several JSON documents.

The one endpoint, `graphql` (POST /api/graphql/ on www.facebook.com), answers the news feed, groups, pages and
comment queries. The body is one JSON document a line: the first holds `data` (e.g.
`data.viewer.news_feed.edges[].node`), the next ones are streamed and deferred parts, each with a `label`, a
`path` and its own `data` (one more feed edge, a story's deferred sections), and the last often only
`extensions` (`is_final`). Some answers start with Facebook's `for (;;);` guard.

What is read, in every document of the body:

- a story: a dict with `__typename` "Story" and an `id`, its words in `message.text`, its author in
  `actors[0]` (`id`, `name`). The web app nests copies of one story in itself (`comet_sections.content.story`,
  `...message.story`), and a deferred part can carry a story's message apart: every copy with one `id` is
  one post, and every one of them is rewritten.
- a comment: `__typename` "Comment", words in `body.text`, author in `author`, id `legacy_fbid` or `id`.

How a verdict shows. Removing a streamed item can break the page (later parts point at its `path`), so nothing
is removed: the text is replaced by Sourdine's placeholder (placeholder.py), and its `ranges` (links, mentions,
offsets into the old text) go with it.

- collapse: the placeholder names the reason and carries the marker the extension reveals it by; the original
  is kept in memory only (REPLACES_TEXT) and the API gives it back (GET /api/v1/originals/facebook/ID);
- hide: the placeholder says the post was hidden; as it was replaced rather than removed, it too stays
  revealable (HIDE_REPLACES_TEXT).

Only lines with a touched post are written anew; every other line goes out byte for byte as sent. The body is
read whole: mitmproxy hands Sourdine a complete response, so a streamed answer reaches the page at once when
complete rather than part by part.

NOT verified against live traffic: no capture of Facebook's responses could be had. The fixtures in
tests/data/facebook are HAND-MADE from the documented structure above, and minimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sourdine.model import Post, Verdict
from sourdine.platforms.placeholder import placeholder

PLATFORM = "facebook"
CONTENT_TYPES = ("json", "html", "javascript", "text/plain")
REPLACES_TEXT = True
HIDE_REPLACES_TEXT = True

ENDPOINTS = frozenset({"graphql"})
GUARD = b"for (;;);"
MAX_DEPTH = 60


@dataclass(slots=True)
class Lines:
    """A body of JSON documents, one a line, with what is needed to write back untouched lines as they came."""

    guard: bytes
    lines: list[bytes]  # each line without its "\n" (a "\r" stays on it)
    docs: list[Any]  # the parsed document of each line, None for a blank one
    changed: set[int] = field(default_factory=set)
    # Every story and comment `posts` found, with its line: what `rewrite` reads, instead of walking the lines again.
    found: list[tuple[int, str, dict[str, Any]]] | None = None


def parse(endpoint: str, body: bytes) -> Lines:
    _check(endpoint)
    guard = b""
    if body.startswith(GUARD):
        guard, body = GUARD, body[len(GUARD):]
    lines = body.split(b"\n")
    docs = [orjson.loads(line) if line.strip() else None for line in lines]
    return Lines(guard, lines, docs)


def serialize(endpoint: str, doc: Lines) -> bytes:
    _check(endpoint)
    out = []
    for i, line in enumerate(doc.lines):
        if i in doc.changed:
            new = orjson.dumps(doc.docs[i])
            out.append(new + b"\r" if line.endswith(b"\r") else new)
        else:
            out.append(line)
    return doc.guard + b"\n".join(out)


def posts(endpoint: str, doc: Lines) -> list[Post]:
    """Every story and comment with words, each id once, in the order first seen; a story's words and author
    may come from different copies of it."""
    _check(endpoint)
    texts: dict[str, str] = {}
    authors: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    doc.found = _found(doc)
    for _, kind, node in doc.found:
        pid = _id(kind, node)
        if pid is None:
            continue
        if pid not in texts and pid not in authors:
            order.append(pid)
        text = _text(kind, node)
        if text is not None and pid not in texts:
            texts[pid] = text
        author = _author(kind, node)
        if author and pid not in authors:
            authors[pid] = author
    return [_post(pid, texts[pid], authors.get(pid, {})) for pid in order if pid in texts]


def rewrite(endpoint: str, doc: Lines, verdicts: dict[str, Verdict]) -> bool:
    _check(endpoint)
    if not verdicts:
        return False
    for i, kind, node in doc.found if doc.found is not None else _found(doc):
        pid = _id(kind, node)
        if pid is None:
            continue
        verdict = verdicts.get(pid)
        if verdict is not None and verdict.action in ("hide", "collapse") and \
                _replace(kind, node, placeholder(PLATFORM, pid, verdict, revealable=True)):
            doc.changed.add(i)
    return bool(doc.changed)


def _found(doc: Lines) -> list[tuple[int, str, dict[str, Any]]]:
    """Every story and comment of the body, with the index of its line."""
    found: list[tuple[int, str, dict[str, Any]]] = []
    for i, line in enumerate(doc.docs):
        _nodes(line, i, 0, found)
    return found


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown Facebook endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


def _nodes(node: Any, line: int, depth: int, out: list[tuple[int, str, dict[str, Any]]]) -> None:
    """Every story and comment dict under `node`, outermost first, appended to `out` with its `line`."""
    if depth > MAX_DEPTH:
        return
    if isinstance(node, dict):
        kind = node.get("__typename")
        if kind == "Story" or kind == "Comment":
            out.append((line, kind, node))
        for value in node.values():
            if isinstance(value, dict | list):
                _nodes(value, line, depth + 1, out)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, dict | list):
                _nodes(value, line, depth + 1, out)


def _id(kind: str, node: dict[str, Any]) -> str | None:
    for key in ("id", "post_id") if kind == "Story" else ("legacy_fbid", "id"):
        value = node.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _field(kind: str) -> str:
    return "message" if kind == "Story" else "body"


def _text(kind: str, node: dict[str, Any]) -> str | None:
    holder = node.get(_field(kind))
    text = holder.get("text") if isinstance(holder, dict) else None
    return text if isinstance(text, str) else None


def _author(kind: str, node: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "Story":
        actors = node.get("actors")
        return actors[0] if isinstance(actors, list) and actors and isinstance(actors[0], dict) else None
    author = node.get("author")
    return author if isinstance(author, dict) else None


def _post(pid: str, text: str, author: dict[str, Any]) -> Post:
    aid, name = author.get("id"), author.get("name")
    return Post(
        id=pid,
        author_id=aid if isinstance(aid, str) else "",
        author=name if isinstance(name, str) else "",
        author_name=name if isinstance(name, str) else "",
        text=text.strip(),
    )


def _replace(kind: str, node: dict[str, Any], text: str) -> bool:
    holder = node.get(_field(kind))
    if not isinstance(holder, dict) or not isinstance(holder.get("text"), str) or holder["text"] == text:
        return False
    holder["text"] = text
    for key in ("ranges", "delight_ranges", "image_ranges", "inline_style_ranges", "aggregated_ranges"):
        if isinstance(holder.get(key), list):
            holder[key] = []
    return True
