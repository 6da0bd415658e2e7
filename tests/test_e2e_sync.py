"""Two real `sourdine run` processes on 127.0.0.1, paired with `sourdine peers add` and `accept`, edited while sync
is paused, then synced: both hold the same lists, and each proxy applies a mute made on the other."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from aiohttp import web

import harness
from conftest import DATA, SOURDINE, pair_peers, paired_through_a_folder, start_sourdine

REAL = json.loads((DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())


def api(running, method: str, path: str, body: dict | None = None) -> dict:
    status, answer = harness.api(running.api_port, running.token(), method, path, body, timeout=30)
    assert status < 400, (status, answer)
    return answer


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(SOURDINE), *args, "--home", str(home)], capture_output=True, text=True, timeout=60)


def fetch(running, port: int, path: str) -> dict[str, dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": running.proxy}))
    with opener.open(f"http://localhost:{port}{path}", timeout=10) as response:
        return {s["id"]: s for s in json.loads(response.read())}


def lists(running) -> dict:
    return {name: {e["key"]: e for e in api(running, "GET", f"/api/v1/{name}")[name]} for name in ("mutes", "allow")}


def test_two_instances_pair_edit_offline_and_converge(tmp_path, standin):
    a = start_sourdine(tmp_path / "a", "--sync-port", "0")
    b = start_sourdine(tmp_path / "b", "--sync-port", "0")
    try:
        pair_peers(a, b)
        assert [p["name"] for p in api(a, "GET", "/api/v1/peers")["peers"]] != []
        # Offline: sync paused on both, then both edited, one key on both sides.
        for running in (a, b):
            assert "paused" in cli(running.home, "sync", "--pause").stdout
        api(a, "POST", "/api/v1/mutes", {"kind": "keyword", "text": "honte", "action": "hide"})
        api(a, "POST", "/api/v1/mutes", {"kind": "keyword", "text": "rage"})
        api(b, "POST", "/api/v1/mutes", {"kind": "account", "platform": "mastodon",
                                         "handle": REAL[3]["account"]["acct"] + "@mastodon.social",
                                         "action": "hide"})
        api(b, "POST", "/api/v1/allow", {"kind": "keyword", "text": "bibliothèque"})
        time.sleep(0.01)
        api(b, "POST", "/api/v1/mutes", {"kind": "keyword", "text": "rage", "note": "from b, later"})
        # All day, every day (a window that ends when it starts lasts 24 hours): the proxies below filter at any hour.
        api(a, "PUT", "/api/v1/schedule", {"timezone": "Europe/Paris", "windows": [
            {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "00:00"}]})
        time.sleep(2)  # the background loop had its chance, and must not have synced
        assert "keyword:honte" not in lists(b)["mutes"]
        # Back online.
        resumed = cli(b.home, "sync", "--resume")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert cli(a.home, "sync", "--resume").returncode == 0
        synced = cli(a.home, "sync")
        assert synced.returncode == 0 and "sent" in synced.stdout, synced.stdout + synced.stderr
        la, lb = lists(a), lists(b)
        assert la == lb
        assert set(la["mutes"]) == {"keyword:honte", "keyword:rage",
                                    f"account:mastodon:{REAL[3]['account']['acct'].lower()}@mastodon.social"}
        assert la["mutes"]["keyword:rage"]["note"] == "from b, later", "the later edit of one key wins on both"
        assert api(b, "GET", "/api/v1/schedule")["schedule"]["timezone"] == "Europe/Paris"

        # Each proxy applies a mute made on the other.
        statuses = copy.deepcopy(REAL[:6])
        statuses[1]["content"] = "<p>Quelle honte, vraiment.</p>"
        statuses[1]["language"] = "fr"
        body = json.dumps(statuses).encode()
        standin.routes["/api/v1/timelines/tag/sync"] = lambda r: web.Response(body=body,
                                                                              content_type="application/json")
        for running in (a, b):
            seen = fetch(running, standin.port, "/api/v1/timelines/tag/sync")
            assert statuses[1]["id"] not in seen, "the keyword muted on A hides the post on both"
            assert statuses[3]["id"] not in seen, "the account muted on B hides its post on both"
            assert statuses[0]["id"] in seen

        # After resuming, an edit syncs by itself within seconds (background sync after each local edit).
        api(b, "DELETE", "/api/v1/mutes/keyword:honte")
        deadline = time.monotonic() + 20
        while "keyword:honte" in lists(a)["mutes"] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "keyword:honte" not in lists(a)["mutes"]
        listing = cli(a.home, "peers", "list")
        assert "last seen" in listing.stdout and "never" not in listing.stdout, listing.stdout
    finally:
        codes = (a.stop(), b.stop())
        assert codes == (0, 0), a.stderr[-2000:] + b.stderr[-2000:]
    assert "Traceback" not in a.stderr + b.stderr
    assert sys.executable


def test_two_instances_sync_through_a_shared_folder(tmp_path):
    """`--sync-folder`: once paired, the devices sync through the folder alone (A restarted without a listener, so
    nothing else can carry the rows). A folder inside the home is refused at start-up."""
    shared, b = paired_through_a_folder(tmp_path)
    a = start_sourdine(tmp_path / "a", "--sync-folder", str(shared))
    try:
        api(b, "POST", "/api/v1/mutes", {"kind": "keyword", "text": "honte"})
        api(a, "POST", "/api/v1/allow", {"kind": "keyword", "text": "merci"})
        for running in (b, a, b):
            synced = cli(running.home, "sync")
            assert "folder" in synced.stdout, synced.stdout + synced.stderr
        assert "unreachable" in synced.stdout, "B cannot reach A directly: the rows went through the folder"
        assert lists(a) == lists(b)
        assert set(lists(a)["mutes"]) == {"keyword:honte"} and set(lists(a)["allow"]) == {"keyword:merci"}
        names = sorted(p.name for p in shared.iterdir())
        assert len(names) == 2 and all(n.startswith("ops-") and n.endswith(".jsonl") for n in names)
    finally:
        codes = (a.stop(), b.stop())
        assert codes == (0, 0), a.stderr[-2000:] + b.stderr[-2000:]
    inside = subprocess.run([str(SOURDINE), "run", "--home", str(tmp_path / "a"), "--proxy-port", "0",
                             "--api-port", "0", "--sync-folder", str(tmp_path / "a")],
                            capture_output=True, text=True, timeout=60)
    assert inside.returncode == 1 and "outside Sourdine's home" in inside.stderr


def test_import_and_export_from_the_cli(tmp_path):
    """`sourdine import` reports a bad row with the file's own line number and imports the rest; `sourdine export`
    writes what `import` reads back unchanged."""
    running = start_sourdine(tmp_path / "home")
    try:
        words = tmp_path / "words.json"
        items = [{"value": f"mot{i}", "targets": ["content"]} for i in range(2500)]
        items[2100]["value"] = "!!!"  # no letter: refused, with its line
        items[2200]["actorTarget"] = "exclude-following"  # muted for everyone here: a warning
        words.write_text(json.dumps({"items": items}, indent=1))
        out = cli(running.home, "import", str(words), "--format", "bluesky", "--progress")
        assert out.returncode == 0, out.stderr
        # The item's "{" is the line above its value: its 1-based number is the value line's 0-based index.
        line, warned = (next(i for i, text in enumerate(words.read_text().split("\n")) if value in text)
                        for value in ('"!!!"', '"mot2200"'))
        assert f"{words}:{line}: text:" in out.stderr
        assert f"{words}:{warned}: warning: muted on Bluesky for accounts you do not follow" in out.stderr
        assert "2500/2500 rows (100%)" in out.stderr
        assert "Imported 2499, unchanged 0, 0 duplicates, 1 errors, 1 warnings" in out.stdout
        # What Bluesky's format cannot say of a word already listed stays as it is on a second import, which the
        # CLI sends to the API in batches of Sourdine JSON.
        edited = {"kind": "keyword", "text": "mot7", "action": "hide", "platforms": ["bluesky"], "note": "at work"}
        api(running, "POST", "/api/v1/mutes", edited)
        again = cli(running.home, "import", str(words), "--format", "bluesky")
        summary = "Imported 0, unchanged 2499, 0 duplicates, 1 errors, 1 warnings"
        assert summary in again.stdout, again.stdout + again.stderr
        assert {k: v for k, v in lists(running)["mutes"]["keyword:mot7"].items() if k in edited} == edited
        exported = tmp_path / "mutes.json"
        assert cli(running.home, "export", "--format", "sourdine", "-o", str(exported)).returncode == 0
        again = cli(running.home, "import", str(exported), "--format", "sourdine")
        assert "Imported 0, unchanged 2499, 0 duplicates, 0 errors" in again.stdout, again.stdout + again.stderr
        csv = cli(running.home, "export", "--format", "mastodon-csv")
        assert csv.stdout == "Account address,Hide notifications\n"
    finally:
        assert running.stop() == 0


def test_a_damaged_identity_stops_the_listener_with_what_to_do(tmp_path):
    """`sourdine run --sync-port` over a sync identity that is damaged (a file emptied, as a crash could leave a
    file written without being synced, before this was written whole and synced): it exits 1 and says what is
    wrong and what to do, where it used to say that the port could not be listened on, with an SSL message."""
    running = start_sourdine(tmp_path / "home", "--sync-port", "0")
    assert running.stop() == 0, running.stderr[-2000:]
    (tmp_path / "home" / "sync" / "cert.pem").write_bytes(b"")
    done = subprocess.run([str(SOURDINE), "run", "--home", str(tmp_path / "home"), "--proxy-port", "0",
                           "--api-port", "0", "--sync-port", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "sync identity" in done.stderr and "move both out of that folder" in done.stderr, done.stderr[-2000:]
    assert "SSL" not in done.stderr and "Traceback" not in done.stderr
