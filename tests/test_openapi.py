"""The OpenAPI document describes every route, and the live API keeps to it (schemathesis)."""

from __future__ import annotations

import asyncio
import threading

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sourdine import api, openapi
from sourdine import settings as sourdine_settings
from sourdine.engine import Engine
from sourdine.platforms import ADAPTERS
from sourdine.runtime import Listen, Runtime
from sourdine.scoring import score
from sourdine.store import Writer

TOKEN = "schemathesis-token"


def routes(app: web.Application) -> set[tuple[str, str]]:
    found = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        for route in resource:
            if route.method != "HEAD":
                found.add((route.method.lower(), path))
    return found


def test_every_route_is_in_the_document_and_nothing_else(tmp_path):
    """The document lists exactly the app's routes and methods."""
    runtime = Runtime(tmp_path, TOKEN, sourdine_settings.build(), Engine(score, ADAPTERS), Writer(tmp_path / "db"))
    documented = {(method, path) for path, ops in openapi.PATHS.items() for method in ops}
    assert routes(api.create_app(runtime)) == documented


class LiveApi:
    """The real app, with a real store, served on 127.0.0.1 from a thread for schemathesis's synchronous client."""

    def __init__(self, tmp_path) -> None:
        self.writer = Writer(tmp_path / "db.sqlite")
        self.runtime = Runtime(tmp_path, TOKEN, sourdine_settings.build(), Engine(score, ADAPTERS), self.writer)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        # No backoff here: schemathesis sends many unauthenticated requests on purpose, and waiting on each
        # would only slow the suite (test_api.py checks the backoff).
        self.app_runner = web.AppRunner(api.create_app(self.runtime, backoff=(0.0, 0.0)), access_log=None)
        self.loop.run_until_complete(self.app_runner.setup())
        site = web.TCPSite(self.app_runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = self.app_runner.addresses[0][1]
        self.runtime.listen = Listen(proxy=("127.0.0.1", 8080), api=("127.0.0.1", port))
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.app_runner.cleanup())

    def __enter__(self) -> LiveApi:
        self.writer.start()
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
        self.writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.runtime.listen.api[1]}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveApi(tmp_path_factory.mktemp("live")) as served:
        yield served


@pytest.mark.parametrize("operation", [f"{m.upper()} {p}" for p, ops in openapi.PATHS.items() for m in ops])
def test_the_live_api_keeps_to_its_document(live, operation):
    """Generated requests, with the token, get no 5xx and no answer that disagrees with the document."""
    schema = schemathesis.openapi.from_dict(openapi.document())
    method, path = operation.split(" ", 1)
    found = schema.find_operation_by_path(method, path)
    assert found is not None, operation

    @given(case=found.as_strategy())
    @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        # Thresholds in any order are schema-valid but refused (hide must not be below collapse), which no JSON
        # schema can say: so the check that every schema-valid request is accepted is left out.
        case.call_and_validate(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"},
                               excluded_checks=[positive_data_acceptance])

    check()
