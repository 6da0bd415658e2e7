"""The scorer: text in, negativity, outrage, score and reasons out, in English and French.

Every sentence here is hand-written for these tests; none comes from a labelled data set.
"""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from conftest import cheapest
from sourdine import scoring
from sourdine.cli_score import as_dict
from sourdine.model import Score
from sourdine.rules import rules_dir
from sourdine.scoring import detect, lexicon, score, warm
from sourdine.scoring.engine import _elongated

HOSTILE_FRIENDLY = [
    ("en", "You are a pathetic liar and everyone knows it.",
     "You are a wonderful friend and everyone knows it."),
    ("en", "Shut up, you stupid clown. Nobody asked.", "Thanks for sharing, this was really helpful."),
    ("en", "These corrupt crooks should be ashamed of themselves.",
     "These volunteers should be proud of themselves."),
    ("fr", "Tu es un menteur pathétique et tout le monde le sait.",
     "Tu es un ami merveilleux et tout le monde le sait."),
    ("fr", "Ferme ta gueule, espèce de guignol. Personne n'a demandé.",
     "Merci pour le partage, c'était très utile."),
    ("fr", "Ces escrocs corrompus devraient avoir honte.", "Ces bénévoles devraient être fiers d'eux."),
]

# The same hostile sentence in both languages (hand translations).
PARALLEL = [
    ("You are a disgusting liar, shame on you!", "Tu es un menteur dégoûtant, honte à toi !"),
    ("What a bunch of idiots. Resign now!", "Quelle bande d'idiots. Démission !"),
    ("These politicians are corrupt criminals and should be ashamed.",
     "Ces politiciens sont des criminels corrompus et devraient avoir honte."),
    ("Shut up, you pathetic loser.", "Ta gueule, pauvre minable."),
    ("This decision is a disgrace, it is unacceptable and scandalous.",
     "Cette décision est une honte, c'est inacceptable et scandaleux."),
    ("I hate this stupid government.", "Je déteste ce gouvernement stupide."),
]


def in_range(s: Score) -> bool:
    return all(0.0 <= x <= 1.0 for x in (s.negativity, s.outrage, s.score))


@pytest.mark.parametrize(("lang", "hostile", "friendly"), HOSTILE_FRIENDLY)
def test_hostile_scores_above_friendly(lang: str, hostile: str, friendly: str) -> None:
    """A hostile post outscores a friendly one of the same shape, and crosses the collapse threshold."""
    h, f = score(hostile, lang), score(friendly, lang)
    assert h.scored and f.scored
    assert h.score > f.score + 0.3
    assert h.score >= 0.55 > f.score
    assert h.outrage > f.outrage


@pytest.mark.parametrize(("lang", "hostile", "friendly"), HOSTILE_FRIENDLY)
def test_language_is_detected_without_a_hint(lang: str, hostile: str, friendly: str) -> None:
    """Without the platform's field, English and French posts are detected as such."""
    assert score(hostile).lang == lang
    assert score(friendly).lang == lang


@pytest.mark.parametrize(("negated", "plain", "lang"), [
    ("not bad", "bad", "en"),
    ("this is not terrible at all", "this is terrible", "en"),
    ("pas mal", "mal", "fr"),
    ("ce n'est pas mauvais", "c'est mauvais", "fr"),
])
def test_negation_softens_a_negative_word(negated: str, plain: str, lang: str) -> None:
    """A negated negative word ("not bad", "pas mal") reads much less negative than the word alone."""
    assert score(negated, lang).negativity < score(plain, lang).negativity - 0.1


@pytest.mark.parametrize(("negated", "plain", "lang"), [
    ("this is not great", "this is great", "en"),
    ("ce n'est pas génial", "c'est génial", "fr"),
    ("je n'aime pas ça", "j'aime ça", "fr"),
])
def test_negation_turns_praise_negative(negated: str, plain: str, lang: str) -> None:
    """A negated positive word ("ce n'est pas génial") is more negative, and the reason names the negation."""
    n, p = score(negated, lang), score(plain, lang)
    assert n.negativity > p.negativity + 0.15
    assert any(r.startswith("negative: ") and " " in r[len("negative: "):] for r in n.reasons), n.reasons


def test_french_double_negation_words_negate_once() -> None:
    """ "ne ... pas" is one negation: "il n'est pas content" is negative, not positive."""
    assert score("il n'est pas content", "fr").negativity > score("il est content", "fr").negativity + 0.15


@pytest.mark.parametrize(("boosted", "plain", "lang"), [
    ("this is extremely bad", "this is bad", "en"),
    ("this is very sad", "this is sad", "en"),
    ("c'est vraiment nul", "c'est nul", "fr"),
    ("c'est très triste", "c'est triste", "fr"),
])
def test_intensifiers_raise_negativity(boosted: str, plain: str, lang: str) -> None:
    """Boosters ("extremely", "vraiment") make a negative word count more."""
    assert score(boosted, lang).negativity > score(plain, lang).negativity


