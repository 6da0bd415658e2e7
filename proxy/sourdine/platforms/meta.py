"""What Instagram's and Threads' web apps share: Meta's "media" objects, in GraphQL and REST answers and in the
first page's data embedded in the HTML.

A post (Instagram media, Threads post) is a dict with a `pk`, a `user` dict with a `username`, and a `caption`
(a dict with `text`, or null). A comment is a dict with a `pk`, a `user` with a `username`, and a string
`text`. They sit in lists: GraphQL `edges[].node...`, REST `feed_items[].media_or_ad`, `items`, `comments`,
Threads' `thread_items[].post`.

The first page comes in the HTML as JSON scripts (`<script type="application/json" data-sjs>`), in which the
web app's prefetched GraphQL results sit deep inside `require` arrays. Those scripts are found with the HTML
parser, read with orjson, and only the scripts that change are written back.

How a verdict shows:

- hide: the element of the nearest list holding the post or comment leaves that list (an edge, a feed item,
  a thread item, a comment). A list named in `cascade` left empty takes its own holder with it (Threads: a
  thread with no item left goes). A post inside another post (a quoted post) is never removed, since that would
  take the quoting post with it: its text is replaced by the hidden placeholder instead.
- collapse: the web apps have no fold of their own: the text is replaced by Sourdine's placeholder, and the
  original kept in memory for the extension to reveal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from sourdine import budget
from sourdine.model import Post, Verdict
from sourdine.platforms.htmlsplice import OffsetParser, Splice
from sourdine.platforms.placeholder import placeholder

MAX_DEPTH = 80


@dataclass(slots=True)
class Found:
    id: str
    node: dict[str, Any]
    is_comment: bool
    # The enclosing list elements, outermost first: (list, element, key of the list in its dict).
    holders: list[tuple[list[Any], Any, str]]
    nested: bool  # inside another post

    def __init__(self, id: str, node: dict[str, Any], is_comment: bool, holders: list[tuple[list[Any], Any, str]],
                 nested: bool) -> None:
        self.id = id
        self.node = node
        self.is_comment = is_comment
        self.holders = holders
        self.nested = nested


def _is_user(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("username"), str)


def _pk(node: dict[str, Any]) -> str | None:
    pk = node.get("pk")
    if isinstance(pk, int) and not isinstance(pk, bool):
        return str(pk)
    return pk if isinstance(pk, str) and pk else None


def find(doc: Any) -> list[Found]:
    """Every post and comment, outermost first, in document order."""
    found: list[Found] = []

    def walk(node: Any, holders: list[tuple[list[Any], Any, str]], nested: bool, depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(node, dict):
            inside = nested
            if _is_user(node.get("user")):
                pid = _pk(node)
                caption = node.get("caption", False)
                if pid is not None and (caption is None or isinstance(caption, dict)):
                    found.append(Found(pid, node, False, list(holders), nested))
                    inside = True
                elif pid is not None and isinstance(node.get("text"), str):
                    found.append(Found(pid, node, True, list(holders), nested))
            for key, value in node.items():
                if isinstance(value, list):
                    for element in value:
                        if isinstance(element, dict | list):
                            holders.append((value, element, key))
                            walk(element, holders, inside, depth + 1)
                            holders.pop()
                elif isinstance(value, dict):
                    walk(value, holders, inside, depth + 1)
        elif isinstance(node, list):
            for element in node:
                if isinstance(element, dict | list):
                    holders.append((node, element, ""))
                    walk(element, holders, nested, depth + 1)
                    holders.pop()

    walk(doc, [], False, 0)
    return found


def text_of(item: Found) -> str:
    if item.is_comment:
        said: str = item.node["text"]  # any: `find` made it a comment for its string text
        return said
    caption = item.node.get("caption")
    text = caption.get("text") if isinstance(caption, dict) else None
    return text if isinstance(text, str) else ""


def post_of(item: Found, url: str | None = None) -> Post:
    user = item.node["user"]
    uid = user.get("pk") or user.get("id") or user.get("pk_id")
    full = user.get("full_name")
    username: str = user["username"]  # any: `find` took it for a post or comment for its string username
    return Post(
        id=item.id,
        author_id=str(uid) if isinstance(uid, str | int) and not isinstance(uid, bool) else "",
        author=username,
        author_name=full if isinstance(full, str) else username,
        text=text_of(item).strip(),
        url=url,
    )


def posts(doc: Any, url: Callable[[Found], str | None] | None = None) -> list[Post]:
    found: list[Post] = []
    seen: set[str] = set()
    for item in find(doc):
        if item.id not in seen:
            seen.add(item.id)
            found.append(post_of(item, url(item) if url is not None else None))
    return found


def rewrite(platform: str, doc: Any, verdicts: dict[str, Verdict], cascade: frozenset[str] = frozenset()) -> bool:
    changed = False
    removals: list[tuple[list[Any], Any, list[tuple[list[Any], Any, str]]]] = []
    for item in find(doc):
        verdict = verdicts.get(item.id)
        if verdict is None or verdict.action not in ("hide", "collapse"):
            continue
        if verdict.action == "hide" and item.holders and not item.nested:
            holder_list, element, _ = item.holders[-1]
            removals.append((holder_list, element, item.holders))
            continue
        changed = _replace(item, placeholder(platform, item.id, verdict)) or changed
    changed = _remove_all([(holder_list, element) for holder_list, element, _ in removals]) or changed
    # An emptied list named in `cascade` takes its holder with it, up the chain, a level at a time.
    pending = [(holders, len(holders) - 1) for _, _, holders in removals]
    while pending:
        pending = [(holders, level - 1) for holders, level in pending
                   if level > 0 and not holders[level][0] and holders[level][2] in cascade]
        changed = _remove_all([(holders[level][0], holders[level][1]) for holders, level in pending]) or changed
    return changed


def _remove_all(removals: list[tuple[list[Any], Any]]) -> bool:
    """Remove each element (by identity) from its list, each list rebuilt once: a search and a `del` per element
    made hiding thousands of posts in a long list quadratic (a second per rewrite of a 17 MB feed)."""
    by_list: dict[int, tuple[list[Any], set[int]]] = {}
    for values, element in removals:
        by_list.setdefault(id(values), (values, set()))[1].add(id(element))
    changed = False
    for values, drop in by_list.values():
        kept = [value for value in values if id(value) not in drop]
        if len(kept) != len(values):
            values[:] = kept
            changed = True
    return changed


def _replace(item: Found, text: str) -> bool:
    if item.is_comment:
        if item.node.get("text") == text:
            return False
        item.node["text"] = text
        return True
    caption = item.node.get("caption")
    if not isinstance(caption, dict):
        item.node["caption"] = {"text": text}
        return True
    if caption.get("text") == text:
        return False
    caption["text"] = text
    return True


# -- the first page, in the HTML ------------------------------------------------------------------------------


@dataclass(slots=True)
class Page:
    """A page's JSON scripts that hold any of the markers, parsed, with their spans."""

    splice: Splice
    scripts: list[tuple[int, int, Any]] = field(default_factory=list)

    @property
    def data(self) -> list[Any]:
        return [data for _, _, data in self.scripts]

    def result(self) -> bytes:
        for start, end, data in self.scripts:
            new = orjson.dumps(data).replace(b"</", b"<\\/").replace(b"<!--", b"\\u003c!--").decode()
            if new != self.splice.text[start:end]:
                self.splice.cut(start, end)
                self.splice.insert(start, new)
        return self.splice.result()


