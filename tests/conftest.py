"""Shared fixtures: a stand-in platform server and a real `sourdine run` process, both on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import settings

DATA = Path(__file__).parent / "data"
SOURDINE = Path(sys.executable).parent / "sourdine"

# Hypothesis fails an example that takes over 200 ms of wall time ("Unreliable test timings" when it is not
# slow again): a stall of the shared CI machine is enough. The properties' examples take 0 to 5 ms: 2 s still
# catches an input that makes one pathological, and the tests that bound a cost time it themselves.
settings.register_profile("sourdine", deadline=timedelta(seconds=2))
settings.load_profile("sourdine")


class StandIn:
    """An aiohttp server on 127.0.0.1 in its own thread; `routes` maps a path to a handler.

    It records the Host of every request it serves, so tests can see what reached it.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[web.Request], web.StreamResponse]] = {}
        self.seen: list[tuple[str, str]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.host, request.path))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        result = handler(request)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def start(self) -> StandIn:
        self._thread.start()
        self._ready.wait(10)
        return self

    def soon(self, callback: Callable[..., object], *args: object) -> None:
        """Call `callback(*args)` on the server's event loop, from any thread."""
        self._loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    server = StandIn().start()
    yield server
    server.stop()


@dataclass
class Running:
    proc: subprocess.Popen
    home: Path
    proxy_port: int
    api_port: int
    ready: list[str] = field(default_factory=list)
    stderr: str = ""
    audit: Path | None = None
    wrapped: bool = False  # `proc` is a wrapper's (strace), and Sourdine its child

    def addresses(self) -> set[str]:
        """Every address the process has connected to or looked up so far."""
        lines = self.audit.read_text().splitlines() if self.audit and self.audit.exists() else []
        return {line.split(" ", 1)[1] for line in lines}

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def token(self) -> str:
        return (self.home / "token").read_text().strip()

    def stop(self) -> int:
        """SIGTERM, wait, and keep what it wrote on stderr in `self.stderr`. A wrapped Sourdine gets the signal
        itself (strace, running a command, holds it back), and the wrapper ends with it (see _signal)."""
        if self.proc.poll() is None:
            _signal(self.proc, signal.SIGTERM, self.wrapped)
        try:
            _, self.stderr = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            _signal(self.proc, signal.SIGKILL, self.wrapped)
            self.proc.communicate()
            raise
        return self.proc.returncode


AUDIT = Path(__file__).parent / "audit"


def adapter_speed(adapter, endpoint: str, load: Callable[[], object], verdicts: Callable[[list], dict],
                  rounds: int = 200) -> tuple[float, float, int]:
    """(µs per post for posts(), µs per page for rewrite(), posts per page) on one real page.

    rewrite() is timed one fresh page at a time, as the proxy sees them: hundreds of live pages would time the
    garbage collector instead.
    """
    import time

    doc = load()
    found = adapter.posts(endpoint, doc)
    start = time.perf_counter()
    for _ in range(rounds):
        adapter.posts(endpoint, doc)
    per_post = (time.perf_counter() - start) / rounds / len(found) * 1e6
    chosen = verdicts(found)
    spent = 0.0
    for _ in range(rounds):
        page = load()
        start = time.perf_counter()
        adapter.rewrite(endpoint, page, chosen)
        spent += time.perf_counter() - start
    return per_post, spent / rounds * 1e6, len(found)


def cheapest(*works, runs: int = 5) -> list[float]:
    """The least CPU time this thread spent on each of `works` (each called with the round's number), over
    `runs` rounds that call them in turn.

    - In turn, so that a slow spell of the machine falls on every side of a ratio. In CI, 86 µs of work once read
      as 555 µs at best of five runs in a row, while the other side, timed after it, read as usual.
    - This thread's CPU time (time.thread_time), not the process's, which would count any thread an earlier
      test left running (none ran beside the tests that use this, in a run of the suite here).
    - Without the cycle collector: its passes walk every object of the test process, and a big heap would make
      a linear step look quadratic.
    """
    import gc
    import time

    best = [float("inf")] * len(works)
    # Collected once, not before each run: in the suite's process, whose heap is large by then, a collection takes
    # a tenth of a second or more, and four tests spent 3 s each on them.
    gc.collect()
    gc.disable()
    try:
        for n in range(runs):
            for i, work in enumerate(works):
                started = time.thread_time()
                work(n)
                best[i] = min(best[i], time.thread_time() - started)
    finally:
        gc.enable()
    return best


