"""Loaded (through PYTHONPATH) by the `sourdine run` of the browser test. Chromium never sends a loopback address
through a PAC's proxy, so the test's feed lives on a `.test` name that Chromium maps to 127.0.0.1
(--host-resolver-rules); this makes the same names resolve to 127.0.0.1 in Sourdine, which then reaches the
stand-in server. The address audit of tests/audit is installed too."""

import os
import runpy
import socket

runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "audit", "sitecustomize.py"))

_getaddrinfo = socket.getaddrinfo


def _test_names_are_local(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and name.endswith(".test"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _test_names_are_local
