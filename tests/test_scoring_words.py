"""Lower-case hashtags split with the word lists, and the learned weights on top of the lexicon.

Every sentence here is hand-written for these tests; none comes from a labelled data set.
"""

from __future__ import annotations

import time

import pytest

from conftest import cheapest
from sourdine import scoring
from sourdine.scoring import score, segment


def splitter() -> segment.Segmenter:
    return scoring._load()[2]


@pytest.mark.parametrize(("tag", "words"), [
    ("shameonyou", "shame on you"),
    ("honteavous", "honte a vous"),
    ("stopthecount", "stop the count"),
    ("notmypresident", "not my president"),
    ("quellehonte", "quelle honte"),
    ("stupidpeople", "stupid people"),
])
def test_lower_case_tags_split_into_words(tag: str, words: str) -> None:
    """A run-together tag splits into the words people read in it."""
    assert splitter().split(tag) == words


@pytest.mark.parametrize(("tag", "why"), [
    ("therapist", "one dictionary word stays whole, not 'the rapist'"),
    ("concussion", "a dictionary word is not cut into fragments"),
    ("sunday", "too short to hold two words"),
    ("xqzvbnmkwrtplkjh", "not made of known words"),
    ("covid19hoax", "digits: not letters only"),
    ("a" * 41, "longer than MAX_CHARS"),
])
def test_tags_that_stay_whole(tag: str, why: str) -> None:
    """A tag is only split when the split is both likely and useful."""
    assert splitter().split(tag) is None, why


@pytest.mark.parametrize(("tagged", "plain", "reason", "lang"), [
    ("They did it again #shameonyou", "They did it again", "blame: shame on", "en"),
    ("Encore une fois #honteavous", "Encore une fois", "blame: honte à vous", "fr"),
    ("Read the thread #trumpisanidiot", "Read the thread", "insult: idiot", "en"),
    ("Ils recommencent #QUELLEHONTE", "Ils recommencent", "blame: honte", "fr"),
])
def test_lower_case_hashtags_are_read(tagged: str, plain: str, reason: str, lang: str) -> None:
    """The words of a lower-case (or all-capitals) tag count as the post's words, with their reasons."""
    t = score(tagged, lang)
    assert t.score > score(plain, lang).score + 0.1
    assert reason in t.reasons


def test_a_whole_word_tag_is_not_misread() -> None:
    """ "#therapist" does not read as an accusation."""
    s = score("Booked my first session with a new #therapist today", "en")
    assert not any("rapist" in r for r in s.reasons)
    assert s.outrage == 0.0


def test_a_split_must_give_a_word_the_scorer_reads() -> None:
    """Splitting "#gardenfence" would change no score: it is left whole; a tag with a word read is split."""
    counts = {"garden": 50, "fence": 50}
    assert segment.Segmenter(counts, frozenset(), frozenset({"idiot"})).split("gardenfence") is None
    assert segment.Segmenter(counts, frozenset(), frozenset({"fence"})).split("gardenfence") == "garden fence"


def test_short_pieces_must_be_known_short_words_or_frequent() -> None:
    """Tweet word lists are full of fragments ("rs", "ie"): a piece under four letters must be a short word
    the lexicons know, or frequent."""
    counts = {"hoo": 5, "si": 5, "er": 5, "idiot": 50, "is": 500}
    words = segment.Segmenter(counts, frozenset(), frozenset({"idiot"}))
    assert words.split("hoosieridiot") is None
    assert words.split("isidiot") == "is idiot"  # "is" is frequent
    assert segment.Segmenter(counts, frozenset({"si", "er", "hoo"}), frozenset({"idiot"})).split(
        "hoosieridiot") == "hoo si er idiot"


def test_splits_are_cached_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag is split once; the cache is emptied when full, never grows past its bound."""
    words = segment.Segmenter({"shame": 50, "on": 900, "you": 900}, frozenset({"on", "you"}), frozenset({"shame"}))
    monkeypatch.setattr(segment, "_CACHE_MAX", 3)
    assert words.split("shameonyou") == "shame on you"
    assert words._cache == {"shameonyou": "shame on you"}
    for tag in ("youonshame", "onshameyou", "shameshame", "youyouyouyou"):
        words.split(tag)
        assert len(words._cache) <= 3


def test_a_new_long_tag_costs_little() -> None:
    """Splitting a tag never seen before, of the longest length split, stays well under a millisecond each."""
    words = splitter()
    tags = [f"{a}{b}{c}" for a in ("shame", "honte", "stop") for b in ("onthe", "avous", "lesmenteurs")
            for c in ("xqzt" * 6, "corruptpoliticians", "nulnulnul")]
    start = time.thread_time()
    for tag in tags:
        words._split(tag[: segment.MAX_CHARS])
    assert (time.thread_time() - start) / len(tags) < 0.002


def test_english_has_learned_weights_and_french_none() -> None:
    """learned.tsv ships for English only (the one trainable French set lowered French scores)."""
    lexicons = scoring._load()[0]
    assert len(lexicons["en"].learned) > 1000
    assert lexicons["fr"].learned == {}


def test_learned_weights_nudge_the_score_on_the_log_odds_scale() -> None:
    """The score is the lexicon's, moved by the sum of its tokens' learned weights; negativity and outrage are
    the lexicon's alone."""
    text = "this fucking traffic again, forgot my keys too"
    analysed = scoring._analyse(text, "en")
    assert not isinstance(analysed, scoring.Score)
    nudge = analysed[1][0].learned
    assert nudge > 0.25
    plain = scoring._score(text, "en", learned=False)
    nudged = score(text, "en")
    assert (nudged.negativity, nudged.outrage) == (plain.negativity, plain.outrage)
    assert nudged.score == pytest.approx(scoring.with_learned(plain.score, nudge), abs=2e-4)
    assert nudged.score > plain.score
    assert any(r.startswith("learned: ") for r in nudged.reasons)


