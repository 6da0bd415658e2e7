"""Where a decided post can be opened, from what the decisions log keeps (platform, post id, author): pure."""

from __future__ import annotations

from urllib.parse import quote

BLUESKY_POST = "app.bsky.feed.post"


def post_link(platform: str, post_id: str, author: str | None,
              mastodon_instances: tuple[str, ...] | list[str]) -> str | None:
    """The post's web page, or None when it cannot be told.

    Mastodon ids are those of the instance the user reads from, so the link opens the post there (its web app
    shows remote posts by their local id too); with several instances, the first one is taken.
    """
    if platform == "x" and post_id.isdigit():
        return f"https://x.com/{quote(author or 'i', safe='')}/status/{post_id}"
    if platform == "bluesky" and post_id.startswith("at://"):
        parts = post_id[5:].split("/")
        if len(parts) == 3 and parts[1] == BLUESKY_POST and parts[0] and parts[2]:
            return f"https://bsky.app/profile/{quote(parts[0], safe=':')}/post/{quote(parts[2], safe='')}"
        return None
    if platform == "mastodon" and mastodon_instances and author and post_id.isdigit():
        return f"https://{mastodon_instances[0]}/@{quote(author, safe='@')}/{post_id}"
    return None