class _JsonScripts(OffsetParser):
    def __init__(self, text: str, markers: tuple[str, ...]) -> None:
        super().__init__(text)
        self.markers = markers
        self.spans: list[tuple[int, int]] = []
        self._start = -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and dict(attrs).get("type") == "application/json":
            self._start = self.start_tag_end(self.here())

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._start >= 0:
            start, end = self._start, self.here()
            self._start = -1
            if any(m in self.text[start:end] for m in self.markers):
                self.spans.append((start, end))


def read_page(body: bytes, markers: tuple[str, ...]) -> Page:
    """The page's JSON scripts holding any of `markers`. A page with none (a login page, a page of something
    else) has no post: it is not a failure."""
    splice = Splice.of(body)
    parser = _JsonScripts(splice.text, markers)
    parser.run()
    page = Page(splice)
    for start, end in parser.spans:
        budget.check((end - start) / 1e6 * budget.PARSE_MS_PER_MB)  # not started when it could not end in time
        page.scripts.append((start, end, orjson.loads(splice.text[start:end])))
    return page


@dataclass(frozen=True)
class Site:
    """The adapter functions of one Meta web app (Instagram, Threads): its endpoints, the markers of its first
    page's embedded JSON, how to link a post, and which lists go when their last post is hidden."""

    platform: str
    endpoints: frozenset[str]
    markers: tuple[str, ...]
    url: Callable[[Found], str | None]
    cascade: frozenset[str] = frozenset()

    def check(self, endpoint: str) -> None:
        if endpoint not in self.endpoints:
            raise ValueError(f"unknown {self.platform.capitalize()} endpoint {endpoint!r}: expected one of "
                             f"{sorted(self.endpoints)}")

    def parse(self, endpoint: str, body: bytes) -> Any:
        self.check(endpoint)
        return parse(endpoint, body, self.markers)

    def serialize(self, endpoint: str, doc: Any) -> bytes:
        self.check(endpoint)
        return serialize(endpoint, doc)

    def posts(self, endpoint: str, doc: Any) -> list[Post]:
        self.check(endpoint)
        return posts(data(endpoint, doc), self.url)

    def rewrite(self, endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
        self.check(endpoint)
        return bool(verdicts) and rewrite(self.platform, data(endpoint, doc), verdicts, self.cascade)


def parse(endpoint: str, body: bytes, markers: tuple[str, ...]) -> Any:
    """A body of Instagram or Threads: the first page's embedded JSON (endpoint "page"), or a JSON document."""
    return read_page(body, markers) if endpoint == "page" else orjson.loads(body)


def serialize(endpoint: str, doc: Any) -> bytes:
    return doc.result() if endpoint == "page" else orjson.dumps(doc)  # any: Page.result() gives bytes


def data(endpoint: str, doc: Any) -> Any:
    """What `parse` gave, as the post finders read it."""
    return doc.data if endpoint == "page" else doc
