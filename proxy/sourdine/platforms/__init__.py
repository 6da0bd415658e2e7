"""Platform adapters: one module per platform, each finding posts in a parsed response and rewriting it.

An adapter module has `PLATFORM`, `posts(endpoint, doc) -> list[Post]` and
`rewrite(endpoint, doc, verdicts) -> bool`; a platform with a streaming endpoint also has
`rewrite_event(event, verdicts) -> "unchanged" | "changed" | "drop"`. Which paths are which endpoint is data,
in rules/platforms.toml.
"""

from __future__ import annotations

from types import ModuleType

from sourdine.platforms import bluesky, facebook, instagram, linkedin, mastodon, reddit, threads, x, youtube

ADAPTERS: dict[str, ModuleType] = {module.PLATFORM: module for module in (
    mastodon, bluesky, x, reddit, youtube, linkedin, facebook, instagram, threads)}