@pytest.mark.parametrize(("dampened", "plain", "lang"), [
    ("this is slightly bad", "this is bad", "en"),
    ("this is kind of bad", "this is bad", "en"),
    ("c'est un peu triste", "c'est triste", "fr"),
])
def test_dampeners_lower_negativity(dampened: str, plain: str, lang: str) -> None:
    """Dampeners ("slightly", "kind of", "un peu") make a negative word count less."""
    assert score(dampened, lang).negativity < score(plain, lang).negativity


@pytest.mark.parametrize(("shouted", "plain", "lang"), [
    ("THIS IS DISGUSTING!!!", "this is disgusting", "en"),
    ("C'EST UNE HONTE !!!", "c'est une honte", "fr"),
    ("Are you serious?! What a stupid decision", "Are you serious. What a stupid decision", "en"),
])
def test_shouting_amplifies_hostility(shouted: str, plain: str, lang: str) -> None:
    """ALL CAPS, "!!!" and "?!" raise outrage when the words are hostile, and are named in the reasons."""
    s, p = score(shouted, lang), score(plain, lang)
    assert s.outrage > p.outrage
    assert s.score > p.score
    assert {"ALL CAPS", "!!!", "?!"} & set(s.reasons)


@pytest.mark.parametrize(("text", "lang"), [
    ("SO HAPPY FOR YOU!!!", "en"), ("TROP CONTENT POUR TOI !!!", "fr")])
def test_shouting_alone_is_not_outrage(text: str, lang: str) -> None:
    """Capitals and exclamation marks on friendly words do not make a post hostile."""
    s = score(text, lang)
    assert s.outrage < 0.1 and s.score < 0.3


def test_emoji_carry_sentiment_and_outrage() -> None:
    """Angry emoji raise outrage; smiling ones do not; emoji alone are read in any language."""
    angry, happy = score("🤬🤬🖕"), score("😊😍")
    assert angry.scored and angry.outrage > 0.5 and angry.score >= 0.55
    assert happy.scored and happy.score < 0.1
    assert score("Quel match 😡🤬", "fr").outrage > score("Quel match 😊", "fr").outrage + 0.3
    assert score("I love this 😍", "en").negativity < score("I hate this 😡", "en").negativity


def test_every_emoji_the_lexicons_know_is_one_the_reader_looks_for() -> None:
    """The reader looks for emoji among the characters its symbol pattern finds (©, ® and everything from U+2000
    up): an emoji the tables name outside that range would never be read."""
    from sourdine.scoring import core, engine

    for lang, lex in core._load()[0].items():
        missed = sorted(c for c in lex.emoji_chars if not engine._SYMBOL_RE.fullmatch(c))
        assert not missed, (lang, missed)
    assert score("nice ©🤬 and ® here 🤬", "en").reasons == score("nice 🤬 and here 🤬", "en").reasons
    # A text of Latin-1 characters only is looked at for © and ® alone, and reads them as their names.
    lex = core._load()[0]["en"]
    for text, name in (("awful © here", "copyright"), ("naïve ® là", "registered")):
        assert name in engine.read(lex, text, text.lower(), text.lower().split()).tokens


def test_modifiers_hold_every_word_that_can_modify_another() -> None:
    """The reader finds a post's boosters, negations and contrast words in one intersection with `modifiers`,
    then tests each kind against what it found: that is the same as testing each kind against the post only if
    every word of every kind is in `modifiers`."""
    from sourdine.scoring import core

    for lang, lex in core._load()[0].items():
        kinds = set(lex.boosters) | lex.booster_starts | lex.negators | lex.contrast
        assert kinds <= lex.modifiers, (lang, sorted(kinds - lex.modifiers)[:5])
        assert lex.negators and lex.contrast and lex.booster_starts, lang


def test_urls_and_mentions_are_ignored() -> None:
    """Words inside a link or a handle do not count."""
    s = score("check this https://example.com/idiot-stupid-moron and @stupid_idiot_bot now", "en")
    assert s.outrage == 0.0 and s.reasons == ()
    assert score("bonjour @connard_du_92 www.debile.fr", "fr").outrage == 0.0


@pytest.mark.parametrize(("tagged", "plain", "reason", "lang"), [
    ("They did it again #ShameOnYou", "They did it again", "blame: shame on", "en"),
    ("Encore une fois #HonteÀVous", "Encore une fois", "blame: honte à vous", "fr"),
    ("Another day #disgusting", "Another day", "indignation: disgusting", "en"),
])
def test_hashtags_are_split_and_read(tagged: str, plain: str, reason: str, lang: str) -> None:
    """A hashtag is read as its words ("#ShameOnYou" is "shame on you"), not ignored."""
    t = score(tagged, lang)
    assert t.score > score(plain, lang).score + 0.2
    assert reason in t.reasons


def test_capitalised_hashtag_is_not_shouting() -> None:
    """ "#BREAKING" is a tag, not someone shouting."""
    assert "ALL CAPS" not in score("#BREAKING #NEWS #UPDATE the match is over, sadly we lost!!", "en").reasons


def test_html_entities_are_decoded() -> None:
    """HTML entities are read as the characters they stand for ("&lt;3", "&amp;", numeric emoji)."""
    assert score("you idiot &amp; liar", "en").reasons[:2] == ("insult: idiot", "insult: liar")
    assert score("I &lt;3 you", "en").negativity < score("I hate you", "en").negativity
    assert score("&#x1F92C;&#x1F92C;", "en").outrage > 0.5


