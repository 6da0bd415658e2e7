"""Read one text in one language: VADER's valence method, outrage terms, emphasis.

The valence pass is VADER's (Hutto & Gilbert 2014), rewritten to be linear in the text's length: only tokens
found in the lexicon do any work, and the contrast ("but") rule is one pass over the hits. Departures from
vaderSentiment 3.3.2, each on purpose:
- punctuation is stripped from a token that is a word even when it is short ("no," is "no");
- a run of negation words negates once ("ce n'est pas génial" is not a double negation);
- a booster with its own valence ("super") keeps it unless a lexicon word follows it;
- idioms are looked up wherever they occur, not only three words after a lexicon word;
- elongated words ("baaad") are read as the word they stretch;
- emoji are matched with a set intersection, not character by character.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import compress

from sourdine.model import plain_letters
from sourdine.scoring.lexicon import PUNCT, Lexicon, fold, tokenize
from sourdine.scoring.segment import MAX_CHARS as SPLIT_MAX_CHARS
from sourdine.scoring.segment import Segmenter

# VADER's empirical constants.
B_INCR = 0.293
C_INCR = 0.733
N_SCALAR = -0.74
ALPHA = 15.0

# Text past this many characters is not read: scoring stays bounded on a 1 MB post. 10,000 characters is about
# 1,700 words, longer than nearly every post; a longer one is judged on its beginning.
MAX_CHARS = 10_000

# Links and handles (left out) and hashtags (split into words): see _markup.
_URL_RE = re.compile(r"https?://\S+")  # matched on the lower-cased text
_WWW_RE = re.compile(r"www\.\S+")  # matched on the lower-cased text
_HANDLE_RE = re.compile(r"@\w+(?:@[\w.-]+\w)?")
_TAG_RE = re.compile(r"#(\w+)")
_DROPPED = (("http", _URL_RE), ("www.", _WWW_RE), ("@", _HANDLE_RE))  # matched on the lower-cased text
_UPPER = "A-ZÀ-ÖØ-Þ"
_LOWER = "a-zß-öø-ÿ"
# The words of a camel-case tag: a run of capitals not followed by a small letter ("NYC"), a word with at most
# one leading capital ("Rocks", "vous"), digits, any other letters.
_CAMEL_RE = re.compile(rf"[{_UPPER}]+(?![{_LOWER}])|[{_UPPER}]?[{_LOWER}]+|\d+|[^\W\d_]+")
_TAGS_MAX = 5_000  # tags whose reading is kept (Segmenter.tags): about 1 MB when full, with their splits
# Tags of one post split with the word lists: past them, a tag is read by its case changes alone. Forty-letter tags
# that every letter can start a word in took 0.1 ms each to split, and a post of 10,000 characters of them 24 ms (a
# review's finding: twelve such posts took a page past its budget).
_SPLIT_TAGS = 20
LEARNED_MAX = 1.0  # the learned weights' sum moves a score's log-odds by at most this much, either way
_BOOSTER_DECAY = (1.0, 0.95, 0.9)
_AIMABLE = frozenset({"insult", "slur", "profanity", "threat"})
# Characters that may be emoji (past the Latin letters French uses): found in C, then looked up in the tables
# (every emoji they name is one of these: tests/test_scoring.py).
_SYMBOL_RE = re.compile("[\u00a9\u00ae\u2000-\U0010ffff]")
# Emoji that NFKC spells with letters ("™" is "TM", "ℹ" is "i", "🈲" is "禁"): kept as they are, for the emoji
# tables to name. Folded, "🖕🖕🖕 ℹ️" held a word that no language has, and went unscored as "language not
# detected" where "🖕🖕🖕" alone is scored (a review's finding). Every emoji the tables name that NFKC spells with a
# letter is here (tests/test_scoring.py).
SPELT_EMOJI = ("\u2122\u2139\u24c2\u3297\u3299"  # ™ ℹ Ⓜ ㊗ ㊙
               "\U0001f201\U0001f202\U0001f21a\U0001f22f"  # 🈁 🈂 🈚 🈯
               + "".join(chr(c) for c in range(0x1F232, 0x1F23B))  # 🈲 to 🈺
               + "\U0001f250\U0001f251")  # 🉐 🉑
# Those, and the rest of their Unicode block past 🈁: a quick first test (a class of single astral characters took
# three times as long to search).
_SPELT_EMOJI_RE = re.compile("[\u2122\u2139\u24c2\u3297\u3299\U0001f201-\U0001f251]")
# Each one's stand-in while a text is folded: NUL and a private-use character, which NFKC leaves as they are and
# composes with nothing, so that the text on either side folds as it would alone.
_STAND_INS = tuple((emoji, "\x00" + chr(0xE000 + i)) for i, emoji in enumerate(SPELT_EMOJI))
_STRETCH_RE = re.compile(r"([^\W\d_])\1{2,}")
# A character that may be part of a word in capitals: one that is not a space, a digit, ASCII punctuation or a
# small letter, followed by no small letter. A post without one has no word in capitals ("I", "NO", "ÉNORME"),
# which this finds out with one search in C, not a test of every word.
_UPPER_WORD_RE = re.compile(r"[^\sa-zß-öø-ÿœ0-9!-/:-@\[-`{-~«»“”„…–—¡¿·•](?![a-zß-öø-ÿœ])")
# The same for a text of Latin-1 characters only: a class of those alone, which the regex engine tests with a
# table (white space spelt out: \s would be a test of a Unicode category).
_UPPER_LATIN_RE = re.compile("[^\t-\r\x1c-\x20\x85\xa0a-zß-öø-ÿ0-9!-/:-@\\[-`{-~«»¡¿·](?![a-zß-öø-ÿ])")


def _tag(tag: str, words: Segmenter | None) -> str:
    """ "#NotMyPresident" reads "not my president", and so does "#notmypresident" when the word lists split it.
    A tag in capitals is not shouting: tags are lowered. Each tag is worked out once (a tag recurs in many
    posts) and kept with the word lists."""
    if words is not None:
        known = words.tags.get(tag)
        if known is not None:
            return known
    read = tag.replace("_", " ")
    if not (read.isupper() or read.islower()):
        read = camel_words(read)
    read = read.lower()
    if words is not None:
        split = words.split(read)
        if split is not None:
            read = split
    read = f" {read} "
    # Only tags the word lists may split are kept: a longer one is quick to read again, and 5,000 tags of 10,000
    # characters held some 400 MB (a review's finding).
    if words is not None and len(tag) <= SPLIT_MAX_CHARS:
        if len(words.tags) >= _TAGS_MAX:
            words.tags.clear()
        words.tags[tag] = read
    return read


def camel_words(tag: str) -> str:
    """Spaces at the case changes of a tag: "HonteÀVous" -> "Honte À Vous", "NYCRocks" -> "NYC Rocks"."""
    return " ".join(_CAMEL_RE.findall(tag))


def _markup(text: str, words: Segmenter | None) -> str:
    """Links and handles out, hashtags split. Each kind is found with str.find on its first characters, then
    matched there (one regex with four alternatives, tried at every position, cost half as much again);
    spans are applied left to right, and one that starts inside an earlier one ("#frag" in a link) is part
    of it."""
    low = text.lower()
    if len(low) != len(text):  # lower() changed the length of some exotic character: match the original
        low = text
    spans: list[tuple[int, int, str]] = []
    for marker, pattern in _DROPPED:  # links (matched lower-cased) and handles
        i = low.find(marker)
        while i != -1:
            m = pattern.match(low, i)
            if m is None:
                i = low.find(marker, i + 1)
            else:
                i = m.end()
                spans.append((m.start(), i, " "))
                i = low.find(marker, i)
    i = text.find("#")
    split = 0
    while i != -1:
        m = _TAG_RE.match(text, i)
        if m is None:
            i = text.find("#", i + 1)
        else:
            i = m.end()
            split += 1
            spans.append((m.start(), i, _tag(m.group(1), words if split <= _SPLIT_TAGS else None)))
            i = text.find("#", i)
    if not spans:
        return text
    if len(spans) == 1:
        start, end, replacement = spans[0]
        return text[:start] + replacement + text[end:]
    spans.sort()
    out = []
    last = 0
    for start, end, replacement in spans:
        if start >= last:
            out.append(text[last:start])
            out.append(replacement)
            last = end
    out.append(text[last:])
    return "".join(out)


def prepare(text: str, words: Segmenter | None = None) -> str:
    """What every language reads: capped, entities decoded, links and handles out, hashtags split (at their
    capitals, and with `words` also the lower-case ones)."""
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if "&" in text:
        try:  # noqa: SIM105 - contextlib.suppress makes an object a post, in code mypyc compiles
            text = html.unescape(text)
        except ValueError:  # a reference of more than 4,300 digits (Python's limit): the text as written, as
            pass  # platforms.htmltext.unescape leaves it (the scoring package imports nothing outside it)
    if "\x00" in text:
        # A NUL ends a word as a space does ("disgusting\x00liar" was read as one word), and the emoji's stand-ins
        # below, which start with NUL, cannot then meet one in the text.
        text = text.replace("\x00", " ")
    if not text.isascii():
        # Letters as the lexicons spell them: invisible characters out ("id\u200biot", "id\u00adiot"), compatibility
        # forms folded ("ｉｄｉｏｔ", mathematical bold), Cyrillic and Greek look-alikes in Latin words read as Latin
        # letters ("іdiot"): each read as "idiot" (reviews' findings), as the mute lists read them. Emoji that NFKC
        # would spell with letters stay emoji (SPELT_EMOJI).
        text = plain_letters(text)
        folded = unicodedata.normalize("NFKC", text)
        if folded != text and _SPELT_EMOJI_RE.search(text) is not None:
            kept = [(emoji, stand_in) for emoji, stand_in in _STAND_INS if emoji in text]
            if kept:
                for emoji, stand_in in kept:
                    text = text.replace(emoji, stand_in)
                folded = unicodedata.normalize("NFKC", text)
                for emoji, stand_in in kept:
                    folded = folded.replace(stand_in, emoji)
        text = folded
    if "#" in text or "@" in text or "://" in text or "ww." in text or "WW." in text:
        text = _markup(text, words)
    if "’" in text or "‘" in text:
        text = text.replace("’", "'").replace("‘", "'")
    return text


@dataclass(slots=True)
class Reading:
    """What one language's lexicon finds in a text."""

    lang: str
    valence: float = 0.0  # VADER's sum, with punctuation emphasis
    positive: float = 0.0  # sum of positive valences
    negative: float = 0.0  # sum of the magnitudes of negative valences
    outrage: float = 0.0  # sum of outrage weights
    aimed: bool = False  # an insult next to "you"
    words: int = 0
    caps_words: int = 0  # words of three letters or more in capitals
    learned: float = 0.0  # the sum of the tokens' learned weights (learned.tsv), added to the score's log-odds
    tokens: list[str] = field(default_factory=list)  # the lookup tokens, as the learned weights see them
    # (weight, reason) pairs, for the reasons a person reads.
    why: list[tuple[float, str]] = field(default_factory=list)

    def __init__(self, lang: str, valence: float = 0.0, positive: float = 0.0, negative: float = 0.0,
                 outrage: float = 0.0, aimed: bool = False, words: int = 0, caps_words: int = 0, learned: float = 0.0,
                 tokens: list[str] | None = None, why: list[tuple[float, str]] | None = None) -> None:
        self.lang = lang
        self.valence = valence
        self.positive = positive
        self.negative = negative
        self.outrage = outrage
        self.aimed = aimed
        self.words = words
        self.caps_words = caps_words
        self.learned = learned
        self.tokens = [] if tokens is None else tokens
        self.why = [] if why is None else why

    @property
    def shouting(self) -> bool:
        return self.caps_words >= 2 and self.caps_words * 3 >= self.words or self.caps_words >= 4


