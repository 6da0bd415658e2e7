"""Plain values shared by the pure core: posts found in a feed, their scores, and the verdict on each.

They are values: nothing changes one once it is made. They are not frozen dataclasses all the same, as a frozen
dataclass's `__init__` sets each field through `object.__setattr__`, which made a Post cost 0.9 µs instead of
0.2 (a Score 0.65 instead of 0.15), for every post of every feed; `unsafe_hash` keeps them hashable, by their
fields, as frozen ones are. Their `__init__` is written out: the one a dataclass makes is interpreted code even
in a compiled class (0.41 µs to make a Post in a compiled loop, against 0.03 µs for a written one, which mypyc
compiles); test_native checks that each takes the fields, in order, with their defaults.

A test checks that nothing on a feed's path changes one (test_native's test_no_value_is_changed_once_made): it
runs fuzzed real captures through the engine, then through the addon's hooks with the store's writer recording
(streaming messages included), in pure Python, noting any field assigned again or deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Action = Literal["keep", "collapse", "hide"]
ACTIONS: tuple[Action, ...] = ("keep", "collapse", "hide")

PLATFORMS: tuple[str, ...] = (
    "mastodon",
    "bluesky",
    "x",
    "reddit",
    "youtube",
    "linkedin",
    "facebook",
    "instagram",
    "threads",
    "pinterest",
)

# Format characters that hide inside words (soft hyphens, zero-width spaces and joiners, bidi controls): taken out
# before a post's text is read, by the scorer and by the mute lists alike, so that "ho\u200bnte" is "honte".
INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


@dataclass(slots=True, unsafe_hash=True)
class Post:
    """One post an adapter found in a response.

    `id` is unique within the response's platform. `text` is plain text (HTML already stripped).
    `lang` is the platform's own language field when it has one ("en", "fr", "en-US"...), else None.
    """

    id: str
    author_id: str
    author: str
    author_name: str
    text: str
    lang: str | None = None
    url: str | None = None
    # The author id of the post this one replies to, and the ids of the accounts it mentions, where the
    # platform says: how Sourdine leaves the user's own inbox (replies to them, mentions of them) alone.
    replies_to: str | None = None
    mentions: tuple[str, ...] = ()

    def __init__(self, id: str, author_id: str, author: str, author_name: str, text: str, lang: str | None = None,
                 url: str | None = None, replies_to: str | None = None, mentions: tuple[str, ...] = ()) -> None:
        self.id = id
        self.author_id = author_id
        self.author = author
        self.author_name = author_name
        self.text = text
        self.lang = lang
        self.url = url
        self.replies_to = replies_to
        self.mentions = mentions


@dataclass(slots=True, unsafe_hash=True)
class Score:
    """What the scorer says of one text. Every number is in [0, 1].

    `scored` is False for a language Sourdine does not score: the numbers are then 0 and mean nothing.
    `reasons` are short strings naming the terms and features that drove the score.
    """

    lang: str
    negativity: float
    outrage: float
    score: float
    scored: bool
    reasons: tuple[str, ...] = ()

    def __init__(self, lang: str, negativity: float, outrage: float, score: float, scored: bool,
                 reasons: tuple[str, ...] = ()) -> None:
        self.lang = lang
        self.negativity = negativity
        self.outrage = outrage
        self.score = score
        self.scored = scored
        self.reasons = reasons

    def to_dict(self) -> dict[str, object]:
        """The JSON object the CLI and the API return."""
        return {
            "lang": self.lang,
            "negativity": self.negativity,
            "outrage": self.outrage,
            "score": self.score,
            "scored": self.scored,
            "reasons": list(self.reasons),
        }


@dataclass(slots=True, unsafe_hash=True)
class Verdict:
    """The policy's decision on one post, with a short reason a person can read ("outrage, score 0.82")."""

    action: Action
    reason: str = ""

    def __init__(self, action: Action, reason: str = "") -> None:
        self.action = action
        self.reason = reason


KEEP = Verdict("keep")