def test_mixed_english_and_french_reads_both() -> None:
    """A post mixing both languages is read with both lexicons, whatever the platform says it is."""
    text = "This is so bad, c'est vraiment nul et honteux"
    for hint in ("en", "fr", None):
        s = score(text, hint)
        assert s.lang in ("en", "fr")
        assert "mixed en/fr" in s.reasons
        assert "indignation: honteux" in s.reasons and "negative: bad" in s.reasons
        assert s.score >= 0.55


def test_french_is_never_read_with_the_english_lexicon() -> None:
    """French words that are English lexicon words ("pain" is bread) do not make a French post negative."""
    s = score("Je mange du pain avec ma famille, quelle joie", "fr")
    assert s.lang == "fr"
    assert not any("pain" in r for r in s.reasons)
    assert s.negativity < 0.1


@pytest.mark.parametrize("text", ["", "   \n\t ", "https://example.com/only-a-link @someone"])
def test_empty_text_scores_zero(text: str) -> None:
    """Empty text, or text with nothing to read, scores exactly zero."""
    s = score(text)
    assert (s.negativity, s.outrage, s.score) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("text", ["\u200b", "...", "ok", "d'accord"])
def test_near_empty_text_is_neutral(text: str) -> None:
    """Text with no sentiment words is neutral: every number below 0.1."""
    s = score(text)
    assert in_range(s) and s.score < 0.1 and s.outrage == 0.0


def test_a_one_megabyte_post_takes_bounded_time() -> None:
    """A 1 MB post is scored in bounded time: only its first 10,000 characters are read."""
    warm()
    words = ["this", "is", "a", "bad", "idiot", "post", "with", "some", "words", "and", "more", "words"]
    big = " ".join(words[i % len(words)] for i in range(200_000))[:1_000_000]
    start = time.perf_counter()
    s = score(big, "en")
    elapsed = time.perf_counter() - start
    assert s.scored and in_range(s)
    assert elapsed < 0.25


@pytest.mark.parametrize(("name", "text"), [
    ("praise", "love " * 200_000),
    ("insults", "idiot " * 200_000),
    ("emoji", "🤬😊" * 500_000),
    ("camel-case tag", "#" + "aB" * 500_000),
    ("elisions", "l'" * 500_000),
    ("hashes", "#" * 1_000_000),
    ("stretched", "baaaaad " * 125_000),
    ("one token", "x" * 1_000_000),
    ("entities", "&amp;" * 200_000),
])
def test_pathological_posts_score_in_bounded_time(name: str, text: str) -> None:
    """Walls of one word, emoji, tags or entities score without error, in bounded time, in [0, 1]."""
    warm()
    for lang in ("en", "fr", None):
        start = time.perf_counter()
        s = score(text, lang)
        assert time.perf_counter() - start < 0.25, (name, lang)
        assert in_range(s) and s.reasons != ("error",), (name, lang, s)


def test_scoring_is_linear_in_length() -> None:
    """A 6,000-character post costs at most a few times 30 tweets of 200 characters."""
    warm()
    tweet = "Honestly the new policy is not great, and the minister is a clown. Why? Nobody knows!! "
    long_post = (tweet * 80)[:6000]
    short = tweet[:200]

    def scored(text: str, n: int):
        def work(_: int) -> None:
            for _ in range(n):
                score(text, "en")
        return work

    long, shorts = cheapest(scored(long_post, 1), scored(short, 30), runs=5)
    assert long < 4 * shorts, (long, shorts)


def test_lone_surrogates_around_hostile_words() -> None:
    """Lone surrogates (from surrogateescape) do not hide hostile words, and the result encodes as JSON."""
    s = score("\udcffyou are an idiot \udcfe and a \udcfe\udcfe", "en")
    assert "insult: idiot" in s.reasons and s.score >= 0.55
    orjson.dumps(as_dict(s))


def test_a_feed_of_100_posts_fits_the_latency_budget() -> None:
    """100 tweet-length posts, half without a language field, score in well under the 5 ms budget's 4x."""
    warm()
    posts = [(e if i % 2 else f, None if i % 4 < 2 else lang)
             for i, (lang, e, f) in enumerate(HOSTILE_FRIENDLY * 17)][:100]
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for text, lang in posts:
            score(text, lang)
        best = min(best, time.perf_counter() - start)
    assert best < 0.02


@pytest.mark.parametrize("seed", range(5))
def test_binary_garbage_never_raises(seed: int) -> None:
    """Random bytes decoded every which way score without raising, in [0, 1], with JSON-encodable reasons."""
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5000)))
    texts = (
        data.decode("latin-1"),
        data.decode("utf-8", "surrogateescape"),
        data.decode("utf-8", "replace"),
        "".join(chr(rng.randrange(0x110000)) for _ in range(500)),
    )
    for text in texts:
        for hint in (None, "en", "fr"):
            s = score(text, hint)
            assert isinstance(s, Score) and in_range(s)
            orjson.dumps(as_dict(s))  # what the CLI and the API send must encode


