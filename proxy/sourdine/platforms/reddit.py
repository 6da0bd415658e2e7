"""Reddit adapter: posts and comments in Reddit's JSON listings and in new Reddit's HTML pages and fragments.

Endpoint names are those of rules/platforms.toml.

JSON (`.json` URLs on www, old and oauth.reddit.com), read with orjson:

- `listing`: a Listing (`{"kind": "Listing", "data": {"children": [thing...], "after": ...}}`) of posts (t3)
  or comments (t1): subreddit and front pages, user pages, search, /comments.json;
- `comments`: a post's page, `[Listing(t3), Listing(t1...)]`; a comment's `replies` is a Listing again (or
  "" when it has none), and a `more` thing stands for comments not sent yet;
- `morechildren`: /api/morechildren.json, `{"json": {"data": {"things": [thing...]}}}`.

How a verdict shows in JSON:

- hide: the thing leaves its `children` list (a comment's replies go with it). `more` stubs and the listing's
  `after`/`before` cursors are never touched, so "load more comments" and paging go on.
- collapse, comment: Reddit's own fields for a folded comment: `collapsed` true, `collapsed_reason` naming
  Sourdine and the reason, `collapsed_reason_code` "SOURDINE". Reddit itself folds comments this way (below a
  score threshold, blocked authors, crowd control).
- collapse, post: `spoiler` true: Reddit's clients blur a spoiler post's preview and text behind a click.

HTML (new Reddit, "shreddit"): `shreddit_feed` and `shreddit_comments`, the `/svc/shreddit/...` fragments the web
app loads as the user scrolls, and `page`, the first page rendered on the server (the front page, a community, a
post with its first comments; only when text/html), with the same elements. Read with a tag tokenizer that
follows the HTML standard (htmltokens.py: about 2.5 ms of CPU for a 100-post fragment, 6 ms for a first page
of 790 KB, where html.parser took 10 and 24 ms; outside a post's body the tags the reader has no use for are
passed over in the regex engine), and rewritten by splicing the original text (htmlsplice.py), so
the markup stays intact byte for byte. Markup whose reading the tokenizer leaves to a browser's tree (see
htmltokens.py), or more than `MAX_MARKUP` `<` in a page, makes the page go out as it came.

- a post is a `<shreddit-post id="t3_..." post-title=... author=...>`, its text in `[slot="text-body"]`;
- a comment is a `<shreddit-comment thingid="t1_..." author=...>`, its text in `[slot="comment"]` (or the
  older `comment-body`); replies are `<shreddit-comment>` elements nested inside it;
- hide, post: the `<article>` that holds the post goes (a post no article holds is folded instead);
- hide, comment: the `<shreddit-comment>` goes, with its replies;
- collapse: the `collapsed` attribute on `<shreddit-comment>`, Reddit's own fold; on a post, `spoiler`;
  either way with `sourdine-reason` naming the reason;
- `<faceplate-partial>` elements load the next page or more comments: a cut that would take one with it is
  made a fold instead, so paging always goes on;
- a post that no `<article>` holds (the post a post's page is about) is folded, never cut.

What was verified: every shape read here is that of the real captures in tests/data/reddit (PRAW's recorded
listings and comment trees, 2016; trimmed shreddit fragments captured in 2026). No whole first page was captured:
the `page` endpoint is tested on pages built from the real fragments. NOT verified: that today's
Reddit clients draw `collapsed_reason` and `spoiler` as described, and that shreddit honours the `collapsed`
attribute Sourdine adds on a comment served collapsed; no Reddit web app could be run here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from sourdine.model import Post, Verdict
from sourdine.platforms.htmlsplice import Splice, attribute
from sourdine.platforms.htmltext import unescape
from sourdine.platforms.htmltokens import END, RAW_TEXT, START, VOID, Quiet, attributes, quiet_pattern, tokens

PLATFORM = "reddit"
CONTENT_TYPES = ("json", "html")

JSON_ENDPOINTS = frozenset({"listing", "comments", "morechildren"})
HTML_ENDPOINTS = frozenset({"shreddit_feed", "shreddit_comments", "page"})
ENDPOINTS = JSON_ENDPOINTS | HTML_ENDPOINTS
# A first page's URL is that of the web app: only its HTML is read.
ENDPOINT_CONTENT_TYPES = {"page": ("text/html",)}

REASON_CODE = "SOURDINE"
# A page holding more `<` than this is left as sent: reading it would hold the proxy up for over 100 ms (a real
# first page of 800 KB has about 5,000 tags).
MAX_MARKUP = 100_000
# A comment tree is deep, but not without end: stop well past what Reddit sends (it cuts at depth 10).
MAX_DEPTH = 64
_BODY_SLOTS = frozenset({"comment", "comment-body", "text-body"})
_SLOT = frozenset({"slot"})
_BREAKS = frozenset({"p", "br", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})


def reason_text(verdict: Verdict) -> str:
    return f"Sourdine: {verdict.reason}" if verdict.reason else "Sourdine"


# -- parse and serialize -----------------------------------------------------------------------------------------


def parse(endpoint: str, body: bytes) -> Any:
    _check(endpoint)
    if endpoint in HTML_ENDPOINTS:
        return _read_html(body)
    return orjson.loads(body)


def serialize(endpoint: str, doc: Any) -> bytes:
    _check(endpoint)
    if endpoint in HTML_ENDPOINTS:
        return doc.splice.result()
    return orjson.dumps(doc)


def posts(endpoint: str, doc: Any) -> list[Post]:
    """Every post and comment in `doc`, each id once, in document order."""
    _check(endpoint)
    if endpoint in HTML_ENDPOINTS:
        return [item.post() for item in doc.items if item.id]
    found: list[Post] = []
    seen: set[str] = set()
    for children in _children_lists(endpoint, doc):
        for thing in children:
            _collect(thing, found, seen, 0)
    return found


def rewrite(endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
    """Hide or fold, in place, the posts and comments `verdicts` names; True when anything changed."""
    _check(endpoint)
    if not verdicts:
        return False
    if endpoint in HTML_ENDPOINTS:
        return _rewrite_html(doc, verdicts)
    changed = False
    for children in _children_lists(endpoint, doc):
        changed = _rewrite_children(children, verdicts, 0) or changed
    return changed


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown Reddit endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


# -- JSON ------------------------------------------------------------------------------------------------------


def _listing_children(listing: Any) -> list[Any] | None:
    if isinstance(listing, dict) and listing.get("kind") == "Listing":
        data = listing.get("data")
        if isinstance(data, dict) and isinstance(data.get("children"), list):
            return data["children"]
    return None


def _children_lists(endpoint: str, doc: Any) -> Iterator[list[Any]]:
    """The top-level lists of things in a document: a listing's children, each listing's of a comments page,
    morechildren's things."""
    if endpoint == "morechildren":
        json_ = doc.get("json") if isinstance(doc, dict) else None
        data = json_.get("data") if isinstance(json_, dict) else None
        things = data.get("things") if isinstance(data, dict) else None
        if isinstance(things, list):
            yield things
        return
    for listing in doc if isinstance(doc, list) else (doc,):
        children = _listing_children(listing)
        if children is not None:
            yield children


