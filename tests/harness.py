"""Small helpers for the tests and scripts that drive a real `sourdine run`: its API, a request through its
proxy, its memory."""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
from pathlib import Path


def free_port() -> int:
    """A port free on 127.0.0.1 just now, from those the system hands out for port 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def steady_port(exclude: set[int] = frozenset()) -> int:
    """A port free on 127.0.0.1 just now and below those the system hands out for port 0 and outgoing
    connections (Linux: ip_local_port_range), so that nothing else takes it while a process that listens on it
    is killed and started again; not one of `exclude`. Where that range starts too low to leave room below it,
    any free port (free_port)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    if low < 11024:
        return free_port()
    for port in random.Random().sample(range(10000, low), 200):
        if port in exclude:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def api(api_port: int, token: str, method: str, path: str, body: object = None,
        timeout: float = 10, origin: str | None = None) -> tuple[int, dict]:
    """Call the API with the token (none if empty) and the Origin, if given, straight (no proxy); (status, JSON
    body)."""
    status, answer, _ = api_call(api_port, token, method, path, body, timeout, origin)
    return status, answer


def api_call(api_port: int, token: str, method: str, path: str, body: object = None, timeout: float = 10,
             origin: str | None = None, raw: bytes | None = None) -> tuple[int, dict, int]:
    """`api`, on a connection of its own, with `raw` bytes as the body if given: (status, JSON body, the
    client's port, which names the connection in a trace of the server)."""
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if origin is not None:
        headers["Origin"] = origin
    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=timeout)
    try:
        conn.connect()
        port = conn.sock.getsockname()[1]
        conn.request(method, path, data, headers)
        response = conn.getresponse()
        answer = response.read()
        return response.status, json.loads(answer) if answer else {}, port
    finally:
        conn.close()


def through_proxy(proxy_port: int, url: str, headers: dict | None = None,
                  timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """GET a plain-HTTP url through the proxy; (status, headers with lower-case names, raw body as sent)."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=timeout)
    try:
        conn.request("GET", url, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def rss_mb(pid: int) -> float:
    """A process's resident memory, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no VmRSS")


def wait_until(check, timeout: float, step: float = 0.01) -> float:
    """Call `check` until it returns true; the seconds it took. TimeoutError after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not ready within {timeout} s")
        time.sleep(step)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system, every thread) a process has used so far (Linux)."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
