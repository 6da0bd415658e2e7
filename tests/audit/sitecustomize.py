"""Loaded by the `sourdine run` processes the tests start (through PYTHONPATH): records, with Python's audit
hooks, every address the process connects to or looks up, so a test can check that none leaves 127.0.0.1; with
SOURDINE_TEST_STATE set, what the process imported, the state of its cycle collector and which check mitmproxy's
messages run when it exited; and with SOURDINE_TEST_UNSYNCED set, a broken Sourdine for a test to catch: its
database commits without waiting for the disk (sqlite's synchronous = NORMAL, whatever Sourdine asks), and
os.fsync does nothing; with SOURDINE_TEST_LATE set, another broken Sourdine: 300 ms after each commit, a
write to the database lands while nothing asked for one, as when a route answers before it commits the rest;
with SOURDINE_TEST_HOSTS set (names, comma-separated), those names resolve to 127.0.0.1,
as a line of /etc/hosts would make them, so that a test can send a platform's host to a stand-in."""

import os
import sys

_path = os.environ.get("SOURDINE_TEST_AUDIT")
if _path:
    _log = open(_path, "a", buffering=1)  # noqa: SIM115 - kept open for the life of the process

    def _hook(event: str, args: tuple) -> None:
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple):
                _log.write(f"connect {address[0]}\n")
            else:
                _log.write(f"connect-unix {address!r}\n")
        elif event == "socket.getaddrinfo":
            _log.write(f"lookup {args[0]!r}\n")

    sys.addaudithook(_hook)

_state = os.environ.get("SOURDINE_TEST_STATE")
if _state:
    import atexit

    def _dump_state() -> None:
        """At a clean exit: the modules the process imported, whether its cycle collector is on and how many
        objects it froze, and the name of mitmproxy's message check (sourdine.lean.skip_message_checks), as JSON."""
        import gc
        import json

        http = sys.modules.get("mitmproxy.http")
        check = getattr(getattr(http, "MessageData", None), "__post_init__", None)
        with open(_state, "w") as f:
            json.dump({"modules": sorted(sys.modules), "gc_enabled": gc.isenabled(),
                       "gc_frozen": gc.get_freeze_count(),
                       "message_check": getattr(check, "__qualname__", None)}, f)

    atexit.register(_dump_state)

if os.environ.get("SOURDINE_TEST_UNSYNCED"):
    import sqlite3

    class _Unsynced(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql.lstrip().upper().startswith("PRAGMA SYNCHRONOUS"):
                sql = "PRAGMA synchronous = NORMAL"
            return super().execute(sql, *args)

    _connect = sqlite3.connect

    def _unsynced_connect(*args, **kwargs):
        kwargs.setdefault("factory", _Unsynced)
        return _connect(*args, **kwargs)

    sqlite3.connect = _unsynced_connect
    os.fsync = lambda fd: None

_hosts = os.environ.get("SOURDINE_TEST_HOSTS")
if _hosts:
    import socket

    _names = frozenset(_hosts.lower().split(","))
    _getaddrinfo = socket.getaddrinfo

    def _resolve(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower() in _names:
            host = "127.0.0.1"
        return _getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = _resolve

if os.environ.get("SOURDINE_TEST_LATE"):
    if os.environ.get("SOURDINE_TEST_UNSYNCED"):
        raise RuntimeError("SOURDINE_TEST_LATE and SOURDINE_TEST_UNSYNCED break sqlite each its own way: set one")
    import sqlite3
    import threading
    import time

    _plain_connect = sqlite3.connect

    def _late_write(path) -> None:
        conn = _plain_connect(path, timeout=5)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS test_late (at REAL)")
            conn.execute("INSERT INTO test_late VALUES (?)", (time.time(),))
            conn.commit()
        finally:
            conn.close()

    class _Late(sqlite3.Connection):
        def __init__(self, database, *args, **kwargs):
            super().__init__(database, *args, **kwargs)
            self._late_path = database

        def execute(self, sql, *args):
            cursor = super().execute(sql, *args)
            if sql.strip().upper() == "COMMIT":
                threading.Timer(0.3, _late_write, (self._late_path,)).start()
            return cursor

    def _late_connect(*args, **kwargs):
        kwargs.setdefault("factory", _Late)
        return _plain_connect(*args, **kwargs)

    sqlite3.connect = _late_connect
