"""Split a run-together hashtag into words: "#stopthecount" reads "stop the count", "#honteavous" "honte a vous".

The words and how often they occur come from rules/lexicons/<lang>/words.tsv (scripts/build-words). The split
is the most probable sequence of known words (each word's cost is -log of its frequency), found by dynamic
programming over the tag; a tag that cannot be covered entirely by known words, or is one known word, is left
whole. A frequent word wins over two rarer ones, so a known long word stays one word; an unknown one may be
split wrongly ("therapist", absent from the lists, would read "the rapist"), which is the price of any
dictionary split. Splits are cached (bounded): a tag is split once, however many posts carry it.
"""

from __future__ import annotations

import math

from sourdine.scoring.lexicon import UNACCENT

MIN_CHARS = 6  # shorter tags are rarely several words ("#fail", "#nul")
MAX_CHARS = 40  # longer ones are left whole: the split costs O(length x MAX_WORD)
MAX_WORD = 20
_CACHE_MAX = 20_000


class Segmenter:
    """Immutable once built, but for its cache (a dict, whose get and set are atomic: threads may share it)."""

    def __init__(self, counts: dict[str, int]) -> None:
        total = sum(counts.values()) or 1
        self._cost = {w: math.log(total / c) for w, c in counts.items() if c > 0 and w}
        self._longest = min(max(map(len, self._cost), default=1), MAX_WORD)
        self._cache: dict[str, str | None] = {}

    def split(self, tag: str) -> str | None:
        """The words of a lower-case tag joined by spaces, or None if it is not several known words."""
        if not MIN_CHARS <= len(tag) <= MAX_CHARS or not tag.isalpha():
            return None
        cached = self._cache.get(tag, False)
        if cached is not False:
            return cached
        words = self._split(tag.translate(UNACCENT))
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[tag] = words
        return words

    def _split(self, tag: str) -> str | None:
        cost = self._cost
        if tag in cost:
            return None
        n = len(tag)
        best = [0.0] + [math.inf] * n
        start = [0] * (n + 1)
        for i in range(1, n + 1):
            for j in range(max(0, i - self._longest), i):
                if best[j] == math.inf:
                    continue
                c = cost.get(tag[j:i])
                if c is not None and best[j] + c < best[i]:
                    best[i] = best[j] + c
                    start[i] = j
        if best[n] == math.inf:
            return None
        words = []
        i = n
        while i > 0:
            words.append(tag[start[i] : i])
            i = start[i]
        return " ".join(reversed(words))
