"""The text that stands in for a post folded by replacing its text, where the page has no fold of its own.

It names Sourdine and the reason, and ends with a marker, `[sourdine:PLATFORM:ID]`, by which the extension
finds it and asks the API for the original (GET /api/v1/originals/PLATFORM/ID), which the engine keeps in
memory for adapters that declare `REPLACES_TEXT`.
"""

from __future__ import annotations

from sourdine.model import Verdict

PREFIX = "Sourdine folded this post"
HIDDEN = "Sourdine hid this post"


def placeholder(platform: str, post_id: str, verdict: Verdict) -> str:
    """The stand-in text. A hidden post (where a platform cannot lose the item safely) says so and has no
    marker: like a post hidden elsewhere, it is not revealed."""
    if verdict.action == "hide":
        return f"{HIDDEN}: {verdict.reason}" if verdict.reason else HIDDEN
    said = f"{PREFIX}: {verdict.reason}" if verdict.reason else PREFIX
    return f"{said} [sourdine:{platform}:{post_id}]"