def grows_linearly(work, n: int, factor: int = 10) -> tuple[float, float]:
    """CPU time of `work(n)` and of `work(factor * n)`, asserting that the larger took less than 3 x factor the
    smaller's (a quadratic step would take factor² times as long: 100 x for factor 10)."""
    small, large = cheapest(lambda _: work(n), lambda _: work(factor * n), runs=3)
    assert large < 3 * factor * max(small, 0.002), (small, large)
    return small, large


def connect_through(proxy_port: int, host: str, port: int) -> tuple[socket.socket, bytes]:
    """Ask the proxy for a CONNECT tunnel to host:port, as browsers do; returns the socket and the proxy's reply
    head (the caller checks it, and closes the socket)."""
    sock = socket.create_connection(("127.0.0.1", proxy_port), timeout=10)
    sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return sock, reply


class Stream:
    """A WebSocket opened through the proxy as browsers do (CONNECT, then the upgrade), read in a thread of its
    own: `messages` holds the messages received so far (str for a text message, bytes for a binary one), and
    `arrived` when each came (time.monotonic()); `ended` is set once the socket has closed."""

    def __init__(self, proxy_port: int, host: str, port: int, path: str) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import Request

        self.messages: list[str | bytes] = []
        self.arrived: list[float] = []
        self.ended = threading.Event()
        self._sock, reply = connect_through(proxy_port, host, port)
        if not reply.startswith(b"HTTP/1.1 200"):
            self._sock.close()
            raise AssertionError(reply)
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._sock.sendall(self._ws.send(Request(host=f"{host}:{port}", target=path)))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        from wsproto.events import BytesMessage, CloseConnection, Message

        parts: list = []  # the fragments of a message: str, or bytes
        try:
            while True:
                try:
                    data = self._sock.recv(65536)
                except TimeoutError:  # a quiet stream
                    continue
                except OSError:  # closed here
                    return
                self._ws.receive_data(data or None)
                for event in self._ws.events():
                    if isinstance(event, Message):
                        parts.append(event.data)
                        if event.message_finished:
                            self.messages.append(b"".join(parts) if isinstance(event, BytesMessage)
                                                 else "".join(parts))
                            self.arrived.append(time.monotonic())
                            parts = []
                    elif isinstance(event, CloseConnection):
                        return
                if not data:
                    return
        finally:
            self.ended.set()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Whether `count` messages arrived within `timeout` seconds."""
        return self.wait_until(lambda messages: len(messages) >= count, timeout)

    def wait_until(self, check: Callable[[list[str | bytes]], bool], timeout: float) -> bool:
        """Whether the messages received passed `check` within `timeout` seconds (or when the socket closed)."""
        deadline = time.monotonic() + timeout
        while not check(self.messages) and not self.ended.is_set() and time.monotonic() < deadline:
            time.sleep(0.005)
        return check(self.messages)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        self._sock.close()
        self._thread.join(5)


# Every `sourdine run` the tests start: those a failing test left running are stopped when the session ends.
STARTED: list[tuple[subprocess.Popen, bool]] = []  # and whether it is a wrapper's


def _signal(proc: subprocess.Popen, sig: int, wrapped: bool) -> None:
    """Signal a process; a wrapper's, through the process it runs: strace holds SIGTERM back, and killed alone it
    would leave Sourdine running, its pipes open. (They stay in the tests' process group, so that whatever ends
    the whole run, a CI's timeout, ends them too.)"""
    if wrapped:
        for task in Path(f"/proc/{proc.pid}/task").glob("*/children"):
            for child in task.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(child), sig)
        if sig == signal.SIGTERM:
            return
    proc.send_signal(sig)


def pytest_sessionfinish(session, exitstatus) -> None:
    for proc, wrapped in STARTED:
        if proc.poll() is None:
            _signal(proc, signal.SIGKILL, wrapped)
            proc.communicate()


