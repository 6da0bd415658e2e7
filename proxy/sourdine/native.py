"""The scorer and the filter's hot path compiled to C with mypyc, when built, and pure Python otherwise.

The modules on a feed's hot path (MODULES) are plain, type-annotated Python. `scripts/build-native` (which
`scripts/run` and `scripts/test` call during set-up) compiles them with mypyc into build/native/<interpreter>/,
beside the sources, never over them. Each package holding one of them puts its folder there ahead of its own on
its `__path__`, so they load compiled, but only when the build's stamp names the exact sources on disk: an
edited source makes them all load as pure Python again, with a warning, until the next build. Nothing else
changes: the compiled modules are the same code, about twice as fast.

SOURDINE_NATIVE=0 in the environment forces pure Python (tests compare the two this way).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sysconfig
from pathlib import Path

logger = logging.getLogger(__name__)

# The modules compiled: the scorer, the engine's judging (with the lists and the policy), and the HTML reading
# the adapters share. Only modules whose values are their own: a compiled function checks the declared type of
# every argument and field, so an adapter's annotations on what a platform sent (a dict, say) would turn odd
# input into errors where pure Python reads on. The adapters, and the author records (whose settings class
# checks its own fields' types, to refuse them by name), stay pure Python.
MODULES = (
    "sourdine.scoring.core",
    "sourdine.scoring.engine",
    "sourdine.scoring.lexicon",
    "sourdine.scoring.detect",
    "sourdine.scoring.segment",
    "sourdine.engine",
    "sourdine.policy",
    "sourdine.lists",
    "sourdine.platforms.htmltokens",
    "sourdine.platforms.htmltext",
)
GROUP = "sourdine.compiled"  # mypyc's shared library: the module sourdine.compiled__mypyc
STAMP = "BUILT-FROM"

_HERE = Path(__file__).resolve().parent  # the sourdine package

# Set by package_path: "compiled", or "pure Python" and why (`sourdine run` prints it at start-up).
state = "pure Python: not loaded yet"
_decided: bool | None = None  # whether the compiled modules load, decided once for every package


def build_dir() -> Path:
    """Where this interpreter's compiled modules go: build/native/<its extension suffix> at the top of a source
    checkout (an installed wheel has none, and runs pure Python)."""
    tag = (sysconfig.get_config_var("EXT_SUFFIX") or ".so").strip(".").removesuffix(".so") or "native"
    return _HERE.parents[1] / "build" / "native" / tag


def digest(package: Path = _HERE) -> str:
    """What the compiled modules were built from: their sources' bytes, with their names. `package` is the
    `sourdine` folder (a copy of it, when building)."""
    h = hashlib.sha256()
    for name in MODULES:
        relative = Path(*name.split(".")[1:]).with_suffix(".py")
        h.update(str(relative).encode())
        h.update(b"\0")
        h.update((package / relative).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def current(folder: Path | None = None) -> bool:
    """Whether `folder` (this interpreter's build folder by default) holds modules built from today's sources."""
    folder = folder or build_dir()
    try:
        return (folder / STAMP).read_text(encoding="ascii").strip() == digest()
    except OSError:
        return False


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
        state = "pure Python: the compiled modules are older than their sources (run scripts/build-native)"
        logger.warning("sourdine: %s", state)
        return False
    state = "compiled"
    return True


def package_path(package: str, path: list[str]) -> list[str]:
    """A package's `__path__`, with its compiled modules' folder first when they are current. `sourdine` (where
    the shared library is) and every package holding a compiled module call this as they load; the first call
    decides for all of them, so that they never mix a build with pure modules from other sources."""
    global _decided
    if _decided is None:
        _decided = _decide()
    if not _decided:
        return path
    return [str(build_dir().joinpath(*package.split("."))), *path]
