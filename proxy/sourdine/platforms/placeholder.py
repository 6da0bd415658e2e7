"""The text that stands in for a post folded by replacing its text, where the page has no fold of its own.

It names Sourdine and the reason, and ends with a marker, `[sourdine:PLATFORM:ID]`, by which the extension
finds it and asks the API for the original (GET /api/v1/originals/PLATFORM/ID), which the engine keeps in
memory for adapters that declare `REPLACES_TEXT` (and, for hidden posts too, `HIDE_REPLACES_TEXT`).
"""

from __future__ import annotations

from sourdine.model import Verdict

PREFIX = "Sourdine folded this post"
HIDDEN = "Sourdine hid this post"


def placeholder(platform: str, post_id: str, verdict: Verdict, revealable: bool | None = None) -> str:
    """The stand-in text. By default a folded post's text can be revealed and a hidden post's cannot (like a
    post hidden elsewhere); an adapter that hides by replacing the text (Facebook) keeps it revealable."""
    if revealable is None:
        revealable = verdict.action != "hide"
    prefix = HIDDEN if verdict.action == "hide" else PREFIX
    said = f"{prefix}: {verdict.reason}" if verdict.reason else prefix
    return f"{said} [sourdine:{platform}:{post_id}]" if revealable else said