def _negated(lex: Lexicon, low: list[str], i: int) -> str | None:
    """The negation word among the three tokens before position i, if any."""
    negators = lex.negators
    english = lex.lang == "en"
    for j in range(i - 1, max(i - 4, -1), -1):
        p = low[j]
        if p in negators or (english and "n't" in p):
            if english and j == i - 2 and p == "without" and low[i - 1] == "doubt":
                return None
            return p
    if english and i >= 1 and low[i - 1] == "least" and (i < 2 or low[i - 2] not in ("at", "very")):
        return "least"
    return None


def read(lex: Lexicon, text: str, low_text: str, tokens: list[str]) -> Reading:
    """Read a prepared text with one language's lexicon. Linear in the text's length.

    `low_text` is `text.lower()` and `tokens` its English tokens (`tokenize("en", low_text)`), made once for
    language detection and reused here.

    Written for speed (a tweet is read in about ten microseconds): one dictionary lookup per token, in C,
    finds everything the lexicon knows of it (lexicon.Entry), only the tokens found reach Python, and every
    rarer rule (emoji, elongation, capitals, boosters, negation, contrast) is first ruled out for the whole
    post with one test in C.
    """
    why: list[tuple[float, str]] = []
    outrage = 0.0
    # Whether every character is Latin-1, as in most English and French posts: a copy in C, quicker than any
    # search (and than an exception).
    latin = text.isascii() or len(text.encode("latin-1", "ignore")) == len(text)
    if not latin or "©" in text or "®" in text:
        # The characters that may be emoji, as the regex engine finds them: intersecting the set with the whole
        # text took every character through a set lookup, and made a string of each one past Latin-1 (four
        # times as long on a tweet).
        chars = lex.emoji_chars.intersection(_SYMBOL_RE.findall(text))
        if chars:
            for emoji in chars:
                o = lex.outrage_emoji.get(emoji)
                if o is not None:
                    outrage += o[0] * (1.0 + 0.25 * min(text.count(emoji) - 1, 4))
                    why.append((o[0], f"{o[1]}: {emoji}"))
            # Each emoji read as its name, in one pass: a replace a distinct emoji went over the whole text once
            # for each, and the text grows as it goes (a post of 10,000 distinct emoji took 76 ms, compiled: a
            # review's finding; three such posts took a 100-tweet page past its budget, unfiltered).
            names: dict[int, str] = {}
            for emoji in chars:
                name = lex.emoji.get(emoji)
                if name is not None:
                    names[ord(emoji)] = f" {name} "
            if names:
                text = text.translate(names)
            if len(text) > 2 * MAX_CHARS:  # a wall of emoji, each now a few words: still bounded
                text = text[: 2 * MAX_CHARS]
            low_text = text.lower()
            tokens = tokenize("en", low_text)
            latin = False
    french = lex.lang == "fr"
    if french:
        if "'" in low_text:  # elisions split: "c'est" -> "c", "est", as the lexicon's terms are
            low = " ".join(tokens).replace("'", " ").split()
        else:
            low = tokens
        if not low_text.isascii():
            low = fold(low)
    else:
        low = tokens
    n = len(low)
    if n == 0:
        return Reading(lex.lang, outrage=outrage, why=why)
    elongated = _elongated(low_text)
    if elongated:
        low = _unelongate(lex, low)
    learned = lex.learned
    nudge = sum(filter(None, map(learned.get, low))) if learned else 0.0
    # Bounded: summed over every word, the weights let a hostile post be padded with words the model learnt as
    # calm ("charlie yankees bird" five times took a post from 0.998 to 0.49, below the fold; a review's
    # finding). No post of the labelled sets sums past 0.91 either way.
    if nudge > LEARNED_MAX:
        nudge = LEARNED_MAX
    elif nudge < -LEARNED_MAX:
        nudge = -LEARNED_MAX
    # The tokens as written, for capitals and for the words a reason shows: made only when needed. Without
    # capitals in a word of its own, an English post's lookup tokens show the same.
    orig: list[str] | None = None
    uppers: list[str] = []
    if low_text != text and (_UPPER_LATIN_RE if latin else _UPPER_WORD_RE).search(text) is not None:
        orig = _original(text, low, french)
        uppers = list(filter(str.isupper, orig))
    elif not french and (low_text == text or (not elongated and text.isascii())):
        orig = low
    cap_diff = 0 < len(uppers) < n
    caps_words = sum(1 for t in uppers if len(t.strip(PUNCT)) >= 3) if uppers else 0

    entries, valence, boosters, negators = lex.entries, lex.valence, lex.boosters, lex.negators
    english = not french
    # What can modify a word, looked for once (one pass over the tokens for all four kinds): most posts have no
    # booster, and many no negation.
    present = lex.modifiers.intersection(low)
    boosted = not boosters.keys().isdisjoint(present)
    bigrams = not lex.booster_starts.isdisjoint(present)  # "kind of", "un peu"
    nt = english and ("n't" in low_text or "least" in low_text)
    negations = nt or not negators.isdisjoint(present)
    first = None  # the first contrast word ("but"): the valence before it counts half, after it half again
    if not lex.contrast.isdisjoint(present):
        first = min(low.index(c) for c in lex.contrast if c in present)
    aimed = False
    hit = False
    total = pos = neg = 0.0
    skip_to = -1
    outrage_to = -1
    known = list(map(lex.lookup.get, low))
    for i in compress(range(n), known):  # only the tokens the lexicon knows reach Python
        at = known[i]
        nxt = low[i + 1] if i + 1 < n else None
        if isinstance(at, frozenset):  # a word that only starts phrases ("pas", "the"): the words that follow
            if nxt not in at:  # none of its phrases goes on here
                continue
            e = entries[low[i]]
        else:
            e = at  # type: ignore[assignment]  # compress() passed only the tokens found
        v, single, phrases, idioms, nexts, modifier = e
        if nexts is not None and nxt not in nexts:
            phrases = idioms = None
        negator = None  # the negation word before it, looked for only when one of the three tokens may be
        if negations and (
            (i and low[i - 1] in negators)
            or (i > 1 and low[i - 2] in negators)
            or (i > 2 and low[i - 3] in negators)
            or (nt and i and (low[i - 1] == "least" or "n't" in "".join(low[max(i - 3, 0) : i])))
        ):
            negator = _negated(lex, low, i)
        # Outrage: one term at most starts here, the longest phrase first.
        term: tuple[float, str, str] | None = None
        if phrases is not None:
            for seq, weight, kind, reason in phrases:
                k = len(seq)
                if low[i : i + k] == seq:
                    term = (weight, kind, reason)
                    outrage_to = i + k
                    break
        if term is None and single is not None and i >= outrage_to:
            term = single[0], single[1], single[3]
            k = 1
        if term is not None:
            weight, kind, reason = term
            # Damped when negated ("not an idiot"), raised when aimed at "you".
            if negator is not None and kind != "blame":
                weight *= 0.3
            elif kind in _AIMABLE and not lex.second_person.isdisjoint(low[max(i - 3, 0) : i + k + 2]):
                weight *= 1.3
                aimed = True
            outrage += weight
            why.append((weight, reason))
        if i < skip_to:
            continue
        value: float | None = None
        if idioms is not None:
            for seq, found in idioms:
                k = len(seq)
                if low[i : i + k] == seq:
                    value = found
                    break
        if value is not None:  # an idiom's valence replaces its words', as it stands
            if value < 0:
                if orig is None:
                    orig = _original(text, low, french)
                why.append((-value / 4, "negative: " + _shown(orig, i, k)))
            skip_to = i + k
            v = value
        else:
            if v is None:
                continue
            if modifier and nxt is not None and nxt in valence:
                continue  # it modifies the next word instead
            if cap_diff and orig[i].isupper():  # type: ignore[index]  # cap_diff: orig was made
                v += C_INCR if v > 0 else -C_INCR
            if boosted:
                for j in (1, 2, 3):
                    if i < j:
                        break
                    b = boosters.get(low[i - j])
                    if b is not None:
                        s = b * _BOOSTER_DECAY[j - 1]
                        if v < 0:
                            s = -s
                        if cap_diff and orig[i - j].isupper():  # type: ignore[index]
                            s += C_INCR if v > 0 else -C_INCR
                        v += s
            if bigrams and i >= 2:
                b = boosters.get(low[i - 2] + " " + low[i - 1])
                if b is not None:
                    v += b * 0.95 if v > 0 else -b * 0.95
            if negator is not None:
                v *= N_SCALAR
            if v < 0 and single is None and i >= outrage_to:  # an outrage term is named as such, not twice
                if orig is None:
                    orig = _original(text, low, french)
                shown = _shown(orig, i, 1)
                if negator is not None:
                    shown = f"{negator} {shown}"
                why.append((-v / 4, f"negative: {shown}"))
        if first is not None:
            if i < first:
                v *= 0.5
            elif i > first:
                v *= 1.5
        hit = True
        total += v
        if v > 0:
            pos += v
        elif v < 0:
            neg -= v

    if hit:
        amp = _punctuation(text)
        if total > 0:
            total += amp
            pos += amp
        elif total < 0:
            total -= amp
            neg += amp
    return Reading(lex.lang, total, pos, neg, outrage, aimed, n, caps_words, nudge, low, why)


