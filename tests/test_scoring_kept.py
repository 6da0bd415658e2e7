"""The lexicons' tables kept between runs (sourdine.scoring.kept): read back, they score every post exactly as
the tables built from rules/lexicons do; a change to a lexicon file, a damaged file or one of another shape is
built again; a folder that cannot be written to only costs the time of building them."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from conftest import DATA
from sourdine.platforms import mastodon
from sourdine.rules import rules_dir
from sourdine.scoring import core, kept

TEXTS = [
    "You absolute idiot!!! SHAME ON YOU",
    "Quelle honte, ces incapables nous prennent pour des imbéciles #StopTheCount",
    "Lovely morning at the market, fresh bread and sunshine 🌞",
    "not bad at all, kind of great actually",
    "C'est pas terrible… vraiment nul, j'en ai marre 🤬",
    "#JeSuisFurieux #worstdayever the rapist therapist",
    "Triste nouvelle ce matin, pensées pour les familles.",
    "What a clown 🤡 lol, ratio + L",
]


def _texts() -> list[tuple[str, str | None]]:
    body = json.loads((DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())
    real = [(post.text, post.lang) for post in mastodon.posts("timeline", body)]
    return [(t, None) for t in TEXTS] + [(t, "en") for t in TEXTS[:2]] + real


def _scores(state: core.State, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    monkeypatch.setattr(core, "_state", state)
    return [core._score(text, lang) for text, lang in _texts()]


def _plain(state: core.State) -> list[object]:
    lexicons, _, segmenter = state
    return [[kept.to_plain(lex) for lex in lexicons.values()], segmenter._counts, segmenter._short,
            segmenter._read]


def test_kept_tables_score_as_the_built_ones(tmp_path, monkeypatch):
    root = rules_dir() / "lexicons"
    built = core._assemble(*core._build(root))
    first = kept.kept_or_built(root, tmp_path / "cache")  # builds, and keeps
    assert (tmp_path / "cache" / kept.NAME).is_file()
    # Read back, not built: building would fail now.
    monkeypatch.setattr(core, "_build", lambda root: (_ for _ in ()).throw(AssertionError("built again")))
    read = kept.kept_or_built(root, tmp_path / "cache")
    monkeypatch.undo()
    assert _plain(read) == _plain(built) == _plain(first)
    assert _scores(read, monkeypatch) == _scores(built, monkeypatch)
    assert any(s.negativity > 0.5 or s.outrage > 0.5 for s in _scores(read, monkeypatch))  # the texts do score


def test_a_changed_lexicon_a_damaged_file_or_another_shape_is_built_again(tmp_path, monkeypatch, caplog):
    root = tmp_path / "lexicons"
    shutil.copytree(rules_dir() / "lexicons", root)
    folder = tmp_path / "cache"
    kept.kept_or_built(root, folder)
    # A word's valence changed in the lexicon (size and time change): the new value, not the kept one.
    valence = root / "en" / "valence.tsv"
    lines = valence.read_text(encoding="utf-8").split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith("awful\t"))
    lines[index] = "awful\t3.5"
    valence.write_text("\n".join(lines), encoding="utf-8")
    changed = kept.kept_or_built(root, folder)
    assert changed[0]["en"].valence["awful"] == 3.5
    assert kept.kept_or_built(root, folder)[0]["en"].valence["awful"] == 3.5  # and kept so
    caplog.set_level(logging.WARNING)
    # Damaged after its key, then a valid file of another shape under the right key: warned, built, kept anew.
    path = folder / kept.NAME
    path.write_bytes(path.read_bytes()[:5000])
    assert _plain(kept.kept_or_built(root, folder)) == _plain(changed)
    assert "damaged" in caplog.text
    kept.write(folder, kept.key(root), ([("en", {}, "not a dict")], {}, {}, frozenset(), frozenset()))
    assert _plain(kept.kept_or_built(root, folder)) == _plain(changed)
    assert "do not load" in caplog.text
    assert _plain(kept.kept_or_built(root, folder)) == _plain(changed)  # the file written again is whole


def test_a_folder_that_cannot_be_written_only_costs_the_build(tmp_path, caplog):
    root = rules_dir() / "lexicons"
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the folder would be")
    caplog.set_level(logging.WARNING)
    state = kept.kept_or_built(root, blocked)
    assert _plain(state) == _plain(core._assemble(*core._build(root)))
    assert "cannot be kept" in caplog.text and blocked.read_text() == "a file where the folder would be"


def test_a_path_that_is_not_utf8_is_kept_too_and_any_error_in_keeping_only_builds(tmp_path, monkeypatch, caplog):
    """A home or rules folder whose name is not UTF-8 has a key like any other (a review found the key's encoding
    raise there, and every post then scored as an error); and whatever goes wrong in keeping the tables, the
    scorer builds them as it would without."""
    import os

    root = tmp_path / os.fsdecode(b"jos\xe9") / "lexicons"
    shutil.copytree(rules_dir() / "lexicons", root)
    folder = tmp_path / os.fsdecode(b"caf\xe9")
    first = kept.kept_or_built(root, folder)
    monkeypatch.setattr(core, "_build", lambda root: (_ for _ in ()).throw(AssertionError("built again")))
    assert _plain(kept.kept_or_built(root, folder)) == _plain(first)
    monkeypatch.undo()

    # A bug in keeping them (here in the key, then in writing): warned, and the scorer still gets its tables,
    # through core._load as `sourdine run` calls it.
    def broken(*args):
        raise RuntimeError("a bug in keeping them")

    monkeypatch.setattr(kept, "key", broken)
    monkeypatch.setattr(core, "_state", None)
    monkeypatch.setattr(core, "_kept", folder)
    caplog.set_level(logging.WARNING)
    assert _plain(core._load()) == _plain(first) and "do not load (RuntimeError)" in caplog.text
    assert core.score("You absolute idiot!!! SHAME ON YOU", "en").scored
    monkeypatch.undo()
    monkeypatch.setattr(kept, "write", broken)
    assert _plain(kept.kept_or_built(root, tmp_path / "elsewhere")) == _plain(first)
    assert "cannot be kept (RuntimeError)" in caplog.text


def test_a_bad_lexicon_file_is_raised_once_as_without_kept_tables(tmp_path, caplog):
    """An error in building the tables is the lexicon's, said as without a folder: not also a warning that they
    cannot be kept (a review found it said so, then the build done twice)."""
    root = tmp_path / "lexicons"
    shutil.copytree(rules_dir() / "lexicons", root)
    (root / "en" / "boosters.tsv").write_text("very\tnot a number\n", encoding="utf-8")
    caplog.set_level(logging.WARNING)
    with pytest.raises(ValueError, match="boosters.tsv:1"):
        kept.kept_or_built(root, tmp_path / "cache")
    assert caplog.text == ""
