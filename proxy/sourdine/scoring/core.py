"""The scorer itself: language, readings, and how they combine into a Score. `sourdine.scoring` re-exports what
others use; see its docstring for what the numbers mean.

Compiled with mypyc when the build step has run (sourdine.native), so every annotation here is checked at run
time in that build: a value must match its declared type.
"""

from __future__ import annotations

import logging
import math
import threading
from pathlib import Path

from sourdine.model import Score
from sourdine.scoring import detect, engine, lexicon, segment

__all__ = ["score", "warm", "Score"]

logger = logging.getLogger(__name__)

LANGS = detect.SCORED

# How the raw sums become numbers in [0, 1]. These few scales were calibrated on the dev sets
# (../shared/datasets, see scripts/eval) so that the default thresholds mean the same in both languages; no
# lexicon value comes from them.
# - collapse (0.55) folds about a fifth of the posts people rate negative, in English (TweetEval sentiment:
#   23%) and in French (DEFT: 21%), and about 5% of an ordinary stream;
# - hide (0.85) is right 92% of the time on offensive posts (TweetEval offensive).
# The English learned weights were fitted with these in place and left them so (scripts/eval).
NEG_POSITIVE_OFFSET = 0.5  # how much a positive word offsets a negative one
# vaderSentiment_fr's values are smaller than VADER's (a translated word averages the values of all the
# English words it translates): French valence is scaled up to match (unscaled, collapse folds 11% of negative
# French posts).
VALENCE_SCALE = {"en": 1.0, "fr": 1.5}
NEG_SLOPE = 0.75
NEG_LENGTH = 15  # tokens; a longer post's valence sum is damped by sqrt(tokens / NEG_LENGTH)
NEG_MIDPOINT = 2.7
OUTRAGE_RATE = 1.1
NEGATIVITY_IN_SCORE = 0.75  # negativity alone tops out below the hide threshold
EMPHASIS_CAPS = 0.3
EMPHASIS_BANGS = 0.2
EMPHASIS_INTERROBANG = 0.2
AIMED_BONUS = 0.15
MAX_REASONS = 6
# A learned nudge of at least this much (log-odds) is named among the reasons, by its strongest term.
LEARNED_REASON = 0.25

State = tuple[dict[str, lexicon.Lexicon], detect.Detector, segment.Segmenter]
_lock = threading.Lock()
_state: State | None = None


_kept: Path | None = None  # where the lexicons' tables are kept between runs (keep_tables_in)


def keep_tables_in(folder: Path | None) -> None:
    """Keep the lexicons' tables, once built from rules/lexicons, in `folder` (`sourdine run` gives its home's
    cache folder), and read them back from there at the next start while nothing they are built from has
    changed (sourdine.scoring.kept): that takes about half the time building them does, at every start-up. None,
    the default: built each time. Call it before the first score."""
    global _kept
    _kept = folder


def _load() -> State:
    global _state
    state = _state
    if state is not None:
        return state
    with _lock:
        if _state is None:
            from sourdine.rules import rules_dir

            root = rules_dir() / "lexicons"
            if _kept is None:
                _state = _assemble(*_build(root))
            else:
                from sourdine.scoring import kept

                _state = kept.kept_or_built(root, _kept)  # raises only what building the tables raises
        return _state


def _build(root: Path) -> tuple[dict[str, lexicon.Lexicon], dict[str, list[str]], dict[str, int], frozenset[str],
                                frozenset[str]]:
    """The lexicons, the other languages' stop words (for the detector) and the segmenter's word lists, read
    from rules/lexicons."""
    lexicons = {lang: lexicon.load(lang, root) for lang in LANGS}
    other: dict[str, list[str]] = {}
    for word, lang in lexicon.read_pairs(root / "other" / "stopwords.tsv"):
        other.setdefault(lang, []).append(word)
    counts, short, read = _segmenter_words(root, lexicons)
    return lexicons, other, counts, short, read


def _assemble(lexicons: dict[str, lexicon.Lexicon], other: dict[str, list[str]], counts: dict[str, int],
              short: frozenset[str], read: frozenset[str]) -> State:
    detector = detect.Detector(lexicons["en"].stopwords, lexicons["fr"].stopwords, other,
                               lexicons["en"].entries, lexicons["fr"].entries)
    return lexicons, detector, segment.Segmenter(counts, short, read)


