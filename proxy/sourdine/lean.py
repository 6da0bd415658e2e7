"""Start-up without what Sourdine never uses: two imports that cost a third of `sourdine run`'s start-up, and a
second reading of the CA.

- `import mitmproxy.addons` runs the package's __init__, which imports all thirty of mitmproxy's addons (the
  onboarding app brings Flask, proxy authentication brings passlib and ldap3, playback, export, HAR...): about
  150 ms and 12 MB. `mitmproxy_addons()` imports only the addons that `sourdine run` adds.
- sqlite-utils imports numpy, when it is installed, to map numpy's number types to column types. Sourdine never
  writes numpy values, and nothing else of it needs numpy. `without()` keeps it out of sqlite-utils' import when
  another package installed numpy: about 120 ms and 11 MB.
- mitmproxy's TLS addon reads the CA twice at start-up, and each reading checks its RSA key: `_read_ca_once`.

And one cost of every request and response, not of start-up: mitmproxy's debug check of their types, which
`python -O` leaves out (`skip_message_checks`).

Measured with `python -X importtime` and /proc/self/status; see docs/performance.md.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# The default addons that `sourdine run` relies on, in mitmproxy's own order (mitmproxy.addons.default_addons):
# the core commands, refusing non-local clients (block_global), DNS and HTTP/2 hygiene, the proxy servers, layer
# selection (allow_hosts), TLS and certificates, and Alt-Svc rewriting.
_ADDONS = (
    ("core", "Core"),
    ("block", "Block"),
    ("strip_dns_https_records", "StripDnsHttpsRecords"),
    ("disable_h2c", "DisableH2C"),
    ("proxyserver", "Proxyserver"),
    ("dns_resolver", "DnsResolver"),
    ("next_layer", "NextLayer"),
    ("tlsconfig", "TlsConfig"),
    ("update_alt_svc", "UpdateAltSvc"),
)


def mitmproxy_addons() -> list[object]:
    """New instances of the mitmproxy addons `sourdine run` needs, without importing the others.

    When mitmproxy.addons is not imported yet, it is registered as a bare package whose submodules import one by
    one; asking it for anything else (`default_addons`, say) runs its real __init__ then, so nothing breaks."""
    if "mitmproxy.addons" not in sys.modules:
        spec = importlib.util.find_spec("mitmproxy.addons")
        if spec is not None and spec.loader is not None and spec.submodule_search_locations is not None:
            package = types.ModuleType("mitmproxy.addons")
            package.__spec__ = spec
            package.__file__ = spec.origin
            package.__path__ = list(spec.submodule_search_locations)
            package.__package__ = "mitmproxy.addons"
            loader = spec.loader

            def __getattr__(name: str) -> object:  # noqa: N807 - a module's own __getattr__ (PEP 562)
                if name.startswith("__"):
                    raise AttributeError(name)
                if importlib.util.find_spec(f"mitmproxy.addons.{name}") is not None:
                    return importlib.import_module(f"mitmproxy.addons.{name}")  # `from .addons import termlog`
                del package.__getattr__  # type: ignore[attr-defined]
                loader.exec_module(package)
                return getattr(package, name)

            package.__getattr__ = __getattr__  # type: ignore[attr-defined]
            sys.modules["mitmproxy.addons"] = package
    classes = {cls: getattr(importlib.import_module(f"mitmproxy.addons.{module}"), cls) for module, cls in _ADDONS}
    classes["TlsConfig"] = _read_ca_once(classes["TlsConfig"])
    return [addon_class() for addon_class in classes.values()]


def _read_ca_once(base: type) -> type:
    """mitmproxy's TLS addon, reading the CA once at start-up instead of twice.

    Its `running` hook reads the certificate store again whatever happened before (mitmproxy's own workaround for
    `configure` hooks that never saw the confdir option), although `sourdine run` sets confdir, which reads it,
    before it runs. Each reading checks the CA's 2048-bit RSA key: 45 ms of CPU on the test machine of
    2026-11-23. Here `running` reads the store only when nothing has read it yet (its result is returned, in
    case a later mitmproxy makes it a coroutine: mitmproxy awaits what a hook returns)."""

    class TlsConfig(base):  # type: ignore[misc, valid-type]
        def running(self) -> Any:
            if getattr(self, "certstore", None) is None:
                return base.running(self)  # type: ignore[attr-defined]
            return None

    return TlsConfig


def skip_message_checks() -> None:
    """Leave out mitmproxy's type check of every request and response it makes, as `python -O` leaves it out.

    mitmproxy's message data (`mitmproxy.http.MessageData`) checks each field's value against its annotation
    in `__post_init__`, `if __debug__` only. For a field that may be None (the content, the trailers, the end
    time), it first builds and catches a TypeError for the other type, and the exception, its traceback and its
    frame are a cycle left for the collector: 34 µs of the 40 that making an `http.Request` takes (`timeit`,
    2026-11-24), and again for its response. Sourdine makes its own messages with mitmproxy's constructors,
    and sets bodies through their properties, which check their type themselves. Only a `__post_init__` that
    is this check (it calls mitmproxy's `check_option_type`) is replaced: one that a later mitmproxy gives
    other work, or none at all, is left as it is."""
    try:
        from mitmproxy import http
    except ImportError:
        return
    data = getattr(http, "MessageData", None)
    check = vars(data).get("__post_init__") if isinstance(data, type) else None
    code = getattr(check, "__code__", None)
    if code is not None and "check_option_type" in code.co_names:
        setattr(data, "__post_init__", _unchecked)  # noqa: B010 - a class attribute mypy does not know of


def _unchecked(self: object) -> None:
    """`MessageData.__post_init__` without its checks (see `skip_message_checks`)."""


@contextmanager
def without(name: str) -> Iterator[None]:
    """Imports inside see module `name` as not installed (unless it is imported already)."""
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get(name, 0) is None:
            del sys.modules[name]


_libc: object = None


def _glibc() -> Any:
    """glibc, on Linux; None elsewhere or when it cannot be loaded."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            import ctypes
            import ctypes.util

            with contextlib.suppress(OSError):  # then it stays False: no tuning, no trimming
                _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return _libc or None


# mallopt(3) parameters.
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> None:
    """Keep feed bodies out of malloc's heap, before any thread starts; nothing off glibc.

    glibc raises its mmap threshold to the largest block freed so far (up to 32 MB): after the first large feed,
    every body and parsed page of that size comes from the heap, where what is freed between long-lived objects
    stays in RSS. A fixed threshold of 256 KB sends them to mmap, which gives them back when they are freed. Two
    arenas instead of eight per core: the writer and sync threads do little allocation."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)


def trim_memory() -> None:
    """Give freed heap memory back to the system (glibc's malloc_trim); nothing elsewhere.

    Memory freed in bulk (a parsed feed of several megabytes, say) otherwise stays in malloc's arenas and counts
    in RSS. It takes a few microseconds (milliseconds when it has much to give back), so the runtime calls it
    every ten seconds."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
