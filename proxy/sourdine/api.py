"""The local aiohttp API. Every request is hostile until its Host, Origin and token are checked.

- Host must name this API (127.0.0.1, localhost or [::1] with our port): this defeats DNS rebinding, where a
  page's own host name is pointed at 127.0.0.1.
- A request carrying an Origin must come from a browser extension: an ordinary web page is refused, even
  before the token is looked at.
- Authorization must be `Bearer <token>`, compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from sourdine.runtime import Runtime

logger = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
_EXTENSION_ORIGINS = ("chrome-extension://", "moz-extension://")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_body(code: str, message: str, details: object = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place where failures become HTTP answers, all in the same JSON shape."""
    try:
        return await handler(request)
    except ApiError as e:
        return web.json_response(error_body(e.code, e.message, e.details), status=e.status)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return web.json_response(error_body(e.reason.lower().replace(" ", "_"), e.reason), status=e.status)
    except Exception:
        logger.exception("API handler failed")
        return web.json_response(error_body("internal", "internal error"), status=500)


def _host_allowed(host: str, port: int) -> bool:
    return host in {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    if not _host_allowed(request.headers.get("Host", ""), runtime.listen.api[1]):
        raise ApiError(421, "bad_host", "this API answers only to its own loopback address")
    origin = request.headers.get("Origin")
    if origin is not None and not origin.startswith(_EXTENSION_ORIGINS):
        raise ApiError(403, "bad_origin", "web pages may not call this API")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), runtime.token.encode()):
        raise ApiError(401, "unauthorized", "a valid API token is required")
    return await handler(request)


async def status(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    counts = runtime.engine.counts
    snapshot = runtime.snapshot
    return web.json_response(
        {
            "version": runtime.version,
            "proxy": {"host": runtime.listen.proxy[0], "port": runtime.listen.proxy[1]},
            "api": {"host": runtime.listen.api[0], "port": runtime.listen.api[1]},
            "platforms": {
                name: {
                    "enabled": s.enabled,
                    "collapse": s.thresholds.collapse,
                    "hide": s.thresholds.hide,
                }
                for name, s in snapshot.platforms.items()
            },
            "mastodon_instances": list(snapshot.mastodon_instances),
            "counts": {"seen": counts.seen, "collapsed": counts.collapsed, "hidden": counts.hidden},
            "errors": runtime.errors,
        }
    )


async def json_body(request: web.Request, allowed: dict[str, type | tuple[type, ...]], required: set[str]) -> dict:
    """The request's JSON object, checked: only `allowed` fields, of their types, with the `required` ones."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send JSON, with Content-Type: application/json")
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, "unknown_fields", f"unknown field(s): {', '.join(unknown)}", {"fields": unknown})
    missing = sorted(required - set(body))
    if missing:
        raise ApiError(400, "missing_fields", f"missing field(s): {', '.join(missing)}", {"fields": missing})
    for name, value in body.items():
        if not isinstance(value, allowed[name]) or isinstance(value, bool) and allowed[name] is not bool:
            raise ApiError(400, "bad_field", f"field {name!r} has the wrong type", {"field": name})
    return body


async def score_text(request: web.Request) -> web.Response:
    from sourdine import scoring

    body = await json_body(request, {"text": str, "lang": (str, type(None))}, {"text"})
    return web.json_response(scoring.score(body["text"], body.get("lang")).to_dict())


def create_app(runtime: Runtime) -> web.Application:
    # Bodies are small JSON documents: 64 KB is plenty, and anything larger is refused with 413.
    app = web.Application(middlewares=[errors, guard], client_max_size=64 * 1024)
    app[RUNTIME] = runtime
    app.router.add_get("/api/v1/status", status)
    app.router.add_post("/api/v1/score", score_text)
    return app
