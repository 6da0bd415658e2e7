"""Which language a post is in: the platform's field first, then the writing system, then words.

Built for the two languages we score, and fast: a post without a language field costs a few microseconds.
1. A post written mostly in another script (Cyrillic, Arabic, Han, ...) is named by that script.
2. English and French function words ("the", "you", "les", "pas") settle most posts with one dictionary lookup
   per word. Function words of 21 other languages (rules/lexicons/other/stopwords.tsv) name a post where
   they outnumber them.
3. A post with no function words at all ("Disgusting.", "Honteux !!") is read by the lexicon words only one
   of the two languages has, then by letters only one other language uses ("ñ", "ß", "ł"...), then by the
   lexicon words both have ("Idiot !", "Clown show"): English or French by its letters.
4. What none of these can place is "not detected": `UNDETECTED`, and it is not scored.

No model is loaded: the tables are built from the lexicons, in well under a millisecond, and hold a few
thousand words.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from sourdine.scoring.lexicon import UNACCENT, fold

SCORED: tuple[str, ...] = ("en", "fr")
# What detect() says of a post that has words, but nothing that places them: it is not scored.
UNDETECTED = "und-undetected"
# Language fields that say nothing about the language.
_UNKNOWN = frozenset({"", "und", "mul", "zxx", "mis", "xx", "unknown"})
_ALIASES = {"eng": "en", "fra": "fr", "fre": "fr", "english": "en", "french": "fr", "français": "fr"}
_DETECT_WORDS = 400
_SCRIPT_CHARS = 600
# A letter. Not "ℹ" (information source), a small letter to Unicode but an emoji to people, which the scorer leaves
# as it is for the emoji tables (engine.SPELT_EMOJI): a post of emoji and "ℹ️" has no words.
_LETTER_RE = re.compile(r"[^\W\d_\u2139]")
_FRENCH_LETTER_RE = re.compile("[àâçéèêëîïôûùüÿœ]", re.IGNORECASE)
# A letter outside the Latin script (Basic Latin, Latin-1, Latin Extended A and B, IPA, Latin Extended
# Additional): one search tells most posts that there is none.
_NOT_LATIN_RE = re.compile(r"[^\W\d_A-Za-z\u00aa\u00b5\u00ba\u00c0-\u02af\u1e00-\u1eff\ufb00-\ufb06\uff21-\uff5a]")
# Past Latin, IPA and combining marks: a range test, cheaper than the letter class above.
_ABOVE_LATIN_RE = re.compile("[\u0370-\U0010ffff]")
_LATIN_RE = re.compile(r"[A-Za-z\u00c0-\u024f\u1e00-\u1eff]")

# Writing systems, as (first code point, language or None); a range runs up to the next start. None: not a
# script that names a language (symbols, or a script shared by many).
_SCRIPTS: tuple[tuple[int, str | None], ...] = (
    (0x0000, None),
    (0x0370, "el"), (0x0400, "ru"), (0x0530, "hy"), (0x0590, "he"), (0x0600, "ar"), (0x0700, None),
    (0x0750, "ar"), (0x0780, None), (0x08A0, "ar"), (0x0900, "hi"), (0x0980, "bn"), (0x0A00, "pa"),
    (0x0A80, "gu"), (0x0B00, "or"), (0x0B80, "ta"), (0x0C00, "te"), (0x0C80, "kn"), (0x0D00, "ml"),
    (0x0D80, "si"), (0x0E00, "th"), (0x0E80, "lo"), (0x0F00, "bo"), (0x1000, "my"), (0x10A0, "ka"),
    (0x1100, "ko"), (0x1200, "am"), (0x13A0, None), (0x1780, "km"), (0x1800, None), (0x1F00, "el"),
    (0x2000, None), (0x3040, "ja"), (0x3100, None), (0x3130, "ko"), (0x3190, None), (0x31F0, "ja"),
    (0x3200, None), (0x3400, "zh"), (0x4DC0, None), (0x4E00, "zh"), (0xA000, None), (0xAC00, "ko"),
    (0xD7B0, None), (0xF900, "zh"), (0xFB00, None), (0xFB1D, "he"), (0xFB50, "ar"), (0xFE00, None),
    (0xFE70, "ar"), (0xFF00, None), (0xFF66, "ja"), (0xFFA0, None), (0x20000, "zh"), (0x2FA20, None),
)
_SCRIPT_STARTS = tuple(start for start, _ in _SCRIPTS)
# Letters that tell one language of a script from its neighbours.
_CYRILLIC_HINTS = (("uk", "іїєґ"), ("be", "ў"), ("sr", "ђћџ"), ("mk", "ѓќѕ"))
_ARABIC_HINTS = (("ur", "ٹڈڑںےھ"), ("fa", "پچژگکی"))
# Letters of the Latin script that one language uses, and English and French do not.
_LATIN_HINTS = tuple(
    (lang, re.compile(f"[{letters}]"))  # both cases written out: IGNORECASE would match "ı" with "i"
    for lang, letters in (
        ("vi", "ơưđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹƠƯĐẠẢẤẦẨẪẬẮẰẲẴẶẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸ"),
        ("es", "ñÑ¿¡"),
        ("de", "ß"),
        ("pt", "ãõÃÕ"),
        ("pl", "łąęśźżćńŁĄĘŚŹŻĆŃ"),
        ("cs", "řěůŘĚŮ"),
        ("hu", "őűŐŰ"),
        ("tr", "ğışĞİŞ"),
        ("ro", "șțȘȚ"),
        ("sv", "åÅ"),
        ("no", "øæØÆ"),
    )
)


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


def script_language(text: str) -> str | None:
    """The language a post's writing system names, when most of its letters are outside the Latin script."""
    sample = text[:_SCRIPT_CHARS]
    if _ABOVE_LATIN_RE.search(sample) is None or _NOT_LATIN_RE.search(sample) is None:
        return None
    others = _NOT_LATIN_RE.findall(sample)
    if len(others) <= len(_LATIN_RE.findall(sample)):
        return None
    scripts = (_SCRIPTS[bisect_right(_SCRIPT_STARTS, ord(c)) - 1][1] for c in others)
    tally = Counter(script for script in scripts if script is not None)
    if not tally:
        return None
    if tally.get("ja") or (tally.get("zh") and tally.get("ko")):  # Japanese mixes kana and kanji
        lang = "ja" if tally.get("ja") else "ko"
    else:
        lang = tally.most_common(1)[0][0]
    hints = _CYRILLIC_HINTS if lang == "ru" else _ARABIC_HINTS if lang == "ar" else ()
    for named, letters in hints:
        if any(c in sample for c in letters):
            return named
    return lang