def test_not_text_gives_a_not_scored_result() -> None:
    """Something other than a str is not scored, and does not raise."""
    s = score(None)  # type: ignore[arg-type]
    assert not s.scored and s.score == 0.0


@pytest.mark.parametrize(("text", "hint", "lang"), [
    ("Dies ist ein schöner Tag und ich bin so froh darüber", None, "de"),
    ("Hoy es un día muy bonito y estoy feliz con todos", None, "es"),
    ("Ciao a tutti, che bella giornata oggi", None, "it"),
    ("Não sei o que você está fazendo aqui", None, "pt"),
    ("Ik weet niet wat je hier doet, echt niet", None, "nl"),
    ("Dzień dobry, co u was słychać? Wszystko dobrze", None, "pl"),
    ("今日はとても良い天気です", None, "ja"),
    ("今天天气很好", None, "zh"),
    ("오늘 날씨가 좋네요", None, "ko"),
    ("Это просто ужасно, какой позор", None, "ru"),
    ("Це жахливо, і мені соромно", None, "uk"),
    ("هذا أمر فظيع حقا", None, "ar"),
    ("این واقعا وحشتناک است", None, "fa"),
    ("Αυτό είναι απαίσιο", None, "el"),
    ("זה נורא", None, "he"),
    ("यह बहुत बुरा है", None, "hi"),
    ("Qué asco", None, "es"),
    ("You absolute idiot", "de", "de"),
    ("Idiota total", "pt-BR", "pt"),
])
def test_other_languages_are_not_scored(text: str, hint: str | None, lang: str) -> None:
    """A language other than English or French gets its code, zeros, and scored=False."""
    s = score(text, hint)
    assert (s.lang, s.scored, s.negativity, s.outrage, s.score) == (lang, False, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(("text", "lang"), [
    ("Disgusting.", "en"),  # no function word: the lexicon word that only English has
    ("Honteux !!", "fr"),
    ("#disgusting", "en"),
    ("Pathetic loser", "en"),
    ("Lamentable, pitoyable", "fr"),
    ("You are such a joke, Donald.", "en"),  # a name and a word of another language do not outweigh English
    ("C'est vraiment nul, Ricardo, franchement", "fr"),
    ("Moscow is lovely in the spring, Москва", "en"),  # a few letters of another script
    ("L'ordure.", "fr"),  # elisions are French function words
    ("Bande d'abrutis !!", "fr"),
    ("Bande d’imbéciles", "fr"),
    ("Idiot", "en"),  # a word both lexicons have: English or French by the letters
    ("Crétin !", "fr"),
    ("Total disgrace", "en"),
    ("Clown show", "en"),
    ("Onze morts. Scandale !", "fr"),  # words that are also another language's do not count against these
    ("Dos à dos, tous pourris", "fr"),
    ("Hay fever sucks", "en"),
    ("OG trash", "en"),
    ("ALS patients deserve better", "en"),
    ("Ciao, loser", "en"),
    ("Hola idiots", "en"),
    ("Nada. Total garbage.", "en"),
    ("Von der Leyen is a disgrace", "en"),
])
def test_a_post_without_a_language_field_is_placed_by_its_words(text: str, lang: str) -> None:
    """English and French posts are detected from their function words, or, without any, their lexicon words."""
    assert score(text).lang == lang and score(text).scored


def test_other_languages_words_are_neither_english_nor_french() -> None:
    """No word that names another language is an English or French function word or lexicon term: one such word
    in a short post would leave it unscored."""
    lexicons, detector, _ = scoring._load()
    own = detector._en | detector._fr | set(lexicons["en"].entries) | set(lexicons["fr"].entries)
    assert not own & set(detector._other_langs)
    assert len({lang for langs in detector._other_langs.values() for lang in langs}) == 21


@pytest.mark.parametrize("text", ["@user Brazil", "Mossad.", "Xyzzy plugh"])
def test_words_that_nothing_places_are_not_scored(text: str) -> None:
    """A post whose words are neither function words nor lexicon words of any language is not scored, and says
    so: it is not given a pretend English score."""
    s = score(text)
    assert (s.lang, s.scored, s.score, s.reasons) == ("und", False, 0.0, ("language not detected",))


def test_a_wall_of_distinct_emoji_costs_about_what_text_of_its_length_costs() -> None:
    """Every emoji the lexicons know, over and over: read as their names in one pass, not one pass over the
    whole text for each distinct emoji (76 ms of CPU for 10,000 characters, compiled, against 0.8 ms for as much
    text: a review's finding). Timed against ordinary text in the same process, so that the machine's pace
    cancels out; the old way was about 100 times as slow, this one under 10."""
    from sourdine.scoring import core

    en = sorted(core._load()[0]["en"].emoji_chars)
    wall = "".join(en[i % len(en)] for i in range(10_000))
    prose = ("You are a disgusting liar and a pathetic idiot, and everyone here knows it well. " * 130)[:10_000]

    score(prose[:100], "en")
    # A new text each round: the score cache does not answer.
    slow, fast = cheapest(lambda n: score(wall + " " * n, "en"), lambda n: score(prose + " " * n, "en"), runs=3)
    assert slow < 30 * fast, (slow, fast)
    read = score(wall, "en")
    assert read.scored and 0.0 <= read.score <= 1.0


@pytest.mark.parametrize(("disguised", "plain", "lang"), [
    ("You are an \u0456diot", "You are an idiot", "en"),  # a Ukrainian і
    ("\u0455hame on you", "shame on you", "en"),  # a Cyrillic dze
    ("What an id\u0456ot, a total cl\u043ewn", "What an idiot, a total clown", None),
    ("\u0406D\u0406\u041eT", "IDIOT", "en"),  # capitals: still shouting
    ("Quelle h\u03bfnte, ces escr\u03bfcs", "Quelle honte, ces escrocs", "fr"),  # a Greek omicron
    ("#\u0405hameOnYou", "#ShameOnYou", None),
    ("You are an \U0001d422d\u0456ot", "You are an idiot", "en"),  # a bold 𝐢 beside it (a review's finding)
])
def test_cyrillic_and_greek_look_alikes_in_latin_words_read_as_latin(disguised: str, plain: str,
                                                                      lang: str | None) -> None:
    """A Cyrillic or Greek letter drawn like a Latin one, in a Latin word, is read as that letter: NFKC leaves it,
    and "іdiot" was no word the lexicons knew (a review's finding)."""
    assert score(disguised, lang) == score(plain, lang)


def test_one_look_alike_costs_a_long_post_about_what_none_does() -> None:
    """A post's words before its first look-alike are not read again, and after it only those holding one reach
    Python: with one "іdiot" at its end, a post of 10,000 characters of French took five times as long to score
    when every word of it was read (a review's finding)."""
    import time

    from sourdine.model import latinise

    plain = "Quelle belle journée au marché, merci à toutes et à tous pour ce moment. " * 135
    mixed = plain + "\u0456diot"
    assert latinise(mixed).endswith("idiot")

    def best(text: str) -> float:
        times = []
        for _ in range(15):
            started = time.perf_counter()
            latinise(text)
            times.append(time.perf_counter() - started)
        return min(times)

    # Without a look-alike, latinise is a search or two in C; with one at the end, it reads that word alone. The
    # bound leaves room for a slow machine: reading every word took 20 to 40 times as long as the searches.
    assert best(mixed) < 6 * best(plain + "idiot") + 0.0002


def test_words_wholly_in_cyrillic_or_greek_stay_as_they_are() -> None:
    """Only words that mix Latin letters with look-alikes are read as Latin: "рор" (all Cyrillic) is not "pop",
    Russian and Greek stay Russian and Greek, and a word with another Cyrillic letter ("idжot") stays too."""
    from sourdine.scoring.engine import prepare

    for text in ("the word \u0440\u043e\u0440 here", "Ты идиот и клоун", "Είσαι ηλίθιος", "id\u0436ot"):
        assert prepare(text) == text
    assert score("Ты идиот и клоун").lang == "ru" and score("Είσαι ηλίθιος").lang == "el"


def test_a_post_without_words_is_read_with_the_emoji_tables() -> None:
    """Emoji and emoticons only: no language to detect; the emoji tables, shared by both languages, read it."""
    s = score("😡😡😡")
    assert s.lang == "und" and s.scored and s.score >= 0.5 and s.reasons == ("indignation: 😡",)


@pytest.mark.parametrize("text", [
    "🖕🖕🖕 \u2139\ufe0f",  # ℹ️, information source, as emoji keyboards write it
    "🖕🖕🖕\u2139",
    "🖕🖕🖕 \u2122",  # ™
    "🖕🖕🖕 \u24c2\ufe0f",  # Ⓜ️
    "🖕🖕🖕 \U0001f232",  # 🈲
    "\u3299\ufe0f 🖕🖕🖕",  # ㊙️
    "🖕🖕🖕 \u2139\ufe0f\x00",  # with a NUL, which kept the emoji from their stand-ins (a review's leftover)
    "🖕\x00🖕🖕 \u2122",
])
def test_an_emoji_that_nfkc_spells_with_letters_leaves_a_post_of_emoji_scored(text: str) -> None:
    """ "ℹ", "™", "Ⓜ", "🈲" are emoji the tables name, which NFKC spelt "i", "TM", "M", "禁": a post of emoji with
    one of them held a word of no language, and went unscored as "language not detected" where the same emoji
    alone are scored (a review's finding). Kept as they are, they are read as emoji."""
    s = score(text)
    assert s.scored and s.lang == "und" and "insult: 🖕" in s.reasons, s


@pytest.mark.parametrize("text", ["disgusting\x00liar", "you\x00idiot, what a disgrace", "quelle\x00honte, é"])
def test_a_nul_ends_a_word_as_a_space_does(text: str) -> None:
    """A NUL between two words reads as a space, in ASCII text as in any other ("disgusting\x00liar" was read as
    one word, and scored calm, unless the post held a letter outside ASCII: a review's finding)."""
    assert score(text).reasons == score(text.replace("\x00", " ")).reasons != ()


@pytest.mark.parametrize(("text", "lang"), [
    ("xkcd zzqv \u2139\ufe0f", "und"),  # words of no language stay unscored
    ("\u2139\ufe0f Привет, как дела у тебя", "ru"),
    ("\u2139\ufe0f The minister is a liar and a clown", "en"),
    ("\u2139\ufe0f Quelle honte, ce ministre est un menteur", "fr"),
])
def test_an_emoji_spelt_with_letters_leaves_the_language_of_words_as_it_was(text: str, lang: str) -> None:
    """Guard (it holds of the old code too): the emoji kept as they are change no language that words settle."""
    s = score(text)
    assert s.lang == lang and s.scored is (lang in ("en", "fr")), s


@given(st.lists(st.sampled_from(["a", "é", "e", "\u0301", "\u0323", "\uff46", "\ufb01", "\u2122", "\u2139", "\ufe0f",
                                  "\U0001f232", "\U0001f23a", "\u3299", "\u24c2", " ", "\u1100", "\u1161", "\ue000",
                                  "\ue001", "\U0001d41a", "\u2026"]), max_size=16).map("".join))
def test_the_text_around_an_emoji_spelt_with_letters_folds_as_it_would_alone(text: str) -> None:
    """Text between such emoji is folded (NFKC) as each piece would be alone, the emoji left as they are: their
    stand-ins while the text folds change nothing around them (combining marks, Hangul jamo, private-use
    characters included)."""
    import unicodedata

    from sourdine.scoring.engine import SPELT_EMOJI, prepare

    pieces = re.split(f"([{SPELT_EMOJI}])", text)
    expected = "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(pieces))
    assert prepare(text) == expected


def test_every_emoji_the_tables_name_that_nfkc_spells_with_a_letter_stays_an_emoji() -> None:
    """The list of emoji kept out of NFKC is complete: every emoji of either table whose NFKC form has a letter."""
    import unicodedata

    from sourdine.scoring import core, engine

    kept = re.compile(f"[{engine.SPELT_EMOJI}]")
    for lang, lex in core._load()[0].items():
        spelt = sorted(c for c in lex.emoji_chars if any(x.isalpha() for x in unicodedata.normalize("NFKC", c)))
        assert spelt and [c for c in spelt if not kept.fullmatch(c)] == [], lang
        assert engine.prepare(" ".join(spelt)) == " ".join(spelt)
    assert all(engine._SPELT_EMOJI_RE.fullmatch(c) for c in engine.SPELT_EMOJI)  # the quick test finds each


def test_detection_is_cheap_without_a_language_field() -> None:
    """Detection adds little to a post's cost: the same posts scored with and without the platform's field."""
    warm()
    posts = [("You are a pathetic liar and everyone knows it, shame on you!", "en"),
             ("Quelle bande d'idiots, ils devraient avoir honte de mentir comme ça", "fr")] * 200

    def cost(with_hint: bool):
        def work(_: int) -> None:
            for text, lang in posts:
                score(text, lang if with_hint else None)
        return work

    detected, hinted = cheapest(cost(False), cost(True), runs=5)
    assert detected < hinted * 1.5 + 0.002, (detected, hinted)


@pytest.mark.parametrize(("hint", "lang"), [
    ("fr-CA", "fr"), ("FR", "fr"), ("fr_FR", "fr"), ("en-US", "en"), ("en-GB", "en"),
    ("und", None), ("", None),
])
def test_language_hint_is_honoured(hint: str, lang: str | None) -> None:
    """The platform's field wins ("fr-CA" -> fr); an empty or "und" field means detect."""
    text = "Quelle bande d'idiots, ils devraient avoir honte"
    s = score(text, hint)
    assert s.lang == (lang or "fr")
    if lang == "en":  # honoured even when wrong; the French in it is still read, as in a mixed post
        assert "mixed en/fr" in s.reasons


@pytest.mark.parametrize(("english", "french"), PARALLEL)
def test_same_hostile_sentence_scores_alike_in_both_languages(english: str, french: str) -> None:
    """The same hostile sentence in English and in French lands within 0.15 on score."""
    en, fr = score(english, "en"), score(french, "fr")
    assert en.score >= 0.55 and fr.score >= 0.55
    assert abs(en.score - fr.score) <= 0.15, (en, fr)


def test_reasons_name_the_terms() -> None:
    """Reasons name the insult, the blame and the emphasis; a word is not named twice."""
    s = score("You absolute idiot, shame on you!!!", "en")
    assert s.reasons[0] == "insult: idiot"
    assert "blame: shame on" in s.reasons and "!!!" in s.reasons and "aimed at you" in s.reasons
    assert "negative: idiot" not in s.reasons
    assert 1 <= len(s.reasons) <= 6


@pytest.mark.parametrize(("stretched", "plain", "lang"), [
    ("this is baaaaad", "this is bad", "en"), ("c'est nuuuuul", "c'est nul", "fr")])
def test_elongated_words_read_as_the_word(stretched: str, plain: str, lang: str) -> None:
    """ "baaaaad" reads as "bad", "nuuuuul" as "nul"."""
    assert score(stretched, lang).negativity == pytest.approx(score(plain, lang).negativity, abs=0.02)
    assert score(stretched, lang).negativity > score("this is it", "en").negativity + 0.15


# Strings of runs: letters (Latin-1, Greek, an astral mathematical letter), punctuation, digits, an emoji,
# spaces and newlines, one to four times each.
_RUNS = st.lists(st.tuples(st.sampled_from(["a", "b", "é", "ß", "ω", "\U0001d41a", "!", "1", "😡", " ", "\n", "_"]),
                           st.integers(1, 4)), max_size=12).map(lambda runs: "".join(c * k for c, k in runs))


@given(st.one_of(_RUNS, st.text(max_size=40)))
def test_elongated_is_any_letter_three_times(text: str) -> None:
    """The scorer's quick test for a stretched word is the plain definition: a letter three times in a row."""
    assert _elongated(text) is any(
        text[i].isalpha() and text[i] == text[i + 1] == text[i + 2] for i in range(len(text) - 2))


# Lexicon words of both languages with some letters stretched, and runs as above: tokens as the scorer sees them.
_STRETCHED = st.lists(st.tuples(st.sampled_from(["bad", "nul", "so", "not", "pas", "tres", "idiot", "good", "aaah"]),
                                st.integers(1, 5), st.integers(0, 4)), max_size=8).map(
    lambda ws: [w[:i] + w[i:i + 1] * k + w[i + 1:] for w, k, i in ws])


@given(st.one_of(_STRETCHED, st.lists(_RUNS, max_size=8)), st.sampled_from(["en", "fr"]))
def test_unelongating_reads_the_forms_the_plain_definition_reads(tokens: list[str], lang: str) -> None:
    """Reference check (it holds of the old code too): a stretched token reads as the first of "each run of three
    or more letters as two of it", "as one of it" that the lexicon knows, as the two substitutions spelt it."""
    from sourdine.scoring import core
    from sourdine.scoring.engine import _unelongate

    lex = core._load()[0][lang]
    stretch = re.compile(r"([^\W\d_])\1{2,}")
    expected = []
    for t in tokens:
        if t not in lex.entries and stretch.search(t) is not None:
            for form in (stretch.sub(r"\1\1", t), stretch.sub(r"\1", t)):
                if form in lex.entries or form in lex.boosters or form in lex.negators:
                    t = form
                    break
        expected.append(t)
    assert _unelongate(lex, tokens) == expected


def test_stretched_words_that_are_no_word_cost_a_few_times_what_unstretched_ones_cost() -> None:
    """10,000 characters of stretched non-words ("aaaabbbbcccccc"): both readings of each come from one split,
    not two substitutions whose template Python expanded at every run (5 ms compiled, 13 times as much as
    10,000 characters of such words unstretched: a review's finding; now under 3 times). Timed against those in
    the same process, so that the machine's pace cancels out."""
    def words(shortest: int, longest: int) -> str:
        rng = random.Random(5)
        out = ""
        while len(out) < 10_000:
            out += " " + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") * rng.randint(shortest, longest)
                                 for _ in range(3))
        return out[1:10_001]

    stretched = words(3, 6)
    plain = re.sub(r"([a-z])\1\1+", r"\1\1", words(1, 2))  # no letter three times in a row

    score(plain[:100], "en")
    # A new text each round: the score cache does not answer.
    slow, fast = cheapest(lambda n: score(stretched + " " * n, "en"), lambda n: score(plain + " " * n, "en"),
                          runs=5)
    assert slow < 4 * fast, (slow, fast)


