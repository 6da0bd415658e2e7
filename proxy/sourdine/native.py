"""The scorer compiled to C with mypyc, when it has been built, and pure Python otherwise.

The scorer's modules (MODULES) are plain, type-annotated Python. `scripts/build-native` (which `scripts/run` and
`scripts/test` call during set-up) compiles them with mypyc into build/native/<interpreter>/, beside the
sources, never over them. `sourdine.scoring` then puts that folder ahead of its own on its `__path__`, so its
submodules load compiled, but only when the build's stamp names the exact sources on disk: an edited source
makes the whole package load as pure Python again, with a warning, until the next build. Nothing else changes:
the compiled modules are the same code, about twice as fast.

SOURDINE_NATIVE=0 in the environment forces pure Python (tests compare the two this way).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sysconfig
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE = "sourdine.scoring"
MODULES = ("core", "engine", "lexicon", "detect", "segment")
GROUP = PACKAGE + ".native"  # mypyc's shared library: sourdine.scoring.native__mypyc
STAMP = "BUILT-FROM"

_HERE = Path(__file__).resolve().parent

# Set by package_path: "compiled", or "pure Python" and why (`sourdine status` and the start-up log say it).
state = "pure Python: not loaded yet"


def build_dir() -> Path:
    """Where this interpreter's compiled modules go: build/native/<its extension suffix> at the top of a source
    checkout (an installed wheel has none, and runs pure Python)."""
    tag = (sysconfig.get_config_var("EXT_SUFFIX") or ".so").strip(".").removesuffix(".so") or "native"
    return _HERE.parents[1] / "build" / "native" / tag


def digest(package: Path = _HERE) -> str:
    """What the compiled modules were built from: the sources' bytes, with their names. `package` is the
    `sourdine` folder (a copy of it, when building)."""
    h = hashlib.sha256()
    for path in (package / "scoring" / f"{name}.py" for name in MODULES):
        h.update(path.name.encode())
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


def package_path(path: list[str]) -> list[str]:
    """`sourdine.scoring`'s `__path__`, with the compiled modules' folder first when they are current."""
    global state
    if os.environ.get("SOURDINE_NATIVE", "").strip().lower() in ("0", "no", "false", "off"):
        state = "pure Python: SOURDINE_NATIVE=0"
        return path
    folder = build_dir()
    if not (folder / STAMP).is_file():
        state = "pure Python: not built (scripts/build-native)"
        return path
    if not current(folder):
        state = "pure Python: the compiled scorer is older than its sources (run scripts/build-native)"
        logger.warning("scorer: %s", state)
        return path
    state = "compiled"
    return [str(folder / PACKAGE.replace(".", "/")), *path]
