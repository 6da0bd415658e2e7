"""Crash safety: a real `sourdine run` killed with SIGKILL at random points while the API takes writes and the
proxy filters feeds, restarted each time. No acknowledged write may be lost, the database must stay sound, and
the proxy must serve again within a second of CPU, its restarts' median (or, on a machine where plain mitmproxy
starts slower, within SLOWER times plain mitmproxy's own median start); each restart alone within a second or
SPELL times the slower of plain mitmproxy's starts around it (see the test)."""

from __future__ import annotations

import functools
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web

import harness
from conftest import DATA, pair_peers, paired_through_a_folder, start_sourdine

ROUNDS = 4
# The sync test's rounds: each kill has a fair chance to land in a merge's window, not a sure one (see the test).
SYNC_ROUNDS = 8
# Sourdine's restarts (their median) may take this many times the CPU plain mitmproxy's starts take (their
# median), on a machine where that is over 1 s / SLOWER (see the test). In five runs on 2026-11-23, on a machine
# where plain mitmproxy's starts took 0.78 to 1.26 s of CPU, the slowest restart took 1.10 to 1.41 times their
# median; before that evening's start-up changes, restarts took up to 2.17 s on it. The margin is for that
# machine's noise (a third from run to run).
SLOWER = 1.8
# One restart alone may take this many times the CPU of plain mitmproxy's start nearest it (the one timed just
# before it or just after it, whichever took longer) or of their median: a slow spell can take one restart whole.
# A run on a noisy machine (2026-11-23) failed with its last restart at 1.40 s of CPU against a limit of 1.39 s,
# then 1.8 times plain mitmproxy's median start (its starts took 0.74 to 0.90 s in that run). No more than 2: at
# 2.5, two restarts of four could take twice the second beside plain starts of 0.8 s (a review's finding).
SPELL = 2.0
# And its wall time, which takes the machine's load in full, this many times plain mitmproxy's nearest wall time
# or their median: a bound on what a restart waits for, not a measure of its cost (the CPU time is that).
WALL_SPELL = 3
# How long a round's traffic may take to have its first connection decision and its first feedback acknowledged,
# before its random wait for the kill starts (the test prints how long each round took). Each waits on a commit
# synced to the disk; on a loaded machine, the random wait alone could end before either was answered.
FIRST_ACKS = 10
MITMDUMP = Path(sys.executable).parent / "mitmdump"
FEED = (DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes()
# The feed's authors, whom the connections writer decides on (dismiss, allow, mute in turn), and the kind of
# decision each stores.
AUTHORS = sorted({status["account"]["id"] for status in json.loads(FEED)})
DECISIONS = {"dismiss": "dismissed", "allow": "allowed", "mute": "muted"}
# The feed's posts, on whose decisions the feedback writer says "fine" or "hostile" in turn.
POSTS = sorted(status["id"] for status in json.loads(FEED))


def _retention(n: int) -> tuple[dict, object]:
    value = 1 + n % 365
    return {"global": {"decisions_retention_days": value}}, value


def _threshold(platform: str, field: str, low: float, steps: int) -> Callable[[int], tuple[dict, object]]:
    def write(n: int) -> tuple[dict, object]:
        value = round(low + n % steps / 1000, 3)
        return {"platforms": {platform: {field: value}}}, value
    return write


def _work_hours(n: int) -> tuple[dict, object]:
    """Work hours all day, every day (a window that ends when it starts lasts 24 hours), from a minute later at
    each of these writes: filtering stays on whatever the hour the test runs, so the feed is always judged."""
    minute = n // len(SETTINGS_WRITES) % 1440
    at = f"{minute // 60:02d}:{minute % 60:02d}"
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {"timezone": "UTC", "windows": [{"days": days, "start": at, "end": at}]}, at


# The settings writes, in turn: the decisions log's retention (a global setting), Reddit's collapse threshold
# and X's hide threshold (platform settings), and the work hours (the schedule: all day, from a later minute),
# each from the write's serial number: a new value every time, so that a write lost is told from the one before
# it. Each is (what, method, path, write(serial) -> (body, the value it sets)).
SETTINGS_WRITES: tuple[tuple[str, str, str, Callable[[int], tuple[dict, object]]], ...] = (
    ("decisions_retention_days", "PATCH", "/api/v1/settings", _retention),
    ("reddit.collapse", "PATCH", "/api/v1/settings", _threshold("reddit", "collapse", 0.2, 500)),
    ("x.hide", "PATCH", "/api/v1/settings", _threshold("x", "hide", 0.86, 140)),
    ("schedule.end", "PUT", "/api/v1/schedule", _work_hours),
)


class Acked:
    """What the API acknowledged so far: mute keys added, mute keys removed, extensions paired and revoked, and
    for each setting written, the values the store may hold: the one last acknowledged (None: not stored), and
    that of a write still unanswered, which the kill may have cut short after or before it was stored."""

    def __init__(self) -> None:
        self.mutes: set[str] = set()
        self.removed: set[str] = set()
        # token: (origin, client id). A client whose revocation went unanswered is in neither: either is right.
        self.clients: dict[str, tuple[str, str]] = {}
        self.revoked: dict[str, tuple[str, str]] = {}
        self.settings: dict[str, list[object]] = {}
        # A connection row's key: the decisions it may hold, as for settings (a refused one may have been stored
        # in part: it stays possible).
        self.connections: dict[str, list[str | None]] = {}
        self.feedback: dict[str, list[str | None]] = {}  # a post's id: the feedback its decision may hold
        # The connection decisions and the feedback acknowledged, in each round; and the writes of each made so
        # far, from which each write's value comes: counted across rounds, so that no round starts by writing
        # again what an earlier one stored (a write lost would not be told from it).
        self.decisions: list[int] = []
        self.feedbacks: list[int] = []
        self.first_acks: list[float] = []  # the seconds each round took to have one of each acknowledged
        self.turns = {"connections": 0, "feedback": 0}
        self.serial = 0  # the settings writes made
        self.lock = threading.Lock()


def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path, standin):
    """SIGKILL mid-traffic, several times: every acknowledged mute, removal, setting, pairing, revocation,
    decision on a connection and feedback on a decision is there after each restart, PRAGMA integrity_check is
    ok, and the restarted proxy serves a feed within 1 s of being started, in wall time and in the CPU time the
    process spent until then, the restarts' median in each (see below for slow machines).

    The CPU time measures the machine's speed where the wall time measures its load too (the suite shares two
    cores with other work). Plain mitmproxy's start is timed before each of Sourdine's starts and once after the
    last, so that each restart has one just before it and one just after. Where plain mitmproxy itself needs more
    than 1 s / SLOWER to start and serve (its median in this run), the second becomes SLOWER times what it
    needs, in each measure. Each restart alone must also stay within SPELL times the CPU of plain mitmproxy's
    start nearest it, the slower of the two, or of their median, and within WALL_SPELL times its wall time: a
    slow spell may take one round whole, not the run. Sourdine starts more than plain mitmproxy (its API, its
    database, its lexicons), and fewer of mitmproxy's addons."""
    standin.routes["/api/v1/timelines/public"] = lambda request: web.Response(
        body=FEED, content_type="application/json")
    feed_url = f"http://127.0.0.1:{standin.port}/api/v1/timelines/public"
    home = tmp_path / "home"
    rng = random.Random(20261122)
    acked = Acked()
    serve_times, serve_cpu, plain_cpu, plain_wall = [], [], [], []

    def time_plain() -> None:
        cpu, wall = plain_start(tmp_path / "plain", feed_url)
        plain_cpu.append(cpu)
        plain_wall.append(wall)

    plain_start(tmp_path / "plain", feed_url)  # its first start makes its CA, as Sourdine's first start does
    for round_ in range(ROUNDS + 1):
        time_plain()  # start n is between plain mitmproxy's starts n and n + 1
        started = time.monotonic()
        running = start_sourdine(home)
        try:
            harness.wait_until(lambda r=running: harness.through_proxy(r.proxy_port, feed_url)[0] == 200, 5)
            serve_times.append(time.monotonic() - started)
            serve_cpu.append(harness.cpu_seconds(running.proc.pid))
            check_store(home, acked, running)
        except BaseException:
            running.stop()
            raise
        if round_ == ROUNDS:
            assert running.stop() == 0, running.stderr[-2000:]
            break
        kill_during_traffic(running, round_, feed_url, rng.uniform(0.3, 1.5), acked)
        assert acked.mutes, f"round {round_}: no write was acknowledged before the kill"
    time_plain()
    assert acked.clients and acked.revoked, "no pairing, or no revocation, was acknowledged in any round"
    assert all(acked.decisions), f"a round acknowledged no connection decision: {acked.decisions}"
    assert all(acked.feedbacks), f"a round acknowledged no feedback: {acked.feedbacks}"
    # The first start makes the CA (a 2048-bit RSA key): the second is for restarts, as the issue says. Together,
    # against plain mitmproxy's starts together; each alone against the machine's pace at that moment too, plain
    # mitmproxy's start just before it and just after it. A slow spell can take one round whole (a fresh-clone run
    # on 2026-11-24: a restart at 1.44 s of CPU while plain mitmproxy's start of the same round took 1.13 s,
    # against a median of 0.74 s).
    cpu_limit = max(1.0, SLOWER * statistics.median(plain_cpu))
    wall_limit = max(1.0, SLOWER * statistics.median(plain_wall))
    restart_cpu, restart_wall = statistics.median(serve_cpu[1:]), statistics.median(serve_times[1:])
    limits = [max(1.0, SPELL * max(statistics.median(plain_cpu), *plain_cpu[n:n + 2])) for n in range(ROUNDS + 1)]
    wall_limits = [max(1.0, WALL_SPELL * max(statistics.median(plain_wall), *plain_wall[n:n + 2]))
                   for n in range(ROUNDS + 1)]

    def seconds(values: list[float]) -> str:
        return ", ".join(f"{t:.2f}" for t in values)

    print(f"first start, then restarts, to the first proxied feed: {seconds(serve_times)} s wall (each's limits "
          f"{seconds(wall_limits)} s; the restarts' median {restart_wall:.2f} s, limit {wall_limit:.2f} s), "
          f"{seconds(serve_cpu)} s CPU (each's limits {seconds(limits)} s; the restarts' median {restart_cpu:.2f} s, "
          f"limit {cpu_limit:.2f} s); plain mitmproxy's starts, before each and after the last: "
          f"{seconds(plain_wall)} s wall, {seconds(plain_cpu)} s CPU; "
          f"{len(acked.mutes)} mutes, {len(acked.removed)} removals, {acked.serial} settings writes, "
          f"{len(acked.clients)} pairings kept, {len(acked.revoked)} revoked, connection decisions "
          f"{'+'.join(map(str, acked.decisions))} and feedback {'+'.join(map(str, acked.feedbacks))} (a round each; "
          f"the first of both after {seconds(acked.first_acks)} s)")
    slow = []
    if restart_cpu > cpu_limit:
        slow.append(f"the restarts' median CPU, {restart_cpu:.2f} s over {cpu_limit:.2f} s")
    if restart_wall > wall_limit:
        slow.append(f"the restarts' median wall time, {restart_wall:.2f} s over {wall_limit:.2f} s")
    for n in range(1, ROUNDS + 1):
        if serve_cpu[n] > limits[n]:
            slow.append(f"restart {n}'s CPU, {serve_cpu[n]:.2f} s over {limits[n]:.2f} s")
        if serve_times[n] > wall_limits[n]:
            slow.append(f"restart {n}'s wall time, {serve_times[n]:.2f} s over {wall_limits[n]:.2f} s")
    assert not slow, f"{'; '.join(slow)} (plain mitmproxy: {seconds(plain_cpu)} s CPU, {seconds(plain_wall)} s wall)"


