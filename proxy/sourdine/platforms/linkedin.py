"""LinkedIn adapter: feed updates in the web app's Voyager API, normalized JSON.

Endpoint names are those of rules/platforms.toml: `graphql` (/voyager/api/graphql, feed queries such as
voyagerFeedDashMainFeed), `updates` (the older /voyager/api/feed/updatesV2) and `profile_updates`
(/voyager/api/identity/profileUpdatesV2).

The shape: LinkedIn sends normalized JSON (`application/vnd.linkedin.normalized+json+2.1`). A collection is a
dict with a `*elements` list of URNs (`data["*elements"]` for updatesV2, `data.data.<query>["*elements"]`
for GraphQL); each URN is the `entityUrn` of an entity in the top-level `included` array. A feed update
entity has `commentary.text.text` (the post's words) and `actor.name.text` (who posted), with the actor's
URN in `actor.urn` or `actor.backendUrn`. A GraphQL answer to another query has no such collection, and
yields nothing.

How a verdict shows:

- hide: the update's URN leaves every `*elements` list that holds it, so the collection and the entities
  stay consistent; the entity itself stays in `included`, where nothing lists it any more. Paging
  (`paging`, `metadata.paginationToken`) is never touched.
- collapse: LinkedIn's web app has no fold of its own, so the commentary's text is replaced by Sourdine's
  placeholder naming the reason (its `attributes`, offsets into the old text, go with it), and the original is
  kept in memory for the extension to reveal (REPLACES_TEXT).

The post id is the activity URN inside the update's URN (`urn:li:activity:...`), the same in every feed.

NOT verified against live traffic: no capture of LinkedIn's responses could be had. The fixtures in
tests/data/linkedin are HAND-MADE from the documented structure above, and minimal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sourdine.model import Post, Verdict
from sourdine.platforms.jsontree import dig
from sourdine.platforms.placeholder import placeholder

PLATFORM = "linkedin"
REPLACES_TEXT = True

ENDPOINTS = frozenset({"graphql", "updates", "profile_updates"})
ELEMENTS = "*elements"
MAX_DEPTH = 8


def posts(endpoint: str, doc: Any) -> list[Post]:
    _check(endpoint)
    found: list[Post] = []
    seen: set[str] = set()
    for urn, entity in _listed(doc):
        text = _text(entity)
        if text is None:
            continue
        pid = post_id(urn)
        if pid not in seen:
            seen.add(pid)
            found.append(_post(pid, entity, text))
    return found


def rewrite(endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
    _check(endpoint)
    if not verdicts:
        return False
    hidden: set[str] = set()
    changed = False
    for urn, entity in _listed(doc):
        if _text(entity) is None:
            continue
        pid = post_id(urn)
        verdict = verdicts.get(pid)
        if verdict is None:
            continue
        if verdict.action == "hide":
            hidden.add(urn)
        elif verdict.action == "collapse":
            changed = _fold(entity, pid, verdict) or changed
    if hidden:
        for elements in _collections(doc):
            kept = [urn for urn in elements if urn not in hidden]
            if len(kept) != len(elements):
                elements[:] = kept
                changed = True
    return changed


def post_id(urn: str) -> str:
    """The activity URN inside an update URN, or the URN itself."""
    start = urn.find("urn:li:activity:")
    if start < 0:
        return urn
    end = start + len("urn:li:activity:")
    while end < len(urn) and urn[end].isdigit():
        end += 1
    return urn[start:end]


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown LinkedIn endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


def _entities(doc: Any) -> dict[str, dict[str, Any]]:
    included = doc.get("included") if isinstance(doc, dict) else None
    if not isinstance(included, list):
        return {}
    return {e["entityUrn"]: e for e in included if isinstance(e, dict) and isinstance(e.get("entityUrn"), str)}


def _listed(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each urn the collections list, in order, with its entity (a urn with none is skipped)."""
    entities = _entities(doc)
    for elements in _collections(doc):
        for urn in elements:
            if isinstance(urn, str) and (entity := entities.get(urn)) is not None:
                yield urn, entity


def _collections(doc: Any) -> Iterator[list[Any]]:
    """Every `*elements` list under `data`, a few dicts deep."""
    data = doc.get("data") if isinstance(doc, dict) else None

    def walk(node: Any, depth: int) -> Iterator[list[Any]]:
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            return
        elements = node.get(ELEMENTS)
        if isinstance(elements, list):
            yield elements
        for key, value in node.items():
            if isinstance(value, dict) and key != ELEMENTS:
                yield from walk(value, depth + 1)

    yield from walk(data, 0)


def _text(entity: dict[str, Any]) -> str | None:
    """The update's words, or None when the entity is not a post (no commentary)."""
    text = dig(entity, "commentary", "text", "text")
    return text if isinstance(text, str) else None


def _post(pid: str, entity: dict[str, Any], text: str) -> Post:
    actor = entity.get("actor")
    if not isinstance(actor, dict):
        actor = {}
    name = dig(actor, "name", "text")
    urn = actor.get("urn") or actor.get("backendUrn")
    return Post(
        id=pid,
        author_id=urn if isinstance(urn, str) else "",
        author=name if isinstance(name, str) else "",
        author_name=name if isinstance(name, str) else "",
        text=text.strip(),
        url=f"https://www.linkedin.com/feed/update/{pid}/" if pid.startswith("urn:li:activity:") else None,
    )


def _fold(entity: dict[str, Any], pid: str, verdict: Verdict) -> bool:
    text = dig(entity, "commentary", "text")
    new = placeholder(PLATFORM, pid, verdict)
    if not isinstance(text, dict) or text.get("text") == new:
        return False
    text["text"] = new
    for key in ("attributes", "attributesV2"):
        if key in text:
            text[key] = []
    return True
