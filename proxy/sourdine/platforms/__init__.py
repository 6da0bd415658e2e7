"""Platform adapters: one module per platform, each finding posts in a parsed response and rewriting it.

An adapter module has `PLATFORM`, `posts(endpoint, doc) -> list[Post]` and
`rewrite(endpoint, doc, verdicts) -> bool`; a platform with a streaming endpoint also has
`rewrite_event(event, verdicts) -> "unchanged" | "changed" | "drop"`. Which paths are which endpoint is data,
in rules/platforms.toml.

A JSON body reaches `posts` parsed by orjson. An adapter whose bodies are something else (HTML, several JSON
documents a line, JSON inside a page's script) also has `parse(endpoint, body: bytes) -> doc` and
`serialize(endpoint, doc) -> bytes`, and names the content types it reads in `CONTENT_TYPES` (substrings of
the Content-Type header; ("json",) when absent), or per endpoint in `ENDPOINT_CONTENT_TYPES` (a dict from
endpoint name to such substrings, for an endpoint whose URL also serves other bodies). An adapter that folds by
replacing a post's text with Sourdine's placeholder sets `REPLACES_TEXT`, and the engine keeps the originals in
memory for the extension (`HIDE_REPLACES_TEXT` too when hidden posts are replaced rather than removed).
"""

from __future__ import annotations

from types import ModuleType

from sourdine import native

# The compiled modules' folder ahead of this one (the HTML reading the adapters share; the adapters themselves
# stay pure Python), when they are built from these very sources.
__path__ = native.package_path(__name__, __path__)

from sourdine.platforms import (  # noqa: E402  (the path above decides where these load from)
    bluesky,
    facebook,
    instagram,
    linkedin,
    mastodon,
    reddit,
    threads,
    x,
    youtube,
)

ADAPTERS: dict[str, ModuleType] = {module.PLATFORM: module for module in (
    mastodon, bluesky, x, reddit, youtube, linkedin, facebook, instagram, threads)}