# The time budget of one response in the suite's real runs: forty times the product's 250 ms, so that a stall of a
# loaded machine inside one hook never sends a page unfiltered where a test checks what was filtered. Tests of the
# budget itself, and the soak, give their own (`budget_ms`; None: the product's default).
TEST_BUDGET_MS = 10_000


def start_sourdine(home: Path, *args: str, env: dict | None = None, wrapper: Sequence[str] = (),
                   budget_ms: int | None = TEST_BUDGET_MS) -> Running:
    """Start `sourdine run` on free ports and wait for its first two lines (its ports, its CA): the proxy takes
    connections from then on, and serves them once start-up ends (the third line, scoring loaded).

    The process records every address it connects to or looks up in `<home>.audit` (tests/audit). `wrapper`
    runs it under another command (strace): `proc` is then that command's, and `Running.stop` signals Sourdine.
    """
    audit = home.with_name(home.name + ".audit")
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(AUDIT), os.environ.get("PYTHONPATH")])),
        "SOURDINE_TEST_AUDIT": str(audit),
        **(env or {}),
    }
    proc = subprocess.Popen(
        [*wrapper, str(SOURDINE), "run", "--home", str(home), "--proxy-port", "0", "--api-port", "0",
         *([] if budget_ms is None else ["--budget-ms", str(budget_ms)]), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )
    STARTED.append((proc, bool(wrapper)))
    first = proc.stdout.readline()
    match = re.match(r"sourdine: proxy on 127\.0\.0\.1:(\d+), API on http://127\.0\.0\.1:(\d+)$", first.strip())
    if not match:
        _signal(proc, signal.SIGKILL, bool(wrapper))
        _, err = proc.communicate()
        raise AssertionError(f"no first line: {first!r}; stderr: {err[-2000:]}")
    second = proc.stdout.readline()
    return Running(proc, home, int(match.group(1)), int(match.group(2)), [first.strip(), second.strip()], audit=audit,
                   wrapped=bool(wrapper))


def pair_peers(a: Running, b: Running) -> None:
    """Pair two running devices for sync: `sourdine peers add` on A prints a code and waits; `sourdine peers
    accept CODE` on B finishes pairing."""
    add = subprocess.Popen([str(SOURDINE), "peers", "add", "--home", str(a.home), "--wait", "30"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = add.stdout.readline()
        assert line.startswith("Peer code: "), line + add.stderr.read()
        code = line.split(": ", 1)[1].strip()
        accepted = subprocess.run([str(SOURDINE), "peers", "accept", code, "--home", str(b.home)],
                                  capture_output=True, text=True, timeout=60)
        assert accepted.returncode == 0 and "Paired with" in accepted.stdout, accepted.stderr
        out, err = add.communicate(timeout=30)
        assert add.returncode == 0 and "Paired with" in out, err
    finally:
        if add.poll() is None:
            add.kill()
            add.communicate()


def paired_through_a_folder(tmp_path: Path) -> tuple[Path, Running]:
    """A folder `tmp_path/shared`, and device B (`tmp_path/b`) running on it, paired with device A (`tmp_path/a`),
    which is stopped: started again with the folder alone, A has nothing but the folder to carry its rows."""
    shared = tmp_path / "shared"
    shared.mkdir()
    a = start_sourdine(tmp_path / "a", "--sync-port", "0")
    b = start_sourdine(tmp_path / "b", "--sync-folder", str(shared))
    try:
        pair_peers(a, b)
    except BaseException:
        b.stop()
        raise
    finally:
        code = a.stop()
    assert code == 0, a.stderr[-2000:]
    return shared, b


@pytest.fixture(scope="module")
def sourdine(tmp_path_factory) -> Iterator[Running]:
    # 127.0.0.1 as a Mastodon instance: a WebSocket opened through CONNECT, as browsers do, is then read too.
    running = start_sourdine(tmp_path_factory.mktemp("home"), "--mastodon-instance", "127.0.0.1")
    yield running
    code = running.stop()
    assert code == 0, running.stderr[-2000:]