def _original(text: str, low: list[str], french: bool) -> list[str]:
    """The tokens of `text` as written, aligned with the lookup tokens `low` (French elisions split alike).
    If lower-casing changed the spacing of some exotic character, the lookup tokens stand in."""
    orig = (text.replace("'", " ") if french and "'" in text else text).split()
    return orig if len(orig) == len(low) else low


def _elongated(low: str) -> bool:
    """Whether a letter appears three times in a row ("sooo baaad", "nuuul").

    A loop over the code points, which the compiled build runs four times as fast as the regex `(.)\\1\\1` did
    (0.5 against 2.1 µs on the bench's Mastodon posts; pure Python, 2.5 times as slow). Where two neighbours
    differ, no run of three can end at the second one nor just after it, so the loop steps two on."""
    n = len(low)
    i = 2
    while i < n:
        c = ord(low[i])
        if c == ord(low[i - 1]):
            if c == ord(low[i - 2]) and low[i].isalpha():
                return True
            i += 1
        else:
            i += 2
    return False


def _unelongate(lex: Lexicon, low: list[str]) -> list[str]:
    """Elongated words read as the lexicon word they stretch: "baaad" is "bad", "sooo" is "so": each run of three
    or more of one letter read as two of it, else as one.

    Both forms come from one split, in C: the split keeps the letter of each run (at the odd places) and drops the
    rest of it. Two re.sub calls with a template ("\\1\\1") expanded it in Python at every run (Python 3.11), a few
    microseconds a word: a post of 10,000 characters of stretched words that are no word took 5 ms, compiled (a
    review's finding; 1 ms now)."""
    entries, boosters, negators = lex.entries, lex.boosters, lex.negators
    out = []
    for t in low:
        if t not in entries:
            parts = _STRETCH_RE.split(t)
            if len(parts) > 1:
                single = "".join(parts)
                for j in range(1, len(parts), 2):
                    parts[j] += parts[j]
                double = "".join(parts)
                if double in entries or double in boosters or double in negators:
                    t = double
                elif single in entries or single in boosters or single in negators:
                    t = single
        out.append(t)
    return out


def _shown(orig: list[str], i: int, k: int) -> str:
    """The words as the post wrote them (lower-cased, punctuation off), for a reason."""
    if k == 1:
        return orig[i].lower().strip(PUNCT)
    return " ".join([t.lower().strip(PUNCT) for t in orig[i : i + k]])


def _punctuation(text: str) -> float:
    """VADER's emphasis from "!" (up to 4) and "?" (2 or more)."""
    ep = min(text.count("!"), 4) * 0.292
    qm = text.count("?")
    if qm > 1:
        ep += qm * 0.18 if qm <= 3 else 0.96
    return ep


def normalize(x: float) -> float:
    """VADER's squashing of a valence sum into (-1, 1)."""
    return x / math.sqrt(x * x + ALPHA)
