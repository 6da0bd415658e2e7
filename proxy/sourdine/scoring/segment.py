"""Split a run-together hashtag into words: "#stopthecount" reads "stop the count", "#honteavous" "honte a vous".

The words and how often they occur come from rules/lexicons/<lang>/words.tsv (scripts/build-words). The split
is the most probable sequence of known words (each word's cost is -log of its frequency, plus a fixed cost per
word, so fewer and longer words win), found by dynamic programming over the tag. A tag is left whole when:
- it is one known word, or cannot be covered entirely by known words;
- a piece would be shorter than four letters without being a short word the lexicons know ("the", "de", "nul",
  "bad") or a frequent one (SHORT_COUNT posts): word lists made from tweets are full of fragments ("rs", "cus")
  that would split any unknown word;
- no piece is a word the scorer reads (a lexicon term or a negation): such a split changes nothing.
An unknown word can still be split wrongly ("therapist", absent from the lists, reads "the rapist"), which is the
price of any dictionary split. Splits are cached (bounded): a tag is split once, however many posts carry it.
"""

from __future__ import annotations

import math

from sourdine.scoring.lexicon import UNACCENT

MIN_CHARS = 6  # shorter tags are rarely several words ("#fail", "#nul")
MAX_CHARS = 40  # longer ones are left whole: the split costs O(length x MAX_WORD)
MAX_WORD = 20
MIN_PIECE = 4  # a shorter piece must be one of the short words, or frequent
SHORT_COUNT = 30
WORD_COST = 3.0  # nats per word, on top of its frequency's
_CACHE_MAX = 5_000
_NOT_CACHED = "\0"  # a tag is never this (one character, not a letter)


class Segmenter:
    """Immutable once built, but for its cache (a dict, whose get and set are atomic: threads may share it)."""

    def __init__(self, counts: dict[str, int], short: frozenset[str], read: frozenset[str]) -> None:
        """`counts`: word -> posts using it (kept, not copied); `short`: the words under MIN_PIECE letters allowed
        as pieces; `read`: the words the scorer reads (a split must produce one). Costs are worked out when a
        word is met, so that building this takes no time at start-up."""
        self._counts = counts
        self._log_total = math.log(sum(counts.values()) or 1)
        self._short = short
        self._read = read
        self._longest = min(max(map(len, counts), default=1), MAX_WORD)
        self._cache: dict[str, str | None] = {}
        # How the scorer reads each tag (engine._tag: its split, camel case and all), kept here because it
        # depends on these word lists. Bounded like the cache of splits.
        self.tags: dict[str, str] = {}

    def cached(self) -> int:
        """How many splits are kept."""
        return len(self._cache)

    def split(self, tag: str) -> str | None:
        """The words of a lower-case tag joined by spaces, or None if it is not several known words."""
        if not MIN_CHARS <= len(tag) <= MAX_CHARS or not tag.isalpha():
            return None
        cached = self._cache.get(tag, _NOT_CACHED)
        if cached is not _NOT_CACHED:
            return cached
        words = self._split(tag.translate(UNACCENT))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[tag] = words
        return words

    def _split(self, tag: str) -> str | None:
        counts, short, log, base = self._counts, self._short, math.log, WORD_COST + self._log_total
        if tag in counts:
            return None
        n = len(tag)
        best = [0.0] + [math.inf] * n
        start = [0] * (n + 1)
        for i in range(1, n + 1):
            for j in range(max(0, i - self._longest), i):
                if best[j] == math.inf:
                    continue
                piece = tag[j:i]
                c = counts.get(piece)
                if not c or (i - j < MIN_PIECE and c < SHORT_COUNT and piece not in short):
                    continue
                cost = best[j] + base - log(c)
                if cost < best[i]:
                    best[i] = cost
                    start[i] = j
        if best[n] == math.inf:
            return None
        words = []
        i = n
        while i > 0:
            words.append(tag[start[i] : i])
            i = start[i]
        if self._read.isdisjoint(words):
            return None
        return " ".join(reversed(words))
