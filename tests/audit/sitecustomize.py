"""Loaded by the `sourdine run` processes the tests start (through PYTHONPATH): records, with Python's audit
hooks, every address the process connects to or looks up, so a test can check that none leaves 127.0.0.1; and, with
SOURDINE_TEST_STATE set, what the process imported, the state of its cycle collector and which check mitmproxy's
messages run when it exited."""

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
