"""Mastodon adapter: find the statuses in a Mastodon API document, then fold or hide them in place.

Pure functions over parsed JSON (orjson output). Endpoint names are those of rules/platforms.toml:

- `timeline`, `account_statuses`, `trends`: a JSON array of Status;
- `context`: `{"ancestors": [Status], "descendants": [Status]}`;
- `search`: v2 search, `{"accounts": [...], "statuses": [Status], "hashtags": [...]}`;
- `streaming`: one WebSocket message, `{"stream": [...], "event": "update", "payload": "<Status JSON>"}`.

A Status may wrap another: a boost's `reblog` holds the boosted status (the wrapper has no text of its own),
and a quote post's `quote.quoted_status` (Mastodon 4.5) holds the quoted one. Every inner status is a post of
its own.

How a verdict shows, done the way Mastodon's server does it so that its web UI and other clients need no help:

- hide: the status leaves its list; a boost of it leaves with it. A streaming message carrying it is dropped.
- collapse: a FilterResult joins the status's `filtered` list. Mastodon's web UI imports the filter objects
  it finds in statuses and then shows "Filtered: <title>" with "Show anyway". Its server puts the same result
  on a boost wrapper and on the boosted status (StatusRelationshipsPresenter#build_filters_map), and clients
  read either one (the web UI reads `reblog.filtered`, others the wrapper's), so both get it here.
- a quoted status that is hidden or collapsed: the quoting status stays, and the quoted status gets a
  FilterResult whose filter_action is "hide" or "warn". That is what Mastodon itself sends when a user's own
  filter matches a quoted post; its web UI then shows "Hidden due to one of your filters" in place of the
  quote, or the usual "Filtered" fold. Removing `quoted_status` instead would make the quote read "Post
  unavailable" or "deleted", which is not true.

Only statuses with a non-keep verdict are touched: everything else keeps its objects, keys and key order.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from hashlib import blake2b
from typing import Any

import orjson

from sourdine.model import Post, Verdict
from sourdine.platforms.htmltext import html_to_text

PLATFORM = "mastodon"

LIST_ENDPOINTS = frozenset({"timeline", "account_statuses", "trends"})
ENDPOINTS = LIST_ENDPOINTS | {"context", "search", "streaming"}
# Streaming events whose payload is a Status; every other event (delete, notification...) passes untouched.
STATUS_EVENTS = frozenset({"update", "status.update"})
# Every context a v2 filter can apply to, so the fold shows wherever the status does.
FILTER_CONTEXT = ("home", "notifications", "public", "thread", "account")
# A quote of a quote of a quote...: Mastodon serialises one level of full quote; stop well past that.
MAX_QUOTE_DEPTH = 4

_TITLE_PREFIX = "Sourdine"


def posts(endpoint: str, doc: Any) -> list[Post]:
    """Every post to score in `doc`, boosted and quoted statuses included, each id once, in document order.

    A status that cannot be read (no string id) is skipped; the others are still found.
    """
    found: list[Post] = []
    seen: set[str] = set()
    for status in _top_level(endpoint, doc):
        inner: dict[str, Any] | None = _proper(status)
        depth = 0
        while inner is not None and depth <= MAX_QUOTE_DEPTH:
            sid = inner.get("id")
            if isinstance(sid, str) and sid not in seen:
                seen.add(sid)
                found.append(_post(sid, inner))
            inner = _quoted(inner)
            depth += 1
    return found


def rewrite(endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
    """Hide or fold, in place, the statuses of `doc` that `verdicts` names; True when anything changed.

    The streaming endpoint has its own function, `rewrite_event`: a hidden status there drops the message.
    """
    if endpoint == "streaming":
        raise ValueError("rewrite() does not take streaming messages: use rewrite_event()")
    _check(endpoint)
    if not verdicts:
        return False
    changed = False
    for statuses in _lists(endpoint, doc):
        kept: list[Any] = []
        dropped = False
        for status in statuses:
            outcome = _apply(status, verdicts)
            if outcome == "drop":
                dropped = True
            else:
                kept.append(status)
                changed = changed or outcome == "changed"
        if dropped:
            statuses[:] = kept
            changed = True
    return changed


def rewrite_event(event: Any, verdicts: dict[str, Verdict]) -> str:
    """Apply `verdicts` to one streaming message: "unchanged", "changed" (its payload rewritten) or "drop"."""
    status = _event_status(event)
    if status is None or not verdicts:
        return "unchanged"
    outcome = _apply(status, verdicts)
    if outcome == "changed":
        event["payload"] = orjson.dumps(status).decode()
    return outcome


def filter_result(verdict: Verdict, status_id: str, action: str = "warn") -> dict[str, Any]:
    """A FilterResult shaped as Mastodon's API sends it, for a Sourdine verdict on the status `status_id`.

    Mastodon's web UI keeps the filters it finds in statuses in one map keyed by filter id, so the id is
    derived from the title and the action: two different verdicts never share an id. `status_matches` names
    the status, as when a user files one post under a filter ("Filter this post"); no keyword matched, so
    `keyword_matches` is null.
    """
    title = f"{_TITLE_PREFIX}: {verdict.reason}" if verdict.reason else _TITLE_PREFIX
    return {
        "filter": {
            "id": _filter_id(action, title),
            "title": title,
            "context": list(FILTER_CONTEXT),
            "expires_at": None,
            "filter_action": action,
        },
        "keyword_matches": None,
        "status_matches": [status_id],
    }


@lru_cache(maxsize=4096)
def _filter_id(action: str, title: str) -> str:
    digest = blake2b(f"{action}\0{title}".encode(), digest_size=6).hexdigest()
    return f"sourdine-{digest}"


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown Mastodon endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


def _lists(endpoint: str, doc: Any) -> Iterator[list[Any]]:
    """The lists of Status in a document of `endpoint`, as the document's own list objects."""
    if endpoint in LIST_ENDPOINTS:
        if isinstance(doc, list):
            yield doc
    elif isinstance(doc, dict):
        keys = ("ancestors", "descendants") if endpoint == "context" else ("statuses",)
        for key in keys:
            value = doc.get(key)
            if isinstance(value, list):
                yield value