@pytest.mark.parametrize(("dunk", "plain", "lang"), [
    ("Oh great, what a surprise, the minister lied again 👏👏", "The minister spoke again", "en"),
    ("Comme par hasard, quel génie ce ministre 👏👏", "Le ministre a parlé", "fr"),
])
def test_dunks_and_sarcasm_markers_count_as_outrage(dunk: str, plain: str, lang: str) -> None:
    """Sarcasm markers ("what a surprise", "comme par hasard", clapping) raise outrage and are named."""
    d = score(dunk, lang)
    assert d.outrage > score(plain, lang).outrage + 0.2
    assert any(r.startswith("dunk: ") for r in d.reasons)


def test_profanity_in_praise_is_mild() -> None:
    """ "fucking awesome" is praise: far below "fucking idiot"."""
    assert score("this is fucking awesome", "en").score < 0.3 < score("you fucking idiot", "en").score


def test_a_long_post_is_not_negative_for_its_length() -> None:
    """A long post with a few negative words among many reads less negative than a short one made of them."""
    filler = "We met at the station, took the train to the coast and walked along the harbour. " * 12
    short = "A bad day, a sad end, an awful mess."
    assert score(filler + short, "en").negativity < score(short, "en").negativity


def test_sad_news_can_collapse_but_not_hide() -> None:
    """Negativity alone (no hostility) stays below the hide threshold, however negative."""
    text = "So sad and heartbroken, a terrible tragedy, my deepest sympathy to the grieving families"
    s = score(text, "en")
    assert s.negativity > 0.8 and s.outrage < 0.2
    assert s.score < 0.85


