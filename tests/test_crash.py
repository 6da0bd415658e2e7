"""Crash safety: a real `sourdine run` killed with SIGKILL at random points while the API takes writes and the
proxy filters feeds, restarted each time. No acknowledged write may be lost, the database must stay sound, and
the proxy must serve again within a second."""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time

from aiohttp import web

import harness
from conftest import DATA, start_sourdine

ROUNDS = 4
FEED = (DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes()


def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path, standin):
    """SIGKILL mid-traffic, several times: every acknowledged mute and setting is there after each restart,
    PRAGMA integrity_check is ok, and the restarted proxy serves a feed within 1 s of being started."""
    standin.routes["/api/v1/timelines/public"] = lambda request: web.Response(
        body=FEED, content_type="application/json")
    feed_url = f"http://127.0.0.1:{standin.port}/api/v1/timelines/public"
    home = tmp_path / "home"
    rng = random.Random(20261122)
    acked_mutes: set[str] = set()
    acked_retention = 0  # the last decisions_retention_days the API acknowledged; each write is one more
    serve_times = []
    for round_ in range(ROUNDS):
        started = time.monotonic()
        running = start_sourdine(home)
        token = running.token()
        served = harness.wait_until(lambda: harness.through_proxy(running.proxy_port, feed_url)[0] == 200, 5)
        serve_times.append(time.monotonic() - started)
        check_store(home, acked_mutes, acked_retention, running, token)

        stop = threading.Event()
        lock = threading.Lock()

        def mutes(worker: int) -> None:
            n = 0
            while not stop.is_set():
                handle = f"r{round_}w{worker}n{n}@crash.example"
                n += 1
                try:
                    code, body = harness.api(running.api_port, token, "POST", "/api/v1/mutes",
                                             {"kind": "account", "platform": "mastodon", "handle": handle}, 5)
                except OSError:
                    return  # killed: this write was never acknowledged
                if code == 201:
                    with lock:
                        acked_mutes.add(body["key"])

        def retention() -> None:
            nonlocal acked_retention
            value = acked_retention
            while not stop.is_set():
                value += 1
                try:
                    code, _ = harness.api(running.api_port, token, "PATCH", "/api/v1/settings",
                                          {"global": {"decisions_retention_days": value}}, 5)
                except OSError:
                    return
                if code == 200:
                    acked_retention = value

        def feeds() -> None:
            while not stop.is_set():
                try:
                    harness.through_proxy(running.proxy_port, feed_url, timeout=5)
                except OSError:
                    return

        threads = [threading.Thread(target=mutes, args=(w,)) for w in range(2)]
        threads += [threading.Thread(target=retention), threading.Thread(target=feeds)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        running.proc.send_signal(signal.SIGKILL)
        running.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(10)
        running.proc.communicate()
        assert acked_mutes, f"round {round_}: no write was acknowledged before the kill ({served:.2f} s to serve)"
    final = start_sourdine(home)
    try:
        check_store(home, acked_mutes, acked_retention, final, final.token())
    finally:
        assert final.stop() == 0, final.stderr[-2000:]
    print(f"restart to first proxied feed: {', '.join(f'{t:.2f}' for t in serve_times)} s")
    assert max(serve_times[1:]) <= 1.0, serve_times


def check_store(home, acked_mutes: set[str], acked_retention: int, running, token: str) -> None:
    conn = sqlite3.connect(home / "sourdine.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {key for key, deleted in conn.execute("SELECT key, deleted FROM lists WHERE list = 'mute'")
                  if not deleted}
        assert acked_mutes <= stored, f"acknowledged mutes lost: {sorted(acked_mutes - stored)[:5]}"
        row = conn.execute("SELECT value FROM settings WHERE key = 'decisions_retention_days'").fetchone()
        if acked_retention:
            assert row is not None and int(row[0]) >= acked_retention
    finally:
        conn.close()
    # And the running process sees them too.
    code, body = harness.api(running.api_port, token, "GET", "/api/v1/mutes")
    assert code == 200
    assert acked_mutes <= {entry["key"] for entry in body["mutes"]}