def _clear(en: int, fr: int, other: int) -> str | None:
    """English or French, when their function words settle it: more of one than of the other, and words of
    other languages absent or far fewer."""
    best = max(en, fr)
    if best and en != fr and (other == 0 or (other * 2 < best and best >= 2)):
        return "en" if en > fr else "fr"
    return None


# French articles and pronouns that elide: "l'", "d'", "qu'"...
_ELIDED = frozenset({"l", "d", "j", "qu", "n", "s", "t", "m", "c", "jusqu", "lorsqu", "puisqu"})


def _split_elisions(words: list[str]) -> tuple[int, list[str]]:
    """How many French elisions `words` has, and the words with each elided one taken off ("l'ordure" ->
    "ordure")."""
    out = []
    n = 0
    for w in words:
        if "'" in w or "’" in w:
            head, _, tail = w.replace("’", "'").partition("'")
            if head in _ELIDED and tail:
                n += 1
                out.append(tail)
                continue
        out.append(w)
    return n, out


def _lettered(text: str) -> str | None:
    """The language whose own letters (not English's or French's) a post uses, if any."""
    if text.isascii():
        return None
    for lang, letters in _LATIN_HINTS:
        if letters.search(text) is not None:
            return lang
    return None


def _forms(words: Iterable[str]) -> frozenset[str]:
    out = set()
    for w in words:
        out.add(w.lower())
        out.add(w.lower().translate(UNACCENT))
    return frozenset(out)


class Counts:
    """Function words found in a post, per language. A plain class, not a NamedTuple: one is made for every post
    without a language, and a NamedTuple's constructor is interpreted code even here (0.3 µs), where mypyc
    compiles this one."""

    def __init__(self, en: int, fr: int, other: int, words: int) -> None:
        self.en = en
        self.fr = fr
        self.other = other
        self.words = words

    def __repr__(self) -> str:
        return f"Counts(en={self.en}, fr={self.fr}, other={self.other}, words={self.words})"


