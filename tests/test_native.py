"""The compiled modules (sourdine.native, scripts/build-native): the same results as pure Python, loaded only
when current, and built in CI."""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import subprocess
import sys
import sysconfig
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



def _loaded_compiled() -> None:
    """Every compiled module is loaded from the build folder, as an extension module."""
    assert native.state == "compiled"
    for name in native.MODULES:
        __import__(name)
        where = sys.modules[name].__file__ or ""
        assert where.startswith(str(native.build_dir())) and not where.endswith(".py"), name


@pytest.fixture
def compiled() -> None:
    """For comparing the builds: skips where nothing is compiled (unless the build is required), and checks
    that the compiled side really is."""
    if native.state != "compiled" and not REQUIRED:
        pytest.skip(f"not compiled here ({native.state}): scripts/build-native")
    _loaded_compiled()


def _pure_env() -> dict[str, str]:
    """The environment of a child process that runs pure Python, checked to."""
    env = {**os.environ, "SOURDINE_NATIVE": "0"}
    done = subprocess.run([sys.executable, "-c", "from sourdine import native, scoring, engine; print(native.state);"
                           "print(scoring.core.__file__, engine.__file__)"],
                          capture_output=True, text=True, env=env, timeout=60, check=True)
    state, files = done.stdout.splitlines()
    assert state == "pure Python: SOURDINE_NATIVE=0" and all(f.endswith(".py") for f in files.split())
    return env


def test_no_unchecked_value_of_type_any_reaches_a_checked_place() -> None:
    """Compiled, a value typed Any (a platform's JSON) that reaches a typed local, argument, return value or
    field unnarrowed raises TypeError where pure Python reads on: tests/anyflow.py finds no such place in the
    compiled modules (each place it found is fixed, or says why it is safe, `# any: ...`)."""
    pytest.importorskip("mypy")
    import anyflow

    assert anyflow.find(REPO / "proxy", list(native.MODULES)) == []


def test_anyflow_finds_an_unchecked_any(tmp_path: Path) -> None:
    """The finder itself: a loop variable typed by an earlier line, an argument, a return value and a field."""
    pytest.importorskip("mypy")
    import anyflow

    (tmp_path / "odd.py").write_text(
        "from typing import Any\n"
        "class Box:\n"
        "    def __init__(self) -> None:\n"
        "        self.size = 0\n"
        "def first(doc: Any) -> dict[str, Any] | None:\n"
        "    found: dict[str, Any] | None = None\n"
        "    for found in doc['items']:\n"
        "        pass\n"
        "    return found\n"
        "def name(doc: dict[str, Any]) -> str:\n"
        "    return doc['name']\n"
        "def size(box: Box, n: int, doc: Any) -> int:\n"
        "    box.size = doc['size']\n"
        "    return size(box, doc['n'], doc)  # any: a test of the comment\n"
        "def call(doc: Any) -> int:\n"
        "    return size(Box(), doc, doc)\n"
        "def more(doc: Any, box: Box, names: list[str]) -> None:\n"
        "    box.size += doc\n"
        "    if (n := doc) is not None:\n"
        "        box.size = size(box, *doc)\n"
        "    for key, value in {'a': doc}.items():\n"
        "        box.size = value or 0\n"
        "    names.append(doc['name'])\n"
        "def pair(doc: Any, box: Box) -> tuple[int, str]:\n"
        "    n: int = 0\n"
        "    n, box.size = doc, 1\n"
        "    return (doc, 'x')\n"
        "def rest(a: int, *more: Any, key: str = '') -> None:\n"
        "    rest(1, more[0], more[0])  # more: nothing checks *more\n"
    )
    assert anyflow.find(tmp_path, ["odd"]) == [
        "odd:7: Any into found: dict[str, Any] | None",
        "odd:11: Any returned from name() -> str",
        "odd:13: Any into .size: int",
        "odd:16: Any passed to odd.size(n: int)",
        "odd:18: Any into .size: int",
        "odd:20: Any unpacked into the parameters of odd.size",
        "odd:22: Any into .size: int",
        "odd:23: Any stored in a list[str]",
        "odd:26: Any into n: int",
        "odd:27: Any returned from pair() -> tuple[int, str]",
    ]


