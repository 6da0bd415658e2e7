"""End to end: a real `sourdine run` process, a stand-in Mastodon server and a client, all on 127.0.0.1.

The timeline is a real capture (tests/data/mastodon/rtoot_get_timeline_public_instance.body.json, 20 statuses
from mastodon.social). Four statuses get hand-written texts, two hostile and two friendly, in English and French;
the other sixteen are left as captured.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import brotli
import pytest
from aiohttp import web

import harness
from conftest import DATA, Stream, connect_through, start_sourdine

REAL = json.loads((DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())
LINK = (
    '<https://mastodon.social/api/v1/timelines/public?max_id=114870361500887110>; rel="next", '
    '<https://mastodon.social/api/v1/timelines/public?min_id=114870361973436726>; rel="prev"'
)
HOSTILE = {
    1: ("en", "<p>You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!! "
              "Everyone should despise you.</p>"),
    10: ("fr", "<p>Espèce d'ordure, menteur pathétique et minable. Tu es une honte absolue, dégage !!!</p>"),
}
FRIENDLY = {
    2: ("en", "<p>Thank you all for a lovely afternoon at the library, the kids loved the stories!</p>"),
    11: ("fr", "<p>Merci à toute l'équipe pour ce bel atelier, c'était un vrai plaisir de vous retrouver.</p>"),
}


def timeline() -> list[dict]:
    statuses = copy.deepcopy(REAL)
    for i, (lang, html) in {**HOSTILE, **FRIENDLY}.items():
        statuses[i]["language"] = lang
        statuses[i]["content"] = html
    return statuses


TIMELINE = timeline()
TIMELINE_BYTES = json.dumps(TIMELINE).encode()
HOSTILE_IDS = {TIMELINE[i]["id"] for i in HOSTILE}
FRIENDLY_IDS = {TIMELINE[i]["id"] for i in FRIENDLY}
MALFORMED = TIMELINE_BYTES[: len(TIMELINE_BYTES) // 2]
NONFEED = json.dumps([s["account"] for s in REAL]).encode()
# Compressed once: the server sends these exact bytes, and the client must receive these exact bytes.
MALFORMED_GZ = gzip.compress(MALFORMED)
NONFEED_GZ = gzip.compress(NONFEED)


def respond(body: bytes, encoding: str | None = None, **headers: str):
    def handler(request: web.Request) -> web.Response:
        data = body
        if encoding == "gzip":
            data = gzip.compress(body)
        elif encoding == "br":
            data = brotli.compress(body)
        h = {"Content-Type": "application/json; charset=utf-8", "Link": LINK, "ETag": 'W/"abc"', **headers}
        if encoding:
            h["Content-Encoding"] = encoding
        return web.Response(body=data, headers=h)

    return handler


@pytest.fixture(scope="module", autouse=True)
def routes(standin):
    standin.routes.update(
        {
            "/api/v1/timelines/home": respond(TIMELINE_BYTES),
            "/api/v1/timelines/public": respond(TIMELINE_BYTES, "gzip"),
            "/api/v1/timelines/tag/brotli": respond(TIMELINE_BYTES, "br"),
            "/api/v1/timelines/list/1": respond(MALFORMED_GZ, None, **{"Content-Encoding": "gzip"}),
            "/api/v1/instance/peers": respond(NONFEED_GZ, None, **{"Content-Encoding": "gzip"}),
        }
    )
    standin.seen.clear()


def fetch(sourdine, standin, path: str, headers: dict | None = None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sourdine.proxy}))
    request = urllib.request.Request(
        f"http://127.0.0.1:{standin.port}{path}",
        headers={"Accept-Encoding": "gzip, deflate, br, zstd", **(headers or {})},
    )
    with opener.open(request, timeout=10) as response:
        return response.status, response.headers, response.read()


def decoded(headers, raw: bytes) -> bytes:
    encoding = headers.get("Content-Encoding")
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "br":
        return brotli.decompress(raw)
    assert encoding is None
    return raw


def sourdine_filters(status: dict) -> list[dict]:
    return [f for f in status.get("filtered") or [] if f["filter"]["title"].startswith("Sourdine: ")]


def check_filtered_timeline(headers, raw: bytes) -> None:
    body = decoded(headers, raw)
    if "Content-Length" in headers:
        assert int(headers["Content-Length"]) == len(raw)
    assert headers["Link"] == LINK
    statuses = json.loads(body)
    by_id = {s["id"]: s for s in statuses}
    original = {s["id"]: s for s in TIMELINE}
    assert [s["id"] for s in statuses] == [s["id"] for s in TIMELINE if s["id"] in by_id], "order kept"
    for status_id in HOSTILE_IDS:
        assert status_id not in by_id or sourdine_filters(by_id[status_id]), "hostile post neither hidden nor folded"
    for status_id in FRIENDLY_IDS:
        assert by_id[status_id] == original[status_id], "friendly post changed"
    for status_id, status in by_id.items():
        if not sourdine_filters(status):
            assert status == original[status_id], "a kept post changed"
        else:
            [f] = sourdine_filters(status)
            assert f["filter"]["filter_action"] == "warn"
            assert set(f["filter"]["context"]) == {"home", "notifications", "public", "thread", "account"}
    assert len(statuses) < len(TIMELINE) or any(sourdine_filters(s) for s in statuses)
    # A rewritten body no longer matches the platform's ETag.
    assert "ETag" not in headers


@pytest.mark.parametrize("path", ["/api/v1/timelines/home", "/api/v1/timelines/public", "/api/v1/timelines/tag/brotli"])
def test_hostile_posts_are_hidden_or_folded_in_plain_gzip_and_brotli(sourdine, standin, path):
    """Hostile English and French posts come back hidden or folded, friendly ones untouched, Link kept."""
    status, headers, raw = fetch(sourdine, standin, path)
    assert status == 200
    check_filtered_timeline(headers, raw)


def test_feed_requests_ask_the_platform_for_gzip(sourdine, standin):
    """On a feed request Sourdine asks upstream for gzip only, so it never re-encodes brotli."""
    seen = []
    standin.routes["/api/v1/timelines/link"] = lambda r: seen.append(r.headers.get("Accept-Encoding")) or respond(
        TIMELINE_BYTES
    )(r)
    fetch(sourdine, standin, "/api/v1/timelines/link")
    assert seen == ["gzip"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v1/timelines/list/1", MALFORMED_GZ),
        ("/api/v1/instance/peers", NONFEED_GZ),
    ],
)
def test_malformed_feed_and_non_feed_pass_byte_for_byte(sourdine, standin, path, expected):
    """A malformed feed body and a non-feed response reach the client exactly as the server sent them."""
    status, headers, raw = fetch(sourdine, standin, path)
    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert headers["ETag"] == 'W/"abc"'
    assert raw == expected


def api_get(sourdine, path: str, headers: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{sourdine.api_port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_status_counts_and_needs_the_token(sourdine, standin):
    """/api/v1/status reports ports and counts with the token, and answers 401 without it."""
    fetch(sourdine, standin, "/api/v1/timelines/home")
    code, body = api_get(sourdine, "/api/v1/status")
    assert code == 401 and body["error"]["code"] == "unauthorized"
    code, body = api_get(sourdine, "/api/v1/status", {"Authorization": f"Bearer {sourdine.token()}"})
    assert code == 200
    assert body["proxy"]["port"] == sourdine.proxy_port and body["api"]["port"] == sourdine.api_port
    assert body["counts"]["seen"] >= len(TIMELINE)
    assert body["counts"]["collapsed"] + body["counts"]["hidden"] >= len(HOSTILE)
    assert "mastodon" in body["platforms"]


def websocket_messages(proxy_port: int, port: int, path: str) -> list[str | bytes]:
    """Text messages of a WebSocket opened the way browsers do through a proxy, until the server closes it."""
    stream = Stream(proxy_port, "127.0.0.1", port, path)
    try:
        assert stream.ended.wait(20), "the stream did not end"
    finally:
        stream.close()
    return stream.messages


def test_streaming_updates_are_filtered(sourdine, standin):
    """A hostile post pushed on the streaming WebSocket is dropped or folded; a friendly one arrives as sent."""
    hostile, friendly = TIMELINE[1], TIMELINE[2]
    events = [
        {"stream": ["public"], "event": "update", "payload": json.dumps(hostile)},
        {"stream": ["public"], "event": "update", "payload": json.dumps(friendly)},
        {"stream": ["public"], "event": "delete", "payload": "123"},
    ]

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for event in events:
            await ws.send_str(json.dumps(event))
        await ws.close()
        return ws

    standin.routes["/api/v1/streaming"] = stream
    received = [json.loads(m) for m in websocket_messages(sourdine.proxy_port, standin.port, "/api/v1/streaming")]
    assert received[-1] == events[2]
    assert events[1] in received
    assert events[0] not in received, "the hostile update went through unchanged"
    for event in received:
        if event["event"] == "update" and json.loads(event["payload"])["id"] == hostile["id"]:
            assert sourdine_filters(json.loads(event["payload"]))


@pytest.fixture
def lone(tmp_path):
    """A `sourdine run` of its own (127.0.0.1 as a Mastodon instance), for a test that measures its RSS: in a
    process other tests used, a leak can fill the heap they freed and not show."""
    running = start_sourdine(tmp_path / "home", "--mastodon-instance", "127.0.0.1")
    # Start-up goes on after the ports are printed (scoring loads): measured from its last line.
    assert running.proc.stdout.readline().startswith("sourdine: scoring and filtering")
    yield running
    assert running.stop() == 0, running.stderr[-2000:]


def test_a_stream_open_all_day_lets_go_of_its_messages(lone, standin):
    """A Mastodon stream kept open while 4,000 updates (a real one's, each with a new id) go through it: once
    the runtime has given freed memory back (every 10 s), the proxy's RSS is within 5 MB of where it was.
    mitmproxy keeps every message of an open socket in its flow: before the hook let go of them, 20,000 of
    these (4.9 KB each) held 97.5 MB for as long as the socket was open."""
    sourdine = lone
    event = json.loads((DATA / "mastodon" / "streaming_update_reblog.event.json").read_bytes())
    status_id = json.loads(event["payload"])["id"]
    release = threading.Event()

    async def stream(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        count = int(request.query["count"])
        for i in range(count):
            payload = event["payload"].replace(status_id, f"{status_id[:-6]}{i:06d}")
            await ws.send_str(json.dumps({**event, "payload": payload}))
        while not release.is_set():
            await asyncio.sleep(0.05)
        await ws.close()
        return ws

    standin.routes["/api/v1/streaming"] = stream
    warm = Stream(sourdine.proxy_port, "127.0.0.1", standin.port, "/api/v1/streaming?count=300")
    long = None
    try:
        assert warm.wait_for(300, 30)
        before = harness.rss_mb(sourdine.proc.pid)
        long = Stream(sourdine.proxy_port, "127.0.0.1", standin.port, "/api/v1/streaming?count=4000")
        assert long.wait_for(4000, 120), len(long.messages)
        peak = harness.rss_mb(sourdine.proc.pid) - before
        # Freed memory goes back to the system at the runtime's next trim (lean.trim_memory, every 10 s).
        with contextlib.suppress(TimeoutError):
            harness.wait_until(lambda: harness.rss_mb(sourdine.proc.pid) - before < 5, 25, step=0.5)
        held = harness.rss_mb(sourdine.proc.pid) - before
    finally:
        release.set()
        for each in (warm, long):
            if each is not None:
                each.close()
    print(f"RSS over 4,000 streamed updates, the stream still open: {peak:+.1f} MB at once, {held:+.1f} MB later")
    assert held < 5, (peak, held)


def test_a_raw_tcp_connection_lets_go_of_its_messages(lone):
    """A connection to a platform's host that is not HTTP, which mitmproxy relays as raw TCP and records message
    by message as it does a WebSocket's: 3,000 chunks of 4 KB echoed each way leave the proxy's RSS within 5 MB
    of where it was, the connection still open (before the hook let go of them, they held 23 MB)."""
    sourdine = lone
    server = socket.create_server(("127.0.0.1", 0))

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    threading.Thread(target=echo, daemon=True).start()
    sock, reply = connect_through(sourdine.proxy_port, "127.0.0.1", server.getsockname()[1])
    with sock, server:
        assert reply.startswith(b"HTTP/1.1 200"), reply
        chunk = b"\x00\x01 not HTTP " + b"x" * 4000

        def echoes(count: int) -> None:
            for _ in range(count):
                sock.sendall(chunk)
                echoed = b""
                while len(echoed) < len(chunk):
                    echoed += sock.recv(len(chunk) - len(echoed))
                assert echoed == chunk

        echoes(100)  # the connection's own buffers made
        before = harness.rss_mb(sourdine.proc.pid)
        echoes(3000)
        peak = harness.rss_mb(sourdine.proc.pid) - before
        with contextlib.suppress(TimeoutError):  # freed memory goes back at the runtime's next trim (10 s)
            harness.wait_until(lambda: harness.rss_mb(sourdine.proc.pid) - before < 5, 25, step=0.5)
        held = harness.rss_mb(sourdine.proc.pid) - before
    print(f"RSS over 3,000 chunks echoed each way, the connection open: {peak:+.1f} MB at once, {held:+.1f} MB later")
    assert held < 5, (peak, held)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _remote_addresses(pid: int) -> set[str]:
    inodes = _socket_inodes(pid)
    remotes = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                remote, inode = fields[2], fields[9]
                if inode in inodes and not remote.endswith(":0000"):
                    remotes.add(remote.split(":")[0])
    return remotes


LOOPBACK = {"0100007F", "00000000000000000000000001000000", "0000000000000000FFFF00000100007F"}


@pytest.mark.skipif(not os.path.exists("/proc/self/net/tcp"), reason="needs Linux /proc")
def test_no_connection_leaves_loopback(sourdine, standin):
    """Every connection the Sourdine process holds after serving traffic is to 127.0.0.1."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", sourdine.proxy_port, timeout=10)
    try:
        conn.request("GET", f"http://127.0.0.1:{standin.port}/api/v1/timelines/home")
        conn.getresponse().read()  # the connection stays open, and so does the proxy's upstream one
        remotes = _remote_addresses(sourdine.proc.pid)
    finally:
        conn.close()
    assert len(remotes) >= 1, "expected live connections to inspect"
    assert remotes <= LOOPBACK, remotes
    assert {host for host, _ in standin.seen} == {f"127.0.0.1:{standin.port}"}