ENGLISH_REFERENCE = [
    "I love this so much", "This is the worst day ever", "The food was okay, nothing special",
    "What a terrible, awful movie", "She is very kind and smart", "I am not happy with the service",
    "Great job, team!", "This is not good at all", "I hate waiting in line", "The weather is nice today",
    "He was rude and disrespectful", "Best concert ever!!!", "I'm so disappointed",
    "Thanks, that was helpful",
    "The situation is getting worse", "What a wonderful surprise", "This product broke after a day, useless",
    "I feel lonely and sad", "Congratulations on your new job!", "That was a stupid mistake",
]


def test_english_agrees_with_vadersentiment() -> None:
    """English valence follows vaderSentiment's: same sign on clear sentences, same ordering by and large."""
    vader = SentimentIntensityAnalyzer()
    ours = [score(t, "en").negativity for t in ENGLISH_REFERENCE]
    theirs = [vader.polarity_scores(t)["compound"] for t in ENGLISH_REFERENCE]
    neutral = score("The meeting is on Tuesday at the town hall", "en").negativity
    agree = sum(1 for o, t in zip(ours, theirs, strict=True) if (o > neutral + 0.05) == (t < -0.05))
    assert agree >= len(ENGLISH_REFERENCE) - 1
    # Rank agreement: pairs ordered the same way (our negativity against VADER's -compound).
    pairs = concordant = 0
    for i in range(len(ours)):
        for j in range(i + 1, len(ours)):
            if theirs[i] != theirs[j] and ours[i] != ours[j]:
                pairs += 1
                concordant += (ours[i] > ours[j]) == (theirs[i] < theirs[j])
    assert concordant / pairs > 0.8


