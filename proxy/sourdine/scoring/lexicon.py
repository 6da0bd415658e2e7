"""Read the lexicons under rules/lexicons/<lang>/ into plain lookup tables, once.

Formats (documented in rules/README.md):
- `*.txt`: one term a line;
- `*.tsv`: `term<TAB>number`, and for outrage.tsv a third column, the kind;
- in both, blank lines and lines starting with `#` are skipped.
Every term goes through the language's own tokenizer, so it matches the tokens the scorer sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

OUTRAGE_KINDS = frozenset(
    {"insult", "slur", "profanity", "contempt", "indignation", "blame", "dunk", "threat"}
)

# Accents off, for French lookups: tweets drop them as often as they keep them.
UNACCENT = str.maketrans(
    {
        **{c: "a" for c in "àáâãäå"},
        **{c: "e" for c in "èéêë"},
        **{c: "i" for c in "ìíîï"},
        **{c: "o" for c in "òóôõö"},
        **{c: "u" for c in "ùúûü"},
        "ç": "c",
        "ñ": "n",
        "ÿ": "y",
        "œ": "oe",
        "æ": "ae",
    }
)


# What a token loses at either end, as in VADER, plus typographic marks.
PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~«»“”‘’„…–—¡¿·•"


def split_elisions(text: str) -> str:
    """Detach French elided articles and pronouns: "l'idiot" becomes "l' idiot". Every apostrophe counts,
    which is fast and costs only the French lexicon's few emoticons with an apostrophe (":'(")."""
    return text.replace("'", "' ")


def clean(tokens: list[str]) -> list[str]:
    """Strip punctuation from both ends of each token, unless what is left is too short to be a word (an
    emoticon, say: ":)" stays ":)", as in VADER; "no," becomes "no", unlike VADER)."""
    return [
        t if t.isalnum() else (s if len(s := t.strip(PUNCT)) > 2 or s.isalpha() else t) for t in tokens
    ]


# Tokens already folded, so that a word with accents costs one lookup, not a translation. Bounded: cleared
# when full (a dict's get and set are atomic, so threads may share it).
_FOLDED: dict[str, str] = {}
_FOLDED_MAX = 10_000  # French tokens with accents: about 150 bytes each


def _fold(token: str) -> str:
    folded = token.translate(UNACCENT)
    if len(_FOLDED) >= _FOLDED_MAX:
        _FOLDED.clear()
    _FOLDED[token] = folded
    return folded


def fold(tokens: list[str]) -> list[str]:
    """Accents off (French): only tokens that have any pay for it."""
    get = _FOLDED.get
    return [t if t.isascii() else (get(t) or _fold(t)) for t in tokens]


def tokenize(lang: str, low: str) -> list[str]:
    """Lower-cased text -> lookup tokens, for one language. Split on white space only, as VADER does, so that
    each token lines up with the same token of the original text (whose capitals count)."""
    if lang == "fr":
        return fold(clean(split_elisions(low).split()))
    return clean(low.split())


def _lines(path: Path) -> list[tuple[int, str]]:
    """The lines that hold a term, numbered. Read whole, not yielded: a caller that stops at a bad line must
    not leave the file open (a compiled generator is not closed when dropped)."""
    text = path.read_text(encoding="utf-8")
    return [
        (number, line)
        for number, line in enumerate(text.split("\n"), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def read_terms(path: Path) -> list[str]:
    """One term a line."""
    return [line.strip() for _, line in _lines(path)]


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """`term<TAB>value` lines, both non-empty. Raises ValueError naming the file and line of a bad one."""
    out = []
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"{path}:{number}: expected term<TAB>value")
        out.append((parts[0].strip(), parts[1].strip()))
    return out


def read_numbers(path: Path) -> list[tuple[str, float]]:
    """`term<TAB>number` lines. Raises ValueError naming the file and line of a bad one."""
    out = []
    for number, line in _lines(path):
        parts = line.split("\t")
        try:
            if len(parts) < 2 or not parts[0]:
                raise ValueError("expected term<TAB>number")
            out.append((parts[0], float(parts[1])))
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from e
    return out


def read_outrage(path: Path) -> list[tuple[str, float, str]]:
    """`term<TAB>weight<TAB>kind` lines, weight in [0, 1], kind one of OUTRAGE_KINDS."""
    out = []
    for number, line in _lines(path):
        parts = line.split("\t")
        try:
            if len(parts) != 3 or not parts[0]:
                raise ValueError("expected term<TAB>weight<TAB>kind")
            weight = float(parts[1])
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"weight {weight} is outside [0, 1]")
            if parts[2] not in OUTRAGE_KINDS:
                raise ValueError(f"unknown kind {parts[2]!r}")
            out.append((parts[0], weight, parts[2]))
        except ValueError as e:
            raise ValueError(f"{path}:{number}: {e}") from e
    return out


def read_emoji(path: Path) -> dict[str, str]:
    """`emoji<TAB>description` lines; only single code points are kept (the scorer matches characters)."""
    out = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0].strip():
            raise ValueError(f"{path}:{number}: expected emoji<TAB>description")
        emoji = parts[0].strip()
        if len(emoji) == 1:
            out[emoji] = parts[1].strip()
    return out


Phrase = tuple[list[str], float]
OutragePhrase = tuple[list[str], float, str, str]


