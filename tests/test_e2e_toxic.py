"""Toxic connections end to end, through a real `sourdine run`, on real Mastodon statuses whose texts the test
sets (hand-written, English and French)."""

from __future__ import annotations

import copy
import json
import sqlite3
import urllib.request

import pytest
from aiohttp import web

import harness
from conftest import DATA, start_sourdine

REAL = json.loads((DATA / "mastodon" / "rtoot_get_timeline_public_instance.body.json").read_bytes())
AUTHOR = REAL[1]["account"]
HOSTILE = [
    ("en", "You are a disgusting, pathetic liar and a total idiot. SHAME ON YOU!!!"),
    ("fr", "Espèce d'ordure, menteur pathétique et minable. Tu es une honte absolue !!!"),
]
NEUTRAL = ("en", "The library opens at nine tomorrow; the reading group meets on the second floor.")


def status(n: int, lang: str, text: str) -> dict:
    s = copy.deepcopy(REAL[1])
    s["id"] = str(900000000000000000 + n)
    s["language"] = lang
    s["content"] = f"<p>{text}</p>"
    s["account"] = AUTHOR
    return s


def fetch(running, port: int, path: str) -> list[dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": running.proxy}))
    with opener.open(f"http://localhost:{port}{path}", timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def pages(standin):
    """Three timeline pages with two hostile posts each by one author, then a page with their neutral post."""
    routes = {}
    for page in range(3):
        body = [status(page * 2 + i, *HOSTILE[i]) for i in range(2)]
        routes[f"/api/v1/timelines/tag/page{page}"] = json.dumps(body).encode()
    routes["/api/v1/timelines/tag/after"] = json.dumps([status(99, *NEUTRAL)]).encode()
    for path, body in routes.items():
        standin.routes[path] = lambda r, body=body: web.Response(body=body, content_type="application/json")
    return routes


def sourdine_titles(s: dict) -> list[str]:
    return [f["filter"]["title"] for f in s.get("filtered") or [] if f["filter"]["title"].startswith("Sourdine: ")]


def test_an_author_with_six_hostile_posts_gets_their_neutral_post_folded(tmp_path, standin, pages):
    """Six hostile posts over three responses make the author a toxic connection: their next neutral post comes
    back folded with the toxic-connection reason, and still does after a restart (the record is in sqlite)."""
    running = start_sourdine(tmp_path / "home")
    try:
        before = fetch(running, standin.port, "/api/v1/timelines/tag/after")
        assert sourdine_titles(before[0]) == [], "a neutral post by an unknown author is left alone"
        for page in (0, 1, 0, 2):  # page 0 twice: a refresh counts nothing again
            fetch(running, standin.port, f"/api/v1/timelines/tag/page{page}")
        standin.routes["/api/v1/timelines/tag/after2"] = lambda r: web.Response(
            body=json.dumps([status(98, *NEUTRAL)]).encode(), content_type="application/json")
        [after] = fetch(running, standin.port, "/api/v1/timelines/tag/after2")
        [title] = sourdine_titles(after)
        assert title.startswith("Sourdine: toxic connection: ") and "recent posts hostile" in title
    finally:
        assert running.stop() == 0
    rows = sqlite3.connect(tmp_path / "home" / "sourdine.db").execute(
        "SELECT posts, hostile FROM authors WHERE author_id = ?", [AUTHOR["id"]]).fetchall()
    assert rows and rows[0][0] == 8, "each post counted once: six hostile and the two neutral ones"

    again = start_sourdine(tmp_path / "home")
    try:
        standin.routes["/api/v1/timelines/tag/after3"] = lambda r: web.Response(
            body=json.dumps([status(97, *NEUTRAL)]).encode(), content_type="application/json")
        [after] = fetch(again, standin.port, "/api/v1/timelines/tag/after3")
        assert sourdine_titles(after), "the author is still a toxic connection after a restart"
    finally:
        assert again.stop() == 0


def api(running, method: str, path: str, body: dict | None = None) -> dict:
    status, answer = harness.api(running.api_port, running.token(), method, path, body, timeout=10)
    assert status < 400, (status, answer)
    return answer


def test_allowed_brand_and_muted_french_keyword_end_to_end(tmp_path, standin):
    """Through `sourdine run`: an allowed brand account's post at maximum outrage comes back untouched, and a
    muted French keyword ("honte") hides a post that would otherwise pass; both lists survive a restart."""
    brand = copy.deepcopy(REAL[2]["account"])
    brand["acct"] = "brand@mastodon.social"
    angry = status(200, *HOSTILE[0])
    angry["account"] = brand
    calm = status(201, "fr", "Pas de honte à lire des romans de gare au soleil.")
    calm["account"] = REAL[3]["account"]
    body = json.dumps([angry, calm]).encode()
    standin.routes["/api/v1/timelines/tag/lists"] = lambda r: web.Response(body=body, content_type="application/json")

    running = start_sourdine(tmp_path / "home")
    try:
        before = {s["id"]: s for s in fetch(running, standin.port, "/api/v1/timelines/tag/lists")}
        assert angry["id"] not in before or sourdine_titles(before[angry["id"]]), "hostile brand post filtered"
        assert before[calm["id"]] == calm, "the calm French post passes on its score"
        api(running, "POST", "/api/v1/allow", {"kind": "account", "platform": "mastodon",
                                               "handle": "brand@mastodon.social", "note": "our brand"})
        api(running, "POST", "/api/v1/mutes", {"kind": "keyword", "text": "honte", "action": "hide"})
        after = {s["id"]: s for s in fetch(running, standin.port, "/api/v1/timelines/tag/lists")}
        assert after[angry["id"]] == angry, "an allowed account is never filtered"
        assert calm["id"] not in after, "the muted keyword hides the post"
    finally:
        assert running.stop() == 0
    again = start_sourdine(tmp_path / "home")
    try:
        after = {s["id"]: s for s in fetch(again, standin.port, "/api/v1/timelines/tag/lists")}
        assert after[angry["id"]] == angry and calm["id"] not in after
    finally:
        assert again.stop() == 0


def test_the_list_and_privacy_commands(tmp_path):
    """`sourdine mutes|allow add/list/remove`, `connections`, `forget` and `purge` work against a running instance."""
    import subprocess

    from conftest import SOURDINE

    def cli(*args):
        out = subprocess.run([str(SOURDINE), *args, "--home", str(tmp_path / "home")], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    running = start_sourdine(tmp_path / "home")
    try:
        assert "Added keyword:honte" in cli("mutes", "add", "Honte", "--hide", "--expires", "7d", "--note", "x")
        assert "Added account:mastodon:brand@mastodon.social" in cli("allow", "add", "mastodon:@Brand@mastodon.social")
        listing = cli("mutes", "list")
        assert "keyword:honte" in listing and "action=hide" in listing
        assert "account:mastodon:brand@mastodon.social" in cli("allow", "list")
        assert "Removed" in cli("mutes", "remove", "keyword:honte")
        assert "empty" in cli("mutes", "list")
        assert "No toxic connections" in cli("connections")
        assert "hostile posts kept away" in cli("stats", "--days", "3")
        failed = subprocess.run([str(SOURDINE), "feedback", "fine", "mastodon", "nope", "--home",
                                 str(tmp_path / "home")], capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1 and "no decision" in failed.stderr
        assert "Forgot" in cli("forget", "mastodon", "123")
        refused = subprocess.run([str(SOURDINE), "purge", "--home", str(tmp_path / "home")], capture_output=True,
                                 text=True, timeout=60)
        assert refused.returncode == 1 and "--yes" in refused.stderr
        assert "Purged" in cli("purge", "--yes")
    finally:
        assert running.stop() == 0


def test_a_mute_with_an_expiry_stops_applying_after_it_through_sourdine_run(tmp_path, standin):
    """A mute for 90 minutes hides a calm post; the same instance's filter clock moved on by two hours
    ($SOURDINE_TIME_OFFSET, the injectable clock) lets it through again."""
    calm = status(300, "fr", "Pas de honte à lire des romans de gare au soleil.")
    body = json.dumps([calm]).encode()
    standin.routes["/api/v1/timelines/tag/expiry"] = lambda r: web.Response(body=body, content_type="application/json")
    running = start_sourdine(tmp_path / "home")
    try:
        assert fetch(running, standin.port, "/api/v1/timelines/tag/expiry") == [calm]
        api(running, "POST", "/api/v1/mutes", {"kind": "keyword", "text": "honte", "action": "hide", "expires": "90m"})
        assert fetch(running, standin.port, "/api/v1/timelines/tag/expiry") == []
    finally:
        assert running.stop() == 0
    later = start_sourdine(tmp_path / "home", env={"SOURDINE_TIME_OFFSET": str(2 * 3600)})
    try:
        assert fetch(later, standin.port, "/api/v1/timelines/tag/expiry") == [calm], "the mute has expired"
        assert api(later, "GET", "/api/v1/mutes")["mutes"], "the entry itself is still listed until removed"
    finally:
        assert later.stop() == 0