def _name(thing: Any) -> tuple[str | None, dict[str, Any] | None]:
    """(kind, data) of a t1 or t3 thing with a fullname, else (None, None)."""
    if not isinstance(thing, dict):
        return None, None
    kind = thing.get("kind")
    data = thing.get("data")
    if kind not in ("t1", "t3") or not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None, None
    return kind, data


def _collect(thing: Any, found: list[Post], seen: set[str], depth: int) -> None:
    kind, data = _name(thing)
    if data is None or depth > MAX_DEPTH:
        return
    name = data["name"]
    if name not in seen:
        seen.add(name)
        found.append(_json_post(kind, name, data))
    children = _listing_children(data.get("replies"))
    if children:
        for child in children:
            _collect(child, found, seen, depth + 1)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _json_post(kind: str | None, name: str, data: dict[str, Any]) -> Post:
    if kind == "t3":
        text = "\n".join(p for p in (_str(data.get("title")).strip(), _str(data.get("selftext")).strip()) if p)
    else:
        text = _str(data.get("body")).strip()
    author = _str(data.get("author"))
    permalink = _str(data.get("permalink"))
    return Post(
        id=name,
        # Reddit user names are unique and never change; the HTML pages name authors only by them.
        author_id=author if author not in ("[deleted]", "[removed]") else "",
        author=author,
        author_name=author,
        text=text,
        url=f"https://www.reddit.com{permalink}" if permalink.startswith("/") else None,
    )


