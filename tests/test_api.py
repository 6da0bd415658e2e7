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
