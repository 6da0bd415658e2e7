"""Loaded by the `sourdine run` processes the tests start (through PYTHONPATH): records, with Python's audit
hooks, every address the process connects to or looks up, so a test can check that none leaves 127.0.0.1; and, with
SOURDINE_TEST_STATE set, what the process imported and what its cycle collector did."""

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
    import gc

    _young_after_freeze = [0]

    def _count(phase: str, info: dict) -> None:
        # Automatic collections of the youngest objects, once start-up has frozen its own (runner.serve).
        if phase == "start" and info["generation"] == 0 and gc.get_freeze_count():
            _young_after_freeze[0] += 1

    gc.callbacks.append(_count)

    def _dump_state() -> None:
        """At a clean exit: the modules the process imported, how many objects its cycle collector froze and
        how many automatic collections of the youngest objects it made after that, as JSON."""
        import json

        with open(_state, "w") as f:
            json.dump({"modules": sorted(sys.modules), "gc_frozen": gc.get_freeze_count(),
                       "gc_young_after_freeze": _young_after_freeze[0]}, f)

    atexit.register(_dump_state)
