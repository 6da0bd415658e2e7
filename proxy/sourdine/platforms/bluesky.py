"""Bluesky adapter: find the posts in an AppView (XRPC) response, then fold or hide them in place.

Pure functions over parsed JSON. Endpoint names are those of rules/platforms.toml:

- `getTimeline`, `getFeed`, `getAuthorFeed`, `getListFeed`: `{"feed": [FeedViewPost], "cursor"?}`;
- `searchPosts`, `getQuotes`: `{"posts": [PostView], ...}`;
- `getPostThread`: `{"thread": ThreadViewPost}`, the anchor with its `parent` chain and nested `replies`;
- `getPostThreadV2`: `{"thread": [ThreadItem], ...}`, a flat list where `depth` 0 is the anchor, negative
  depths its parents (root first) and positive depths the replies, each reply followed by its own subtree;
- `getPostThreadOtherV2`: `{"thread": [ThreadItem]}`, the further replies the app loads under a thread ("show
  more replies"), in the same form, without the anchor.

A post shows as a PostView (`record` is the post record) wherever the AppView puts one: a FeedViewPost's
`post`, its `reply.parent` and `reply.root`, a thread node; and as an `app.bsky.embed.record#viewRecord`
(`value` is the record) when quoted, inside a `record#view` or `recordWithMedia#view` embed, to any depth.
Every one of them is a post here; its id is its at:// uri.

Fold. Bluesky's own fold is a label, and the app honours a label only from the post's author (a self-label;
`!warn` is not one an author may set) or from a labeler in the user's preferences, which always include
Bluesky's moderation service (ModerationDecision.addLabel in @atproto/api). A `!warn` from Sourdine would
therefore have to claim Bluesky's moderation service as its source: the app would credit it ("Labeled by
Bluesky Moderation Service") and could not say why. So a folded post is a *text fold*, which asks nothing of
the app but to draw a post's text: the record's text becomes "Folded by Sourdine: <reason>. Open the post to
read it.", and what the author wrote or attached goes with it (facets, tags, the embed in the record and in
the view), so no image, link card or quote of a folded post shows either. uri, cid, author, counts and labels
stay, so likes, replies and reposts still act on the real post. The folded record is still a valid
`app.bsky.feed.post` (the app's feed code drops a post whose record does not validate).

Opening the post is the reveal. The app's post screen asks getPostThreadV2 for the post as its anchor
(showing the cached, folded copy until the answer comes), and the anchor of a thread is never folded here:
it is the post the user chose to open. Everywhere else, parents, replies and quotes included, a folded post
reads as the notice; a quote card opens the quoted post, so it is revealed the same way. A Sourdine labeler
(rewriting the user's preferences and answering the app's labeler look-ups) would give the app's own "Show"
button honestly; it is left for later.

Hide: the post leaves every list it is in (a feed, search results, quotes, thread replies with their
subtree), and every other place that would still show it is cleaned, without saying anything false:

- as the `reply.parent` or `reply.root` of a FeedViewPost: the optional `reply` is dropped. The app then
  labels the reply "Replied to a post", which is true, and its Following and list feeds leave such a reply
  out, as they do replies to deleted posts. `#notFoundPost` would claim the post is gone, and `#blockedPost`
  makes the app say "Replied to a blocked post";
- as a quote: the quoting post's `record#view` embed is dropped (the view's `embed` is optional), and a
  `recordWithMedia#view` becomes its media view alone. `viewNotFound`, `viewBlocked` and `viewDetached`
  make the app show "Deleted", "Blocked" and "Removed by author";
- as a thread parent: the parent chain is cut there (`parent` is optional); in getPostThreadV2 it goes with
  every item above it;
- as the anchor of a thread, which a thread response must have: its text becomes "Hidden by Sourdine:
  <reason>." with nothing of what the author wrote or attached.

What stays of a hidden post is its uri inside the records of other posts, where their authors put it (a
reply's `record.reply`, a quote's `record.embed`), which the app does not draw; and getQuotes' own `uri`,
which names the post the user asked about.

Only posts with a non-keep verdict are touched: everything else keeps its objects, keys and key order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from sourdine.model import Post, Verdict

PLATFORM = "bluesky"

FEED_ENDPOINTS = frozenset({"getTimeline", "getFeed", "getAuthorFeed", "getListFeed"})
POST_LIST_ENDPOINTS = frozenset({"searchPosts", "getQuotes"})
FLAT_THREAD_ENDPOINTS = frozenset({"getPostThreadV2", "getPostThreadOtherV2"})
ENDPOINTS = FEED_ENDPOINTS | POST_LIST_ENDPOINTS | FLAT_THREAD_ENDPOINTS | {"getPostThread"}

POST_VIEW = "app.bsky.feed.defs#postView"
THREAD_VIEW_POST = "app.bsky.feed.defs#threadViewPost"
THREAD_ITEM_POST = "app.bsky.unspecced.defs#threadItemPost"
RECORD_VIEW = "app.bsky.embed.record#view"
RECORD_WITH_MEDIA_VIEW = "app.bsky.embed.recordWithMedia#view"
VIEW_RECORD = "app.bsky.embed.record#viewRecord"
POST_COLLECTION = "app.bsky.feed.post"

# A quote of a quote of a quote...: the AppView nests two levels of quotes; stop well past that.
MAX_QUOTE_DEPTH = 4
# What a fold takes out of a record: the author's words and what they attached.
FOLDED_OUT = frozenset({"text", "facets", "entities", "tags", "embed"})
# A post's text is at most 300 graphemes: a notice stays well inside that.
MAX_REASON = 120

# A view of a post and the key of its record in it: "record" in a PostView, "value" in a quoted viewRecord.
_View = tuple[dict[str, Any], str]


def posts(endpoint: str, doc: Any) -> list[Post]:
    """Every post in `doc`, replied-to, quoted and thread posts included, each uri once, in document order.

    A post that cannot be read (no string uri) is skipped; the others are still found.
    """
    _check(endpoint)
    found: list[Post] = []
    seen: set[str] = set()
    for view, key in _views(endpoint, doc):
        uri = view.get("uri")
        if isinstance(uri, str) and uri not in seen:
            seen.add(uri)
            found.append(_post(uri, view, key))
    return found


def rewrite(endpoint: str, doc: Any, verdicts: dict[str, Verdict]) -> bool:
    """Hide or fold, in place, the posts of `doc` that `verdicts` names; True when anything changed."""
    _check(endpoint)
    hides = {uri for uri, verdict in verdicts.items() if verdict.action == "hide"}
    folds = {uri: verdict for uri, verdict in verdicts.items() if verdict.action == "collapse"}
    if not (hides or folds) or not isinstance(doc, dict):
        return False
    rules = _Rules(hides, folds, verdicts)
    if endpoint in FEED_ENDPOINTS:
        return _rewrite_feed(doc.get("feed"), rules)
    if endpoint in POST_LIST_ENDPOINTS:
        return _rewrite_post_list(doc.get("posts"), rules)
    if endpoint == "getPostThread":
        return _rewrite_thread(doc, rules)
    return _rewrite_thread_v2(doc.get("thread"), rules)


def notice(verdict: Verdict) -> str:
    """The text that stands in for a folded post, or for a hidden post that must stay (a thread's anchor)."""
    reason = " ".join(verdict.reason.split())[:MAX_REASON]
    if verdict.action == "hide":
        return f"Hidden by Sourdine: {reason}." if reason else "Hidden by Sourdine."
    if reason:
        return f"Folded by Sourdine: {reason}. Open the post to read it."
    return "Folded by Sourdine. Open the post to read it."


def _check(endpoint: str) -> None:
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown Bluesky endpoint {endpoint!r}: expected one of {sorted(ENDPOINTS)}")


# --- finding posts ------------------------------------------------------------------------------------------


def _views(endpoint: str, doc: Any) -> Iterator[_View]:
    """Every post view in `doc`, in document order, with the key of its record."""
    if not isinstance(doc, dict):
        return
    if endpoint in FEED_ENDPOINTS:
        for item in _dicts(doc.get("feed")):
            yield from _with_quotes(item.get("post"), "record")
            reply = item.get("reply")
            if isinstance(reply, dict):
                for key, value in reply.items():
                    if key in ("root", "parent"):
                        yield from _with_quotes(value, "record")
    elif endpoint in POST_LIST_ENDPOINTS:
        for view in _dicts(doc.get("posts")):
            yield from _with_quotes(view, "record")
    elif endpoint == "getPostThread":
        for node in _thread_nodes(doc.get("thread")):
            yield from _with_quotes(node.get("post"), "record")
    else:
        for item in _dicts(doc.get("thread")):
            yield from _with_quotes(_thread_item(item)[1], "record")


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def _is_post_view(value: Any) -> TypeGuard[dict[str, Any]]:
    """A PostView: one in a union says so with $type; one in a plain ref (a FeedViewPost's post) need not."""
    return isinstance(value, dict) and value.get("$type", POST_VIEW) == POST_VIEW  # any: JSON == gives a bool


def _is_thread_view_post(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and value.get("$type", THREAD_VIEW_POST) == THREAD_VIEW_POST  # any: as above


def _with_quotes(view: Any, key: str, depth: int = 0) -> Iterator[_View]:
    """The post view, then the posts it quotes, depth first."""
    if not isinstance(view, dict) or key == "record" and not _is_post_view(view):
        return
    yield view, key
    if depth >= MAX_QUOTE_DEPTH:
        return
    for embed in _embed_views(view, key):
        quoted = _quoted_view(embed)
        if quoted is not None:
            yield from _with_quotes(quoted, "value", depth + 1)


def _embed_views(view: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The embed views of a post view: a PostView's `embed`, a viewRecord's `embeds`."""
    if key == "record":
        embed = view.get("embed")
        return [embed] if isinstance(embed, dict) else []
    return list(_dicts(view.get("embeds")))


def _quoted_view(embed: dict[str, Any]) -> dict[str, Any] | None:
    """The quoted post's viewRecord in a `record#view` or `recordWithMedia#view` embed, or None."""
    kind = embed.get("$type")
    holder = embed.get("record") if kind == RECORD_WITH_MEDIA_VIEW else embed if kind == RECORD_VIEW else None
    record = holder.get("record") if isinstance(holder, dict) else None
    if isinstance(record, dict) and record.get("$type") == VIEW_RECORD:
        return record if isinstance(record.get("value"), dict) else None
    return None


def _thread_nodes(root: Any) -> Iterator[dict[str, Any]]:
    """The ThreadViewPost nodes of a getPostThread tree in document order: a node, its parents, replies."""
    stack = [root]
    while stack:
        node = stack.pop()
        if not _is_thread_view_post(node):
            continue
        yield node
        replies = node.get("replies")
        if isinstance(replies, list):
            stack.extend(reversed(replies))
        stack.append(node.get("parent"))


def _post(uri: str, view: dict[str, Any], key: str) -> Post:
    author = view.get("author")
    if not isinstance(author, dict):
        author = {}
    record = view.get(key)
    if not isinstance(record, dict):
        record = {}
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) and langs[0] else None
    parent = _get(record, "reply", "parent").get("uri")
    # at://did:plc:.../app.bsky.feed.post/... : the DID is the parent's author.
    replies_to = parent.split("/")[2] if isinstance(parent, str) and parent.startswith("at://did:") else None
    mentions = tuple(
        feature["did"]
        for facet in record.get("facets") or () if isinstance(facet, dict)
        for feature in facet.get("features") or () if isinstance(feature, dict)
        and feature.get("$type") == "app.bsky.richtext.facet#mention" and isinstance(feature.get("did"), str)
    )
    return Post(
        id=uri,
        author_id=_str(author.get("did")),
        author=_str(author.get("handle")),
        author_name=_str(author.get("displayName")),
        text=_text(record),
        lang=lang,
        url=_url(uri, author),
        replies_to=replies_to,
        mentions=mentions,
    )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _get(node: Any, *keys: str) -> dict[str, Any]:
    """The dict at `keys` under `node`, or an empty dict when any step is missing or not a dict."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _text(record: dict[str, Any]) -> str:
    """What the author wrote: the post's text, then the alt text of its images and video, one part a line.

    An image's alt text often carries the words of a screenshot, so it counts, as media descriptions do on
    Mastodon.
    """
    parts: list[str] = []
    text = record.get("text")
    if isinstance(text, str) and text:
        parts.append(text)
    embed = record.get("embed")
    if isinstance(embed, dict):
        media = embed.get("media")
        for holder in (embed, media) if isinstance(media, dict) else (embed,):
            alt = holder.get("alt")
            if isinstance(alt, str) and alt:
                parts.append(alt)
            for image in _dicts(holder.get("images")):
                alt = image.get("alt")
                if isinstance(alt, str) and alt:
                    parts.append(alt)
    return "\n".join(parts)


def _url(uri: str, author: dict[str, Any]) -> str | None:
    """The post's page on bsky.app, by handle (by DID when the handle is not valid)."""
    if not uri.startswith("at://"):
        return None
    parts = uri[5:].split("/")
    if len(parts) != 3 or parts[1] != POST_COLLECTION or not parts[2]:
        return None
    handle = author.get("handle")
    profile = handle if isinstance(handle, str) and handle and handle != "handle.invalid" else parts[0]
    return f"https://bsky.app/profile/{profile}/post/{parts[2]}"


# --- rewriting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rules:
    """The verdicts of one rewrite, split by action."""

    hides: set[str]
    folds: dict[str, Verdict]
    verdicts: dict[str, Verdict]

    def hidden(self, view: Any) -> bool:
        return isinstance(view, dict) and view.get("uri") in self.hides


def _rewrite_feed(feed: Any, rules: _Rules) -> bool:
    if not isinstance(feed, list):
        return False
    changed = False
    kept: list[Any] = []
    for item in feed:
        if isinstance(item, dict) and _is_post_view(item.get("post")) and rules.hidden(item["post"]):
            continue
        kept.append(item)
        if not isinstance(item, dict):
            continue
        changed = _apply(item.get("post"), "record", rules) or changed
        reply = item.get("reply")
        if isinstance(reply, dict):
            if rules.hidden(reply.get("parent")) or rules.hidden(reply.get("root")):
                del item["reply"]
                changed = True
            else:
                for key in ("root", "parent"):
                    changed = _apply(reply.get(key), "record", rules) or changed
    if len(kept) != len(feed):
        feed[:] = kept
        changed = True
    return changed


def _rewrite_post_list(views: Any, rules: _Rules) -> bool:
    if not isinstance(views, list):
        return False
    changed = False
    kept = [view for view in views if not (_is_post_view(view) and rules.hidden(view))]
    if len(kept) != len(views):
        views[:] = kept
        changed = True
    for view in kept:
        changed = _apply(view, "record", rules) or changed
    return changed


def _rewrite_thread(doc: dict[str, Any], rules: _Rules) -> bool:
    anchor = doc.get("thread")
    if not _is_thread_view_post(anchor):
        return False
    changed = False
    stack: list[dict[str, Any]] = [anchor]
    while stack:
        node = stack.pop()
        if node is anchor:
            changed = _apply_anchor(node.get("post"), rules) or changed
        else:
            changed = _apply(node.get("post"), "record", rules) or changed
        parent = node.get("parent")
        if _is_thread_view_post(parent):
            if rules.hidden(parent.get("post")):
                del node["parent"]
                changed = True
            else:
                stack.append(parent)
        replies = node.get("replies")
        if isinstance(replies, list):
            kept = [r for r in replies if not (_is_thread_view_post(r) and rules.hidden(r.get("post")))]
            if len(kept) != len(replies):
                replies[:] = kept
                changed = True
            stack.extend(r for r in kept if _is_thread_view_post(r))
    return changed


def _rewrite_thread_v2(items: Any, rules: _Rules) -> bool:
    if not isinstance(items, list):
        return False
    posts_at = [_thread_item(item) for item in items]
    # A hidden parent takes every item above it along: they only hang from the anchor through it.
    cut = max((d for d, post in posts_at if d is not None and d < 0 and rules.hidden(post)), default=None)
    changed = False
    kept: list[Any] = []
    below: int | None = None  # depth of a hidden reply whose subtree is being skipped
    for item, (depth, post) in zip(items, posts_at, strict=True):
        if cut is not None and depth is not None and depth <= cut:
            continue
        if below is not None and depth is not None and depth > below:
            continue
        below = None
        if depth != 0 and rules.hidden(post):
            below = depth if depth is not None and depth > 0 else None
            continue
        kept.append(item)
        if depth == 0:
            changed = _apply_anchor(post, rules) or changed
        else:
            changed = _apply(post, "record", rules) or changed
    if len(kept) != len(items):
        items[:] = kept
        changed = True
    return changed


def _thread_item(item: Any) -> tuple[int | None, dict[str, Any] | None]:
    """A getPostThreadV2 item's depth and PostView, each None when it has none."""
    if not isinstance(item, dict):
        return None, None
    depth = item.get("depth")
    value = item.get("value")
    post = value.get("post") if isinstance(value, dict) and value.get("$type") == THREAD_ITEM_POST else None
    return (depth if type(depth) is int else None), (post if _is_post_view(post) else None)


def _apply_anchor(view: Any, rules: _Rules) -> bool:
    """A thread's anchor is what the user opened: never folded; if hidden, it keeps only Sourdine's notice."""
    if not _is_post_view(view):
        return False
    uri = view.get("uri")
    if uri in rules.hides:
        return _replace_content(view, "record", notice(rules.verdicts[uri]))
    return _clean_embeds(view, "record", rules, 0)


def _apply(view: Any, key: str, rules: _Rules, depth: int = 0) -> bool:
    """Fold a kept post view if its verdict says so, else clean the quotes it embeds."""
    if not isinstance(view, dict) or key == "record" and not _is_post_view(view):
        return False
    uri = view.get("uri")
    verdict = rules.folds.get(uri) if isinstance(uri, str) else None
    if verdict is not None:
        return _replace_content(view, key, notice(verdict))
    return _clean_embeds(view, key, rules, depth)


def _replace_content(view: dict[str, Any], key: str, text: str) -> bool:
    """Put `text` in place of what the author wrote and attached; False if it is there already."""
    record = view.get(key)
    if not isinstance(record, dict):
        return False
    embed_key = "embed" if key == "record" else "embeds"
    if record.get("text") == text and FOLDED_OUT.isdisjoint(set(record) - {"text"}) and embed_key not in view:
        return False
    folded = {k: v for k, v in record.items() if k not in FOLDED_OUT}
    folded["text"] = text
    view[key] = folded
    view.pop(embed_key, None)
    return True


def _clean_embeds(view: dict[str, Any], key: str, rules: _Rules, depth: int) -> bool:
    """Drop the quotes of hidden posts from a post view's embeds, and fold the quotes of folded ones."""
    if depth >= MAX_QUOTE_DEPTH:
        return False
    changed = False
    if key == "record":
        embed = view.get("embed")
        if isinstance(embed, dict):
            quoted = _quoted_view(embed)
            if quoted is not None and rules.hidden(quoted):
                media = embed.get("media") if embed.get("$type") == RECORD_WITH_MEDIA_VIEW else None
                if isinstance(media, dict):
                    view["embed"] = media
                else:
                    del view["embed"]
                return True
            if quoted is not None:
                changed = _apply(quoted, "value", rules, depth + 1)
        return changed
    embeds = view.get("embeds")
    if not isinstance(embeds, list):
        return False
    kept: list[Any] = []
    for embed in embeds:
        quoted = _quoted_view(embed) if isinstance(embed, dict) else None
        if quoted is not None and rules.hidden(quoted):
            media = embed.get("media") if embed.get("$type") == RECORD_WITH_MEDIA_VIEW else None
            if isinstance(media, dict):
                kept.append(media)
            changed = True
            continue
        kept.append(embed)
        if quoted is not None:
            changed = _apply(quoted, "value", rules, depth + 1) or changed
    if any(a is not b for a, b in zip(kept, embeds, strict=False)) or len(kept) != len(embeds):
        embeds[:] = kept
    return changed