class Entry(NamedTuple):
    """What one token can start: a valence, an outrage term, phrases of either; everything the scorer needs
    to know about it, found with one lookup."""

    valence: float | None
    # (weight, kind, as written, the reason a person reads: "insult: clown")
    outrage: tuple[float, str, str, str] | None
    # (tokens, weight, kind, reason), longest first; tokens are a list, compared with a slice of the post's.
    outrage_phrases: list[OutragePhrase] | None
    idioms: list[Phrase] | None  # (tokens, value), longest first
    # The second words of those phrases: a quick test that any of them may start here.
    phrase_next: frozenset[str] | None
    modifier: bool = False  # also a booster or a negation word: it modifies a lexicon word after it


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Everything the scorer looks up for one language. Keys are tokens as `tokenize` makes them."""

    lang: str
    entries: dict[str, Entry]
    valence: dict[str, float]
    boosters: dict[str, float]
    booster_starts: frozenset[str]  # the first words of the boosters of two words ("kind of")
    negators: frozenset[str]
    contrast: frozenset[str]
    second_person: frozenset[str]
    # The boosters (and the first words of those of two words), negation words and contrast words, together: one
    # pass over a post's tokens finds which of them it has, instead of one pass for each kind.
    modifiers: frozenset[str]
    stopwords: tuple[str, ...]  # as written, for the language detector
    emoji: dict[str, str]
    outrage_emoji: dict[str, tuple[float, str]]
    emoji_chars: frozenset[str]
    learned: dict[str, float]  # learned.tsv (optional): a token's nudge to the score's log-odds
    # What the scorer looks up first: `entries`, but a word that only starts phrases ("the", "pas") maps to the
    # words that can follow it (Entry.phrase_next), which settle most of its occurrences.
    lookup: dict[str, Entry | frozenset[str]]


def _tokens(lang: str, term: str) -> tuple[str, ...]:
    return tuple(t for t in tokenize(lang, term.lower()) if t)


def load(lang: str, root: Path) -> Lexicon:
    """Read rules/lexicons/<lang>/. Raises ValueError or OSError on a bad or missing file."""
    folder = root / lang
    french = lang == "fr"

    valence: dict[str, float] = {}
    idioms: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for name in ("valence.tsv", "valence_extra.tsv", "idioms.tsv"):
        for term, value in read_numbers(folder / name):
            if name == "idioms.tsv" or " " in term or (french and "'" in term and term.strip(PUNCT) == term):
                tokens = _tokens(lang, term)
            else:  # emoticons keep their punctuation
                low = term.lower()
                tokens = (low.translate(UNACCENT) if french else low,)
                if french and len(tokens[0]) == 1 and tokens[0].isalpha():
                    continue  # "s", "v": elided words in French, not sentiment
            if len(tokens) == 1:
                valence[tokens[0]] = value
            elif tokens:
                idioms.setdefault(tokens[0], []).append((tokens, value))

    valence = {k: v for k, v in valence.items() if v}  # a word set to 0 is a word removed
    outrage: dict[str, tuple[float, str, str]] = {}
    outrage_phrases: dict[str, list[tuple[tuple[str, ...], float, str, str]]] = {}
    outrage_emoji: dict[str, tuple[float, str]] = {}
    for term, weight, kind in read_outrage(folder / "outrage.tsv"):
        if len(term) == 1 and not term.isalnum():
            outrage_emoji[term] = (weight, kind)
            continue
        tokens = _tokens(lang, term)
        if len(tokens) == 1:
            outrage[tokens[0]] = (weight, kind, term)
        elif tokens:
            outrage_phrases.setdefault(tokens[0], []).append((tokens, weight, kind, term))

    def term_set(name: str) -> frozenset[str]:
        return frozenset(" ".join(_tokens(lang, t)) for t in read_terms(folder / name))

    emoji = read_emoji(folder / "emoji.tsv")
    learned: dict[str, float] = {}
    if (folder / "learned.tsv").exists():
        learned = {k[0]: v for t, v in read_numbers(folder / "learned.tsv") if len(k := _tokens(lang, t)) == 1}
    boosters = {" ".join(_tokens(lang, t)): v for t, v in read_numbers(folder / "boosters.tsv")}
    negators = term_set("negators.txt")
    booster_starts = frozenset(b.split()[0] for b in boosters if " " in b)
    contrast = term_set("contrast.txt")

    entries: dict[str, Entry] = {}
    for key in valence.keys() | outrage.keys() | outrage_phrases.keys() | idioms.keys():
        phrases = sorted(outrage_phrases.get(key, ()), key=lambda p: -len(p[0])) or None
        idiom_list = sorted(idioms.get(key, ()), key=lambda p: -len(p[0])) or None
        nexts = frozenset(p[0][1] for p in (*(phrases or ()), *(idiom_list or ())))
        single = outrage.get(key)
        entries[key] = Entry(
            valence.get(key),
            (single[0], single[1], single[2], f"{single[1]}: {single[2]}") if single else None,
            [(list(seq), w, kind, f"{kind}: {term}") for seq, w, kind, term in phrases] if phrases else None,
            [(list(seq), value) for seq, value in idiom_list] if idiom_list else None,
            nexts or None,
            key in boosters or key in negators,
        )
    return Lexicon(
        lang=lang,
        entries=entries,
        valence=valence,
        boosters=boosters,
        booster_starts=booster_starts,
        negators=negators,
        contrast=contrast,
        second_person=term_set("second_person.txt"),
        modifiers=frozenset(boosters) | booster_starts | negators | contrast,
        stopwords=tuple(t.lower() for t in read_terms(folder / "stopwords.txt")),
        emoji=emoji,
        outrage_emoji=outrage_emoji,
        emoji_chars=frozenset(emoji) | frozenset(outrage_emoji),
        learned=learned,
        lookup=lookup_of(entries),
    )


def lookup_of(entries: dict[str, Entry]) -> dict[str, Entry | frozenset[str]]:
    """`Lexicon.lookup`, made from the entries."""
    return {k: e.phrase_next if e.valence is None and e.outrage is None and e.phrase_next is not None else e
            for k, e in entries.items()}