def _rewrite_children(children: list[Any], verdicts: dict[str, Verdict], depth: int) -> bool:
    changed = False
    kept: list[Any] = []
    for thing in children:
        kind, data = _name(thing)
        if data is None:
            kept.append(thing)  # `more` stubs and anything unknown stay
            continue
        verdict = verdicts.get(data["name"])
        if verdict is not None and verdict.action == "hide":
            changed = True
            continue
        kept.append(thing)
        if verdict is not None and verdict.action == "collapse":
            changed = _fold_json(kind, data, verdict) or changed
        replies = _listing_children(data.get("replies"))
        if replies and depth < MAX_DEPTH:
            changed = _rewrite_children(replies, verdicts, depth + 1) or changed
    if len(kept) != len(children):
        children[:] = kept
    return changed


def _fold_json(kind: str | None, data: dict[str, Any], verdict: Verdict) -> bool:
    if kind == "t3":
        if data.get("spoiler") is True:
            return False
        data["spoiler"] = True
        return True
    if data.get("collapsed") is True and data.get("collapsed_reason_code") == REASON_CODE:
        return False
    data["collapsed"] = True
    data["collapsed_reason"] = reason_text(verdict)
    data["collapsed_reason_code"] = REASON_CODE
    return True


# -- HTML ------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    """A post or comment element found in a page, with the offsets of its markup."""

    kind: str  # "post" or "comment"
    id: str
    author: str
    title: str
    start: int  # where its start tag starts
    attr_at: int  # where a new attribute goes in its start tag
    end: int = -1  # just past its end tag; -1 while open
    has: frozenset[str] = frozenset()  # the boolean attributes it already has (collapsed, spoiler)
    parts: list[str] = field(default_factory=list)
    holder: int = -1  # index of the <article> that holds it, or -1

    def post(self) -> Post:
        text = "".join(self.parts).strip()
        if self.title:
            text = f"{self.title.strip()}\n{text}" if text else self.title.strip()
        return Post(id=self.id, author_id=self.author, author=self.author, author_name=self.author, text=text)


@dataclass(slots=True)
class _Page:
    splice: Splice
    items: list[_Item]
    articles: list[list[int]]  # [start, end] of each <article>
    partials: list[int]  # where each <faceplate-partial> starts


_ITEM_TAGS = {"shreddit-post": "post", "shreddit-comment": "comment"}
_ITEM_ATTRIBUTES = frozenset({"id", "thingid", "author", "post-title", "collapsed", "spoiler"})


def _attr(values: dict[str, str | None], name: str) -> str:
    value = values.get(name)
    return value if isinstance(value, str) else ""


# Outside a body slot, the reader needs only these tags, the slots and what the tokenizer itself must see: the
# tokenizer passes over the others in the regex engine (11 of a post's 15 tags on the home feed).
_QUIET = quiet_pattern(frozenset({*_ITEM_TAGS, "article", "faceplate-partial"}), "slot", _BODY_SLOTS)


