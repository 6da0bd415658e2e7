"""links.post_link: the web page of a decided post, from what the decisions log keeps."""

import pytest

from sourdine.links import post_link


@pytest.mark.parametrize(("platform", "post_id", "author", "instances", "expected"), [
    ("x", "1838924385462927706", "jack", (), "https://x.com/jack/status/1838924385462927706"),
    ("x", "1838924385462927706", None, (), "https://x.com/i/status/1838924385462927706"),
    ("x", "not-a-number", "jack", (), None),
    ("bluesky", "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.post/3l3qo2vuowo2b", "bsky.app", (),
     "https://bsky.app/profile/did:plc:z72i7hdynmk6r22z27h6tvur/post/3l3qo2vuowo2b"),
    ("bluesky", "at://did:plc:z72i7hdynmk6r22z27h6tvur/app.bsky.feed.like/3l3qo2vuowo2b", "bsky.app", (), None),
    ("mastodon", "114870361973436726", "Gargron", ("piaille.fr",), "https://piaille.fr/@Gargron/114870361973436726"),
    ("mastodon", "114870361973436726", "alice@mastodon.social", ("piaille.fr", "other.example"),
     "https://piaille.fr/@alice@mastodon.social/114870361973436726"),
    ("mastodon", "114870361973436726", "alice", (), None),
    ("reddit", "t3_abc", "someone", (), None),
])
def test_post_link(platform, post_id, author, instances, expected):
    """Each platform's post page, or None when it cannot be told from the record."""
    assert post_link(platform, post_id, author, instances) == expected
