"""Threads adapter (the web version): posts and replies in the web app's GraphQL answers, and the first page
embedded in the HTML. The shapes and the rewriting are Meta's, shared with Instagram (meta.py).

Endpoint names are those of rules/platforms.toml:

- `graphql` (/api/graphql, /graphql/query): feeds (`data.feedData.edges[].node.text_post_app_thread
  .thread_items[].post`), a post's replies (`edges[].node.thread_items[].post`), profiles' threads;
- `page` (a feed, profile or post page's HTML): the first page, in `<script type="application/json">` data.

A post has `pk`, `code`, `caption.text` and `user` (`pk`, `username`); a quoted post sits inside the quoting
one (`text_post_app_info.share_info.quoted_post`) and is never removed: its text is replaced instead.

Hide takes the thread item out of `thread_items`; a thread left with no item goes from its edges list.
`page_info` cursors are never touched. Fold replaces the caption text with Sourdine's placeholder, the
original kept in memory for the extension (REPLACES_TEXT).

NOT verified against live traffic: no capture of Threads' responses could be had. The fixtures in
tests/data/threads are HAND-MADE from the documented structure above, and minimal.
"""

from __future__ import annotations

from sourdine.platforms import meta

PLATFORM = "threads"
CONTENT_TYPES = ("json", "html", "javascript")
REPLACES_TEXT = True

ENDPOINTS = frozenset({"graphql", "page"})
PAGE_MARKERS = ("thread_items",)
CASCADE = frozenset({"thread_items"})


def _url(item: meta.Found) -> str | None:
    code = item.node.get("code")
    user = item.node["user"]["username"]
    return f"https://www.threads.net/@{user}/post/{code}" if isinstance(code, str) and code else None



_SITE = meta.Site(PLATFORM, ENDPOINTS, PAGE_MARKERS, _url, CASCADE)
parse, serialize, posts, rewrite = _SITE.parse, _SITE.serialize, _SITE.posts, _SITE.rewrite