def test_ci_runs_the_compiled_modules() -> None:
    """Where the build is required (CI), the suite runs the compiled modules, loaded from the build folder."""
    if not REQUIRED:
        pytest.skip("SOURDINE_NATIVE_BUILD=required is not set")
    _loaded_compiled()


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


def test_compiled_and_pure_python_score_alike(compiled: None) -> None:
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
        env=_pure_env(),
        timeout=120,
        check=True,
    )
    pure = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(pure) == len(cases)
    differ = []
    for i, (text, lang) in enumerate(cases):
        mine = score(text, lang).to_dict()
        theirs = {k: pure[i][k] for k in mine}
        if orjson.dumps(mine) != orjson.dumps(theirs):  # as JSON: 0 and 0.0 differ
            differ.append((i, mine, theirs))
    assert not differ, differ[:3]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    """600 mutated real captures of the feeds (differential.generate), and the file they are pickled in for a
    child process."""
    inputs = differential.generate(600)
    path = tmp_path_factory.mktemp("fuzzed") / "inputs"
    path.write_bytes(pickle.dumps(inputs))
    return inputs, path


def test_compiled_and_pure_python_filter_fuzzed_feeds_alike(compiled: None, fuzzed: tuple[list, Path]) -> None:
    """600 mutated real captures of every platform through the engine (with mutes, an allow entry and author
    records): the compiled modules here and pure Python in a child process give the same bytes, or fail with
    the same exception, input by input, and count the same."""
    inputs, path = fuzzed
    assert len(inputs) == 600
    mine = differential.outcomes(inputs)
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "differential.py"), str(path)],
        capture_output=True,
        text=True,
        env=_pure_env(),
        timeout=300,
        check=True,
    )
    pure = done.stdout.splitlines()
    assert len(pure) == len(mine)
    differ = [(a, b) for a, b in zip(mine, pure, strict=True) if a != b]
    assert not differ, differ[:3]
    rewritten = sum(1 for line in mine[:-1] if re.fullmatch("[0-9a-f]{16}", line.rsplit(" ", 1)[1]))
    assert rewritten > 50  # the comparison covers rewrites, not only pass-throughs and errors


def test_no_value_is_changed_once_made(fuzzed: tuple[list, Path], tmp_path: Path) -> None:
    """Post, Score, Verdict and Decision are plain dataclasses, not frozen ones (for speed), so this checks that
    nothing on a feed's path changes one once made, in pure Python with every second assignment or deletion of
    one of their fields noted (differential.guard_values): 600 mutated real captures of the feeds through the
    engine, then 300 drawn from every capture, streaming messages included, through the addon's hooks with a store
    writer recording the decisions and author records in sqlite. None is changed; the one change the child
    makes on purpose is noted, so the guard works. The API's routes are not run under the guard."""
    done = subprocess.run(
        [sys.executable, str(REPO / "tests" / "differential.py"), "--guard-values", str(fuzzed[1]), "300",
         str(tmp_path)],
        capture_output=True,
        text=True,
        env=_pure_env(),
        timeout=300,
        check=True,
    )
    report = json.loads(done.stdout)
    noted = sorted(set(report["noted"]))
    assert len(noted) == 1 and noted[0].startswith("Verdict.reason at differential.py:"), noted
    ended = report["ended"]
    # The addon's run reached rewrites, streams and the store, or the guard saw none of them.
    assert ended.get("rewritten") and ended.get("streaming messages") and ended["decisions written"] > 100, ended