def plain_start(confdir, feed_url: str) -> tuple[float, float]:
    """The CPU seconds plain mitmproxy (mitmdump, under the same Python) takes from its start to serving
    `feed_url` through its proxy, and the wall seconds: how fast this machine starts a proxy, right now."""
    port = harness.free_port()
    started = time.monotonic()
    proc = subprocess.Popen([str(MITMDUMP), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port),
                             "--set", f"confdir={confdir}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        harness.wait_until(lambda: harness.through_proxy(port, feed_url)[0] == 200, 30)
        return harness.cpu_seconds(proc.pid), time.monotonic() - started
    finally:
        proc.kill()
        proc.wait(10)


def extension_origin(round_: int, n: int) -> str:
    """A Chrome extension's origin of its own for each pairing (failed calls are slowed per origin)."""
    return "chrome-extension://" + "".join("abcdefghij"[int(d)] for d in f"{round_:02d}{n:08d}").ljust(32, "p")


def kill_during_traffic(running, round_: int, feed_url: str, after: float, acked: Acked) -> None:
    """Mutes from two clients, mutes removed by a third, settings from a fourth, extensions paired (and one in
    three revoked) by a fifth, decisions on connections from a sixth, feedback on decisions from a seventh, feeds
    through the proxy; SIGKILL `after` seconds after the round's first decision and first feedback were both
    acknowledged (within FIRST_ACKS seconds of the traffic's start, or the round fails): every round then has
    both to check after its restart, however slow the machine is to answer the first of them."""
    stop = threading.Event()
    token = running.token()
    acked.decisions.append(0)
    acked.feedbacks.append(0)

    def mute(handle: str) -> tuple[int, dict]:
        return harness.api(running.api_port, token, "POST", "/api/v1/mutes",
                           {"kind": "account", "platform": "mastodon", "handle": handle}, 5)

    def mutes(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                code, body = mute(f"r{round_}w{worker}n{n}@crash.example")
            except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere, even mid-body
                return  # killed: this write was never acknowledged
            if code == 201:
                with acked.lock:
                    acked.mutes.add(body["key"])

    def unmute() -> None:
        """Mute, then remove the mute: once the removal is acknowledged, the mute must stay gone."""
        n = 0
        while not stop.is_set():
            n += 1
            try:
                code, body = mute(f"r{round_}u{n}@crash.example")
                if code != 201:
                    continue
                key = body["key"]
                code, _ = harness.api(running.api_port, token, "DELETE", f"/api/v1/mutes/{quote(key, safe='')}",
                                      None, 5)
            except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere, even mid-body
                return
            if code == 200:
                with acked.lock:
                    acked.removed.add(key)

    def settings() -> None:
        while not stop.is_set():
            what, method, path, write = SETTINGS_WRITES[acked.serial % len(SETTINGS_WRITES)]
            body, value = write(acked.serial)
            acked.serial += 1
            acked.settings[what] = [acked.settings.get(what, [None])[0], value]
            try:
                code, _ = harness.api(running.api_port, token, method, path, body, 5)
            except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere, even mid-body
                return
            if code == 200:
                acked.settings[what] = [value]

    def pairs() -> None:
        """Pair an extension with a new one-time code, as `sourdine pair` and the extension do; revoke every
        third. Once acknowledged, a pairing must let its token in after a restart, and a revocation never again."""
        n = 0
        while not stop.is_set():
            n += 1
            origin = extension_origin(round_, n)
            try:
                code, issued = harness.api(running.api_port, token, "POST", "/api/v1/pair/codes", None, 5)
                if code != 201:
                    continue
                code, paired = harness.api(running.api_port, "", "POST", "/api/v1/pair",
                                           {"code": issued["code"], "name": f"crash {round_}.{n}"}, 5, origin)
                if code != 201:
                    continue
                client = (origin, paired["client"]["id"])
                with acked.lock:
                    acked.clients[paired["token"]] = client
                if n % 3:
                    continue
                with acked.lock:  # unanswered until the DELETE is: paired or revoked, either may be stored
                    del acked.clients[paired["token"]]
                code, _ = harness.api(running.api_port, token, "DELETE", f"/api/v1/clients/{client[1]}", None, 5)
            except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere, even mid-body
                return
            if code == 200:
                with acked.lock:
                    acked.revoked[paired["token"]] = client

    def write(held: dict[str, list[str | None]], key: str, value: str, path: str, body: dict) -> int | None:
        """POST a new value of `key`, whose possible stored values `held` keeps: until answered, the last one
        acknowledged or this one; a 404 is refused before any write. The answer's status, or None if the kill
        cut the call."""
        with acked.lock:
            held[key] = [*held.get(key, [None])[:1], value]
        try:
            code, _ = harness.api(running.api_port, token, "POST", path, body, 5)
        except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere, even mid-body
            return None
        with acked.lock:
            if code == 200:
                held[key] = [value]
            elif code == 404:
                held[key] = held[key][:1]
        return code

    def connections() -> None:
        """Decide on the feed's authors, from their toxic-connection records: the API refuses (404) an author of
        whom the process holds no record (none read back from the database, none made since from the feed)."""
        while not stop.is_set():
            n = acked.turns["connections"]
            acked.turns["connections"] += 1
            author, decision = AUTHORS[n % len(AUTHORS)], list(DECISIONS)[n // len(AUTHORS) % len(DECISIONS)]
            code = write(acked.connections, f"author:mastodon:{author}", DECISIONS[decision],
                         f"/api/v1/connections/mastodon/{author}", {"decision": decision})
            if code is None:
                return
            acked.decisions[round_] += code == 200

    def feedback() -> None:
        """Say "fine" or "hostile" of the feed's decisions, in turn: the API refuses (404) a post whose decision the
        writer has not stored yet."""
        while not stop.is_set():
            n = acked.turns["feedback"]
            acked.turns["feedback"] += 1
            post, said = POSTS[n % len(POSTS)], ("fine", "hostile")[n // len(POSTS) % 2]
            code = write(acked.feedback, post, said, f"/api/v1/decisions/mastodon/{post}/feedback", {"feedback": said})
            if code is None:
                return
            acked.feedbacks[round_] += code == 200
            time.sleep(0.005)

    def feeds() -> None:
        while not stop.is_set():
            try:
                harness.through_proxy(running.proxy_port, feed_url, timeout=5)
            except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere, even mid-body
                return

    threads = [threading.Thread(target=mutes, args=(w,)) for w in range(2)]
    threads += [threading.Thread(target=f) for f in (unmute, settings, pairs, connections, feedback, feeds)]
    for t in threads:
        t.start()
    try:
        acked.first_acks.append(
            harness.wait_until(lambda: acked.decisions[round_] and acked.feedbacks[round_], FIRST_ACKS))
    except TimeoutError:
        waited = False
    else:
        waited = True
        time.sleep(after)
    running.proc.send_signal(signal.SIGKILL)
    running.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    running.proc.communicate()
    assert waited, (f"round {round_}: {acked.decisions[round_]} connection decisions and {acked.feedbacks[round_]} "
                    f"feedback acknowledged in the {FIRST_ACKS} s after the traffic started; the round needs one "
                    "of each before its kill")


def _stored_settings(conn: sqlite3.Connection) -> dict[str, object]:
    stored = {key: json.loads(value) for key, value in conn.execute("SELECT key, value FROM settings")}
    return _settings_of(stored)


def _settings_of(values: dict) -> dict[str, object]:
    """The settings SETTINGS_WRITES writes, as found in a settings document (stored rows, or the API's states)."""
    found: dict[str, object] = {}
    windows = values.get("schedule", {}).get("windows", [])
    if len(windows) == 1:
        found["schedule.end"] = windows[0]["end"]
    if "decisions_retention_days" in values.get("global", values):
        found["decisions_retention_days"] = values.get("global", values)["decisions_retention_days"]
    platforms = values.get("platforms", {})
    for what in ("reddit.collapse", "x.hide"):
        name, field = what.split(".")
        if field in platforms.get(name, {}):
            found[what] = platforms[name][field]
    return found


def check_store(home, acked: Acked, running) -> None:
    """Every acknowledged write, in the database and in what the running process serves."""
    acked_mutes, removed, written = set(acked.mutes), set(acked.removed), dict(acked.settings)
    paired, revoked = dict(acked.clients), dict(acked.revoked)
    conn = sqlite3.connect(home / "sourdine.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(conn.execute("SELECT key, deleted FROM lists WHERE list = 'mute'").fetchall())
        stored = {key for key, deleted in rows.items() if not deleted}
        assert acked_mutes <= stored, f"acknowledged mutes lost: {sorted(acked_mutes - stored)[:5]}"
        assert not removed & stored, f"acknowledged removals undone: {sorted(removed & stored)[:5]}"
        in_store = _stored_settings(conn)
        clients = {client_id for (client_id,) in conn.execute("SELECT id FROM clients")}
        decided = {key: json.loads(entry)["kind"] for key, entry in conn.execute(
            "SELECT key, entry FROM lists WHERE list = 'connection' AND NOT deleted")}
        said = dict(conn.execute("SELECT post_id, feedback FROM decisions WHERE platform = 'mastodon'").fetchall())
    finally:
        conn.close()
    lost = {client_id for _, client_id in paired.values()} - clients
    assert not lost, f"acknowledged pairings lost: {sorted(lost)[:5]}"
    back = {client_id for _, client_id in revoked.values()} & clients
    assert not back, f"acknowledged revocations undone: {sorted(back)[:5]}"
    with acked.lock:
        for key, allowed in acked.connections.items():
            assert decided.get(key) in allowed, (key, decided.get(key), allowed)
            acked.connections[key] = [decided.get(key)]  # the next round starts from what is stored
        for post, allowed in acked.feedback.items():
            assert said.get(post) in allowed, (post, said.get(post), allowed)
            acked.feedback[post] = [said.get(post)]
    # And the running process sees them too.
    token = running.token()
    code, body = harness.api(running.api_port, token, "GET", "/api/v1/mutes")
    assert code == 200
    served = {entry["key"] for entry in body["mutes"]}
    assert acked_mutes <= served and not removed & served
    for client_token, (origin, client_id) in paired.items():  # each paired extension is let in, from its origin
        code, body = harness.api(running.api_port, client_token, "GET", "/api/v1/schedule", origin=origin)
        assert code == 200, (client_id, code, body)
    for client_token, (origin, client_id) in list(revoked.items())[-2:]:  # and the last revoked are not
        code, body = harness.api(running.api_port, client_token, "GET", "/api/v1/schedule", origin=origin)
        assert code in (401, 403), (client_id, code, body)
    code, body = harness.api(running.api_port, token, "GET", "/api/v1/settings")
    assert code == 200
    code, schedule = harness.api(running.api_port, token, "GET", "/api/v1/schedule")
    assert code == 200
    in_api = _settings_of({"global": body.get("global", {}), "platforms": body.get("platforms", {}),
                           "schedule": schedule["schedule"]})
    for what, allowed in written.items():
        assert in_store.get(what) in allowed, (what, in_store.get(what), allowed)
        if what in in_store:  # the process loaded it (not stored: the default)
            assert in_api[what] == in_store[what], (what, in_api[what], in_store[what])
        acked.settings[what] = [in_store.get(what)]  # the next round starts from what is stored


def test_sigkill_during_sync_loses_no_mute_of_either_device(tmp_path):
    """Two paired devices take mutes (and, on B, mute removals) through their APIs while one of them asks for
    sync exchanges without a pause; one, then the other, is killed with SIGKILL in the middle of an exchange and
    restarted on the same sync port. After each kill, each side's cursors hold (SyncTraffic.check_cursors); once
    both have synced again, each holds every mute either one acknowledged and neither holds a mute whose removal
    was acknowledged: no exchange counts as done (the peer's cursor moved on) without its rows stored, on either
    side of it."""
    ports: dict[str, int] = {}
    for name in "ab":
        ports[name] = harness.steady_port(exclude=set(ports.values()))

    def start(name: str):
        running = start_sourdine(tmp_path / name, "--sync-port", str(ports[name]))
        harness.wait_until(lambda: harness.api(running.api_port, running.token(), "GET", "/api/v1/peers")[0] == 200,
                           10)
        return running

    devices = {name: start(name) for name in "ab"}
    sync = SyncTraffic()
    try:
        pair_peers(devices["a"], devices["b"])
        rng = random.Random(20261124)
        for round_ in range(SYNC_ROUNDS):
            victim = "ab"[round_ % 2]
            # The victim asks for the exchanges in the first half of the rounds, the other device in the second.
            syncer = victim if round_ < SYNC_ROUNDS // 2 else "ba"[round_ % 2]
            # Each round kills at another part of the exchange: a fraction within its own eighth of it.
            sync.run(devices, round_, victim, syncer, rng.uniform(0.5, 1.5), (round_ + rng.random()) / SYNC_ROUNDS)
            devices[victim] = start(victim)
            conn = sqlite3.connect(tmp_path / victim / "sourdine.db")
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            finally:
                conn.close()
        for name in "abab":  # both ways, twice: what each took from the other goes back too
            code, body = harness.api(devices[name].api_port, devices[name].token(), "POST", "/api/v1/sync", {}, 30)
            assert code == 200 and all(peer["ok"] for peer in body["peers"]), (name, code, body)
        held = {name: sync.mutes(running) for name, running in devices.items()}
    finally:
        codes = {name: running.stop() for name, running in devices.items()}
    assert codes == {"a": 0, "b": 0}, {name: running.stderr[-2000:] for name, running in devices.items()}
    assert not any("Traceback" in running.stderr for running in devices.values())
    print(f"{len(sync.added['a'])} mutes acknowledged by A, {len(sync.added['b'])} by B, {len(sync.removed)} "
          f"removals by B; {sync.moved} rows moved in {sync.exchanges} exchanges before the last sync")
    assert held["a"] == held["b"]
    lost = (sync.added["a"] | sync.added["b"]) - held["a"]
    assert not lost, f"acknowledged mutes missing after sync: {sorted(lost)[:5]}"
    assert not sync.removed & held["a"], f"acknowledged removals undone: {sorted(sync.removed & held['a'])[:5]}"
    assert sync.moved and sync.removed, "no rows were exchanged, or nothing was removed, before the last sync"


class SyncTraffic:
    """Each device mutes through its API, B removes one mute in four of its own, and one device, the syncer,
    asks its API to sync with the other again and again (sync_all: not held back by a failed peer's backoff),
    until the victim is killed: `after` seconds, then at `within` (0 to 1) of an exchange's time into the
    syncer's next exchange (the median time of those of this round), so that the kill lands anywhere inside an
    exchange (its messages, its merges, its bookkeeping) more often than between two. The other side's background
    sync (a second after its edits) exchanges too."""

    def __init__(self) -> None:
        self.added: dict[str, set[str]] = {"a": set(), "b": set()}
        self.removed: set[str] = set()
        self.moved = 0  # rows sent and received in the exchanges that were answered
        self.exchanges = 0
        self.lock = threading.Lock()

    @staticmethod
    def mutes(running) -> set[str]:
        code, body = harness.api(running.api_port, running.token(), "GET", "/api/v1/mutes")
        assert code == 200, (code, body)
        return {entry["key"] for entry in body["mutes"]}

    def run(self, devices: dict, round_: int, victim: str, syncer: str, after: float, within: float) -> None:
        stop, started, took = threading.Event(), threading.Event(), []

        def writes(name: str) -> None:
            running, n = devices[name], 0
            while not stop.is_set():
                n += 1
                try:
                    code, body = harness.api(running.api_port, running.token(), "POST", "/api/v1/mutes",
                                             {"kind": "keyword", "text": f"r{round_}{name}n{n}"}, 5)
                    if code != 201:
                        continue
                    with self.lock:
                        self.added[name].add(body["key"])
                    if name != "b" or n % 4:
                        continue
                    with self.lock:  # unanswered until the DELETE is: either state may be stored
                        self.added[name].discard(body["key"])
                    code, _ = harness.api(running.api_port, running.token(), "DELETE",
                                          f"/api/v1/mutes/{quote(body['key'], safe='')}", None, 5)
                except (OSError, http.client.HTTPException):  # the kill can cut a response anywhere
                    return
                if code == 200:
                    with self.lock:
                        self.removed.add(body["key"])

        def syncs(name: str) -> None:
            running = devices[name]
            while not stop.is_set():
                started.set()
                began = time.monotonic()
                try:
                    code, body = harness.api(running.api_port, running.token(), "POST", "/api/v1/sync", {}, 10)
                except (OSError, http.client.HTTPException):
                    return
                took.append(time.monotonic() - began)
                if code == 200:
                    with self.lock:
                        for peer in body["peers"]:
                            if peer["ok"]:
                                self.exchanges += 1
                                self.moved += peer["sent"] + peer["received"]
                time.sleep(0.02)

        threads = [threading.Thread(target=writes, args=(name,)) for name in "ab"]
        threads.append(threading.Thread(target=syncs, args=(syncer,)))
        for t in threads:
            t.start()
        time.sleep(after)
        started.clear()
        started.wait(5)
        time.sleep(within * statistics.median(took or [0.05]))
        devices[victim].proc.send_signal(signal.SIGKILL)
        devices[victim].proc.wait(10)
        stop.set()
        for t in threads:
            t.join(15)
        devices[victim].proc.communicate()
        self.check_cursors(devices, round_)

    @staticmethod
    def check_cursors(devices: dict, round_: int) -> None:
        """What each side's bookkeeping says it got from the other (`got`: the other's rows up to that sequence
        number) and what the other acknowledged having (`sent`: its own rows up to that one) is there: each such
        row, or a later edit of it. Each database read in one transaction; the victim's no longer moves, and the
        survivor's only gains."""
        rows, cursors = {}, {}
        for name, running in devices.items():
            # Read-only: closing the last read-write connection of the killed victim's database would checkpoint
            # its write-ahead log into the file, and its restart would no longer start from what the kill left.
            conn = sqlite3.connect(f"{(running.home / 'sourdine.db').as_uri()}?mode=ro", uri=True, timeout=10,
                                   isolation_level=None)
            try:
                conn.execute("BEGIN")
                rows[name] = {(row[0], row[1]): (row[2], row[3])
                              for row in conn.execute("SELECT list, key, stamp, seq FROM lists")}
                cursors[name] = conn.execute("SELECT got, sent FROM peers").fetchone()
                conn.execute("COMMIT")
            finally:
                conn.close()
        for mine, theirs in ("ab", "ba"):
            got, sent = cursors[mine]
            missing = [rid for rid, (stamp, seq) in rows[theirs].items()
                       if seq <= got and rows[mine].get(rid, ("",))[0] < stamp]
            assert not missing, f"round {round_}: {mine} got up to {got}, without {len(missing)} of them: {missing[:3]}"
            missing = [rid for rid, (stamp, seq) in rows[mine].items()
                       if seq <= sent and rows[theirs].get(rid, ("",))[0] < stamp]
            assert not missing, f"round {round_}: {mine} sent up to {sent}, {len(missing)} missing: {missing[:3]}"


# -- a power cut -----------------------------------------------------------------------------------------------

STRACE = shutil.which("strace")
# What the trace keeps: the API's sockets read and written, the database's writes and its syncs to the disk.
TRACED = "recvfrom,read,sendto,sendmsg,write,writev,pwrite64,pwritev,fsync,fdatasync"
_CALL = re.compile(r"(\d+) +(?:<\.\.\. (\w+) resumed>(.*)|(\w+)\((.*))$")
# 14<TCP:[127.0.0.1:8787->127.0.0.1:50000]>, 7</home/sourdine.db-wal>, and a call cut short by another thread's:
# "fdatasync(7</home/sourdine.db-wal> <unfinished ...>".
_FD = re.compile(r"\d+<(.*?)>(?=[,)]| <unfinished)")


# A process that sends a byte over TCP on 127.0.0.1: its trace must name the socket.
_PROBE = ("import socket; s = socket.create_server(('127.0.0.1', 0)); "
          "c = socket.create_connection(s.getsockname()); c.sendall(b'x')")


def traced_or_skip() -> None:
    """Skip a traced test where strace cannot trace (strace_missing), or fail it with SOURDINE_TRACE_TESTS=required
    (as CI sets it: there, a power-cut test must not vanish unnoticed)."""
    if why := strace_missing():
        if os.environ.get("SOURDINE_TRACE_TESTS") == "required":
            pytest.fail(f"SOURDINE_TRACE_TESTS=required: {why}")
        pytest.skip(why)


@functools.cache
def strace_missing() -> str:
    """Why the traced tests cannot run here, or "" when strace is here, may trace with the options they use (an
    older strace may lack some) and names sockets by their addresses (it asks the kernel's sock_diag, which a
    container may lack: the traces would then name no request)."""
    if STRACE is None:
        return "strace is missing (the set-up installs it on Debian)"
    with tempfile.TemporaryDirectory() as folder:
        trace = Path(folder) / "trace"
        probe = subprocess.run([*strace_into(trace), sys.executable, "-c", _PROBE], capture_output=True, text=True)
        if probe.returncode != 0:
            return f"strace may not trace here, or lacks an option the tests use: {probe.stderr.strip()[:200]}"
        if "TCP:[127.0.0.1:" not in trace.read_text():
            return "strace does not name sockets by their addresses here (no sock_diag?)"
    return ""


def strace_into(trace: Path) -> list[str]:
    """The command that runs a process under strace, its threads and children too, into the file `trace`: the
    TRACED calls, each file and socket named (-yy), 16 bytes of data shown."""
    return [STRACE, "-f", "--seccomp-bpf", "-qq", "-yy", "-s", "16", "-o", str(trace), "-e", f"trace={TRACED}"]


def traced_calls(trace: str) -> list[tuple[int, str, str, str, str]]:
    """strace -f -yy's lines as (line, call, what its first argument names, how its second begins, "enter" or
    "exit"), in the order they happened. A call that another thread's line cut in two enters at its first line
    and exits at the line that resumes it, which shows the data a read got; a call on one line enters and exits
    there."""
    calls: list[tuple[int, str, str, str, str]] = []
    pending: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(trace.splitlines()):
        match = _CALL.match(line)
        if not match:
            continue  # a signal, an exit
        pid, resumed, rest, name, args = match.groups()
        if resumed:
            if pid in pending:
                name, args = pending.pop(pid)
                what, data = _arguments(args)
                if name in ("recvfrom", "read"):  # "<... recvfrom resumed>"GET /"..., 262144, ...) = 40"
                    data = rest
                calls.append((n, name, what, data, "exit"))
            continue
        what, data = _arguments(args)
        calls.append((n, name, what, data, "enter"))
        if args.endswith("<unfinished ...>"):
            pending[pid] = (name, args)
        else:
            calls.append((n, name, what, data, "exit"))
    return calls


def _arguments(args: str) -> tuple[str, str]:
    fd = _FD.match(args)
    what = fd.group(1) if fd else ""
    data = args[fd.end():].lstrip(", ") if fd else ""
    return what, data


def _log_writes(calls: list[tuple[int, str, str, str, str]], wal: str) -> tuple[list[int], list[int]]:
    """Where each write to the log `wal` ended, and where each sync of it ended."""
    ends = [(n, name) for n, name, fd, _, phase in calls if fd == wal and phase == "exit"]
    return ([n for n, name in ends if name.startswith(("pwrite", "write"))],
            [n for n, name in ends if name in ("fsync", "fdatasync")])


@dataclass(frozen=True)
class Exchange:
    """One connection to the API, as the trace shows it: the client's port, where its request came in (the first
    read that got data) and how it began, where the API began sending on it, and where an answer of 2xx began
    (sendmsg, a longer answer on a newer Python, shows its data inside its message header); None where the trace
    shows none."""

    port: int
    came: int
    request: str
    answered: int | None
    answered_2xx: int | None


_SENDS = ("sendto", "sendmsg", "write", "writev")


def exchanges(calls: list[tuple[int, str, str, str, str]], api_port: int) -> list[Exchange]:
    """Every connection to the API at `api_port` that sent a request, in the order their requests came. Each
    carries one request (the harness asks for `Connection: close`), so data that comes in on a client port
    whose last connection was answered is a new connection's: the system gives a port out again once it is
    free, within seconds at times (seen in a run of the test below: the first write's port came back for the
    revocation, 20 requests later)."""
    found: list[dict] = []
    last: dict[int, dict] = {}  # by client port, its latest connection
    for n, name, fd, data, phase in calls:
        match = re.fullmatch(rf"TCP:\[127\.0\.0\.1:{api_port}->127\.0\.0\.1:(\d+)\]", fd)
        if match is None:
            continue
        port = int(match.group(1))
        seen = last.get(port)
        if name in ("recvfrom", "read") and phase == "exit" and data.startswith('"') and not data.startswith('""'):
            if seen is None or seen["answered"] is not None:
                last[port] = seen = {"port": port, "came": n, "request": data[:17], "answered": None,
                                     "answered_2xx": None}
                found.append(seen)
        elif name in _SENDS and phase == "enter" and seen is not None and seen["answered"] is None:
            seen["answered"] = n
            if '"HTTP/1.1 2' in data[:120]:
                seen["answered_2xx"] = n
    return [Exchange(**e) for e in found]


def started(method: str, path: str) -> str:
    """How a request's first bytes read in the trace (strace shows 16 of them, quoted): how exchanges and writes
    are matched, with the client's port."""
    return f'"{method} {path}'[:17]


def matched(seen: list[Exchange], writes: list[tuple[int, str, str | None]]
            ) -> list[tuple[str | None, Exchange | None]]:
    """Each write (the client's port, how its request began, what it wrote, or None for a request that writes
    nothing but is listed so that no write takes its exchange), in the order they were made, with its exchange:
    the first of that port and that beginning not taken by an earlier one; None if none is left. strace shows 16
    bytes of a request: "POST /api/v1/pair" and "POST /api/v1/pair/codes" begin alike."""
    left = list(seen)
    found: list[tuple[str | None, Exchange | None]] = []
    for port, request, what in writes:
        exchange = next((e for e in left if e.port == port and e.request == request), None)
        if exchange is not None:
            left.remove(exchange)
        found.append((what, exchange))
    return found


def unsynced_answers(calls: list[tuple[int, str, str, str, str]], api_port: int, wal: str,
                     writes: list[tuple[int, str, str | None]]) -> dict[str, str]:
    """What is wrong with each acknowledged write, by its description in `writes` (as `matched` takes them: the
    client's port, how the request began, what it wrote): after its request came in, sqlite must have written to
    the write-ahead log `wal`, and before its answer (2xx) left, everything written to that log must have been
    synced to the disk (fsync or fdatasync): a power cut after the answer then loses nothing it acknowledged.
    Only the write's own transaction may write to the log meanwhile (see the test): sqlite also syncs the log's
    new header when it starts the log again, before the transaction's pages, so a sync somewhere between request
    and answer is not enough."""
    wrong: dict[str, str] = {}
    for what, exchange in matched(exchanges(calls, api_port), writes):
        if what is None:
            continue
        if exchange is None or exchange.answered_2xx is None:
            wrong[what] = "its request or its answer is not in the trace"
            continue
        written, synced = ([n for n in ends if n < exchange.answered_2xx] for ends in _log_writes(calls, wal))
        if not any(n > exchange.came for n in written):
            wrong[what] = "answered without writing to the database"
        elif not synced or synced[-1] < written[-1]:
            wrong[what] = "answered before the database's log was synced to the disk"
    return wrong


def unsynced_replies(calls: list[tuple[int, str, str, str, str]], port: int, wal: str) -> tuple[int, list[str]]:
    """On every connection made to `port` (a sync listener), each reply that follows sqlite writing to the log
    `wal` after the request came in (the bytes read last before it) must leave after everything written to that
    log was synced, as in unsynced_answers: how many such replies there were, and the wrong ones (by socket and
    line). The connections are TLS: a reply is known only as what the listener sends after it has read."""
    written, synced = _log_writes(calls, wal)
    replies: set[tuple[str, int]] = set()
    bad: set[tuple[str, int]] = set()
    wrong: list[str] = []
    for socket_ in sorted({fd for _, _, fd, _, _ in calls if fd.startswith(f"TCP:[127.0.0.1:{port}->")}):
        came = None
        for n, name, fd, data, phase in calls:
            if fd != socket_:
                continue
            if name in ("recvfrom", "read") and phase == "exit" and data.startswith('"') and not data.startswith('""'):
                came = n
            elif name in _SENDS and phase == "enter" and came is not None:
                # What TLS sends at once after the handshake (session tickets) comes before the reply: every
                # send after the same read is checked.
                before = [w for w in written if w < n]
                if before and before[-1] > came:
                    replies.add((socket_, came))
                    if not [s for s in synced if before[-1] < s < n] and (socket_, came) not in bad:
                        bad.add((socket_, came))
                        wrong.append(f"{socket_}, the reply at line {n}")
    return len(replies), wrong


def late_writes(calls: list[tuple[int, str, str, str, str]], api_port: int, wal: str) -> list[int]:
    """The lines where sqlite began a write to the log `wal` while no request to the API at `api_port` other
    than a GET was in flight (came in, not yet answered), from the first such request's arrival to the last
    request's (a GET after the writes closes the window): a route that commits part of a write, answers, then
    commits the rest, which unsynced_answers cannot see, or anything else writing meanwhile."""
    seen = exchanges(calls, api_port)
    never = calls[-1][0] + 1 if calls else 0  # a request the trace shows no answer to is in flight to its end
    spans = [(e.came, e.answered if e.answered is not None else never)
             for e in seen if not e.request.startswith('"GET ')]
    if not spans:
        return []
    start, end = min(a for a, _ in spans), max(e.came for e in seen)
    return [n for n, name, fd, _, phase in calls
            if fd == wal and phase == "enter" and name.startswith(("pwrite", "write")) and start < n < end
            and not any(a < n < b for a, b in spans)]


def around_late(trace: str, calls: list[tuple[int, str, str, str, str]], api_port: int, late: list[int]) -> str:
    """What a failure of late_writes needs to be understood from a CI log alone, where the trace is gone: every
    exchange with the API (where its request came in and its answer began, by line) and the trace's own lines
    around the first late write (strace's 16 bytes of data: request lines, answers' status lines, log pages)."""
    seen = exchanges(calls, api_port)
    lines = trace.splitlines()
    first = late[0]
    excerpt = "\n".join(f"{n}: {lines[n]}" for n in range(max(first - 30, 0), min(first + 15, len(lines))))
    return ("exchanges (client port: came, answered, request):\n"
            + "\n".join(f"  {e.port}: {e.came}, {e.answered}, {e.request}" for e in seen)
            + f"\ntrace lines around {first}:\n{excerpt}")


def late_in_gap(calls: list[tuple[int, str, str, str, str]], api_port: int, exchange: Exchange,
                late: list[int]) -> bool:
    """Whether one of the `late` lines falls between the answer of `exchange` and the next request's arrival
    (the end of the trace if none came)."""
    answered = exchange.answered
    assert answered is not None, f"no answer on the connection from {exchange.port}"
    following = min((e.came for e in exchanges(calls, api_port) if e.came > answered), default=calls[-1][0] + 1)
    return any(answered < n < following for n in late)


def api_writes(calls: list[tuple[int, str, str, str, str]], api_port: int) -> list[tuple[int, str, str]]:
    """The requests that came to the API at `api_port` other than GETs, as unsynced_answers takes them, each
    described by how it began."""
    return [(e.port, e.request, e.request) for e in exchanges(calls, api_port) if not e.request.startswith('"GET ')]


def unsynced_lines(calls: list[tuple[int, str, str, str, str]], folder: str, wal: str) -> tuple[int, list[str]]:
    """Each line appended to a file in the sync folder `folder` must be synced to the disk (the file, and the
    first time the folder's entry for it) before the database is written again: the next write records it as
    written (peer.Sync.sync_folder), and the device never writes again what that record says it wrote. How many
    lines were written, and what is wrong, by line of the trace."""
    written = [(n, fd) for n, name, fd, _, phase in calls
               if phase == "exit" and name in ("write", "pwrite64") and fd.startswith(folder + "/ops-")]
    synced = [(n, fd) for n, name, fd, _, phase in calls if phase == "exit" and name in ("fsync", "fdatasync")]
    logged = [n for n, name, fd, _, phase in calls if phase == "exit" and name == "pwrite64" and fd == wal]
    wrong: list[str] = []
    for i, (n, path) in enumerate(written):
        recorded = next((w for w in logged if w > n), None)
        if recorded is None:
            wrong.append(f"line {n}: never recorded as written")
            continue
        needed = [path] + ([folder] if path not in {p for _, p in written[:i]} else [])
        for what in needed:
            if not any(n < m < recorded and fd == what for m, fd in synced):
                wrong.append(f"line {n}: {what} not synced before the database's next write (line {recorded})")
    return len(written), wrong


# A hand-made excerpt in strace 6.1's form (-f -yy -s 16): thread 101, the store's writer, syncs the log while
# thread 100, the event loop, reads another request; a read cut in two; then each answer.
_CUT = """\
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:50000]>, "POST /api/v1/mut"..., 262144, 0, NULL, NULL) = 274
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\1"..., 24, 32) = 24
101 fdatasync(7</h/sourdine.db-wal> <unfinished ...>
100 recvfrom(15<TCP:[127.0.0.1:8787->127.0.0.1:50002]>, <unfinished ...>
101 <... fdatasync resumed>) = 0
100 <... recvfrom resumed>"POST /api/v1/mut"..., 262144, 0, NULL, NULL) = 281
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:50000]>, "HTTP/1.1 201 Cre"..., 452, 0, NULL, 0) = 452
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\2"..., 24, 4152) = 24
101 fdatasync(7</h/sourdine.db-wal> <unfinished ...>
100 sendto(15<TCP:[127.0.0.1:8787->127.0.0.1:50002]>, "HTTP/1.1 201 Cre"..., 452, 0, NULL, 0) = 452
101 <... fdatasync resumed>) = 0
"""


def test_the_trace_reader_follows_calls_cut_by_another_thread():
    """A sync or a read that another thread's line cut in two is still that call, on that file or socket: the
    first answer left after its sync ended; the second left while its sync was still running."""
    calls = traced_calls(_CUT)
    assert [(name, what) for _, name, what, _, phase in calls if phase == "exit"] == [
        ("recvfrom", "TCP:[127.0.0.1:8787->127.0.0.1:50000]"), ("pwrite64", "/h/sourdine.db-wal"),
        ("fdatasync", "/h/sourdine.db-wal"), ("recvfrom", "TCP:[127.0.0.1:8787->127.0.0.1:50002]"),
        ("sendto", "TCP:[127.0.0.1:8787->127.0.0.1:50000]"), ("pwrite64", "/h/sourdine.db-wal"),
        ("sendto", "TCP:[127.0.0.1:8787->127.0.0.1:50002]"), ("fdatasync", "/h/sourdine.db-wal")]
    writes = [(50000, '"POST /api/v1/mut', "first"), (50002, '"POST /api/v1/mut', "second")]
    assert unsynced_answers(calls, 8787, "/h/sourdine.db-wal", writes) == {
        "second": "answered before the database's log was synced to the disk"}


# Hand-made too: a write answered (port 50010) before its route commits a second part, then a GET that closes
# the window; a second write (50012) whose transaction is all inside its request.
_LATE = """\
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:50010]>, "POST /api/v1/mut"..., 262144, 0, NULL, NULL) = 274
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\1"..., 24, 32) = 24
101 fdatasync(7</h/sourdine.db-wal>) = 0
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:50010]>, "HTTP/1.1 201 Cre"..., 452, 0, NULL, 0) = 452
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\2"..., 24, 4152) = 24
101 fdatasync(7</h/sourdine.db-wal>) = 0
100 recvfrom(15<TCP:[127.0.0.1:8787->127.0.0.1:50012]>, "DELETE /api/v1/m"..., 262144, 0, NULL, NULL) = 190
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\3"..., 24, 8272) = 24
101 fdatasync(7</h/sourdine.db-wal>) = 0
100 sendto(15<TCP:[127.0.0.1:8787->127.0.0.1:50012]>, "HTTP/1.1 200 OK\\r"..., 300, 0, NULL, 0) = 300
100 recvfrom(16<TCP:[127.0.0.1:8787->127.0.0.1:50014]>, "GET /api/v1/stat"..., 262144, 0, NULL, NULL) = 120
100 sendto(16<TCP:[127.0.0.1:8787->127.0.0.1:50014]>, "HTTP/1.1 200 OK\\r"..., 900, 0, NULL, 0) = 900
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\4"..., 24, 12392) = 24
"""


def test_the_trace_reader_finds_a_write_committed_after_its_answer():
    """Both writes were synced before their answers, so unsynced_answers finds nothing; the first route's second
    commit, after its answer, is what late_writes names. What comes after the closing GET is not looked at."""
    calls = traced_calls(_LATE)
    writes = [(50010, '"POST /api/v1/mut', "first"), (50012, '"DELETE /api/v1/m', "second")]
    assert unsynced_answers(calls, 8787, "/h/sourdine.db-wal", writes) == {}
    assert late_writes(calls, 8787, "/h/sourdine.db-wal") == [4]
    assert late_writes(traced_calls(_CUT), 8787, "/h/sourdine.db-wal") == []
    # What a failure shows: each exchange by line, then the trace around the first late write.
    shown = around_late(_LATE, calls, 8787, [4]).splitlines()
    assert shown[1:4] == ["  50010: 0, 3, \"POST /api/v1/mut", "  50012: 6, 9, \"DELETE /api/v1/m",
                          "  50014: 10, 11, \"GET /api/v1/stat"], shown
    assert shown[4] == "trace lines around 4:" and shown[5].startswith("0: 100 recvfrom(14<TCP:"), shown
    assert shown[9] == "4: " + _LATE.splitlines()[4] and len(shown) == 5 + 13, shown


# Hand-made after a run of the test below that failed: the system gave the first write's client port (55546) to
# the revocation again, 20 requests later; between them, a GET on another port.
_REUSED = """\
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:55546]>, "POST /api/v1/mut"..., 262144, 0, NULL, NULL) = 274
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\1"..., 24, 32) = 24
101 fdatasync(7</h/sourdine.db-wal>) = 0
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:55546]>, "HTTP/1.1 201 Cre"..., 452, 0, NULL, 0) = 452
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:55550]>, "GET /api/v1/stat"..., 262144, 0, NULL, NULL) = 120
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:55550]>, "HTTP/1.1 200 OK\\r"..., 900, 0, NULL, 0) = 900
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:55546]>, "DELETE /api/v1/c"..., 262144, 0, NULL, NULL) = 220
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\2"..., 24, 4152) = 24
101 fdatasync(7</h/sourdine.db-wal>) = 0
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:55546]>, "HTTP/1.1 200 OK\\r"..., 294, 0, NULL, 0) = 294
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:55552]>, "GET /api/v1/stat"..., 262144, 0, NULL, NULL) = 120
"""


def test_the_trace_reader_tells_apart_two_connections_from_one_client_port():
    """A port the system gives out again is a new connection once the last one on it was answered: the
    revocation's write is inside its own exchange, not late, and each write is matched with its own answer."""
    calls = traced_calls(_REUSED)
    assert [(e.port, e.came, e.answered) for e in exchanges(calls, 8787)] == [
        (55546, 0, 3), (55550, 4, 5), (55546, 6, 9), (55552, 10, None)]
    assert late_writes(calls, 8787, "/h/sourdine.db-wal") == []
    writes = [(55546, started("POST", "/api/v1/mutes"), "a mute"),
              (55546, started("DELETE", "/api/v1/clients/7"), "a revocation")]
    assert [(what, e and e.came) for what, e in matched(exchanges(calls, 8787), writes)] == [
        ("a mute", 0), ("a revocation", 6)]
    assert unsynced_answers(calls, 8787, "/h/sourdine.db-wal", writes) == {}


# Hand-made: a pairing code asked for (in memory: no write), then the pairing, from the same client port; strace
# shows both requests as "POST /api/v1/pai".
_CODES = """\
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:55600]>, "POST /api/v1/pai"..., 262144, 0, NULL, NULL) = 223
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:55600]>, "HTTP/1.1 201 Cre"..., 363, 0, NULL, 0) = 363
100 recvfrom(14<TCP:[127.0.0.1:8787->127.0.0.1:55600]>, "POST /api/v1/pai"..., 262144, 0, NULL, NULL) = 256
101 pwrite64(7</h/sourdine.db-wal>, "\\0\\0\\0\\1"..., 24, 32) = 24
101 fdatasync(7</h/sourdine.db-wal>) = 0
100 sendto(14<TCP:[127.0.0.1:8787->127.0.0.1:55600]>, "HTTP/1.1 201 Cre"..., 611, 0, NULL, 0) = 611
"""


def test_a_request_that_writes_nothing_is_listed_so_that_no_write_takes_its_exchange():
    """The pairing is matched with its own exchange, not with the code's before it on the same port, when the
    code's request is listed (as not a write); unlisted, the pairing took the code's exchange (a review's
    finding), which wrote nothing."""
    calls = traced_calls(_CODES)
    pairing = (55600, started("POST", "/api/v1/pair"), "a pairing")
    listed = [(55600, started("POST", "/api/v1/pair/codes"), None), pairing]
    assert unsynced_answers(calls, 8787, "/h/sourdine.db-wal", listed) == {}
    assert unsynced_answers(calls, 8787, "/h/sourdine.db-wal", [pairing]) == {
        "a pairing": "answered without writing to the database"}


# Between one traced write's answer and the next request: longer than the store's writer gathers a batch (0.25 s),
# so that what a route would commit after its answer lands in the gap, not in the next request's transaction.
GAP = 0.4
# How long the run with late writes (SOURDINE_TEST_LATE) waits, after the gap, for the write injected after an
# answer to be in the database: on a quiet machine it is there within the gap; under strace on a loaded one it may
# come later, and must still land before the next request.
INJECTED_WITHIN = 10


def injected_since(db: Path, since: float) -> bool:
    """Whether the database `db` holds a write that SOURDINE_TEST_LATE injected (tests/audit: a row of test_late,
    the time.time() at which its write began) begun after `since`, a time.time(): committed, so on the log."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        (last,) = conn.execute("SELECT max(at) FROM test_late").fetchone()
    except sqlite3.OperationalError as error:
        if "no such table" in str(error):  # nothing injected yet
            return False
        raise
    finally:
        conn.close()
    return last is not None and last > since


@pytest.mark.parametrize("broken", [None, "unsynced", "late"], ids=["as-built", "unsynced", "late"])
def test_every_acknowledged_write_is_on_the_disk_before_its_answer_leaves(tmp_path, standin, broken):
    """A power cut loses what the system had not yet written to the disk, which a SIGKILL does not show: a test
    that kills the process finds everything sqlite handed to the system. Here a real `sourdine run` runs under
    strace while the API takes these writes in turn: mutes and allow entries added and removed, an import,
    settings, the work hours, a window of them and the overrides (a pause, filtering until, both cleared), sync
    paused and resumed, a pairing and a revocation, decisions on connections, feedback, forgetting an author, a
    purge (the routes that add or remove a peer: see the next test), each on its own connection, and nothing
    else happens (no feed, no sync: no decisions to record, no author records to save; the traces show no other
    write to the database, and one would fail this test, not pass it). For
    each acknowledged write, the trace must show sqlite writing to the database's write-ahead log after the
    request came in, and that log synced to the disk, with nothing written to it since, before the answer left
    (unsynced_answers); and sqlite must not write to that log while no write is in flight (late_writes), as a
    route that answered before committing the rest of its write would.

    Run a second time with the process's sqlite told to commit without syncing (tests/audit, SOURDINE_TEST_UNSYNCED),
    the first check must fail; a third time with a write landing 300 ms after each commit, unasked
    (SOURDINE_TEST_LATE), the second must: that is what they are there to catch. That run waits after each
    answer, past the gap if need be, until a write injected after the answer is in the database, so that one
    lands between every answer and the next request however slow the machine (INJECTED_WITHIN)."""
    traced_or_skip()
    standin.routes["/api/v1/timelines/public"] = lambda request: web.Response(
        body=FEED, content_type="application/json")
    feed_url = f"http://127.0.0.1:{standin.port}/api/v1/timelines/public"
    home = tmp_path / "home"
    # First, untraced: a feed, so that there are decisions to give feedback on and authors to decide on; stopping
    # writes them all.
    running = start_sourdine(home)
    try:
        harness.wait_until(lambda: harness.through_proxy(running.proxy_port, feed_url)[0] == 200, 10)
    finally:
        assert running.stop() == 0, running.stderr[-2000:]
    with sqlite3.connect(f"file:{home / 'sourdine.db'}?mode=ro", uri=True) as conn:  # the authors it scored
        authors = [row[0] for row in conn.execute("SELECT author_id FROM authors ORDER BY author_id")]
    conn.close()
    assert len(authors) > len(DECISIONS), authors
    trace = tmp_path / "trace"
    running = start_sourdine(home, env={f"SOURDINE_TEST_{broken.upper()}": "1"} if broken else None,
                             wrapper=strace_into(trace))
    writes: list[tuple[int, str, str | None]] = []  # as matched takes them
    try:
        token = running.token()
        harness.wait_until(lambda: harness.api(running.api_port, token, "GET", "/api/v1/status")[0] == 200, 10)

        def write(what: str, method: str, path: str, body: object = None, origin: str | None = None,
                  raw: bytes | None = None, status: int = 200) -> object:
            code, answer, port = harness.api_call(running.api_port, token if origin is None else "", method, path,
                                                  body, origin=origin, raw=raw)
            answered = time.time()  # the answer has left: a write begun after this comes after it in the trace
            assert code == status, (what, code, answer)
            writes.append((port, started(method, path), what))
            time.sleep(GAP)
            if broken == "late":
                try:
                    harness.wait_until(lambda: injected_since(home / "sourdine.db", answered), INJECTED_WITHIN, 0.02)
                except TimeoutError:
                    pytest.fail(f"no write injected after the answer to {what} was in the database within "
                                f"{GAP + INJECTED_WITHIN:g} s of it")
            return answer

        muted = write("a mute", "POST", "/api/v1/mutes",
                      {"kind": "account", "platform": "mastodon", "handle": "power@cut.example"}, status=201)
        write("a keyword mute", "POST", "/api/v1/mutes", {"kind": "keyword", "text": "coupure"}, status=201)
        write("a mute removed", "DELETE", f"/api/v1/mutes/{quote(muted['key'], safe='')}")
        allowed = write("an allow entry", "POST", "/api/v1/allow", {"kind": "keyword", "text": "sourdine"},
                        status=201)
        write("an allow entry removed", "DELETE", f"/api/v1/allow/{quote(allowed['key'], safe='')}")
        write("an import", "POST", "/api/v1/import?format=mastodon-csv&list=mutes",
              raw=b"Account address,Hide notifications\nimported@cut.example,true\n")
        write("a setting", "PATCH", "/api/v1/settings", {"global": {"decisions_retention_days": 12}})
        write("a threshold", "PATCH", "/api/v1/settings", {"platforms": {"x": {"hide": 0.9}}})
        write("the work hours", "PUT", "/api/v1/schedule", _work_hours(0)[0])
        write("a window of work hours", "POST", "/api/v1/schedule/windows",
              {"days": ["sat"], "start": "06:00", "end": "07:00"})
        write("a pause", "POST", "/api/v1/schedule/pause", {"minutes": 5})
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        write("filtering until", "POST", "/api/v1/schedule/filter-until", {"until": until})
        write("the overrides cleared", "DELETE", "/api/v1/schedule/overrides")
        write("sync paused", "POST", "/api/v1/sync", {"pause": True})
        write("sync resumed", "POST", "/api/v1/sync", {"pause": False})
        code, issued, port = harness.api_call(running.api_port, token, "POST", "/api/v1/pair/codes")
        assert code == 201, issued
        # Not a write (a code lives in memory), but listed, so that the pairing after it, whose request begins
        # alike, cannot be matched with its exchange should the system give both the same port.
        writes.append((port, started("POST", "/api/v1/pair/codes"), None))
        time.sleep(GAP)
        origin = extension_origin(99, 1)
        paired = write("a pairing", "POST", "/api/v1/pair", {"code": issued["code"], "name": "power cut"},
                       origin=origin, status=201)
        write("a revocation", "DELETE", f"/api/v1/clients/{paired['client']['id']}")
        for n, decision in enumerate(DECISIONS):
            write(f"a connection decision ({decision})", "POST", f"/api/v1/connections/mastodon/{authors[n]}",
                  {"decision": decision})
        write("feedback", "POST", f"/api/v1/decisions/mastodon/{POSTS[0]}/feedback", {"feedback": "hostile"})
        write("an author forgotten", "DELETE", f"/api/v1/authors/mastodon/{authors[-1]}")
        write("a purge", "POST", "/api/v1/purge", {})
        # The window in which nothing may write besides the requests closes when this one comes in.
        assert harness.api_call(running.api_port, token, "GET", "/api/v1/status")[0] == 200
    finally:
        assert running.stop() == 0, running.stderr[-2000:]
    text = trace.read_text()
    calls = traced_calls(text)
    wal = str(home / "sourdine.db-wal")
    late = late_writes(calls, running.api_port, wal)
    wrong = unsynced_answers(calls, running.api_port, wal, writes)
    if broken == "late":
        missed = [what for what, exchange in matched(exchanges(calls, running.api_port), writes) if what is not None
                  and (exchange is None or not late_in_gap(calls, running.api_port, exchange, late))]
        assert not missed, f"no late write found after the answer to {missed}"
    else:
        assert late == [], (f"sqlite wrote to the log while no write was in flight, at lines {late[:5]} of the trace\n"
                            + around_late(text, calls, running.api_port, late))
    if broken == "unsynced":
        assert wrong, "the check found nothing wrong with a process whose database never syncs"
        assert set(wrong.values()) == {"answered before the database's log was synced to the disk"}, wrong
    elif broken is None:
        # Not with the late writes: one that lands inside a route that commits twice (a connection decision),
        # when the machine is slow, may well come between the route's sync and its answer.
        assert wrong == {}, wrong
    acknowledged = sum(1 for _, _, what in writes if what is not None)
    print(f"{acknowledged} acknowledged writes traced{f' ({broken})' if broken else ''}: "
          f"{acknowledged - len(wrong)} synced before their answer, {len(late)} writes to the log with none in flight")


@pytest.mark.parametrize("broken", [False, True], ids=["as-built", "unsynced"])
def test_every_sync_reply_leaves_after_what_it_acknowledges_is_on_the_disk(tmp_path, broken):
    """The same for the sync between devices: a device that answers a peer's message tells it what it now holds,
    and the peer will not send those rows again. Device A listens, under strace; B pairs with it and sends it
    three new mutes (a sync). Every reply of A's listener that follows a write to its database (the pairing's,
    the sync's) must leave after that write was synced to the disk (unsynced_replies); with A's sqlite told not to
    sync, the check must fail. B runs under strace too, as built: the answers of its API to the routes the test
    above leaves out, a pairing accepted and a peer removed, and to its mutes and its sync, must each leave after
    their write was synced (unsynced_answers); so must A's answer when it removes B in turn (and, A unsynced,
    that one must not)."""
    traced_or_skip()
    trace, b_trace = tmp_path / "trace", tmp_path / "b.trace"
    port = harness.steady_port()
    a = start_sourdine(tmp_path / "a", "--sync-port", str(port),
                       env={"SOURDINE_TEST_UNSYNCED": "1"} if broken else None, wrapper=strace_into(trace))
    b = None
    try:
        harness.wait_until(lambda: harness.api(a.api_port, a.token(), "GET", "/api/v1/peers")[0] == 200, 10)
        b = start_sourdine(tmp_path / "b", wrapper=strace_into(b_trace))
        harness.wait_until(lambda: harness.api(b.api_port, b.token(), "GET", "/api/v1/peers")[0] == 200, 10)
        pair_peers(a, b)
        for n in range(3):
            code, _ = harness.api(b.api_port, b.token(), "POST", "/api/v1/mutes",
                                  {"kind": "account", "platform": "mastodon", "handle": f"sync{n}@cut.example"})
            assert code == 201
        code, body = harness.api(b.api_port, b.token(), "POST", "/api/v1/sync", {}, 30)
        assert code == 200, body
        assert len(SyncTraffic.mutes(a)) == 3
        code, body = harness.api(b.api_port, b.token(), "GET", "/api/v1/peers")
        [peer] = body["peers"]
        code, _ = harness.api(b.api_port, b.token(), "DELETE", f"/api/v1/peers/{peer['id']}")
        assert code == 200
        code, body = harness.api(a.api_port, a.token(), "GET", "/api/v1/peers")
        [peer] = body["peers"]
        removal = f"/api/v1/peers/{peer['id']}"
        code, _, removal_port = harness.api_call(a.api_port, a.token(), "DELETE", removal)
        assert code == 200
    finally:
        stopped = [device.stop() for device in (a, b) if device is not None]
        assert stopped == [0] * len(stopped), (a.stderr[-2000:], b and b.stderr[-2000:])
    a_calls = traced_calls(trace.read_text())
    a_wal = str(a.home / "sourdine.db-wal")
    checked, wrong = unsynced_replies(a_calls, port, a_wal)
    assert checked >= 2, "no pairing or no sync reply after a write was traced"
    # A's own API removing the peer that paired with it, as B's did above.
    a_wrong = unsynced_answers(a_calls, a.api_port, a_wal,
                               [(removal_port, started("DELETE", removal), "a peer removed")])
    if broken:
        assert wrong, "the check found nothing wrong with a listener whose database never syncs"
        assert a_wrong == {"a peer removed": "answered before the database's log was synced to the disk"}, a_wrong
    else:
        assert wrong == [], wrong
        assert a_wrong == {}, a_wrong
    calls = traced_calls(b_trace.read_text())
    writes = api_writes(calls, b.api_port)
    assert sorted(what for _, _, what in writes) == [
        '"DELETE /api/v1/p', '"POST /api/v1/mut', '"POST /api/v1/mut', '"POST /api/v1/mut', '"POST /api/v1/pee',
        '"POST /api/v1/syn'], writes
    assert unsynced_answers(calls, b.api_port, str(b.home / "sourdine.db-wal"), writes) == {}
    print(f"{checked} replies of the sync listener after a write traced{' (unsynced)' if broken else ''}: "
          f"{checked - len(wrong)} after the write was synced; the listening device's peer removal "
          f"{'not ' if a_wrong else ''}after its write was synced; the other device's {len(writes)} answers (a "
          "pairing accepted, mutes, a sync, a peer removed): all after their write was synced")


@pytest.mark.parametrize("broken", [False, True], ids=["as-built", "unsynced"])
def test_every_folder_line_is_on_the_disk_before_it_is_counted_as_written(tmp_path, broken):
    """The folder transport (`--sync-folder`): a device appends its changes to its own file in a folder that
    another tool syncs, then records in its database how far it wrote. If the record survived a power cut and the
    line did not, those changes would never be written again. Device A, paired with B, restarts under strace with
    the folder only, takes three mutes and syncs: each line, and the first time the folder's entry for the file,
    must be synced before A's database is written again (unsynced_lines). With A's fsync made to do nothing, the
    check must fail."""
    traced_or_skip()
    shared, b = paired_through_a_folder(tmp_path)
    trace = tmp_path / "trace"
    a = None
    try:
        a = start_sourdine(tmp_path / "a", "--sync-folder", str(shared),
                           env={"SOURDINE_TEST_UNSYNCED": "1"} if broken else None, wrapper=strace_into(trace))
        harness.wait_until(lambda: harness.api(a.api_port, a.token(), "GET", "/api/v1/peers")[0] == 200, 10)
        for n in range(3):
            code, _ = harness.api(a.api_port, a.token(), "POST", "/api/v1/mutes",
                                  {"kind": "keyword", "text": f"ligne {n}"})
            assert code == 201
            code, body = harness.api(a.api_port, a.token(), "POST", "/api/v1/sync", {}, 30)
            assert code == 200, body
    finally:
        stopped = [device.stop() for device in (a, b) if device is not None]
        assert stopped == [0] * len(stopped), (a and a.stderr[-2000:], b.stderr[-2000:])
    written, wrong = unsynced_lines(traced_calls(trace.read_text()), str(shared), str(a.home / "sourdine.db-wal"))
    assert written >= 3, f"{written} lines written to the folder"
    if broken:
        assert wrong, "the check found nothing wrong with a process whose fsync does nothing"
    else:
        assert wrong == [], wrong
    print(f"{written} lines appended to the sync folder{' (unsynced)' if broken else ''}: "
          f"{written - len({w.split(':')[0] for w in wrong})} synced before they were recorded")
