"""Which language a post is in: the platform's field first, then function words, then py3langid.

Counting English and French function words settles most posts in a couple of microseconds. py3langid
(BSD-3-Clause, its model ships in the package) only sees the posts that settles nothing: no function words,
a tie, or words of other languages; it names the other languages, which are then not scored. It costs about
40 µs a post, and is restricted to the first 1,000 characters. Its model (0.5 s to load, about 70 MB with
numpy) loads in a background thread and is never waited for: until it is there, such a post is not scored.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from sourdine.scoring.lexicon import UNACCENT

logger = logging.getLogger(__name__)

SCORED = ("en", "fr")
# What detect() says of a post only py3langid could place, while its model loads: not scored, not waited for.
PENDING = "und-pending"
# Language fields that say nothing about the language.
_UNKNOWN = frozenset({"", "und", "mul", "zxx", "mis", "xx", "unknown"})
_ALIASES = {"eng": "en", "fra": "fr", "fre": "fr", "english": "en", "french": "fr", "français": "fr"}
_DETECT_WORDS = 400
_LETTER_RE = re.compile(r"[^\W\d_]")
_FRENCH_LETTER_RE = re.compile("[àâçéèêëîïôûùüÿœ]", re.IGNORECASE)
# py3langid knows 140 languages; on a short post it readily picks a rare one ("Hello" came out Breton). Social
# media posts are overwhelmingly in these, so the guess is restricted to them.
LANGID_LANGS = (  # noqa: SIM905 - 54 codes read better as one string
    "en fr es de it pt nl ca sv da no fi is pl cs sk sl hr sr bs hu ro bg ru uk be el tr az ka hy ar "
    "fa ur he hi bn ta te mr ja ko zh th vi id ms tl sw lt lv et sq mk"
).split()
_LANGID_CHARS = 1000


@lru_cache(maxsize=256)
def _normalise_hint(lang: str) -> str | None:
    primary = lang.strip().lower().replace("_", "-").split("-", 1)[0]
    primary = _ALIASES.get(primary, primary)
    if primary in _UNKNOWN or not primary.isalpha() or len(primary) > 8:
        return None
    return primary


def normalise_hint(lang: object) -> str | None:
    """The primary subtag of a platform's language field ("fr-CA" -> "fr"), or None if it says nothing."""
    if not isinstance(lang, str) or not lang:
        return None
    if len(lang) > 35:  # longer than any BCP 47 tag worth reading
        return None
    return _normalise_hint(lang)


def _forms(words: Iterable[str]) -> frozenset[str]:
    out = set()
    for w in words:
        out.add(w.lower())
        out.add(w.lower().translate(UNACCENT))
    return frozenset(out)


class Counts(NamedTuple):
    """Function words found in a post, per language."""

    en: int
    fr: int
    other: int
    words: int


class Detector:
    """Function-word counts with py3langid behind them. Immutable once built, so safe across threads."""

    def __init__(self, en: Iterable[str], fr: Iterable[str], other: Iterable[str]) -> None:
        # Each word as written and without accents: posts drop them as often as they keep them.
        self._en = _forms(en)
        self._fr = _forms(fr)
        self._other = _forms(other) - self._en - self._fr
        # One lookup per word: 1 English, 2 French, 3 both, 4 another language.
        kinds: dict[str, int] = dict.fromkeys(self._other, 4)
        for w in self._en:
            kinds[w] = 1
        for w in self._fr:
            kinds[w] = kinds.get(w, 0) | 2
        self._kinds = kinds
        self._langid: Any = None
        self._loading = False
        self._langid_lock = threading.Lock()  # guards _loading
        self._load_lock = threading.Lock()  # one load at a time

    def load_langid(self) -> None:
        """Load py3langid's model (about 0.6 s: it is xz-compressed). warm() starts it in a thread."""
        if self._langid is not None:
            return
        with self._load_lock:
            if self._langid is None:
                import numpy as np
                from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
                from py3langid.modelio import load_model

                ptc, pc, classes, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
                # Only the restricted columns are kept (11 MB instead of 39 MB once the full ones are freed).
                keep = [i for i, c in enumerate(classes) if c in LANGID_LANGS]
                self._langid = LanguageIdentifier(
                    np.ascontiguousarray(np.asarray(ptc)[:, keep]),
                    np.asarray(pc)[keep],
                    [classes[i] for i in keep],
                    nextmove,
                    output,
                    norm_probs=True,
                    tk_row=row,
                )

    def counts(self, words: list[str]) -> Counts:
        """Count function words among a post's tokens (lower-cased, punctuation stripped)."""
        if len(words) > _DETECT_WORDS:
            words = words[:_DETECT_WORDS]
        en = fr = other = 0
        for k in filter(None, map(self._kinds.get, words)):  # only the function words reach Python
            if k == 4:
                other += 1
            else:
                en += k & 1
                fr += k >> 1
        return Counts(en, fr, other, len(words))

    def foreign(self, primary: str, words: list[str]) -> int:
        """How many function words of the other scored language a post has: the cheap half of `mixed`."""
        other = self._fr if primary == "en" else self._en
        if len(words) > _DETECT_WORDS:
            words = words[:_DETECT_WORDS]
        if other.isdisjoint(words):  # most posts: one pass in C
            return 0
        return sum(map(other.__contains__, words))

    def detect(self, text: str, counts: Counts) -> str:
        """The language of `text`: "und" when it has no words at all, PENDING when only py3langid could tell
        and its model is still loading (it is never waited for: the post is then not scored)."""
        en, fr, other = counts.en, counts.fr, counts.other
        if counts.words == 0 or (not en + fr + other and _LETTER_RE.search(text) is None):
            return "und"
        best = max(en, fr)
        if best and en != fr and (other == 0 or (other * 2 < best and best >= 2)):
            return "en" if en > fr else "fr"
        langid = self._langid
        if langid is None:
            self.start_loading()
            if best and en == fr and other == 0:  # as many of each: until py3langid can, French letters say
                return "fr" if _FRENCH_LETTER_RE.search(text) is not None else "en"
            return PENDING
        lang, _ = langid.classify(text[:_LANGID_CHARS])
        return str(lang)

    def start_loading(self) -> None:
        """Load py3langid's model in a background thread, once."""
        if self._langid is None and not self._loading:
            with self._langid_lock:
                if self._loading:
                    return
                self._loading = True
            threading.Thread(target=self._load_quietly, name="sourdine-langid", daemon=True).start()

    def _load_quietly(self) -> None:
        try:
            self.load_langid()
        except Exception as e:  # posts that need it stay "not detected"; the rest are scored as usual
            logger.warning("py3langid's model did not load (%s): %s", type(e).__name__, e)


def mixed(primary: str, counts: Counts) -> bool:
    """Whether a post in `primary` carries enough of the other scored language to be read in both."""
    own, foreign = (counts.en, counts.fr) if primary == "en" else (counts.fr, counts.en)
    return foreign >= 2 and foreign * 2 >= own