def _segmenter_words(root: Path, lexicons: dict[str, lexicon.Lexicon]
                     ) -> tuple[dict[str, int], frozenset[str], frozenset[str]]:
    """The segmenter's word lists: one for both languages (a tag's language is not known yet), accents off as the
    split sees it."""
    # 90,000 lines: read without lexicon.read_numbers' checks, which take four times as long (the test of the
    # rules folder parses them with it).
    counts: dict[str, int] = {}
    for lang in LANGS:
        for line in (root / lang / "words.tsv").read_text(encoding="utf-8").splitlines():
            if line and line[0] != "#":
                word, _, n = line.partition("\t")
                counts[word] = counts.get(word, 0) + int(n)
    for word in (root / "en" / "dictionary.txt").read_text(encoding="utf-8").splitlines():
        if word and word[0] != "#":
            counts.setdefault(word, 1)  # known, but rarer than any word seen in posts
    short: set[str] = set()
    read: set[str] = set()
    for lex in lexicons.values():
        function_words = (*lex.stopwords, *lex.negators, *lex.second_person)
        short.update(w.translate(lexicon.UNACCENT) for w in function_words)
        read.update(lex.entries, lex.negators)
    short.update(w for w in read if len(w) == 3 and w.isalpha())  # "bad", "nul"; not acronyms such as "wp"
    return counts, frozenset(short), frozenset(read)


def warm() -> None:
    """Load the lexicons and the language detector's tables now (about 50 ms), so the first post does not pay
    for it."""
    _load()
    score("warm up: not bad", "en")


def caches() -> dict[str, dict[str, int | None]]:
    """The scorer's caches, each with its size and bound, for the status: accents folded, hashtags read and
    split."""
    found: dict[str, dict[str, int | None]] = {
        "scoring.folded": {"size": len(lexicon._FOLDED), "bound": lexicon._FOLDED_MAX},
    }
    state = _state
    if state is not None:
        words = state[2]
        found["scoring.tags"] = {"size": len(words.tags), "bound": engine._TAGS_MAX}
        found["scoring.splits"] = {"size": words.cached(), "bound": segment._CACHE_MAX}
    return found


def score(text: object, lang: object = None) -> Score:
    """Score one post's text (a str). `lang` is the platform's language field, if any. Never raises, whatever
    it is given: the parameters take any object (a compiled function checks its arguments' declared types)."""
    try:
        analysed = _analyse(text, lang)
        if isinstance(analysed, Score):
            return analysed
        return _combine(*analysed)
    except Exception as e:  # a post that breaks the scorer must not break the feed
        logger.warning("scoring failed: %s", type(e).__name__)
        hint = detect.normalise_hint(lang)
        return Score(hint or "und", 0.0, 0.0, 0.0, False, ("error",))


def _not_scored(lang: str) -> Score:
    return Score(lang, 0.0, 0.0, 0.0, False, ("language not scored",))


def _score(text: object, lang: object, learned: bool = True) -> Score:
    analysed = _analyse(text, lang)
    if isinstance(analysed, Score):
        return analysed
    primary, readings, prepared = analysed
    return _combine(primary, readings, prepared, learned)


def _analyse(text: object, lang: object) -> Score | tuple[str, list[engine.Reading], str]:
    """The language and the lexicons' readings of a text, or the not-scored result that ends it there."""
    if not isinstance(text, str):
        return Score(detect.normalise_hint(lang) or "und", 0.0, 0.0, 0.0, False, ("not text",))
    lexicons, detector, words = _state or _load()
    hint = detect.normalise_hint(lang)
    if hint is not None and hint not in LANGS:
        return _not_scored(hint)
    text = engine.prepare(text, words)
    low = text.lower()
    tokens = lexicon.clean(low.split())
    if hint is None:
        counts = detector.counts(tokens)
        primary = detector.detect(text, counts, tokens)
        mixed = primary in LANGS and detect.mixed(primary, counts)
    else:  # counting the hinted language's own words is only worth it when the other one shows up
        primary = hint
        mixed = detector.foreign(hint, tokens) >= 2 and detect.mixed(hint, detector.counts(tokens))
    if primary == detect.UNDETECTED:
        return Score("und", 0.0, 0.0, 0.0, False, ("language not detected",))
    if primary == "und":
        # No words at all: emoji and emoticons only, which the English tables describe in any language.
        readings = [engine.read(lexicons["en"], text, low, tokens)]
    elif primary not in LANGS:
        return _not_scored(primary)
    else:
        readings = [engine.read(lexicons[primary], text, low, tokens)]
        if mixed:
            other = "fr" if primary == "en" else "en"
            readings.append(engine.read(lexicons[other], text, low, tokens))
    return primary, readings, text


def negativity_of(reading: engine.Reading) -> float:
    """Negative valence, offset by positive valence, squashed into (0, 1).

    A post without sentiment words sits at 0.1 and a positive one below: the scale stays graded at the bottom,
    which ranks posts better than a floor at 0 (0.02 of ROC AUC on the dev sets). Nothing to read at all is 0.
    Past NEG_LENGTH tokens, the sum is divided by the square root of the length: a long post is not negative
    merely for having room for more negative words.
    """
    if reading.words == 0:
        return 0.0
    x = VALENCE_SCALE.get(reading.lang, 1.0) * (reading.negative - NEG_POSITIVE_OFFSET * reading.positive)
    if reading.words > NEG_LENGTH:
        x /= math.sqrt(reading.words / NEG_LENGTH)
    z = min(max(NEG_SLOPE * (x - NEG_MIDPOINT), -60.0), 60.0)  # a post of 2,000 "love"s must not overflow
    return 1.0 / (1.0 + math.exp(-z))


