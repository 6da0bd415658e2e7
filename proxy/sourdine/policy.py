"""Decide keep, collapse or hide for one scored post, with a reason a person can read."""

from __future__ import annotations

from sourdine.model import KEEP, Score, Verdict
from sourdine.rules import Thresholds


def reason(score: Score) -> str:
    """The dimension that drove the score, with its value: "outrage 0.82" or "negativity 0.74"."""
    if score.outrage >= score.negativity:
        return f"outrage {score.outrage:.2f}"
    return f"negativity {score.negativity:.2f}"


def decide(score: Score, thresholds: Thresholds) -> Verdict:
    if not score.scored:
        return KEEP
    if score.score >= thresholds.hide:
        return Verdict("hide", reason(score))
    if score.score >= thresholds.collapse:
        return Verdict("collapse", reason(score))
    return KEEP