def test_learned_weights_leave_identity_words_alone() -> None:
    """No learned weight sits on a word that names who people are."""
    learned = scoring._load()[0]["en"].learned
    for word in ("white", "black", "gay", "queer", "women", "muslim", "jewish", "immigrants", "trans"):
        assert word not in learned, word


def test_learned_weights_never_contradict_the_lexicon() -> None:
    """A hostile or negative lexicon word never learns to lower the score, a positive one never to raise it."""
    lex = scoring._load()[0]["en"]
    for token, weight in lex.learned.items():
        entry = lex.entries.get(token)
        if entry is None:
            continue
        if entry.outrage is not None or (entry.valence or 0.0) < 0.0:
            assert weight > 0.0, token
        if (entry.valence or 0.0) > 0.0:
            assert weight < 0.0, token


@pytest.mark.parametrize("nudge", [-30.0, -1.0, 0.0, 0.5, 30.0])
@pytest.mark.parametrize("total", [0.0, 0.3, 0.99, 1.0])
def test_with_learned_stays_in_range(total: float, nudge: float) -> None:
    """Any nudge on any score stays in [0, 1], and moves it the nudge's way."""
    moved = scoring.with_learned(total, nudge)
    assert 0.0 <= moved <= 1.0
    if nudge > 0:
        assert moved >= min(total, 1 - 1e-4) - 1e-9
    elif nudge < 0:
        assert moved <= max(total, 1e-4) + 1e-9


@pytest.mark.parametrize(("english", "french"), [
    ("I'm so annoyed and frustrated, this is infuriating", "Je suis tellement agacé et frustré, c'est exaspérant"),
    ("He is arrogant and selfish", "Il est arrogant et égoïste"),
    ("Rude, arrogant people, I'm fuming", "Des gens malpolis et arrogants, je suis hors de moi"),
])
def test_anger_words_score_alike_in_both_languages(english: str, french: str) -> None:
    """The anger words added to both outrage lists keep a threshold meaning the same in English and French."""
    en, fr = score(english, "en"), score(french, "fr")
    assert en.outrage > 0.3 and fr.outrage > 0.3
    assert abs(en.score - fr.score) <= 0.15, (en, fr)


def test_the_learned_reason_names_a_word_no_other_reason_names() -> None:
    """ "profanity: fucking" already says it: the learned reason names the next word that weighed, after the
    lexicon's reasons."""
    s = score("this fucking traffic again, forgot my keys too", "en")
    learned = [r for r in s.reasons if r.startswith("learned: ")]
    assert len(learned) == 1 and learned[0] != "learned: fucking"
    assert s.reasons.index("profanity: fucking") < s.reasons.index(learned[0])


def test_a_post_splits_its_first_twenty_tags_and_reads_the_others_by_their_capitals() -> None:
    """Splitting a tag with the word lists costs up to 800 slices of it (forty-letter tags that every letter can
    start a word in: 0.1 ms each, 24 ms for a post of 10,000 characters of them, a review's finding): a post's
    first twenty tags are split, the others read by their case changes alone."""
    from sourdine.scoring import engine

    words = splitter()
    text = " ".join(["#shameonyou"] * 20 + ["#shameonyou", "#ShameOnYou"])
    read = engine._markup(text, words).split("  ")
    assert [r.strip() for r in read] == ["shame on you"] * 20 + ["shameonyou", "shame on you"]


def test_only_tags_the_word_lists_may_split_are_kept() -> None:
    """A tag longer than the splitter takes is quick to read again: it is not kept (5,000 tags of 10,000
    characters held some 400 MB, a review's finding)."""
    from sourdine.scoring import engine

    words = splitter()
    long_tag = "Honte" + "a" * (segment.MAX_CHARS + 10)
    engine._markup(f"#{long_tag} #HonteAVous", words)
    assert long_tag not in words.tags and "HonteAVous" in words.tags


def test_a_post_of_long_distinct_tags_costs_a_few_times_what_text_costs() -> None:
    """Forty-letter tags of "a", "i" and "y", every one new: timed against plain text of the same length, in the
    same process (37 times as long before the first twenty tags of a post alone were split, 13 after, compiled)."""
    import random

    rng = random.Random(7)
    tags = " ".join("#" + "".join(rng.choice("aiy") for _ in range(40)) for _ in range(240))[:10_000]
    prose = ("You are a disgusting liar and a pathetic idiot, and everyone here knows it well. " * 130)[:10_000]

    def cost(text: str):
        def work(n: int) -> None:
            splitter().tags.clear()
            splitter()._cache.clear()
            score(text + " " * n, "en")
        return work

    score("warm up", "en")
    slow, fast = cheapest(cost(tags), cost(prose), runs=3)
    assert slow < 20 * fast, (slow, fast)


def test_a_hostile_post_padded_with_calm_words_stays_hostile() -> None:
    """The learned weights' sum moves a score by at most 1 on the log-odds scale: padded with words the model
    learnt as calm, a hostile post went from 0.998 to 0.49 with five repeats of three words, and to 0.02 with
    eight (a review's finding); and a wall of one angry emoji fell to 0."""
    hostile = "You are a disgusting liar and a pathetic idiot. SHAME ON YOU!!! Resign now!"
    alone = score(hostile, "en").score
    assert alone > 0.99
    for repeats in (5, 8, 20):
        padded = score(hostile + " charlie yankees bird" * repeats, "en")
        assert padded.score >= 0.85, (repeats, padded)
    assert score("😡" * 100, "en").score >= 0.45