def outrage_of(reading: engine.Reading, shout: float, negativity: float) -> float:
    raw = reading.outrage
    if raw > 0.0 and reading.valence > 0.0 and reading.positive > 2 * reading.negative:
        raw *= 0.5  # "fucking awesome": profanity in praise
    if reading.aimed:
        raw += AIMED_BONUS
    if shout:
        # Shouting amplifies hostility; on its own, it only counts when the words are negative too.
        raw = raw * (1.0 + shout) + shout * max(negativity - 0.3, 0.0)
    return 1.0 - math.exp(-OUTRAGE_RATE * min(raw, 60.0))


def with_learned(total: float, nudge: float) -> float:
    """The lexicon's score moved by the learned weights' sum, on the log-odds scale."""
    t = min(max(total, 1e-4), 1.0 - 1e-4)
    z = min(max(math.log(t / (1.0 - t)) + nudge, -30.0), 30.0)
    return 1.0 / (1.0 + math.exp(-z))


def _learned_reason(why: dict[str, float], reading: engine.Reading) -> None:
    """Name the word that pushed the score up most, unless another reason already names it ("profanity: x"),
    ranked by its own weight."""
    weights = (_state or _load())[0][reading.lang].learned
    # Strongest first, ties broken by the word, so that the same post always names the same one.
    ranked = sorted([(-weights[t], t) for t in set(filter(weights.__contains__, reading.tokens))])
    named = {r.rpartition(": ")[2] for r in why}
    for minus, term in ranked:
        if minus >= 0.0:
            return  # only the weights that push the score up
        if term not in named:
            why["learned: " + term] = -minus
            return


def _reasons(why: dict[str, float]) -> tuple[str, ...]:
    """The strongest reasons first, as valid Unicode (a post decoded with surrogateescape can carry lone
    surrogates, which no JSON encoder accepts)."""
    ranked = sorted(why, key=why.__getitem__, reverse=True)
    if len(ranked) > MAX_REASONS:
        ranked = ranked[:MAX_REASONS]
    joined = "".join(ranked)
    if not joined.isascii():
        try:
            joined.encode("utf-8")  # fails only on a lone surrogate
        except UnicodeEncodeError:
            ranked = [r if r.isascii() else r.encode("utf-8", "replace").decode("utf-8") for r in ranked]
    return tuple(ranked)


def _combine(lang: str, readings: list[engine.Reading], text: str, learned: bool = True) -> Score:
    caps = readings[0].shouting
    if "!" in text or "?" in text:
        bangs = "!!" in text
        interrobang = "?!" in text or "!?" in text
        shout = EMPHASIS_CAPS * caps + EMPHASIS_BANGS * bangs + EMPHASIS_INTERROBANG * interrobang
    else:
        bangs = interrobang = False
        shout = EMPHASIS_CAPS * caps
    why: dict[str, float] = {}
    if len(readings) == 1:
        reading = readings[0]
        negativity = negativity_of(reading)
        outrage = outrage_of(reading, shout, negativity)
        aimed = reading.aimed
        for weight, reason in reading.why:
            if weight > why.get(reason, 0.0):
                why[reason] = weight
    else:
        negativity = outrage = 0.0
        aimed = False
        for reading in readings:
            n = negativity_of(reading)
            if n > negativity:
                negativity = n
            o = outrage_of(reading, shout, n)
            if o > outrage:
                outrage = o
            aimed = aimed or reading.aimed
            for weight, reason in reading.why:
                if weight > why.get(reason, 0.0):
                    why[reason] = weight
        why["mixed en/fr"] = 0.0
    if aimed:
        why["aimed at you"] = AIMED_BONUS
    if shout and (outrage > 0.2 or negativity > 0.5):
        if caps:
            why["ALL CAPS"] = EMPHASIS_CAPS
        if bangs:
            why["!!!"] = EMPHASIS_BANGS
        if interrobang:
            why["?!"] = EMPHASIS_INTERROBANG
    total = 1.0 - (1.0 - outrage) * (1.0 - NEGATIVITY_IN_SCORE * negativity)
    nudge = readings[0].learned
    if learned and (nudge > 0.01 or nudge < -0.01):
        total = with_learned(total, nudge)
        if nudge >= LEARNED_REASON:
            _learned_reason(why, readings[0])
    # Four decimals are plenty, and int() is three times faster than round().
    return Score(
        lang,
        int(negativity * 10_000 + 0.5) / 10_000,
        int(outrage * 10_000 + 0.5) / 10_000,
        int(min(max(total, 0.0), 1.0) * 10_000 + 0.5) / 10_000,
        True,
        _reasons(why) if why else (),
    )
