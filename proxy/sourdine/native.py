"""Scoring and filtering compiled to C with mypyc, when built, and pure Python otherwise.

The modules on a feed's hot path (MODULES) are plain, type-annotated Python. `scripts/build-native` (which
`scripts/run` and `scripts/test` call during set-up) compiles them with mypyc into build/native/<interpreter>/,
beside the sources, never over them. `sourdine` (where mypyc's shared library goes) and each package holding one
of them put that folder ahead of their own on their `__path__`, so they load compiled, but only when:
- the build's stamp names the exact sources on disk: the digest covers every module of the package, since the
  compiled code was type-checked against all it imports (an edited `Post` must not meet an old build);
- every compiled file is there, and the shared library loads.
Otherwise every module loads as pure Python, and `state` says why: `sourdine run` prints it at start-up, the
status reports it, `sourdine doctor` checks it. Nothing else changes: the compiled modules are the same code,
about twice as fast, with three differences:
- a compiled function checks the declared type of every argument, return value and field, so annotations in
  these modules must be true of what reaches them (tests/test_native.py compares both builds);
- a compiled frozen dataclass (a mute entry), and a compiled class whose `__init__` is written out (the values
  made for every post: a post, a score, a verdict, a decision), cannot be pickled or copied with `copy`, which
  nothing in Sourdine does; `dataclasses.replace` works;
- orjson must never be handed a compiled dataclass (a post, a score, a decision): it takes it for a Python
  dataclass and crashes the process (seen with a Decision); give it the fields instead (`Score.to_dict`).

SOURDINE_NATIVE=0 in the environment forces pure Python (tests compare the two this way).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import sysconfig
from pathlib import Path

# The modules compiled: the values every feed goes through (model: posts, scores, verdicts), the scorer, the
# engine's judging (with the author records, the lists and the policy), the
# HTML reading the adapters share, the adapters of Mastodon, Bluesky, X, YouTube, LinkedIn and Facebook, and what
# Instagram's and Threads' share (meta; their own small modules stay pure Python).
# A compiled function checks the declared type of every local, argument, return value and field, so where a value
# read from a platform (typed Any) reaches a typed place unchecked, odd input would raise where pure Python reads
# on: tests/anyflow.py finds such places in these modules, and test_native fails on any. Reddit's adapter stays
# pure Python (compiled, Reddit's pages read 5% faster: their time is in the tokenizer's regexes), and so do the
# toxic-connection settings and the decisions on authors (authorprefs: their classes check their own fields'
# types, to refuse a bad value by name). Two small helpers the compiled adapters call for each post they find or
# fold are compiled with them (jsontree, placeholder): calling an interpreted function costs more than what
# either does.
MODULES = (
    "sourdine.model",
    "sourdine.scoring.core",
    "sourdine.scoring.engine",
    "sourdine.scoring.lexicon",
    "sourdine.scoring.detect",
    "sourdine.scoring.segment",
    "sourdine.engine",
    "sourdine.authors",
    "sourdine.policy",
    "sourdine.lists",
    "sourdine.platforms.htmltokens",
    "sourdine.platforms.htmltext",
    "sourdine.platforms.jsontree",
    "sourdine.platforms.placeholder",
    "sourdine.platforms.mastodon",
    "sourdine.platforms.bluesky",
    "sourdine.platforms.youtube",
    "sourdine.platforms.linkedin",
    "sourdine.platforms.facebook",
    "sourdine.platforms.meta",
    "sourdine.platforms.x",
)
GROUP = "sourdine.compiled"  # mypyc's shared library: the module sourdine.compiled__mypyc
LIBRARY = GROUP + "__mypyc"
STAMP = "BUILT-FROM"

_HERE = Path(__file__).resolve().parent  # the sourdine package

# "compiled", or "pure Python" and why: set when the `sourdine` package loads.
state = "pure Python: not loaded yet"
_decided: bool | None = None  # whether the compiled modules load, decided once for every package


def build_dir() -> Path:
    """Where this interpreter's compiled modules go: build/native/<its extension suffix> at the top of a source
    checkout (an installed wheel has none, and runs pure Python)."""
    return _HERE.parents[1] / "build" / "native" / _tag()


def _tag() -> str:
    """The extension suffix without its last part: "cpython-311-x86_64-linux-gnu", "cp311-win_amd64"."""
    suffix = (sysconfig.get_config_var("EXT_SUFFIX") or ".so")[1:]
    return suffix.rpartition(".")[0] or "native"


def digest(package: Path = _HERE) -> str:
    """What the compiled modules were built from: every module of the `sourdine` package (`package`: its folder,
    or a copy of it when building), by name and bytes."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        h.update(path.relative_to(package).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def current(folder: Path | None = None) -> bool:
    """Whether `folder` (this interpreter's build folder by default) holds modules built from today's sources."""
    folder = folder or build_dir()
    try:
        return (folder / STAMP).read_text(encoding="ascii").strip() == digest()
    except OSError:
        return False


def compiled_files(folder: Path) -> list[Path]:
    """The files a complete build holds: one extension module a compiled module, and the shared library."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    names = (*MODULES, LIBRARY)
    return [folder.joinpath(*name.split(".")).with_name(name.rpartition(".")[2] + suffix) for name in names]


def _decide() -> bool:
    global state
    if os.environ.get("SOURDINE_NATIVE", "").strip().lower() in ("0", "no", "false", "off"):
        state = "pure Python: SOURDINE_NATIVE=0"
        return False
    folder = build_dir()
    if not (folder / STAMP).is_file():
        state = "pure Python: not built (scripts/build-native)"
        return False
    if not current(folder):
        state = "pure Python: the compiled modules are older than the sources (run scripts/build-native)"
        return False
    files = compiled_files(folder)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        state = f"pure Python: the build lacks {missing[0]} (run scripts/build-native --force)"
        return False
    # The shared library loaded here, by its path: a file that does not load (another interpreter's, a broken
    # one) leaves pure Python, not a failed import later.
    try:
        spec = importlib.util.spec_from_file_location(LIBRARY, files[-1])
        assert spec is not None and spec.loader is not None
        library = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(library)
    except Exception as e:  # ImportError, OSError: whatever stops it loading
        state = f"pure Python: the compiled library does not load ({type(e).__name__})"
        return False
    sys.modules[LIBRARY] = library
    state = "compiled"
    return True


def package_path(package: str, path: list[str]) -> list[str]:
    """A package's `__path__`, with its compiled modules' folder first when they are current. `sourdine` and
    every package holding a compiled module call this as they load; `sourdine`'s call (always the first)
    decides for all of them, so that they never mix a build with pure modules from other sources."""
    global _decided
    if _decided is None:
        _decided = _decide()
    if not _decided:
        return path
    return [str(build_dir().joinpath(*package.split("."))), *path]
