"""The compiled modules (sourdine.native, scripts/build-native): the same results as pure Python, loaded only
when current, and built in CI."""

from __future__ import annotations

import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import differential
import fuzzing
from sourdine import native, scoring
from sourdine.platforms import ADAPTERS
from sourdine.scoring import score

REPO = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("SOURDINE_NATIVE_BUILD") == "required"

compiled_only = pytest.mark.skipif(
    native.state != "compiled" and not REQUIRED,
    reason=f"the scorer is not compiled here ({native.state}): scripts/build-native",
)


def test_ci_runs_the_compiled_scorer() -> None:
    """Where the build is required (CI), the suite runs the compiled modules, loaded from the build folder."""
    if not REQUIRED:
        pytest.skip("SOURDINE_NATIVE_BUILD=required is not set")
    assert native.state == "compiled"
    for name in native.MODULES:
        __import__(name)
        assert sys.modules[name].__file__.startswith(str(native.build_dir())), name


def _edge_cases() -> list[tuple[str, str | None]]:
    """Hand-made texts for the rarer rules, and random mixtures of lexicon words, marks, emoji and capitals
    (seeded: the same every run)."""
    made = [
        "", " ", "not bad", "pas mal", "ce n'est pas génial", "You absolute IDIOT!!!", "SHAME ON YOU ?!",
        "sooo baaad", "nuuul", "&lt;3 &amp; love", "#NotMyPresident @someone https://example.com/x",
        "#honteavous", "I kind of hate it but love the rest", "C'est vraiment nul, mais bon", "😡😡😡 🤬",
        "\x00\xff\ufffd binary \x7f\u200b garbage", "Клоуны и идиоты", "これはひどい", "without doubt the worst",
        "at least it's not terrible", "Tu es un gros con 😂", "Quelle bande de guignols !!!", "ÉNORME SCANDALE",
        "x" * 12_000, ("what a disgrace " * 700),
    ]
    rng = random.Random(20261123)
    en = list(scoring._load()[0]["en"].entries)
    fr = list(scoring._load()[0]["fr"].entries)
    fillers = ["the", "le", "you", "vous", "not", "pas", "very", "très", "but", "mais", "!!!", "?!", "😡", "🙂",
               "#TagHere", "@user", "http://x.y/z", "l'", "n't", "&amp;", "ÇA", "BAD"]
    for _ in range(1500):
        words = rng.choice((en, fr))
        picked = [rng.choice(words if rng.random() < 0.5 else fillers) for _ in range(rng.randint(1, 30))]
        text = " ".join(w.upper() if rng.random() < 0.1 else w for w in picked)
        made.append(text)
    langs: tuple[str | None, ...] = (None, "en", "fr", "fr-CA", "de")
    return [(text, langs[i % len(langs)]) for i, text in enumerate(made)]


def _real_posts() -> list[tuple[str, str | None]]:
    """Every post the adapters find in the real captures of tests/data, with its platform's language field."""
    out = []
    for sample in fuzzing.samples():
        if sample.streaming:
            continue
        adapter = ADAPTERS[sample.platform]
        for post in adapter.posts(sample.endpoint, fuzzing.parse(adapter, sample.endpoint, sample.body)):
            out.append((post.text, post.lang))
    return out


@compiled_only
def test_compiled_and_pure_python_score_alike() -> None:
    """Every real post of the captures and the edge cases get the very same Score (numbers to the last digit,
    language, reasons) from the compiled scorer here and from pure Python in a child process."""
    cases = _real_posts()
    assert len(cases) > 500
    cases += _edge_cases()
    lines = b"\n".join(orjson.dumps({"text": text, "lang": lang, "n": i}) for i, (text, lang) in enumerate(cases))
    done = subprocess.run(
        [sys.executable, "-m", "sourdine", "score", "--jsonl"],
        input=lines + b"\n",
        capture_output=True,
        env={**os.environ, "SOURDINE_NATIVE": "0"},
        timeout=120,
        check=True,
    )
    pure = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(pure) == len(cases)
    differ = []
    for i, (text, lang) in enumerate(cases):
        mine = score(text, lang).to_dict()
        theirs = {k: pure[i][k] for k in mine}
        if mine != theirs:
            differ.append((i, mine, theirs))
    assert not differ, differ[:3]