def test_scoring_is_thread_safe() -> None:
    """Scoring from many threads at once gives the same results as scoring alone."""
    texts = [t for _, h, f in HOSTILE_FRIENDLY for t in (h, f)] + [e for e, _ in PARALLEL]
    expected = [score(t) for t in texts]
    results: list[list[Score]] = []

    def work() -> None:
        results.append([score(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r == expected for r in results)


def test_warm_loads_everything_and_is_idempotent() -> None:
    """warm() can be called more than once; afterwards even a post in another language is placed at once."""
    warm()
    warm()
    start = time.perf_counter()
    assert score("Hola, buenos días a todos").lang == "es"
    assert time.perf_counter() - start < 0.05


LEXICON_FILES = sorted((rules_dir() / "lexicons").glob("*/*.t*"))


@pytest.mark.parametrize("path", LEXICON_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_lexicon_file_parses(path: Path) -> None:
    """Each data file under rules/lexicons parses in its format and is not empty."""
    if path.name == "outrage.tsv":
        rows: list[object] = list(lexicon.read_outrage(path))
    elif path.name == "emoji.tsv":
        rows = list(lexicon.read_emoji(path))
    elif path.parent.name == "other":  # word<TAB>language
        rows = list(lexicon.read_pairs(path))
        assert all(len(lang) == 2 and lang.isascii() and lang.islower() for _, lang in rows)
    elif path.suffix == ".tsv":
        rows = list(lexicon.read_numbers(path))
    else:
        rows = list(lexicon.read_terms(path))
    assert rows


def test_every_lexicon_file_is_attributed() -> None:
    """SOURCES.md names every data file under rules/lexicons."""
    sources = (rules_dir() / "lexicons" / "SOURCES.md").read_text(encoding="utf-8")
    for path in LEXICON_FILES:
        assert f"{path.parent.name}/{path.name}" in sources, path


def test_a_bad_lexicon_line_names_its_file_and_line(tmp_path: Path) -> None:
    """A malformed lexicon line is a ValueError naming the file and the line."""
    bad = tmp_path / "outrage.tsv"
    bad.write_text("# comment\nidiot\t0.6\tinsult\nmoron\t1.5\tinsult\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"outrage.tsv:3: weight 1.5"):
        lexicon.read_outrage(bad)
    bad.write_text("idiot\tlots\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"outrage.tsv:1"):
        lexicon.read_numbers(bad)


@pytest.mark.parametrize(("field", "expected"), [
    ("fr-CA", "fr"), ("en_US", "en"), ("eng", "en"), ("und", None), ("", None), (None, None),
    ("x" * 100, None),
])
def test_normalise_hint(field: str | None, expected: str | None) -> None:
    """Platform language fields reduce to their primary subtag; empty or unknown ones to None."""
    assert detect.normalise_hint(field) == expected


@pytest.mark.parametrize("spelt", ["id\u200biot", "id\u00adiot", "\uff49\uff44\uff49\uff4f\uff54",
                                   "\U0001d422\U0001d41d\U0001d422\U0001d428\U0001d42d", "idi\u2060ot"])
def test_an_insult_hidden_by_invisible_characters_or_other_letter_forms_reads_as_the_insult(spelt: str) -> None:
    """Soft hyphens, zero-width characters and compatibility forms (fullwidth, mathematical letters) do not hide a
    word from the scorer, as they do not from the mute lists: each scored 0.09 where "idiot" scored 0.76 (a
    review's finding)."""
    plain = score("You are an idiot", "en")
    hidden = score(f"You are an {spelt}", "en")
    assert hidden.score == plain.score and hidden.reasons == plain.reasons, (hidden, plain)
