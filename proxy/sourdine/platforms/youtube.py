"""YouTube adapter: comments in the web app's InnerTube responses and in the watch page's `ytInitialData`.

Endpoint names are those of rules/platforms.toml:

- `next` (/youtubei/v1/next) and `browse` (/youtubei/v1/browse): JSON. Comments come in lists of items, in
  `onResponseReceivedEndpoints[].reloadContinuationItemsCommand.continuationItems` and
  `...appendContinuationItemsAction.continuationItems` (pages of comments, pages of replies), or in an
  `itemSectionRenderer.contents` (community posts);
- `watch` (the /watch HTML page): its first page is the `ytInitialData` object in a script.

A list item is a comment thread (`commentThreadRenderer`), a reply (`commentViewModel`, or the older
`commentRenderer`), or something else: a `continuationItemRenderer` (the next page, "show more replies"), a
header. Today's shape keeps a comment's words apart from the item: the item's `commentViewModel` has a
`commentKey`, and `frameworkUpdates.entityBatchUpdate.mutations` holds, under that `entityKey`, a
`commentEntityPayload` with `properties.content.content` (the text), `properties.commentId` and `author`
(`channelId`, `displayName`). The older shape has it all in a `commentRenderer` (`contentText.runs`,
`authorText.simpleText`, `authorEndpoint.browseEndpoint.browseId`, `commentId`).

How a verdict shows:

- hide: the thread (or the reply) leaves its list, and its comment entity leaves the mutations; every
  continuation item stays, so paging and "show more replies" go on;
- collapse: YouTube has no fold of its own, so the comment's text is replaced by Sourdine's placeholder naming
  the reason (placeholder.py), and the original is kept in memory for the extension to reveal (REPLACES_TEXT).

NOT verified against live traffic: no licensed capture of YouTube's responses could be had. The fixtures in
tests/data/youtube are HAND-MADE from the documented structure above, and minimal.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from sourdine.model import Post, Verdict
from sourdine.platforms import embedded
from sourdine.platforms.jsontree import dig
from sourdine.platforms.placeholder import placeholder

PLATFORM = "youtube"
CONTENT_TYPES = ("json", "html")
REPLACES_TEXT = True

ENDPOINTS = frozenset({"next", "browse", "watch"})
_ITEM_LISTS = ("continuationItems", "contents")
_COMMENT_KEYS = ("commentThreadRenderer", "commentViewModel", "commentRenderer")
# Renderers nest deeply (tabs, sections, panels): a bounded walk.
MAX_DEPTH = 40


def parse(endpoint: str, body: bytes) -> Any:
    _check(endpoint)
    if endpoint == "watch":
        page = embedded.find(body, ("ytInitialData",))
        if page is None:
            raise ValueError("no ytInitialData in the watch page")
        return page
    return orjson.loads(body)


def serialize(endpoint: str, doc: Any) -> bytes:
    _check(endpoint)
    return doc.result() if endpoint == "watch" else orjson.dumps(doc)  # any: result() gives bytes


def _data(endpoint: str, doc: Any) -> Any:
    return doc.data if endpoint == "watch" else doc


@dataclass(slots=True)
class _Comment:
    id: str
    item: dict[str, Any]  # the renderer or view model
    entity: dict[str, Any] | None  # the commentEntityPayload, for today's shape
    key: str | None  # its commentKey

    def __init__(self, id: str, item: dict[str, Any], entity: dict[str, Any] | None, key: str | None) -> None:
        self.id = id
        self.item = item
        self.entity = entity
        self.key = key


def posts(endpoint: str, doc: Any) -> list[Post]:
    """Every comment and reply, each id once, in document order."""
    _check(endpoint)
    data = _data(endpoint, doc)
    entities = _entities(data)
    found: list[Post] = []
    seen: set[str] = set()
    for items in _lists(data, 0):
        for item in items:
            for comment in _comments(item, entities):
                if comment.id not in seen:
                    seen.add(comment.id)
                    found.append(_post(comment))
    return found


def rewrite(endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
    _check(endpoint)
    if not verdicts:
        return False
    data = _data(endpoint, doc)
    entities = _entities(data)
    changed = False
    dropped_keys: set[str] = set()
    for items in list(_lists(data, 0)):
        kept: list[Any] = []
        for item in items:
            comments = list(_comments(item, entities))
            top = comments[0] if comments else None
            verdict = verdicts.get(top.id) if top is not None else None
            if verdict is not None and verdict.action == "hide":
                dropped_keys.update(c.key for c in comments if c.key)
                continue
            kept.append(item)
            for comment in comments:
                verdict = verdicts.get(comment.id)
                if verdict is not None and verdict.action in ("hide", "collapse"):
                    # A reply inside a thread that stays is folded: its list is the thread's own.
                    changed = _fold(comment, verdict) or changed
        if len(kept) != len(items):
            items[:] = kept
            changed = True
    if dropped_keys:
        _drop_entities(data, dropped_keys)
    return changed


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown YouTube endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


def _lists(node: Any, depth: int) -> Iterator[list[Any]]:
    """Every list of items holding at least one comment, under `continuationItems` or `contents`."""
    if depth > MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, list):
                if key in _ITEM_LISTS and any(isinstance(i, dict) and _is_comment(i) for i in value):
                    yield value
                    continue
                for element in value:
                    if isinstance(element, dict | list):
                        yield from _lists(element, depth + 1)
            elif isinstance(value, dict) and key != "frameworkUpdates":
                yield from _lists(value, depth + 1)
    elif isinstance(node, list):
        for element in node:
            yield from _lists(element, depth + 1)


def _is_comment(item: dict[str, Any]) -> bool:
    return any(k in item for k in _COMMENT_KEYS)


def _mutations(data: Any) -> list[Any] | None:
    if not isinstance(data, dict):
        return None
    updates = data.get("frameworkUpdates")
    batch = updates.get("entityBatchUpdate") if isinstance(updates, dict) else None
    mutations = batch.get("mutations") if isinstance(batch, dict) else None
    return mutations if isinstance(mutations, list) else None


def _entities(data: Any) -> dict[str, dict[str, Any]]:
    """commentEntityPayload by entity key."""
    found: dict[str, dict[str, Any]] = {}
    for mutation in _mutations(data) or ():
        if isinstance(mutation, dict):
            payload = mutation.get("payload")
            entity = payload.get("commentEntityPayload") if isinstance(payload, dict) else None
            key = mutation.get("entityKey")
            if isinstance(entity, dict) and isinstance(key, str):
                found[key] = entity
    return found


def _drop_entities(data: Any, keys: set[str]) -> None:
    mutations = _mutations(data)
    if mutations is not None:
        mutations[:] = [m for m in mutations if not (isinstance(m, dict) and m.get("entityKey") in keys)]


def _comments(item: Any, entities: dict[str, dict[str, Any]]) -> Iterator[_Comment]:
    """The comment of a list item, then the replies its thread carries."""
    if not isinstance(item, dict):
        return
    thread = item.get("commentThreadRenderer")
    if isinstance(thread, dict):
        comment = _comment(thread, entities)
        if comment is not None:
            yield comment
        replies = dig(thread, "replies", "commentRepliesRenderer", "contents")
        if isinstance(replies, list):
            for reply in replies:
                if isinstance(reply, dict):
                    comment = _comment(reply, entities)
                    if comment is not None:
                        yield comment
        return
    comment = _comment(item, entities)
    if comment is not None:
        yield comment


def _comment(holder: dict[str, Any], entities: dict[str, dict[str, Any]]) -> _Comment | None:
    view = holder.get("commentViewModel")
    if isinstance(view, dict) and isinstance(view.get("commentViewModel"), dict):
        view = view["commentViewModel"]  # a thread wraps the view model once more
    if isinstance(view, dict):
        key = view.get("commentKey")
        entity = entities.get(key) if isinstance(key, str) else None
        cid = view.get("commentId")
        if not isinstance(cid, str) and entity is not None:
            cid = dig(entity, "properties", "commentId")
        if isinstance(cid, str) and cid:
            return _Comment(cid, view, entity, key if isinstance(key, str) else None)
        return None
    renderer = holder.get("comment")
    renderer = renderer.get("commentRenderer") if isinstance(renderer, dict) else holder.get("commentRenderer")
    if isinstance(renderer, dict) and isinstance(renderer.get("commentId"), str):
        return _Comment(renderer["commentId"], renderer, None, None)
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _runs(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("simpleText"), str):
        return value["simpleText"]
    runs = value.get("runs")
    if isinstance(runs, list):
        return "".join(r["text"] for r in runs if isinstance(r, dict) and isinstance(r.get("text"), str))
    return ""


def _post(comment: _Comment) -> Post:
    if comment.entity is not None:
        author = comment.entity.get("author")
        if not isinstance(author, dict):
            author = {}
        return Post(
            id=comment.id,
            author_id=_str(author.get("channelId")),
            author=_str(author.get("displayName")),
            author_name=_str(author.get("displayName")),
            text=_str(dig(comment.entity, "properties", "content", "content")).strip(),
        )
    r = comment.item
    name = _runs(r.get("authorText"))
    return Post(
        id=comment.id,
        author_id=_str(dig(r, "authorEndpoint", "browseEndpoint", "browseId")),
        author=name,
        author_name=name,
        text=_runs(r.get("contentText")).strip(),
    )


def _fold(comment: _Comment, verdict: Verdict) -> bool:
    text = placeholder(PLATFORM, comment.id, verdict)
    if comment.entity is not None:
        properties = comment.entity.get("properties")
        if not isinstance(properties, dict):
            return False
        content = properties.get("content")
        if isinstance(content, dict) and content.get("content") == text:
            return False
        # The runs (links, styles) point into the old text: they go with it.
        properties["content"] = {"content": text}
        return True
    if _runs(comment.item.get("contentText")) == text:
        return False
    comment.item["contentText"] = {"runs": [{"text": text}]}
    return True