def _read_html(body: bytes, quiet: bool = True) -> _Page:
    """The posts, comments, articles and loaders of a page, with their offsets, in one pass over its tags.
    With `quiet` false, every tag is looked at (the reading the tests compare the quiet one with)."""
    if body.count(b"<") > MAX_MARKUP:
        raise ValueError(f"more than {MAX_MARKUP} '<' in a Reddit page: left as sent")
    switch = Quiet(_QUIET) if quiet else None
    splice = Splice.of_bytes(body)
    text = splice.text
    decode = splice.text_of
    items: list[_Item] = []
    articles: list[list[int]] = []
    partials: list[int] = []
    open_items: list[_Item] = []  # posts and comments not yet closed, innermost last
    open_kinds = {"post": 0, "comment": 0}  # how many of each kind are open
    open_articles: list[int] = []
    slot: _Item | None = None  # the item whose body slot is being read
    slot_tag = ""
    slot_depth = 0
    last = 0  # where the previous token ended
    in_raw = False  # the previous token opened a raw text element (its text is no post's words)
    for kind, name, start, end, attrs_start, attrs_end in tokens(text, switch):
        if slot is not None:
            if start > last and not in_raw:
                slot.parts.append(unescape(decode(text[last:start])))
            last = end
            in_raw = kind == START and name in RAW_TEXT
            if kind == START:
                if name == slot_tag:
                    slot_depth += 1
                if name in _BREAKS:
                    slot.parts.append("\n")
            elif kind == END and name == slot_tag:
                slot_depth -= 1
                if slot_depth == 0:
                    slot = None
                    if switch is not None:
                        switch.on = True
            continue
        if kind == START:
            tag_kind = _ITEM_TAGS.get(name)
            if tag_kind is not None:
                values = attributes(text, attrs_start, attrs_end, decode, _ITEM_ATTRIBUTES)
                if tag_kind == "post":
                    item = _Item("post", _attr(values, "id"), _attr(values, "author"), _attr(values, "post-title"),
                                 start, attrs_end)
                else:
                    item = _Item("comment", _attr(values, "thingid"), _attr(values, "author"), "", start, attrs_end)
                item.has = frozenset(k for k in ("collapsed", "spoiler") if k in values)
                if open_articles:
                    item.holder = open_articles[-1]
                items.append(item)
                open_items.append(item)
                open_kinds[tag_kind] += 1
            elif name == "article":
                articles.append([start, -1])
                open_articles.append(len(articles) - 1)
            elif name == "faceplate-partial":
                partials.append(start)
            # A body slot on a void element holds no words (and has no end tag to close it).
            elif (open_items and name not in VOID
                  and attributes(text, attrs_start, attrs_end, only=_SLOT).get("slot") in _BODY_SLOTS):
                slot, slot_tag, slot_depth, last, in_raw = open_items[-1], name, 1, end, name in RAW_TEXT
                if switch is not None:
                    switch.on = False  # its text is every token's
        elif kind == END:
            tag_kind = _ITEM_TAGS.get(name)
            if tag_kind is not None and open_kinds[tag_kind]:
                # Close the innermost open element of this kind, and any left open inside it (each item leaves
                # the stack once, and no search runs without a match: linear whatever the page).
                i = len(open_items) - 1
                while open_items[i].kind != tag_kind:
                    i -= 1
                open_items[i].end = end
                for closed in open_items[i:]:
                    open_kinds[closed.kind] -= 1
                del open_items[i:]
            elif name == "article" and open_articles:
                articles[open_articles.pop()][1] = end
    return _Page(splice, items, articles, partials)


def _holds_partial(page: _Page, start: int, end: int) -> bool:
    i = bisect_left(page.partials, start)  # in document order, so sorted
    return i < len(page.partials) and page.partials[i] < end


def _rewrite_html(page: _Page, verdicts: dict[str, Verdict]) -> bool:
    changed = False
    for item in page.items:
        verdict = verdicts.get(item.id) if item.id else None
        if verdict is None or verdict.action not in ("hide", "collapse"):
            continue
        if verdict.action == "hide" and (item.kind == "comment" or item.holder >= 0):
            start, end = item.start, item.end
            if item.kind == "post":
                start, end = page.articles[item.holder]
            if end > start and not _holds_partial(page, start, end):
                page.splice.cut(start, end)
                changed = True
                continue
        # A fold, or a hide that would take a loader with it.
        flag = "collapsed" if item.kind == "comment" else "spoiler"
        added = "" if flag in item.has else attribute(flag)
        page.splice.insert(item.attr_at, added + attribute("sourdine-reason", reason_text(verdict)))
        changed = True
    return changed
