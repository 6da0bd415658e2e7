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
_INVISIBLE = "\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
INVISIBLE = re.compile(f"[{_INVISIBLE}]")

# Cyrillic and Greek letters drawn like Latin ones, each with the Latin letter it passes for (pairs Unicode's
# confusables data makes; a capital Ukrainian І is read "I", as in a word in capitals). NFKC leaves them as they are,
# so "іdiot" (with a Ukrainian і) hid from the scorer and the mute lists. Capitals that pass for Latin ones only as
# capitals (Cyrillic В, Н, М, Т; Greek Β, Η, Μ, Τ...) are listed as capitals only.
LOOKALIKES: dict[str, str] = {
    # Cyrillic small letters
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x",
    "\u0455": "s", "\u0456": "i", "\u0458": "j", "\u04af": "y", "\u04bb": "h", "\u04cf": "i", "\u0501": "d",
    "\u051b": "q", "\u051d": "w",
    # Cyrillic capital letters
    "\u0405": "S", "\u0406": "I", "\u0408": "J", "\u0410": "A", "\u0412": "B", "\u0415": "E", "\u041a": "K",
    "\u041c": "M", "\u041d": "H", "\u041e": "O", "\u0420": "P", "\u0421": "C", "\u0422": "T", "\u0423": "Y",
    "\u0425": "X", "\u04ae": "Y", "\u04c0": "I", "\u051a": "Q", "\u051c": "W",
    # Greek small letters
    "\u03b1": "a", "\u03b3": "y", "\u03b9": "i", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c5": "u",
    # Greek capital letters
    "\u0391": "A", "\u0392": "B", "\u0395": "E", "\u0396": "Z", "\u0397": "H", "\u0399": "I", "\u039a": "K",
    "\u039c": "M", "\u039d": "N", "\u039f": "O", "\u03a1": "P", "\u03a4": "T", "\u03a5": "Y", "\u03a7": "X",
}
_TO_LATIN = str.maketrans(LOOKALIKES)
_LOOKALIKE = "".join(LOOKALIKES)
# Latin letters, as written: NFKC has not run yet, so the letters it spells as Latin ones count too (a review's
# finding: "𝐢dіot", with a bold 𝐢, kept its Cyrillic і): small capitals and modifier letters (ᴵ), superscripts and
# subscripts, the letterlike symbols that are letters (ℎ, ℓ), ligatures, full-width and mathematical letters.
_LATIN = ("A-Za-z\u00aa\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1d00-\u1dbf\u1e00-\u1eff\u2071\u207f"
          "\u2090-\u209c\u2100-\u214f\ufb00-\ufb06\uff21-\uff3a\uff41-\uff5a\U0001d400-\U0001d6a3")
_HIDING = re.compile(f"[{_INVISIBLE}{_LOOKALIKE}]")
_ANY_LOOKALIKE = re.compile(f"[{_LOOKALIKE}]")
# A look-alike beside a Latin letter: every word of Latin letters and look-alikes that has both has one.
_MIXED = re.compile(f"[{_LOOKALIKE}][{_LATIN}]|[{_LATIN}][{_LOOKALIKE}]")
# A whole word holding a look-alike. It begins only where a word does, so the scan stays linear in the text; the
# words without a look-alike, most of a post, never reach Python (a post of 10,000 characters with one "іdiot"
# took 2.3 ms when every word of it did: a review's finding).
_LOOKALIKE_WORD = re.compile(rf"(?<![^\W\d_])[^\W\d_]*[{_LOOKALIKE}][^\W\d_]*")
_LATIN_LETTER = re.compile(f"[{_LATIN}]")
_LETTER = re.compile(r"[^\W\d_]")
_OTHER_LETTER = re.compile(rf"[^\W\d_{_LATIN}]")


def plain_letters(text: str) -> str:
    """A post's text as the scorer and the mute lists read its letters: invisible format characters out (INVISIBLE:
    "ho\u200bnte" is "honte"), and look-alikes in Latin words read as Latin letters (`latinise`). A text with
    neither costs one search in C, as taking the invisible characters out alone did."""
    if _HIDING.search(text) is None:
        return text
    return latinise(INVISIBLE.sub("", text))


def latinise(text: str) -> str:
    """The text with the look-alikes (LOOKALIKES) of each word written in Latin letters and look-alikes, and at
    least one Latin letter, read as the Latin letters they pass for: "іdiot", "ѕhame", "ІDІОТ" read "idiot",
    "shame", "IDIOT". A word wholly in Cyrillic or Greek ("сор", "Привет") stays as it is, and so does one with a
    letter of neither kind ("idжot"). Text in ASCII, or without a look-alike beside a Latin letter, is returned as
    it is, after one or two searches in C; otherwise only the words from the first look-alike's on are read."""
    if text.isascii():
        return text
    first = _ANY_LOOKALIKE.search(text)
    if first is None:
        return text
    at = first.start()
    if _MIXED.search(text, at - 1 if at else 0) is None:
        return text
    # The text before the word of the first look-alike is left as it is, unread.
    while at and _LETTER.match(text, at - 1) is not None:
        at -= 1
    return text[:at] + _LOOKALIKE_WORD.sub(_latin_word, text[at:])


def _latin_word(match: re.Match[str]) -> str:
    word = match.group()
    latin = word.translate(_TO_LATIN)
    if latin == word or _OTHER_LETTER.search(latin) is not None or _LATIN_LETTER.search(word) is None:
        return word
    return latin


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