def test_home_files_and_ready_lines(sourdine):
    """The home is 0700, the token and CA key 0600, run.json names the ports, and the CA path is printed."""
    assert sourdine.home.stat().st_mode & 0o777 == 0o700
    assert (sourdine.home / "token").stat().st_mode & 0o777 == 0o600
    ca_key = sourdine.home / "mitmproxy" / "mitmproxy-ca.pem"
    assert ca_key.stat().st_mode & 0o777 == 0o600
    ca_cert = sourdine.home / "mitmproxy" / "mitmproxy-ca-cert.pem"
    assert sourdine.ready[1] == f"sourdine: CA certificate: {ca_cert}"
    assert ca_cert.exists()
    info = json.loads((sourdine.home / "run.json").read_text())
    assert info["pid"] == sourdine.proc.pid
    assert info["proxy"] == ["127.0.0.1", sourdine.proxy_port]
    assert info["api"] == ["127.0.0.1", sourdine.api_port]
    conn = __import__("sqlite3").connect(sourdine.home / "sourdine.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_port_in_use_exits_2_with_a_message(tmp_path):
    """A proxy port already taken stops start-up with exit code 2 and Sourdine's one line: mitmproxy's own report
    came first, suggesting its option `--mode regular@PORT`, which `sourdine run` refuses."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = __import__("subprocess").run(
            [str(__import__("conftest").SOURDINE), "run", "--home", str(tmp_path), "--proxy-port", str(port),
             "--api-port", "0"],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"sourdine: cannot listen on 127.0.0.1:{port} for the proxy: is the port already in use?"], proc.stderr
    assert not (tmp_path / "run.json").exists()


def test_sigterm_flushes_decisions_and_removes_run_json(tmp_path, standin):
    """On SIGTERM pending decisions reach sqlite, run.json goes, and the exit code is 0."""
    running = start_sourdine(tmp_path / "home", "--mastodon-instance", "Toot.Example.org")
    try:
        fetch(running, standin, "/api/v1/timelines/home")
    finally:
        assert running.stop() == 0
    assert not (running.home / "run.json").exists()
    import sqlite3

    conn = sqlite3.connect(running.home / "sourdine.db")
    rows = conn.execute("SELECT platform, post_id, action, reason FROM decisions").fetchall()
    assert len(rows) == len(TIMELINE)
    assert {r[1] for r in rows if r[2] != "keep"} >= HOSTILE_IDS
    columns = {r[1] for r in conn.execute("PRAGMA table_info(decisions)")}
    assert not columns & {"text", "content"}, "post text must never be stored"
    [(value,)] = conn.execute("SELECT value FROM settings WHERE key = 'mastodon_instances'").fetchall()
    assert json.loads(value) == ["toot.example.org"]


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("loop_takes_signals", [True, False], ids=["posix-loop", "windows-proactor-imitated"])
def test_ctrl_c_and_sigterm_stop_the_run_where_the_loop_cannot_take_signals_too(sig, loop_takes_signals,
                                                                                   monkeypatch):
    """`sourdine run` ends on Ctrl-C or SIGTERM through its event loop; Windows' proactor loop cannot take signals
    (add_signal_handler raises NotImplementedError, which stopped the run's start with a traceback there), so
    they come through signal.signal instead, as mitmproxy's own do. The proactor's refusal is imitated here."""
    import signal

    from sourdine import runner

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if not loop_takes_signals:
            def refuse(*_args):
                raise NotImplementedError

            monkeypatch.setattr(loop, "add_signal_handler", refuse)
        stop = asyncio.Event()
        before = signal.getsignal(getattr(signal, sig))
        restore = runner.stop_on_signals(loop, stop)
        assert not stop.is_set()
        signal.raise_signal(getattr(signal, sig))
        await asyncio.wait_for(stop.wait(), 5)
        restore()
        if not loop_takes_signals:  # the handler before is back: a signal after the run does not call into its loop
            assert signal.getsignal(getattr(signal, sig)) is before

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        asyncio.run(main())
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_start_up_leaves_out_what_it_never_uses_and_the_collector_comes_back(tmp_path, standin):
    """`sourdine run` imports neither the mitmproxy addons it does not run (sourdine.lean) nor the pairing
    protocol (imported at the first pairing), and its cycle collector, off through start-up, is on again when
    it exits after a feed, with start-up's objects frozen out of its way. Its messages skip mitmproxy's debug
    check of their types (lean.skip_message_checks)."""
    state = tmp_path / "state.json"
    running = start_sourdine(tmp_path / "home", "--mastodon-instance", "toot.example.org",
                             env={"SOURDINE_TEST_STATE": str(state)})
    try:
        fetch(running, standin, "/api/v1/timelines/home")
    finally:
        assert running.stop() == 0
    found = json.loads(state.read_text())
    modules = set(found["modules"])
    assert {"mitmproxy.addons.tlsconfig", "mitmproxy.addons.proxyserver", "sourdine.sync.peer"} <= modules
    unused = modules & {"spake2", "flask", "passlib", "ldap3", "numpy", "mitmproxy.addons.onboarding"}
    assert not unused, unused
    # Off from the command's start, on from the end of start-up (runner.serve): nothing turns it on at exit.
    assert found["gc_enabled"] is True
    assert found["gc_frozen"] > 50_000
    assert found["message_check"] == "_unchecked"


def test_the_addon_runs_inside_plain_mitmdump(tmp_path, standin):
    """`mitmdump -s .../sourdine/addon.py` filters feeds too, with its own home and database."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import sourdine.addon

    port = harness.free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mitmdump"), "-q", "-s", sourdine.addon.__file__,
         "--listen-host", "127.0.0.1", "--listen-port", str(port),
         "--set", f"sourdine_home={tmp_path / 'home'}", "--set", f"confdir={tmp_path / 'conf'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
                time.sleep(0.1)

        class Proxy:
            proxy = f"http://127.0.0.1:{port}"

        status, headers, raw = fetch(Proxy, standin, "/api/v1/timelines/home")
        assert status == 200
        check_filtered_timeline(headers, raw)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    import sqlite3

    rows = sqlite3.connect(tmp_path / "home" / "sourdine.db").execute("SELECT count(*) FROM decisions").fetchone()
    assert rows[0] == len(TIMELINE), err[-2000:]


@pytest.fixture(scope="module")
def plain_sourdine(tmp_path_factory):
    """A `sourdine run` as users have it: 127.0.0.1 is not a decrypted host, so a CONNECT to it is a tunnel. It
    listens for paired devices too (`--sync-port 0`)."""
    running = start_sourdine(tmp_path_factory.mktemp("plain") / "home", "--sync-port", "0")
    yield running
    assert running.stop() == 0


def _sync_port(running) -> int:
    """The port `--sync-port 0` picked, from run.json (written once start-up is over)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            sync = json.loads((running.home / "run.json").read_text()).get("sync")
        except (OSError, ValueError):
            sync = None
        if sync:
            return int(sync[1])
        time.sleep(0.05)
    raise AssertionError("run.json never named the sync port")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_sync_listener_cannot_be_reached_through_the_proxy(plain_sourdine, host):
    """Nor can the listener for paired devices, by a tunnel or a proxied request (a review found the tunnel
    open)."""
    port = _sync_port(plain_sourdine)
    sock, reply = connect_through(plain_sourdine.proxy_port, host, port)
    with sock:
        assert reply.startswith(b"HTTP/1.1 403"), reply[:200]
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": plain_sourdine.proxy}))
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(f"http://{host}:{port}/", timeout=10)
    with e.value:
        assert e.value.code == 403 and json.load(e.value)["error"]["code"] == "via_proxy"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "0.0.0.0", "2130706433"])
def test_the_api_cannot_be_reached_through_the_proxy(plain_sourdine, host):
    """A request sent through the proxy to the API, in any spelling of the address, is refused, token or not."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": plain_sourdine.proxy}))
    request = urllib.request.Request(
        f"http://{host}:{plain_sourdine.api_port}/api/v1/status",
        headers={"Authorization": f"Bearer {plain_sourdine.token()}", "Host": f"127.0.0.1:{plain_sourdine.api_port}"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(request, timeout=10)
    with e.value:
        assert e.value.code == 403
        assert json.load(e.value)["error"]["code"] == "via_proxy"
    assert plain_sourdine.proc.poll() is None


def _read_all(sock: socket.socket) -> bytes:
    """What comes on `sock` until it closes or times out."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    return answer


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1", "localhost"])
def test_no_tunnel_to_the_api_through_the_proxy(plain_sourdine, host):
    """A CONNECT tunnel to the API's port is refused, so the API never sees a request that came via the proxy."""
    port = plain_sourdine.api_port
    sock, reply = connect_through(plain_sourdine.proxy_port, host, port)
    with sock:
        if reply.startswith(b"HTTP/1.1 200"):
            # The tunnel opened: whatever is sent inside must not reach the API.
            token = plain_sourdine.token()
            sock.sendall(f"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         f"Authorization: Bearer {token}\r\n\r\n".encode())
            answer = _read_all(sock)
            assert b'"counts"' not in answer, answer[:200]
        else:
            assert reply.startswith(b"HTTP/1.1 403"), reply[:200]


def _upstream_once(answer: bytes, done: threading.Event, hold: float) -> socket.socket:
    """A server on 127.0.0.1 that reads one request's head, sends `answer`, and keeps the connection open until
    `done` is set, `hold` seconds at most."""
    upstream = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = upstream.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data and (chunk := connection.recv(65536)):
                data += chunk
            connection.sendall(answer)
            done.wait(hold)

    threading.Thread(target=serve, daemon=True).start()
    return upstream


def test_mitmproxy_logs_no_request_head_nor_stray_bytes(tmp_path):
    """Even at DEBUG, mitmproxy's own messages about a request head cut short (its cookie and token), a malformed
    request line (a handle, a query) and bytes a server sent after its response (post text) reach the log without
    those bytes (a review found all three at INFO)."""
    markers = ["TOKEN-MARKER", "COOKIE-MARKER", "BEARER-MARKER", "HANDLE-MARKER", "QS-MARKER", "STRAY-TEXT-MARKER"]
    upstream = _upstream_once(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
                              b"STRAY-TEXT-MARKER: you are a pathetic liar", threading.Event(), 1)
    running = start_sourdine(tmp_path / "home", "--log-level", "DEBUG")

    def send(raw: bytes, end: bool = False) -> bytes:
        with socket.create_connection(("127.0.0.1", running.proxy_port), timeout=10) as sock:
            sock.sendall(raw)
            if end:
                sock.shutdown(socket.SHUT_WR)
            sock.settimeout(3)
            return _read_all(sock)

    try:
        assert running.proc.stdout.readline().startswith("sourdine: scoring and filtering")  # start-up is over
        send(b"GET http://social.example/api/v1/timelines/home?access_token=TOKEN-MARKER HTTP/1.1\r\n"
             b"Host: social.example\r\nCookie: _session_id=COOKIE-MARKER\r\nAuthorization: Bearer BEARER-MARKER\r\n",
             end=True)
        send(b"GET http://social.example/@HANDLE-MARKER?token=QS-MARKER HTTP/1.1 extra\r\nHost: x\r\n\r\n")
        port = upstream.getsockname()[1]
        assert send(f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()).startswith(
            b"HTTP/1.1 200")
        time.sleep(1.5)  # mitmproxy logs the stray bytes when it reads them, after the response
    finally:
        upstream.close()
        assert running.stop() == 0
    log = running.stderr
    assert "before completing request headers" in log and "Bad HTTP request line" in log, log[-3000:]
    assert "Unexpected data from server" in log, log[-3000:]
    assert not [m for m in markers if m in log], log[-3000:]


@pytest.mark.parametrize("path", ["/api/v1/streaming/user", "/live/events"])
def test_an_event_stream_goes_through_as_it_comes(plain_sourdine, path):
    """A response of unknown length that Sourdine does not read (here Server-Sent Events, on a feed host's
    streaming path and on another path) reaches the browser event by event, not once it ends (a review found
    the first event held for as long as the stream stayed open)."""
    event = b'event: update\ndata: {"hello": 1}\n\n'
    done = threading.Event()  # the stream stays open until the client has its first event, or gives up
    upstream = _upstream_once(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked"
                              b"\r\n\r\n%x\r\n%s\r\n" % (len(event), event), done, 10)
    port = upstream.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", plain_sourdine.proxy_port), timeout=10) as sock:
            sock.sendall(f"GET http://127.0.0.1:{port}{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         f"Accept: text/event-stream\r\n\r\n".encode())
            sock.settimeout(6)  # the upstream holds the stream open for 10 s: a proxy holding it gives nothing
            answer = b""
            try:
                while b"data:" not in answer and (chunk := sock.recv(65536)):
                    answer += chunk
            except OSError:
                pass
    finally:
        done.set()
        upstream.close()
    assert b"data:" in answer, answer[:200]


def test_a_second_instance_on_the_same_home_is_refused(sourdine):
    """Starting Sourdine on a home where it already runs fails clearly and leaves the first one's run.json."""
    import subprocess

    from conftest import SOURDINE

    out = subprocess.run([str(SOURDINE), "run", "--home", str(sourdine.home), "--proxy-port", "0", "--api-port", "0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "already runs" in out.stderr
    assert json.loads((sourdine.home / "run.json").read_text())["pid"] == sourdine.proc.pid


def test_two_runs_started_at_once_on_one_home_leave_one_running(tmp_path):
    """Two `sourdine run` started together on a new home: one runs, the other stops with "already runs" (exit 1).
    run.json, written at the end of start-up, let both through, each with its own lists in memory over one
    database, and its own CA and token, one of them not those on disk."""
    import signal
    import subprocess

    from conftest import SOURDINE

    home = tmp_path / "home"
    procs = [subprocess.Popen([str(SOURDINE), "run", "--home", str(home), "--proxy-port", "0", "--api-port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outcomes = []
        for proc in procs:
            first = proc.stdout.readline()  # a running one says where it listens; a refused one ends, saying nothing
            outcomes.append("running" if first.startswith("sourdine: proxy on") else proc.wait(60))
        assert sorted(outcomes, key=str) == [1, "running"], outcomes
        refused = procs[outcomes.index(1)]
        said = refused.stderr.read()  # the other one had written run.json yet, or not
        assert "already runs with this home (pid" in said or "another Sourdine process is using this home" in said, said
        running = procs[outcomes.index("running")]
        assert json.loads((home / "run.json").read_text())["pid"] == running.pid
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    assert running.returncode == 0


def test_nothing_left_loopback_all_along(sourdine, plain_sourdine):
    """Every address the Sourdine processes connected to or looked up, over the whole module, is loopback."""
    assert sourdine.addresses(), "the audit hook recorded nothing: the check would prove nothing"
    for running in (sourdine, plain_sourdine):
        assert running.addresses() <= {"127.0.0.1", "'127.0.0.1'"}, running.addresses()


def test_sourdine_pair_end_to_end(sourdine):
    """`sourdine pair` prints a code; an extension origin trades it for a token; the CLI names the origin, and
    `sourdine clients` lists and revokes it."""
    import subprocess

    from conftest import SOURDINE

    origin = "chrome-extension://" + "p" * 32
    proc = subprocess.Popen([str(SOURDINE), "pair", "--home", str(sourdine.home), "--wait", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("Pairing code: "), first + proc.stderr.read()
        code = first.split(": ", 1)[1].strip()
        request = urllib.request.Request(
            f"http://127.0.0.1:{sourdine.api_port}/api/v1/pair", method="POST",
            data=json.dumps({"code": code, "name": "Chrome"}).encode(),
            headers={"Origin": origin, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            token = json.load(response)["token"]
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"from {origin}" in out
    assert code not in err and token not in out + err
    listing = subprocess.run([str(SOURDINE), "clients", "list", "--home", str(sourdine.home)], capture_output=True,
                             text=True, timeout=60)
    assert origin in listing.stdout and "not used yet" in listing.stdout
    used = urllib.request.Request(f"http://127.0.0.1:{sourdine.api_port}/api/v1/status",
                                  headers={"Origin": origin, "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(used, timeout=10) as response:
        assert response.status == 200
    listing = subprocess.run([str(SOURDINE), "clients", "list", "--home", str(sourdine.home)], capture_output=True,
                             text=True, timeout=60)
    assert origin in listing.stdout and "last seen" in listing.stdout
    client_id = listing.stdout.split()[0]
    revoked = subprocess.run([str(SOURDINE), "clients", "revoke", client_id, "--home", str(sourdine.home)],
                             capture_output=True, text=True, timeout=60)
    assert revoked.returncode == 0, revoked.stderr
    request = urllib.request.Request(f"http://127.0.0.1:{sourdine.api_port}/api/v1/status",
                                     headers={"Origin": origin, "Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    with e.value:
        assert e.value.code == 403


def test_a_threshold_change_through_the_api_applies_to_the_next_response(sourdine, standin):
    """While `sourdine run` serves feeds, a threshold patched through the API governs the very next response."""
    def patch(values):
        request = urllib.request.Request(
            f"http://127.0.0.1:{sourdine.api_port}/api/v1/settings", method="PATCH",
            data=json.dumps({"platforms": {"mastodon": values}}).encode(),
            headers={"Authorization": f"Bearer {sourdine.token()}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    _, headers, raw = fetch(sourdine, standin, "/api/v1/timelines/home")
    assert json.loads(decoded(headers, raw)) != TIMELINE, "hostile posts are filtered at the default thresholds"
    try:
        assert patch({"collapse": 1.0, "hide": 1.0})["platforms"]["mastodon"]["collapse"] == 1.0
        _, headers, raw = fetch(sourdine, standin, "/api/v1/timelines/home")
        assert raw == TIMELINE_BYTES, "with thresholds at 1.0 nothing is touched: the original bytes"
        patch({"enabled": False, "collapse": 0.55, "hide": 0.85})
        _, headers, raw = fetch(sourdine, standin, "/api/v1/timelines/home")
        assert raw == TIMELINE_BYTES, "a disabled platform passes untouched"
    finally:
        patch({"enabled": True, "collapse": 0.55, "hide": 0.85})
    _, headers, raw = fetch(sourdine, standin, "/api/v1/timelines/home")
    check_filtered_timeline(headers, raw)


def test_the_api_answers_on_ipv6_loopback_too(sourdine):
    """Where the machine has ::1, the API listens there as well, with the same checks."""
    import http.client

    try:
        conn = http.client.HTTPConnection("::1", sourdine.api_port, timeout=5)
        conn.request("GET", "/api/v1/status", headers={"Host": f"[::1]:{sourdine.api_port}",
                                                       "Authorization": f"Bearer {sourdine.token()}"})
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    response = conn.getresponse()
    assert response.status == 200 and json.load(response)["api"]["port"] == sourdine.api_port
    conn.close()


def test_the_users_inbox_is_left_alone_through_sourdine_run(sourdine, standin):
    """Once Mastodon's web app has asked who is signed in, a hostile reply to the user comes back untouched,
    while the same text in reply to someone else is hidden or folded."""
    me = {"id": "424242", "username": "me", "acct": "me", "display_name": "Me"}
    standin.routes["/api/v1/accounts/verify_credentials"] = respond(json.dumps(me).encode())
    fetch(sourdine, standin, "/api/v1/accounts/verify_credentials")
    to_me, to_other = copy.deepcopy(TIMELINE[1]), copy.deepcopy(TIMELINE[1])
    to_me["id"], to_me["in_reply_to_account_id"] = "800000000000000001", "424242"
    to_other["id"], to_other["in_reply_to_account_id"] = "800000000000000002", "777"
    body = json.dumps([to_me, to_other]).encode()
    standin.routes["/api/v1/timelines/tag/inbox"] = respond(body)
    _, headers, raw = fetch(sourdine, standin, "/api/v1/timelines/tag/inbox")
    by_id = {s["id"]: s for s in json.loads(decoded(headers, raw))}
    assert by_id[to_me["id"]] == to_me
    assert to_other["id"] not in by_id or sourdine_filters(by_id[to_other["id"]])