def _top_level(endpoint: str, doc: Any) -> Iterator[dict[str, Any]]:
    _check(endpoint)
    if endpoint == "streaming":
        status = _event_status(doc)
        if status is not None:
            yield status
        return
    for statuses in _lists(endpoint, doc):
        for item in statuses:
            if isinstance(item, dict):
                yield item


def _event_status(event: Any) -> dict[str, Any] | None:
    """The Status a streaming message carries, parsed from its payload string, or None."""
    if not isinstance(event, dict) or event.get("event") not in STATUS_EVENTS:
        return None
    payload = event.get("payload")
    if not isinstance(payload, str | bytes):
        return None
    try:
        status = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return status if isinstance(status, dict) else None


def _proper(status: dict[str, Any]) -> dict[str, Any]:
    """The status a reader sees: the boosted one for a boost, else the status itself."""
    reblog = status.get("reblog")
    return reblog if isinstance(reblog, dict) else status


def _quoted(status: dict[str, Any]) -> dict[str, Any] | None:
    quote = status.get("quote")
    if isinstance(quote, dict):
        quoted = quote.get("quoted_status")
        if isinstance(quoted, dict):
            return quoted
    return None


def _post(sid: str, status: dict[str, Any]) -> Post:
    account = status.get("account")
    if not isinstance(account, dict):
        account = {}
    lang = status.get("language")
    url = status.get("url")
    reply = status.get("in_reply_to_account_id")
    mentions = status.get("mentions")
    return Post(
        id=sid,
        author_id=_str(account.get("id")),
        author=_str(account.get("acct")),
        author_name=_str(account.get("display_name")),
        text=_text(status),
        lang=lang if isinstance(lang, str) and lang else None,
        url=url if isinstance(url, str) and url else None,
        replies_to=reply if isinstance(reply, str) and reply else None,
        mentions=tuple(m["id"] for m in mentions if isinstance(m, dict) and isinstance(m.get("id"), str))
        if isinstance(mentions, list) else (),
    )


# The same statuses come back as the user scrolls and refreshes: remember their text, keyed by their HTML.
_content_text = lru_cache(maxsize=1024)(html_to_text)


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _text(status: dict[str, Any]) -> str:
    """What the author wrote: content warning, body, poll options and media descriptions, one part a line.

    The same parts Mastodon's own keyword filters match (Status#searchable_text). A screenshot's
    description often carries the words of the screenshot, so it counts.
    """
    parts: list[str] = []
    spoiler = status.get("spoiler_text")
    if isinstance(spoiler, str) and spoiler:
        parts.append(spoiler.strip())
    content = status.get("content")
    if isinstance(content, str) and content:
        parts.append(_content_text(content))
    poll = status.get("poll")
    parts += _strings(poll.get("options") if isinstance(poll, dict) else None, "title")
    parts += _strings(status.get("media_attachments"), "description")
    return "\n".join(part for part in parts if part)


def _strings(items: Any, key: str) -> list[str]:
    """The non-empty string `key` of each dict in a list (poll option titles, media descriptions)."""
    if not isinstance(items, list):
        return []
    return [v for item in items if isinstance(item, dict) and isinstance(v := item.get(key), str) and v]


def _apply(status: Any, verdicts: dict[str, Verdict]) -> str:
    """Apply the verdicts to one top-level status: "drop", "changed" or "unchanged"."""
    if not isinstance(status, dict):
        return "unchanged"
    inner = _proper(status)
    changed = False
    sid = inner.get("id")
    verdict = verdicts.get(sid) if isinstance(sid, str) else None
    if verdict is not None and isinstance(sid, str):
        if verdict.action == "hide":
            return "drop"
        if verdict.action == "collapse":
            changed = _fold(inner, filter_result(verdict, sid))
            if inner is not status:
                changed = _fold(status, filter_result(verdict, sid)) or changed
    quoted = _quoted(inner)
    depth = 0
    while quoted is not None and depth < MAX_QUOTE_DEPTH:
        qid = quoted.get("id")
        verdict = verdicts.get(qid) if isinstance(qid, str) else None
        if verdict is not None and isinstance(qid, str) and verdict.action in ("hide", "collapse"):
            action = "hide" if verdict.action == "hide" else "warn"
            changed = _fold(quoted, filter_result(verdict, qid, action)) or changed
        quoted = _quoted(quoted)
        depth += 1
    return "changed" if changed else "unchanged"


def _fold(status: dict[str, Any], result: dict[str, Any]) -> bool:
    """Append `result` to the status's `filtered` list, keeping the user's own; False if nothing to do."""
    filtered = status.get("filtered")
    if filtered is None:
        status["filtered"] = [result]
        return True
    if not isinstance(filtered, list):
        return False
    fid = result["filter"]["id"]
    for existing in filtered:
        if isinstance(existing, dict):
            existing_filter = existing.get("filter")
            if isinstance(existing_filter, dict) and existing_filter.get("id") == fid:
                return False
    filtered.append(result)
    return True
