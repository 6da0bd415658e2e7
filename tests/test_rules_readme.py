"""rules/README.md documents every data file under rules/, and every one of them parses."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from sourdine import rules
from sourdine.scoring import lexicon

RULES = rules.rules_dir()
README = (RULES / "README.md").read_text(encoding="utf-8")
DATA_FILES = sorted(p for p in RULES.rglob("*") if p.is_file() and p.suffix in (".toml", ".tsv", ".txt"))


def test_there_are_data_files() -> None:
    """The rules folder is found and holds the files this page is about."""
    assert {"platforms.toml", "defaults.toml", "valence.tsv", "outrage.tsv"} <= {p.name for p in DATA_FILES}


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(RULES)))
def test_every_data_file_is_documented(path: Path) -> None:
    """The README names every data file, by its name (lexicon files are documented once for all languages)."""
    assert f"`{path.name}`" in README, path


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: str(p.relative_to(RULES)))
def test_every_data_file_parses(path: Path) -> None:
    """Each file parses in the format the README gives for it, and is not empty."""
    if path.name == "platforms.toml":
        rows: object = rules.parse_platforms(tomllib.loads(path.read_text(encoding="utf-8")))
    elif path.name == "defaults.toml":
        rows = rules.parse_defaults(tomllib.loads(path.read_text(encoding="utf-8")))
    elif path.name == "outrage.tsv":
        rows = lexicon.read_outrage(path)
    elif path.name == "emoji.tsv":
        rows = lexicon.read_emoji(path)
    elif path.parent.name == "other":
        rows = lexicon.read_pairs(path)
    elif path.suffix == ".tsv":
        rows = lexicon.read_numbers(path)
    else:
        rows = lexicon.read_terms(path)
    assert rows


def test_every_scored_language_loads() -> None:
    """Each language folder loads as a whole into the scorer's tables."""
    for lang in ("en", "fr"):
        lex = lexicon.load(lang, RULES / "lexicons")
        assert lex.entries and lex.negators and lex.stopwords


def test_outrage_kinds_are_documented() -> None:
    """The README lists exactly the outrage kinds the loader accepts."""
    for kind in lexicon.OUTRAGE_KINDS:
        assert f"`{kind}`" in README, kind