class Detector:
    """Function words and lexicon words of each language. Immutable once built, so safe across threads."""

    def __init__(self, en: Iterable[str], fr: Iterable[str], other: Mapping[str, Iterable[str]],
                 en_lexicon: Iterable[str] = (), fr_lexicon: Iterable[str] = ()) -> None:
        """`other`: each other language's function words, by language code. The lexicons are the terms the
        scorer reads, as its tokenizer makes them (French without accents)."""
        # Each word as written and without accents: posts drop them as often as they keep them.
        self._en = _forms(en)
        self._fr = _forms(fr)
        en_words = frozenset(t for t in en_lexicon if _LETTER_RE.search(t))
        fr_words = frozenset(t for t in fr_lexicon if _LETTER_RE.search(t))
        langs: dict[str, list[str]] = {}
        for lang, words in other.items():
            # As written only: without its accents, many a word of another language is an English one
            # (Czech "také", "take"). Nor is a word either lexicon reads counted against its language.
            for w in {w.lower() for w in words} - self._en - self._fr - en_words - fr_words:
                langs.setdefault(w, []).append(lang)
        self._other_langs = {w: tuple(ls) for w, ls in langs.items()}
        # One lookup per word: 1 English, 2 French, 3 both, 4 another language.
        kinds: dict[str, int] = dict.fromkeys(self._other_langs, 4)
        for w in self._en:
            kinds[w] = 1
        for w in self._fr:
            kinds[w] = kinds.get(w, 0) | 2
        self._kinds = kinds
        # Lexicon words that only one of the two languages has tell them apart; a word of both ("idiot",
        # "clown") only says that the post is one of them.
        self._en_only = en_words - fr_words
        self._fr_only = fr_words - en_words
        self._both = en_words & fr_words

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

    def detect(self, text: str, counts: Counts, words: list[str]) -> str:
        """The language of `text`, whose tokens are `words` and their `counts`: "und" when it has no words at
        all (emoji only), UNDETECTED when it has words that nothing here places."""
        en, fr, other = counts.en, counts.fr, counts.other
        if counts.words == 0:
            return "und"
        if not text.isascii() and (script := script_language(text)) is not None:
            return script
        if not en + fr + other and _LETTER_RE.search(text) is None:
            return "und"
        if (clear := _clear(en, fr, other)) is not None:
            return clear
        # The rarer cases: words of another language, a tie, or no function words at all.
        if len(words) > _DETECT_WORDS:
            words = words[:_DETECT_WORDS]
        if "'" in text or "’" in text:  # French elisions: "l'ordure" is "l'" and "ordure"
            elided, words = _split_elisions(words)
            fr += elided
            if elided and (clear := _clear(en, fr, other)) is not None:
                return clear
        best = max(en, fr)
        lang, n = self._other_language(words) if other else (UNDETECTED, 0)
        if n > best or (n and n == best and _lettered(text) == lang):  # a tie: its letters tip it
            return lang
        if en != fr:
            return "en" if en > fr else "fr"
        en_hits, fr_hits, shared = self._lexicon_hits(words)
        if best or en_hits or fr_hits:
            if en_hits != fr_hits:
                return "en" if en_hits > fr_hits else "fr"
            return "fr" if _FRENCH_LETTER_RE.search(text) is not None else "en"
        if n:
            return lang
        lettered = _lettered(text)
        if lettered is not None:
            return lettered
        if shared:
            return "fr" if _FRENCH_LETTER_RE.search(text) is not None else "en"
        return UNDETECTED

    def _other_language(self, words: list[str]) -> tuple[str, int]:
        """The other language with the most function words in `words`, and how many."""
        tally: Counter[str] = Counter()
        get = self._other_langs.get
        for langs in filter(None, map(get, words)):
            tally.update(langs)
        if not tally:
            return UNDETECTED, 0
        return tally.most_common(1)[0]

    def _lexicon_hits(self, words: list[str]) -> tuple[int, int, bool]:
        """How many of `words` only the English lexicon has, how many only the French one, and whether any is a
        word both have."""
        folded = fold(words)
        en = sum(map(self._en_only.__contains__, words))
        fr = sum(map(self._fr_only.__contains__, folded))
        return en, fr, not (self._both.isdisjoint(words) and self._both.isdisjoint(folded))


def mixed(primary: str, counts: Counts) -> bool:
    """Whether a post in `primary` carries enough of the other scored language to be read in both."""
    own, foreign = (counts.en, counts.fr) if primary == "en" else (counts.fr, counts.en)
    return foreign >= 2 and foreign * 2 >= own
