"""The API's checks, through aiohttp's test client against the real app."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient, TestServer

from sourdine import api, settings
from sourdine.engine import Engine
from sourdine.scoring import score
from sourdine.platforms import ADAPTERS
from sourdine.runtime import Listen, Runtime
from sourdine.store import Writer

TOKEN = "t0ken-for-tests"


@pytest.fixture
async def client(tmp_path):
    runtime = Runtime(tmp_path, TOKEN, settings.build(), Engine(score, ADAPTERS), Writer(tmp_path / "db"))
    server = TestServer(api.create_app(runtime), host="127.0.0.1")
    async with TestClient(server) as c:
        runtime.listen = Listen(proxy=("127.0.0.1", 8080), api=("127.0.0.1", server.port))
        c.host_header = f"127.0.0.1:{server.port}"
        yield c


def auth(client, **extra):
    return {"Host": client.host_header, "Authorization": f"Bearer {TOKEN}", **extra}


async def test_status_with_token(client):
    """The token opens /api/v1/status, which reports version, addresses, platforms and counts."""
    r = await client.get("/api/v1/status", headers=auth(client))
    assert r.status == 200
    body = await r.json()
    assert set(body) >= {"version", "proxy", "api", "platforms", "counts"}
    assert body["counts"] == {"seen": 0, "collapsed": 0, "hidden": 0}


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": None}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ({"Authorization": f"Basic {TOKEN}"}, 401, "unauthorized"),
        ({"Host": "evil.example:8787"}, 421, "bad_host"),
        ({"Host": "127.0.0.1.nip.io"}, 421, "bad_host"),
        ({"Origin": "https://evil.example"}, 403, "bad_origin"),
        ({"Origin": "null"}, 403, "bad_origin"),
    ],
)
async def test_hostile_requests_are_refused(client, headers, status, code):
    """A missing or wrong token, a foreign Host (DNS rebinding) or a web page's Origin is refused."""
    h = {k: v for k, v in {**auth(client), **headers}.items() if v is not None}
    r = await client.get("/api/v1/status", headers=h)
    assert r.status == status
    assert (await r.json())["error"]["code"] == code


async def test_extension_origin_is_let_through(client):
    """A browser extension's Origin, with the token, is served."""
    r = await client.get("/api/v1/status", headers=auth(client, Origin="chrome-extension://abcdef"))
    assert r.status == 200


async def test_unknown_route_needs_the_token_first(client):
    """Without the token even a 404 is not revealed; with it, the error has the one JSON shape."""
    r = await client.get("/api/v1/nope", headers={"Host": client.host_header})
    assert r.status == 401
    r = await client.get("/api/v1/nope", headers=auth(client))
    assert r.status == 404
    assert (await r.json())["error"]["code"] == "not_found"


async def test_score_returns_the_cli_shape(client):
    """POST /api/v1/score scores a text and returns lang, negativity, outrage, score, scored and reasons."""
    r = await client.post("/api/v1/score", json={"text": "Espèce d'ordure, tu es une honte absolue !!!"},
                          headers=auth(client))
    assert r.status == 200
    body = await r.json()
    assert set(body) == {"lang", "negativity", "outrage", "score", "scored", "reasons"}
    assert body["lang"] == "fr" and body["scored"] and body["score"] > 0.55 and body["reasons"]
    r = await client.post("/api/v1/score", json={"text": "Guten Morgen, wie geht es?", "lang": "de"},
                          headers=auth(client))
    assert (await r.json())["scored"] is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "hi", "extra": 1}, 400, "unknown_fields"),
        ({"lang": "en"}, 400, "missing_fields"),
        ({"text": 42}, 400, "bad_field"),
        ({"text": "hi", "lang": ["en"]}, 400, "bad_field"),
        (["text"], 400, "bad_request"),
    ],
)
async def test_score_refuses_bad_bodies(client, body, status, code):
    """Unknown or missing fields and wrong types get 400 with the error named."""
    r = await client.post("/api/v1/score", json=body, headers=auth(client))
    assert r.status == status
    assert (await r.json())["error"]["code"] == code


async def test_score_refuses_large_bodies_and_non_json(client):
    """A body over 64 KB gets 413, a body that is not JSON gets 415 or 400, all in the one error shape."""
    r = await client.post("/api/v1/score", json={"text": "x" * (65 * 1024)}, headers=auth(client))
    assert r.status == 413
    assert (await r.json())["error"]["code"] == "request_entity_too_large"
    r = await client.post("/api/v1/score", data="text=hi", headers=auth(client, **{"Content-Type": "text/plain"}))
    assert r.status == 415
    r = await client.post("/api/v1/score", data="{nope", headers=auth(client, **{"Content-Type": "application/json"}))
    assert r.status == 400 and (await r.json())["error"]["code"] == "bad_json"


async def test_score_needs_the_token(client):
    """POST /api/v1/score without the token is refused before the body is read."""
    r = await client.post("/api/v1/score", json={"text": "hi"}, headers={"Host": client.host_header})
    assert r.status == 401
