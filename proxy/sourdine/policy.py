"""Decide keep, collapse or hide for one post, with a reason a person can read.

One order of precedence, the same everywhere:

1. The platform is off, or it is outside work hours: keep. (The addon does not even read such a feed.)
   The user's own inbox is left alone too, unless they opt in per platform: their own posts, replies to them and
   posts that mention them. Sourdine filters the feeds they read, not the inbox they moderate.
2. The account or a keyword is on the allow list: keep (or flag it, if the user asked).
3. The post is muted: the mute's action.
4. The author is a toxic connection: the action chosen for toxic connections.
5. The score passes a threshold: collapse or hide.
6. Otherwise: keep.
"""

from __future__ import annotations

from sourdine.model import KEEP, Action, Score, Verdict
from sourdine.rules import Thresholds

FLAGGED = "; flagged: would be "  # in the reason of an allowed post that would have been filtered


def reason(score: Score) -> str:
    """The dimension that drove the score, then the score that passed the threshold: "outrage, score 0.82" or
    "negativity, score 0.74". The figure is `score.score`, the one compared with the thresholds (what the scorer
    learnt from feedback included), not the dimension's own value, which may be below the threshold. The
    statistics group reasons by the words before the comma (store.read_stats); an older row reads "outrage 0.82"
    and is grouped the same way."""
    if score.outrage >= score.negativity:
        return f"outrage, score {score.score:.2f}"
    return f"negativity, score {score.score:.2f}"


def by_score(score: Score, thresholds: Thresholds) -> Verdict:
    """Step 5: the thresholds alone."""
    if not score.scored:
        return KEEP
    if score.score >= thresholds.hide:
        return Verdict("hide", reason(score))
    if score.score >= thresholds.collapse:
        return Verdict("collapse", reason(score))
    return KEEP


def decide(
    score: Score,
    thresholds: Thresholds,
    *,
    active: bool = True,
    inbox: str | None = None,
    allowed: str | None = None,
    muted: tuple[Action, str] | None = None,
    toxic: str | None = None,
    toxic_action: Action = "collapse",
    flag_allowed: bool = False,
) -> Verdict:
    """The verdict on one post. `allowed`, `muted` and `toxic` are what the lists and the author records say of
    it (a reason, or None); `active` is False when the platform is off or it is outside work hours."""
    if not active:
        return KEEP
    if inbox is not None:
        return Verdict("keep", inbox)
    if allowed is not None:
        if flag_allowed:
            # Kept all the same, but the decision says what would have happened: the user asked to see these.
            would = decide(score, thresholds, muted=muted, toxic=toxic, toxic_action=toxic_action)
            if would.action != "keep":
                return Verdict("keep", f"allowed: {allowed}{FLAGGED}{would.action} ({would.reason})")
        return Verdict("keep", f"allowed: {allowed}")
    if muted is not None:
        return Verdict(muted[0], f"muted: {muted[1]}")
    if toxic is not None and toxic_action != "keep":
        return Verdict(toxic_action, toxic)
    return by_score(score, thresholds)