@compiled_only
def test_compiled_and_pure_python_filter_fuzzed_feeds_alike(tmp_path: Path) -> None:
    """600 mutated real captures of every platform through the engine (with mutes, an allow entry and author
    records): the compiled modules here and pure Python in a child process give the same bytes, or fail with
    the same exception, input by input, and count the same."""
    inputs = differential.generate(600)
    assert len(inputs) == 600
    (tmp_path / "inputs").write_bytes(pickle.dumps(inputs))
    mine = differential.outcomes(inputs)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "differential.py"), str(tmp_path / "inputs")],
        capture_output=True,
        text=True,
        env={**os.environ, "SOURDINE_NATIVE": "0"},
        timeout=300,
        check=True,
    )
    pure = done.stdout.splitlines()
    assert len(pure) == len(mine)
    differ = [(a, b) for a, b in zip(mine, pure, strict=True) if a != b]
    assert not differ, differ[:3]
    rewritten = sum(1 for line in mine[:-1] if re.fullmatch("[0-9a-f]{16}", line.rsplit(" ", 1)[1]))
    assert rewritten > 50  # the comparison covers rewrites, not only pass-throughs and errors


@compiled_only
def test_compiled_score_never_raises_on_odd_arguments() -> None:
    """A compiled function checks its arguments' declared types: score() declares `object`, so it still takes
    anything, as the pure one does."""
    assert score(None).reasons == ("not text",)  # type: ignore[arg-type]
    assert score(b"bytes", 5).scored is False  # type: ignore[arg-type]
    assert score("you idiot", 42).lang == "en"  # type: ignore[arg-type]


@pytest.fixture
def undecided(monkeypatch, tmp_path: Path) -> Path:
    """sourdine.native as if no package had loaded yet, with its build folder in tmp_path."""
    monkeypatch.setattr(native, "_decided", None)
    monkeypatch.setattr(native, "state", native.state)
    monkeypatch.setattr(native, "build_dir", lambda: tmp_path)
    monkeypatch.delenv("SOURDINE_NATIVE", raising=False)
    return tmp_path


def test_pure_python_is_forced_with_sourdine_native_0(monkeypatch, undecided: Path) -> None:
    monkeypatch.setenv("SOURDINE_NATIVE", "0")
    (undecided / native.STAMP).write_text(native.digest(), encoding="ascii")
    assert native.package_path("sourdine.scoring", ["src"]) == ["src"]
    assert native.state == "pure Python: SOURDINE_NATIVE=0"


def test_no_build_means_pure_python_quietly(undecided: Path, caplog) -> None:
    assert native.package_path("sourdine", ["src"]) == ["src"]
    assert native.state.startswith("pure Python: not built")
    assert not caplog.records


def test_a_stale_build_is_not_loaded_and_says_so(undecided: Path, caplog) -> None:
    (undecided / native.STAMP).write_text("0" * 64 + "\n", encoding="ascii")
    assert native.package_path("sourdine", ["src"]) == ["src"]
    assert "older than their sources" in native.state and "older than their sources" in caplog.text


def test_a_current_build_comes_first_for_every_package(undecided: Path) -> None:
    """Decided once: the packages loaded after the first follow it, even if the stamp changes meanwhile."""
    (undecided / native.STAMP).write_text(native.digest() + "\n", encoding="ascii")
    assert native.package_path("sourdine", ["src"]) == [str(undecided / "sourdine"), "src"]
    assert native.state == "compiled"
    (undecided / native.STAMP).write_text("stale\n", encoding="ascii")
    assert native.package_path("sourdine.platforms", ["p"]) == [str(undecided / "sourdine" / "platforms"), "p"]


def test_the_digest_names_the_compiled_sources(tmp_path: Path) -> None:
    """Changing one byte of one compiled module's source changes the digest; other files do not count."""
    package = Path(native.__file__).parent
    copy = tmp_path / "sourdine"
    for name in native.MODULES:
        relative = Path(*name.split(".")[1:]).with_suffix(".py")
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_bytes((package / relative).read_bytes())
    assert native.digest(copy) == native.digest()
    (copy / "model.py").write_text("changed", encoding="utf-8")
    assert native.digest(copy) == native.digest()
    engine = copy / "scoring" / "engine.py"
    engine.write_bytes(engine.read_bytes() + b"\n")
    assert native.digest(copy) != native.digest()


@compiled_only
def test_build_native_check_says_current() -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "build-native"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is current" in done.stdout


def test_doctor_says_whether_scoring_and_filtering_are_compiled(monkeypatch) -> None:
    from sourdine.cli_ca import check_compiled

    monkeypatch.setattr(native, "state", "compiled")
    assert check_compiled().level == "OK"
    monkeypatch.setattr(native, "state", "pure Python: not built (scripts/build-native)")
    check = check_compiled()
    assert check.level == "WARN" and "pure Python: not built" in check.what and "build-native" in check.fix