def test_the_classes_made_for_every_post_have_a_compiled_init_that_takes_their_fields(compiled: None) -> None:
    """A dataclass's own `__init__` is interpreted code even in a compiled class (0.41 µs to make a Post in a
    compiled loop): these classes write theirs out, which mypyc compiles (0.03 µs). Compiled here, and in pure
    Python each takes its fields as a dataclass's own would (differential.check_inits)."""
    for cls in differential._written_init_classes():
        assert type(vars(cls)["__init__"]).__name__ == "wrapper_descriptor", cls  # a compiled slot, not a function
    done = subprocess.run([sys.executable, str(REPO / "tests" / "differential.py"), "--check-inits"],
                          capture_output=True, text=True, env=_pure_env(), timeout=120, check=True)
    assert json.loads(done.stdout) == []


def test_compiled_score_never_raises_on_odd_arguments(compiled: None) -> None:
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


def test_no_build_means_pure_python(undecided: Path) -> None:
    assert native.package_path("sourdine", ["src"]) == ["src"]
    assert native.state.startswith("pure Python: not built")


def test_a_stale_build_is_not_loaded_and_says_so(undecided: Path) -> None:
    (undecided / native.STAMP).write_text("0" * 64 + "\n", encoding="ascii")
    assert native.package_path("sourdine", ["src"]) == ["src"]
    assert "older than the sources" in native.state


def test_a_build_missing_a_file_is_not_loaded(undecided: Path) -> None:
    """The stamp matches, but a compiled module is gone: every package stays pure Python."""
    (undecided / native.STAMP).write_text(native.digest() + "\n", encoding="ascii")
    files = native.compiled_files(undecided)
    assert len(files) == len(native.MODULES) + 1
    for f in files[1:]:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    assert native.package_path("sourdine", ["src"]) == ["src"]
    assert native.state.startswith(f"pure Python: the build lacks {files[0].name}")
    assert native.package_path("sourdine.scoring", ["s"]) == ["s"]  # decided once, for every package


def test_a_library_that_does_not_load_leaves_pure_python(undecided: Path) -> None:
    (undecided / native.STAMP).write_text(native.digest() + "\n", encoding="ascii")
    for f in native.compiled_files(undecided):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"not an ELF file")
    assert native.package_path("sourdine", ["src"]) == ["src"]
    assert native.state == "pure Python: the compiled library does not load (ImportError)"


def test_the_digest_covers_every_module_of_the_package(tmp_path: Path) -> None:
    """The compiled code was checked against the modules it imports: changing any module of the package changes
    the digest (a byte of a compiled one, or of model.py); other files do not count."""
    package = Path(native.__file__).parent
    copy = tmp_path / "sourdine"
    for path in package.rglob("*.py"):
        target = copy / path.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    assert native.digest(copy) == native.digest()
    (copy / "notes.txt").write_text("not a module", encoding="utf-8")
    assert native.digest(copy) == native.digest()
    for changed in ("model.py", "scoring/engine.py"):
        before = native.digest(copy)
        (copy / changed).write_bytes((copy / changed).read_bytes() + b"\n")
        assert native.digest(copy) != before, changed


def test_doctor_says_whether_scoring_and_filtering_are_compiled(monkeypatch) -> None:
    """From the running Sourdine's status when it runs, from this installation otherwise."""
    from sourdine.cli_ca import check_compiled

    monkeypatch.setattr(native, "state", "compiled")
    assert check_compiled(None).level == "OK"
    assert check_compiled({"native": "compiled"}).what == \
        "the running Sourdine's scoring and filtering are compiled (mypyc)"
    stale = check_compiled({"native": "pure Python: not built (scripts/build-native)"})
    assert stale.level == "WARN" and "run as pure Python: not built" in stale.what and "restart" in stale.fix
    monkeypatch.setattr(native, "state", "pure Python: not built (scripts/build-native)")
    check = check_compiled(None)
    assert check.level == "WARN" and "this installation's" in check.what and "build-native" in check.fix


def test_the_build_holds_exactly_the_files_native_expects(compiled: None) -> None:
    """What `compiled_files` names (and a build must hold to be loaded) is what mypyc made: no more, no less."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    made = sorted(native.build_dir().rglob("*" + suffix))
    assert made == sorted(native.compiled_files(native.build_dir()))


def test_build_native_check_says_current(compiled: None) -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "build-native"), "--check"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is current" in done.stdout
