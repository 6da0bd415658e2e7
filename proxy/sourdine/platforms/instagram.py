"""Instagram adapter (the web version): posts and comments in the web app's GraphQL and REST answers, and the
first page embedded in the HTML. The shapes and the rewriting are Meta's, shared with Threads (meta.py).

Endpoint names are those of rules/platforms.toml:

- `graphql` (/api/graphql, /graphql/query): the home feed (`xdt_api__v1__feed__timeline__connection.edges[]
  .node.media`), profile and comment connections;
- `timeline` (/api/v1/feed/timeline/): `feed_items[].media_or_ad`, paging by `next_max_id`;
- `comments` (/api/v1/media/ID/comments/): `comments[]` with `text` and `user`, paging by `next_min_id`;
- `page` (the home page's HTML): the first page of the feed, in `<script type="application/json">` data.

Hide takes the edge, feed item or comment out of its list; paging fields (`page_info`, `next_max_id`,
`more_available`, `next_min_id`) are never touched. Fold replaces the caption or comment text with Sourdine's
placeholder, the original kept in memory for the extension (REPLACES_TEXT).

NOT verified against live traffic: no capture of Instagram's responses could be had. The fixtures in
tests/data/instagram are HAND-MADE from the documented structure above, and minimal.
"""

from __future__ import annotations

from sourdine.platforms import meta

PLATFORM = "instagram"
CONTENT_TYPES = ("json", "html", "javascript")
REPLACES_TEXT = True

ENDPOINTS = frozenset({"graphql", "timeline", "comments", "page"})
PAGE_MARKERS = ("xdt_api__v1__feed__timeline__connection", '"caption"')


def _url(item: meta.Found) -> str | None:
    code = item.node.get("code")
    return f"https://www.instagram.com/p/{code}/" if isinstance(code, str) and code and not item.is_comment else None



_SITE = meta.Site(PLATFORM, ENDPOINTS, PAGE_MARKERS, _url)
parse, serialize, posts, rewrite = _SITE.parse, _SITE.serialize, _SITE.posts, _SITE.rewrite
